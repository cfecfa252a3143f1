// Package fetchjs implements internal/fetch's interfaces on NATS JetStream
// (internal/bus) and runs the consume loop that feeds PLAID_WEBHOOKS
// messages to a fetch.Worker and acts on its decisions.
package fetchjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/fetch"
)

func ownerKey(o events.Owner) (string, error) { return events.OwnerKey(o.Kind, o.ID) }

// Credentials reads tokens from a bus.TokenStore.
type Credentials struct{ Store *bus.TokenStore }

var _ fetch.Credentials = Credentials{}

// Credential implements fetch.Credentials.
func (c Credentials) Credential(ctx context.Context, owner events.Owner) (fetch.Credential, error) {
	key, err := ownerKey(owner)
	if err != nil {
		return fetch.Credential{}, fmt.Errorf("%w: %v", fetch.ErrUnknownOwner, err)
	}
	cred, err := c.Store.Get(ctx, key)
	if errors.Is(err, bus.ErrNotFound) {
		return fetch.Credential{}, fmt.Errorf("%s: %w", key, fetch.ErrUnknownOwner)
	}
	if err != nil {
		return fetch.Credential{}, err
	}
	return fetch.Credential{Token: cred.Token.Reveal(), Environment: cred.Environment}, nil
}

// States keeps fetch.State in a bus.ItemStore.
type States struct{ Store *bus.ItemStore }

var _ fetch.StateStore = States{}

// Load implements fetch.StateStore.
func (s States) Load(ctx context.Context, owner events.Owner) (fetch.State, uint64, error) {
	key, err := ownerKey(owner)
	if err != nil {
		return fetch.State{}, 0, err
	}
	st, rev, err := s.Store.Get(ctx, key)
	if errors.Is(err, bus.ErrNotFound) {
		return fetch.State{}, 0, nil
	}
	if err != nil {
		return fetch.State{}, 0, err
	}
	return fetch.State{
		Cursor: st.Cursor, ResyncEpoch: st.ResyncEpoch, SyncedThroughSeq: st.SyncedThroughSeq, FollowUpSeq: st.FollowUpSeq,
		Parked: st.Parked, ParkedReason: st.ParkedReason, Overdue: st.Overdue,
		LastSyncAt: st.LastSyncAt, LastSyncOutcome: st.LastSyncOutcome, LastWebhookAt: st.LastWebhookAt,
	}, rev, nil
}

// Save implements fetch.StateStore: compare-and-set on the item's revision.
func (s States) Save(ctx context.Context, owner events.Owner, f fetch.State, rev uint64) (uint64, error) {
	key, err := ownerKey(owner)
	if err != nil {
		return 0, err
	}
	st := bus.ItemState{Owner: key, Kind: owner.Kind}
	if rev != 0 {
		cur, curRev, err := s.Store.Get(ctx, key)
		if err != nil && !errors.Is(err, bus.ErrNotFound) {
			return 0, err
		}
		if curRev != rev {
			return 0, fmt.Errorf("%s: %w", key, fetch.ErrConflict)
		}
		st = cur // keep fields fetch does not manage (environment, timestamps)
	}
	st.Cursor, st.ResyncEpoch, st.SyncedThroughSeq, st.FollowUpSeq = f.Cursor, f.ResyncEpoch, f.SyncedThroughSeq, f.FollowUpSeq
	if f.Parked && !st.Parked {
		st.ParkedAt = f.LastSyncAt
	}
	st.Parked, st.ParkedReason, st.Overdue = f.Parked, f.ParkedReason, f.Overdue
	st.LastSyncAt, st.LastSyncOutcome, st.LastWebhookAt = f.LastSyncAt, f.LastSyncOutcome, f.LastWebhookAt
	var newRev uint64
	if rev == 0 {
		newRev, err = s.Store.Create(ctx, st)
		if errors.Is(err, bus.ErrExists) {
			return 0, fmt.Errorf("%s: %w", key, fetch.ErrConflict)
		}
	} else {
		newRev, err = s.Store.Update(ctx, st, rev)
		if errors.Is(err, bus.ErrConflict) {
			return 0, fmt.Errorf("%s: %w", key, fetch.ErrConflict)
		}
	}
	return newRev, err
}

// Recurring keeps fetch.RecurringState as JSON in the PLAID_RECURRING
// bucket.
type Recurring struct{ KV jetstream.KeyValue }

var _ fetch.RecurringStore = Recurring{}

// Load implements fetch.RecurringStore.
func (r Recurring) Load(ctx context.Context, owner events.Owner) (fetch.RecurringState, uint64, error) {
	key, err := ownerKey(owner)
	if err != nil {
		return fetch.RecurringState{}, 0, err
	}
	e, err := r.KV.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return fetch.RecurringState{}, 0, nil
	}
	if err != nil {
		return fetch.RecurringState{}, 0, fmt.Errorf("load recurring snapshot %s: %w", key, err)
	}
	var s fetch.RecurringState
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		return fetch.RecurringState{}, 0, fmt.Errorf("decode recurring snapshot %s: %w", key, err)
	}
	return s, e.Revision(), nil
}

// Save implements fetch.RecurringStore with compare-and-set.
func (r Recurring) Save(ctx context.Context, owner events.Owner, s fetch.RecurringState, rev uint64) (uint64, error) {
	key, err := ownerKey(owner)
	if err != nil {
		return 0, err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return 0, err
	}
	var newRev uint64
	if rev == 0 {
		newRev, err = r.KV.Create(ctx, key, b)
	} else {
		newRev, err = r.KV.Update(ctx, key, b, rev)
	}
	var apiErr *jetstream.APIError
	if errors.Is(err, jetstream.ErrKeyExists) || (errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence) {
		return 0, fmt.Errorf("%s: %w", key, fetch.ErrConflict)
	}
	return newRev, err
}

// Leases adapts bus.Leases; Holder names this replica.
type Leases struct {
	Leases *bus.Leases
	Holder string
}

var _ fetch.Leases = Leases{}

// Acquire implements fetch.Leases.
func (l Leases) Acquire(ctx context.Context, owner events.Owner) (fetch.Lease, error) {
	key, err := ownerKey(owner)
	if err != nil {
		return nil, err
	}
	lease, err := l.Leases.Acquire(ctx, key, l.Holder)
	if errors.Is(err, bus.ErrLeaseHeld) {
		return nil, fmt.Errorf("%w: %v", fetch.ErrLeaseHeld, err)
	}
	if err != nil {
		return nil, err
	}
	return lease, nil
}

// Publisher publishes events to PLAID_EVENTS asynchronously and waits for
// every acknowledgement before returning.
type Publisher struct{ JS jetstream.JetStream }

var _ fetch.Publisher = Publisher{}

// publishWindow bounds the events in flight (published, not yet
// acknowledged) per Publish: well under nats.go's async limit, so a large
// update never stalls the client, and enough to keep the server busy.
const publishWindow = 512

// publishStallWait is how long an async publish may wait for room in the
// client's own buffer (shared by concurrent Publish calls) before failing.
const publishStallWait = 10 * time.Second

// Publish implements fetch.Publisher.
func (p Publisher) Publish(ctx context.Context, msgs []fetch.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	// All but the last asynchronously, awaited; then the last (an update's
	// plaid.sync.completed) on its own, so it is stored only after the
	// events it closes.
	head, last := msgs[:len(msgs)-1], msgs[len(msgs)-1]
	inFlight := make([]jetstream.PubAckFuture, 0, min(len(head), publishWindow))
	await := func(f jetstream.PubAckFuture) error {
		select {
		case <-f.Ok():
			return nil
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, m := range head {
		if len(inFlight) == publishWindow {
			if err := await(inFlight[0]); err != nil {
				return fmt.Errorf("publish events: %w", err)
			}
			inFlight = inFlight[1:]
		}
		f, err := p.JS.PublishMsgAsync(eventMsg(m), jetstream.WithMsgID(m.MsgID), jetstream.WithExpectStream(events.EventStream), jetstream.WithStallWait(publishStallWait))
		if err != nil {
			return fmt.Errorf("publish %s: %w", m.Event.Type, err)
		}
		inFlight = append(inFlight, f)
	}
	for _, f := range inFlight {
		if err := await(f); err != nil {
			return fmt.Errorf("publish events: %w", err)
		}
	}
	if _, err := p.JS.PublishMsg(ctx, eventMsg(last), jetstream.WithMsgID(last.MsgID), jetstream.WithExpectStream(events.EventStream)); err != nil {
		return fmt.Errorf("publish %s: %w", last.Event.Type, err)
	}
	return nil
}

func eventMsg(m fetch.Message) *nats.Msg {
	msg := &nats.Msg{Subject: m.Subject, Data: m.Body, Header: nats.Header{}}
	msg.Header.Set("Content-Type", "application/cloudevents+json")
	return msg
}

// LastCompleted implements fetch.Publisher with a direct read of the last
// message on the owner's plaid.sync.completed subject.
func (p Publisher) LastCompleted(ctx context.Context, owner events.Owner) (*events.Event, error) {
	subject, err := events.SubjectForType(owner.ID, events.TypeSyncCompleted)
	if err != nil {
		return nil, err
	}
	st, err := p.JS.Stream(ctx, events.EventStream)
	if err != nil {
		return nil, fmt.Errorf("event stream: %w", err)
	}
	m, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("last completed update: %w", err)
	}
	e, err := events.DecodeEvent(m.Data)
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// WebhookHead reads the last sequence of PLAID_WEBHOOKS.
type WebhookHead struct{ Stream jetstream.Stream }

var _ fetch.WebhookHead = WebhookHead{}

// LastSeq implements fetch.WebhookHead.
func (h WebhookHead) LastSeq(ctx context.Context) (uint64, error) {
	info, err := h.Stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("webhook stream info: %w", err)
	}
	return info.State.LastSeq, nil
}
