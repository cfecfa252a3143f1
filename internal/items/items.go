// Package items manages the owners the fetcher syncs — items (access tokens)
// and processor accounts (processor tokens) — for the admin API and the
// `fetcher items` CLI: registration, state, removal, forced syncs, refreshes
// (guarded by Plaid's per-item limit across replicas) and resyncs.
//
// Work that touches an owner's events (removal) runs under the owner's sync
// lease, like the fetcher's own syncs; work that syncs (forced sync, resync)
// is a request in PLAID_WEBHOOKS that a fetcher replica carries out, so it
// is coalesced, retried and leased like any webhook.
package items

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/fetch"
	"github.com/plaidstream/plaidstream/internal/fetchjs"
	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/secret"
)

// Errors the Service returns (wrapped).
var (
	// ErrNotFound: the owner is not registered.
	ErrNotFound = errors.New("not registered")
	// ErrInvalid: the request is malformed (an unsafe id, a missing token,
	// an environment other than the service's).
	ErrInvalid = errors.New("invalid request")
	// ErrBusy: a sync of the owner kept its lease longer than the service
	// waited.
	ErrBusy = errors.New("a sync of this owner is in progress")
)

// Plaid is the part of the Plaid client the service calls; *plaid.Client
// implements it.
type Plaid interface {
	TransactionsRefresh(ctx context.Context, req plaid.TransactionsRefreshRequest) (*plaid.TransactionsRefreshResponse, error)
	ProcessorTransactionsRefresh(ctx context.Context, req plaid.ProcessorTransactionsRefreshRequest) (*plaid.TransactionsRefreshResponse, error)
	UserTransactionsRefresh(ctx context.Context, req plaid.UserTransactionsRefreshRequest) (*plaid.UserTransactionsRefreshResponse, error)
}

var _ Plaid = (*plaid.Client)(nil)

// Deps are the Service's collaborators.
type Deps struct {
	JS        jetstream.JetStream
	Tokens    *bus.TokenStore
	States    *bus.ItemStore
	Recurring jetstream.KeyValue
	Leases    *bus.Leases
	Guard     *bus.RefreshGuard
	// Plaid may be nil for a service that never refreshes (the CLI
	// without Plaid credentials); refreshes then fail.
	Plaid Plaid
	// Environment is PLAID_ENV: the only environment accepted.
	Environment string
	// Holder names this process in leases ("admin@<replica>").
	Holder string
	// RemoveWait bounds how long Remove waits for a running sync
	// (default 45s: longer than a dead holder's lease TTL).
	RemoveWait time.Duration
	Logger     *slog.Logger
	Now        func() time.Time
}

// Service carries out admin operations on owners. It is safe for concurrent
// use.
type Service struct{ d Deps }

// New returns a Service over d.
func New(d Deps) *Service {
	if d.RemoveWait <= 0 {
		d.RemoveWait = 45 * time.Second
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{d: d}
}

// Environment is the Plaid environment the service accepts.
func (s *Service) Environment() string { return s.d.Environment }

// Registration registers or replaces an owner's token.
type Registration struct {
	Owner events.Owner
	// Token is the access token (items) or processor token (processor
	// accounts).
	Token secret.Secret
	// UserID is Plaid's user_id of an item (optional; items only).
	UserID string
	// Environment defaults to the service's; any other is ErrInvalid.
	Environment string
}

// Register stores r's token (sealed) and schedules the owner's first sync
// (Plaid only sends SYNC_UPDATES_AVAILABLE after an item's first
// /transactions/sync). created is false when a token was replaced.
func (s *Service) Register(ctx context.Context, r Registration) (v View, created bool, err error) {
	key, err := s.key(r.Owner)
	if err != nil {
		return View{}, false, err
	}
	if strings.TrimSpace(r.Token.Reveal()) == "" {
		return View{}, false, fmt.Errorf("%w: the token is required", ErrInvalid)
	}
	if r.UserID != "" && !events.SafeName(r.UserID) {
		return View{}, false, fmt.Errorf("%w: user_id must be 1 to %d characters without '.', '*', '>' or white space", ErrInvalid, events.MaxNameLength)
	}
	if r.Environment == "" {
		r.Environment = s.d.Environment
	}
	if r.Environment != s.d.Environment {
		return View{}, false, fmt.Errorf("%w: environment %q: this fetcher serves %q", ErrInvalid, r.Environment, s.d.Environment)
	}
	if r.Owner.Kind == events.OwnerProcessor && r.UserID != "" {
		return View{}, false, fmt.Errorf("%w: a processor token has no user_id", ErrInvalid)
	}
	if r.Owner.Kind == events.OwnerItem {
		created, err = s.d.Tokens.PutItem(ctx, r.Owner.ID, r.Token.Reveal(), r.UserID, r.Environment)
	} else {
		created, err = s.d.Tokens.PutProcessor(ctx, r.Owner.ID, r.Token.Reveal(), r.Environment)
	}
	if err != nil {
		return View{}, false, err
	}
	if _, err := s.d.States.Create(ctx, bus.ItemState{Owner: key, Kind: r.Owner.Kind, Environment: r.Environment}); err != nil && !errors.Is(err, bus.ErrExists) {
		return View{}, false, err
	}
	info, err := s.d.Tokens.Info(ctx, key)
	if err != nil {
		return View{}, false, fmt.Errorf("read back credential %s: %w", key, err)
	}
	// The token's revision makes the request unique per registration: every
	// registration (a new or a replaced token) asks for a sync; a sync that
	// began after an earlier request covers it (coalesced), so repeating a
	// registration costs at most one extra sync.
	requestID := "registered-" + key + "-" + strconv.FormatUint(info.Revision, 10)
	if _, err := bus.RequestSync(ctx, s.d.JS, r.Owner, bus.SyncRequestOptions{Environment: r.Environment, Reason: "registered", RequestID: requestID}); err != nil {
		return View{}, false, fmt.Errorf("stored %s, but requesting its first sync failed (register again): %w", key, err)
	}
	v, err = s.Get(ctx, r.Owner)
	return v, created, err
}

// Get describes a registered owner (never its token).
func (s *Service) Get(ctx context.Context, owner events.Owner) (View, error) {
	key, err := s.key(owner)
	if err != nil {
		return View{}, err
	}
	info, err := s.d.Tokens.Info(ctx, key)
	if errors.Is(err, bus.ErrNotFound) {
		return View{}, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return View{}, err
	}
	st, _, err := s.d.States.Get(ctx, key)
	switch {
	case errors.Is(err, bus.ErrNotFound):
		return newView(info, nil), nil
	case err != nil:
		return View{}, err
	}
	return newView(info, &st), nil
}

// List describes every registered owner of kind ("" for both), sorted by
// owner key.
func (s *Service) List(ctx context.Context, kind events.OwnerKind) ([]View, error) {
	creds, err := s.d.Tokens.List(ctx)
	if err != nil {
		return nil, err
	}
	states, err := s.d.States.List(ctx)
	if err != nil {
		return nil, err
	}
	byOwner := make(map[string]*bus.ItemState, len(states))
	for i := range states {
		byOwner[states[i].State.Owner] = &states[i].State
	}
	out := make([]View, 0, len(creds))
	for _, c := range creds {
		if kind != "" && c.Kind != kind {
			continue
		}
		out = append(out, newView(c, byOwner[c.Owner]))
	}
	return out, nil
}

// Remove unregisters owner: under its lease (waiting for a running sync,
// up to RemoveWait), it publishes plaid.item.removed as the owner's last
// event, deletes the token, the cursor and the recurring snapshot. The
// owner's resync epoch is kept (raised by one), so a later registration's
// events never share ids with this one's. It does not call /item/remove.
func (s *Service) Remove(ctx context.Context, owner events.Owner) error {
	key, err := s.key(owner)
	if err != nil {
		return err
	}
	if _, err := s.d.Tokens.Info(ctx, key); errors.Is(err, bus.ErrNotFound) {
		return fmt.Errorf("%s: %w", key, ErrNotFound)
	} else if err != nil {
		return err
	}
	lease, err := s.waitForLease(ctx, key)
	if err != nil {
		return err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = lease.Release(rctx)
	}()
	info, err := s.d.Tokens.Info(ctx, key) // again, under the lease
	if errors.Is(err, bus.ErrNotFound) {
		return fmt.Errorf("%s: %w", key, ErrNotFound)
	} else if err != nil {
		return err
	}
	st, rev, err := s.d.States.Get(ctx, key)
	if err != nil && !errors.Is(err, bus.ErrNotFound) {
		return err
	}
	msg, err := fetch.BuildItemEvent(fetch.ItemParams{
		Owner: owner, Environment: info.Environment, Epoch: st.ResyncEpoch, Now: s.d.Now(),
		Status: events.ItemStatusRemoved, TriggerID: "removed:" + strconv.FormatUint(info.Revision, 10),
	})
	if err != nil {
		return err
	}
	if err := (fetchjs.Publisher{JS: s.d.JS}).Publish(ctx, []fetch.Message{msg}); err != nil {
		return fmt.Errorf("publish %s: %w", events.ItemEventType(events.ItemStatusRemoved), err)
	}
	// Clear the cursor and raise the epoch before the token goes: should
	// the token's deletion fail, the owner stays registered in a new epoch
	// (a retried DELETE finishes the job) rather than gone with an epoch a
	// later registration would reuse.
	tomb := bus.ItemState{Owner: key, Kind: owner.Kind, Environment: info.Environment, ResyncEpoch: st.ResyncEpoch + 1}
	for attempt := 0; ; attempt++ {
		if rev == 0 {
			_, err = s.d.States.Create(ctx, tomb)
		} else {
			_, err = s.d.States.Update(ctx, tomb, rev)
		}
		if err == nil || attempt == 4 || !(errors.Is(err, bus.ErrConflict) || errors.Is(err, bus.ErrExists)) {
			break
		}
		// A worker recorded bookkeeping meanwhile (it cannot move the
		// cursor or the epoch: we hold the lease); write over it.
		if _, rev, err = s.d.States.Get(ctx, key); errors.Is(err, bus.ErrNotFound) {
			rev = 0
		} else if err != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("clear sync state of %s: %w", key, err)
	}
	if err := s.d.Tokens.Delete(ctx, key); err != nil && !errors.Is(err, bus.ErrNotFound) {
		return err
	}
	if err := s.d.Recurring.Purge(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("clear recurring snapshot of %s: %w", key, err)
	}
	s.d.Logger.InfoContext(ctx, "owner removed", "owner", key)
	return nil
}

// waitForLease takes key's sync lease, waiting up to RemoveWait for a
// running sync to finish.
func (s *Service) waitForLease(parent context.Context, key string) (*bus.Lease, error) {
	ctx, cancel := context.WithTimeout(parent, s.d.RemoveWait)
	defer cancel()
	delay := 100 * time.Millisecond
	for {
		lease, err := s.d.Leases.Acquire(ctx, key, s.d.Holder)
		if err == nil {
			return lease, nil
		}
		if !errors.Is(err, bus.ErrLeaseHeld) {
			return nil, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			if err := context.Cause(parent); err != nil {
				return nil, err // the caller gave up (a client went away)
			}
			return nil, fmt.Errorf("%s: %w (waited %v)", key, ErrBusy, s.d.RemoveWait)
		case <-t.C:
		}
		delay = min(2*delay, time.Second)
	}
}

// SyncRequested says which PLAID_WEBHOOKS message carries a request.
type SyncRequested struct {
	Owner string `json:"owner"`
	// Seq is the request's sequence in PLAID_WEBHOOKS.
	Seq uint64 `json:"request_seq"`
	// ResyncEpoch is the epoch a resync moves to (resyncs only).
	ResyncEpoch uint64 `json:"resync_epoch,omitempty"`
}

// Sync asks the fetcher to sync owner now, un-parking it first.
func (s *Service) Sync(ctx context.Context, owner events.Owner, reason string) (SyncRequested, error) {
	info, err := s.info(ctx, owner)
	if err != nil {
		return SyncRequested{}, err
	}
	ack, err := bus.RequestSync(ctx, s.d.JS, owner, bus.SyncRequestOptions{Environment: info.Environment, Reason: reason, Unpark: true, RequestID: reason + "-" + info.Owner + "-" + randomID()})
	if err != nil {
		return SyncRequested{}, err
	}
	return SyncRequested{Owner: info.Owner, Seq: ack.Sequence}, nil
}

// Resync asks the fetcher to replay owner's whole history under the next
// resync epoch (see fetch.Worker). Two calls that read the same epoch
// collapse into one resync.
func (s *Service) Resync(ctx context.Context, owner events.Owner) (SyncRequested, error) {
	info, err := s.info(ctx, owner)
	if err != nil {
		return SyncRequested{}, err
	}
	st, _, err := s.d.States.Get(ctx, info.Owner)
	if err != nil && !errors.Is(err, bus.ErrNotFound) {
		return SyncRequested{}, err
	}
	epoch := st.ResyncEpoch + 1
	ack, err := bus.RequestSync(ctx, s.d.JS, owner, bus.SyncRequestOptions{
		Environment: info.Environment, Reason: "resync", Unpark: true, ResyncEpoch: epoch,
		RequestID: "resync-" + info.Owner + "-" + strconv.FormatUint(epoch, 10),
	})
	if err != nil {
		return SyncRequested{}, err
	}
	return SyncRequested{Owner: info.Owner, Seq: ack.Sequence, ResyncEpoch: epoch}, nil
}

// Refreshed is the answer to an accepted refresh.
type Refreshed struct {
	Owner string `json:"owner"`
	// PlaidRequestID is Plaid's request_id of the refresh call.
	PlaidRequestID string `json:"plaid_request_id"`
}

// Refresh calls /transactions/refresh (or the processor variant) for owner,
// at most bus.DefaultRefreshLimit times per window across all replicas:
// beyond that it returns a *bus.RefreshLimitedError without calling Plaid.
// Plaid's errors come back as *plaid.Error. The changes then arrive through
// the webhook path.
func (s *Service) Refresh(ctx context.Context, owner events.Owner) (Refreshed, error) {
	key, err := s.key(owner)
	if err != nil {
		return Refreshed{}, err
	}
	if s.d.Plaid == nil || s.d.Guard == nil {
		return Refreshed{}, errors.New("refresh: no Plaid client configured")
	}
	cred, err := s.d.Tokens.Get(ctx, key)
	if errors.Is(err, bus.ErrNotFound) {
		return Refreshed{}, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return Refreshed{}, err
	}
	if err := s.d.Guard.Reserve(ctx, key); err != nil {
		return Refreshed{}, err
	}
	var resp *plaid.TransactionsRefreshResponse
	if owner.Kind == events.OwnerProcessor {
		resp, err = s.d.Plaid.ProcessorTransactionsRefresh(ctx, plaid.ProcessorTransactionsRefreshRequest{ProcessorToken: plaid.ProcessorToken(cred.Token.Reveal())})
	} else {
		resp, err = s.d.Plaid.TransactionsRefresh(ctx, plaid.TransactionsRefreshRequest{AccessToken: plaid.AccessToken(cred.Token.Reveal())})
	}
	if err != nil {
		return Refreshed{}, err
	}
	return Refreshed{Owner: key, PlaidRequestID: resp.RequestID}, nil
}

// ItemRefresh is one item's outcome of a user refresh.
type ItemRefresh struct {
	ItemID string `json:"item_id"`
	OK     bool   `json:"ok"`
	// Registered says whether this fetcher syncs the item; only registered
	// items get a plaid.item.refresh_failed event.
	Registered bool `json:"registered"`
	// Error is Plaid's error for the item, if it failed.
	Error *plaid.Error `json:"error,omitempty"`
}

// UserRefreshed is the answer of a user refresh.
type UserRefreshed struct {
	UserID         string        `json:"user_id"`
	PlaidRequestID string        `json:"plaid_request_id"`
	Items          []ItemRefresh `json:"items"`
}

// RefreshUser calls /user/transactions/refresh and publishes
// plaid.item.refresh_failed for each registered item that failed. Plaid's
// error for the whole call comes back as *plaid.Error.
func (s *Service) RefreshUser(ctx context.Context, userID string) (UserRefreshed, error) {
	if !events.SafeName(userID) {
		return UserRefreshed{}, fmt.Errorf("%w: user id %q", ErrInvalid, userID)
	}
	if s.d.Plaid == nil {
		return UserRefreshed{}, errors.New("refresh: no Plaid client configured")
	}
	resp, err := s.d.Plaid.UserTransactionsRefresh(ctx, plaid.UserTransactionsRefreshRequest{UserID: userID})
	if err != nil {
		return UserRefreshed{}, err
	}
	out := UserRefreshed{UserID: userID, PlaidRequestID: resp.RequestID, Items: make([]ItemRefresh, 0, len(resp.Results))}
	var msgs []fetch.Message
	for _, r := range resp.Results {
		ir := ItemRefresh{ItemID: r.ItemID, OK: r.Error == nil, Error: r.Error}
		owner := events.Owner{Kind: events.OwnerItem, ID: r.ItemID}
		key, kerr := events.OwnerKey(owner.Kind, owner.ID)
		var info bus.CredentialInfo
		if kerr == nil {
			info, err = s.d.Tokens.Info(ctx, key)
			switch {
			case err == nil:
				ir.Registered = true
			case !errors.Is(err, bus.ErrNotFound):
				return UserRefreshed{}, err
			}
		}
		if ir.Registered && r.Error != nil {
			st, _, err := s.d.States.Get(ctx, key)
			if err != nil && !errors.Is(err, bus.ErrNotFound) {
				return UserRefreshed{}, err
			}
			raw, err := json.Marshal(r.Error)
			if err != nil {
				return UserRefreshed{}, err
			}
			msg, err := fetch.BuildItemEvent(fetch.ItemParams{
				Owner: owner, Environment: info.Environment, Epoch: st.ResyncEpoch, Now: s.d.Now(),
				Status: events.ItemStatusRefreshFailed, Error: raw, Parked: st.Parked,
				TriggerID: "user-refresh:" + resp.RequestID,
			})
			if err != nil {
				return UserRefreshed{}, err
			}
			msgs = append(msgs, msg)
		}
		out.Items = append(out.Items, ir)
	}
	if len(msgs) > 0 {
		if err := (fetchjs.Publisher{JS: s.d.JS}).Publish(ctx, msgs); err != nil {
			return UserRefreshed{}, fmt.Errorf("publish refresh failures: %w", err)
		}
	}
	return out, nil
}

// Rekey re-seals every stored token with the newest token key and returns
// how many it re-sealed.
func (s *Service) Rekey(ctx context.Context) (int, error) { return s.d.Tokens.Rekey(ctx) }

// info returns owner's credential description or ErrNotFound.
func (s *Service) info(ctx context.Context, owner events.Owner) (bus.CredentialInfo, error) {
	key, err := s.key(owner)
	if err != nil {
		return bus.CredentialInfo{}, err
	}
	info, err := s.d.Tokens.Info(ctx, key)
	if errors.Is(err, bus.ErrNotFound) {
		return bus.CredentialInfo{}, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return info, err
}

// key returns owner's events.OwnerKey, or ErrInvalid.
func (s *Service) key(owner events.Owner) (string, error) {
	key, err := events.OwnerKey(owner.Kind, owner.ID)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return key, nil
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}
