package fetch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid"
)

// Plaid is the part of the Plaid client the worker calls; *plaid.Client
// implements it.
type Plaid interface {
	SyncTransactions(ctx context.Context, token plaid.AccessToken, cursor string, opts plaid.SyncOptions) (*plaid.SyncUpdate, error)
	SyncProcessorTransactions(ctx context.Context, token plaid.ProcessorToken, cursor string, opts plaid.SyncOptions) (*plaid.SyncUpdate, error)
	TransactionsRecurringGet(ctx context.Context, req plaid.TransactionsRecurringGetRequest) (*plaid.TransactionsRecurringGetResponse, error)
	ProcessorTransactionsRecurringGet(ctx context.Context, req plaid.ProcessorTransactionsRecurringGetRequest) (*plaid.TransactionsRecurringGetResponse, error)
}

var _ Plaid = (*plaid.Client)(nil)

// Credential is an owner's Plaid token and environment.
type Credential struct {
	Token       string
	Environment string
}

// Credentials looks up an owner's token. It returns an error wrapping
// ErrUnknownOwner when the owner is not registered.
type Credentials interface {
	Credential(ctx context.Context, owner events.Owner) (Credential, error)
}

// State is what the worker keeps per owner between syncs.
type State struct {
	// Cursor is the end cursor of the last update whose events are stored.
	Cursor string
	// ResyncEpoch is part of every event id (0 until a resync).
	ResyncEpoch uint64
	// SyncedThroughSeq is the PLAID_WEBHOOKS sequence up to which webhooks
	// are satisfied: the stream's last sequence when the last successful
	// sync began. A webhook stored before a sync began is covered by it.
	SyncedThroughSeq uint64
	// Parked owners are not synced until LOGIN_REPAIRED or an operator.
	Parked       bool
	ParkedReason string
	// FollowUpSeq is the highest PLAID_WEBHOOKS sequence of a trigger that
	// arrived while another replica held the owner's lease. The holder runs
	// one more sync after its own when it is above SyncedThroughSeq, so a
	// burst during a sync costs one follow-up sync, and the waiting
	// messages find themselves covered when they come back.
	FollowUpSeq uint64
	// Overdue marks an owner whose trigger ran out of deliveries; the
	// reconciliation sweep catches it up.
	Overdue         bool
	LastSyncAt      time.Time
	LastSyncOutcome string
	LastWebhookAt   time.Time
}

// StateStore keeps State per owner with compare-and-set.
type StateStore interface {
	// Load returns the owner's state and its revision; a zero State and
	// revision 0 when there is none yet.
	Load(ctx context.Context, owner events.Owner) (State, uint64, error)
	// Save writes s if the stored revision is still rev (0: create) and
	// returns the new revision, or an error wrapping ErrConflict.
	Save(ctx context.Context, owner events.Owner, s State, rev uint64) (uint64, error)
}

// RecurringState is what the worker keeps per owner about recurring
// streams: the snapshot consumers hold, and the one a run is publishing.
type RecurringState struct {
	// Epoch is the owner's resync epoch the snapshot belongs to; a snapshot
	// of an older epoch counts as empty (consumers dropped it at the
	// resync), so every stream is announced again.
	Epoch uint64 `json:"epoch,omitempty"`
	// Current is the snapshot every published event leads to.
	Current Snapshot `json:"current"`
	// Pending, if set, is the next snapshot a run stored before publishing
	// the events that lead to it; a run that finds it re-publishes those
	// events (same ids) and promotes it, so a crash in between cannot leave
	// consumers with changes the stored snapshot does not know about.
	Pending *Snapshot `json:"pending,omitempty"`
}

// RecurringStore keeps each owner's RecurringState with compare-and-set.
type RecurringStore interface {
	// Load returns the state and its revision (zero and 0 if none).
	Load(ctx context.Context, owner events.Owner) (RecurringState, uint64, error)
	// Save writes s if the stored revision is still rev (0: create).
	Save(ctx context.Context, owner events.Owner, s RecurringState, rev uint64) (uint64, error)
}

// Leases grants at most one sync per owner across all replicas.
type Leases interface {
	// Acquire returns the owner's lease, or an error wrapping ErrLeaseHeld.
	Acquire(ctx context.Context, owner events.Owner) (Lease, error)
}

// Lease is a held lease; Renew before it expires, Release when done.
type Lease interface {
	Renew(ctx context.Context) error
	Release(ctx context.Context) error
}

// Publisher stores messages in PLAID_EVENTS.
type Publisher interface {
	// Publish returns only when every message is acknowledged (or with an
	// error: then any may or may not be stored). The last message is sent
	// only after all the others are stored, so a stored
	// plaid.sync.completed means its whole update is stored.
	Publish(ctx context.Context, msgs []Message) error
	// LastCompleted returns the owner's most recent plaid.sync.completed
	// event, or nil if there is none.
	LastCompleted(ctx context.Context, owner events.Owner) (*events.Event, error)
}

// WebhookHead reports the last sequence of PLAID_WEBHOOKS.
type WebhookHead interface {
	LastSeq(ctx context.Context) (uint64, error)
}

// Sentinel errors the worker's dependencies return.
var (
	ErrUnknownOwner = errors.New("owner not registered")
	ErrConflict     = errors.New("state changed concurrently")
	ErrLeaseHeld    = errors.New("lease held by another worker")
)

// Verdict is what to do with the webhook message.
type Verdict int

// Verdicts.
const (
	// Ack: done (effects are durable, or there is nothing to do).
	Ack Verdict = iota
	// Retry: redeliver after Delay.
	Retry
	// DeadLetter: copy to PLAID_DLQ with Reason and terminate.
	DeadLetter
)

// Decision is the worker's verdict on one message, with the outcome label
// for metrics and logs.
type Decision struct {
	Verdict Verdict
	Delay   time.Duration
	Reason  string
	Outcome string
	Err     error
	// Sync describes the sync, if one ran.
	Sync *SyncStats
}

// SyncStats describes one sync.
type SyncStats struct {
	Pages, Restarts int
	Events          map[string]int // by event type
	Duration        time.Duration
}

// Outcomes of Handle, the outcome label of metrics.
const (
	OutcomeSynced        = "synced"         // a sync ran and its effects are stored
	OutcomeCoalesced     = "coalesced"      // satisfied by a sync that began after the webhook was stored
	OutcomeUnknownOwner  = "unknown_owner"  // no token registered (Plaid can fire before registration)
	OutcomeParked        = "parked"         // owner parked; nothing to do
	OutcomeIgnored       = "ignored"        // a webhook the fetcher does not act on
	OutcomeLeaseConflict = "lease_conflict" // another replica holds the owner's lease; retried shortly
	OutcomeFollowUp      = "follow_up"      // recorded for the replica syncing the owner (which syncs once more); checked again later
	OutcomeRetry         = "retry"          // transient failure; retried with backoff
	OutcomeNeedsUser     = "needs_user"     // Plaid needs the user; owner parked, event emitted
	OutcomeGone          = "gone"           // item or token gone; owner parked, event emitted
	OutcomeDeadLetter    = "dead_letter"    // permanently bad; dead-lettered
	OutcomeItemEvent     = "item_event"     // an ITEM webhook became an event
	OutcomeRecurring     = "recurring"      // recurring streams diffed
	OutcomeHandedBack    = "handed_back"    // the replica shut down before finishing; redelivered to another
)

// WorkerOptions tune a Worker.
type WorkerOptions struct {
	// Now is the clock (event time, last sync time). Default time.Now.
	Now func() time.Time
	// KeepRaw copies Plaid's whole objects into event payloads.
	KeepRaw bool
	// SyncCount is the sync page size (default 500).
	SyncCount int
	// RetryDelay is the base delay of a retry (doubled per delivery, capped
	// at MaxRetryDelay). Defaults 2s and 2m.
	RetryDelay, MaxRetryDelay time.Duration
	// LeaseRetryDelay is how soon a message whose owner is being synced by
	// another replica comes back. Default 2s.
	LeaseRetryDelay time.Duration
	// KeepAlive is how often a running sync renews its lease and tells the
	// message broker it is still working (InProgress). It must be well
	// below both the lease TTL and the consumer's AckWait. Default 5s.
	KeepAlive time.Duration
}

// Worker turns one webhook message into its effects: it decides, syncs,
// publishes events, saves state, and returns a Decision for the caller to
// ack, retry or dead-letter. The order of effects is fixed: events stored,
// then state saved (compare-and-set), then the caller acks; a crash at any
// point re-runs from the saved cursor and re-publishes the same ids.
type Worker struct {
	plaid     Plaid
	creds     Credentials
	state     StateStore
	recurring RecurringStore
	leases    Leases
	pub       Publisher
	head      WebhookHead
	logger    *slog.Logger
	opts      WorkerOptions
}

// NewWorker wires a Worker from its dependencies.
func NewWorker(p Plaid, creds Credentials, state StateStore, recurring RecurringStore, leases Leases, pub Publisher, head WebhookHead, logger *slog.Logger, opts WorkerOptions) *Worker {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SyncCount == 0 {
		opts.SyncCount = plaid.MaxSyncCount
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = 2 * time.Second
	}
	if opts.MaxRetryDelay <= 0 {
		opts.MaxRetryDelay = 2 * time.Minute
	}
	if opts.LeaseRetryDelay <= 0 {
		opts.LeaseRetryDelay = 2 * time.Second
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 5 * time.Second
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Worker{plaid: p, creds: creds, state: state, recurring: recurring, leases: leases, pub: pub, head: head, logger: logger, opts: opts}
}

// Trigger is one message from PLAID_WEBHOOKS.
type Trigger struct {
	// Seq is the message's stream sequence.
	Seq uint64
	// Deliveries is how often it has been delivered, this time included.
	Deliveries uint64
	// LastDelivery says no redelivery follows a Retry verdict.
	LastDelivery bool
	Webhook      events.WebhookMessage
}

// syncCodes are the TRANSACTIONS webhook codes that mean "sync the item".
var syncCodes = map[string]bool{
	"SYNC_UPDATES_AVAILABLE": true,
	"DEFAULT_UPDATE":         true,
	"INITIAL_UPDATE":         true,
	"HISTORICAL_UPDATE":      true,
	"TRANSACTIONS_REMOVED":   true,
}

// OwnerOf returns whom a webhook is about: its item, or for processor
// webhooks (no item_id) its account.
func OwnerOf(w events.WebhookEnvelope) (events.Owner, bool) {
	switch {
	case w.ItemID != "":
		return events.Owner{Kind: events.OwnerItem, ID: w.ItemID}, true
	case w.AccountID != "":
		return events.Owner{Kind: events.OwnerProcessor, ID: w.AccountID}, true
	}
	return events.Owner{}, false
}

// Handle processes one trigger. heartbeat is called during long work (each
// sync page) so the caller can extend the message's ack deadline.
func (w *Worker) Handle(ctx context.Context, t Trigger, heartbeat func()) Decision {
	if heartbeat == nil {
		heartbeat = func() {}
	}
	owner, ok := OwnerOf(t.Webhook.WebhookEnvelope)
	if !ok {
		return Decision{Verdict: Ack, Outcome: OutcomeIgnored}
	}
	switch {
	case t.Webhook.WebhookType == "TRANSACTIONS" && syncCodes[t.Webhook.WebhookCode]:
		return w.sync(ctx, owner, t, heartbeat)
	case t.Webhook.WebhookType == events.SyncRequestType && t.Webhook.WebhookCode == events.SyncRequestCode:
		return w.syncRequest(ctx, owner, t, heartbeat)
	case t.Webhook.WebhookType == "TRANSACTIONS" && t.Webhook.WebhookCode == "RECURRING_TRANSACTIONS_UPDATE":
		return w.recurringUpdate(ctx, owner, t, heartbeat)
	case t.Webhook.WebhookType == "ITEM":
		return w.itemWebhook(ctx, owner, t, heartbeat)
	}
	return Decision{Verdict: Ack, Outcome: OutcomeIgnored}
}

// credential loads owner's token. An owner nobody registered is acked (Plaid
// can fire before an item is registered); a failed lookup is retried.
func (w *Worker) credential(ctx context.Context, owner events.Owner, t Trigger) (Credential, *Decision) {
	cred, err := w.creds.Credential(ctx, owner)
	switch {
	case errors.Is(err, ErrUnknownOwner):
		return Credential{}, &Decision{Verdict: Ack, Outcome: OutcomeUnknownOwner}
	case err != nil:
		d := w.retry(ctx, owner, t, fmt.Errorf("load credential: %w", err))
		return Credential{}, &d
	}
	return cred, nil
}

// retry turns a transient failure into a Retry verdict with backoff, or a
// DeadLetter verdict on the last delivery (marking the owner overdue so the
// reconciliation sweep catches it up).
func (w *Worker) retry(ctx context.Context, owner events.Owner, t Trigger, err error) Decision {
	if t.LastDelivery {
		w.markOverdue(ctx, owner)
		return Decision{Verdict: DeadLetter, Outcome: OutcomeDeadLetter, Reason: "retries exhausted: " + err.Error(), Err: err}
	}
	delay := w.opts.RetryDelay
	for i := uint64(1); i < t.Deliveries && delay < w.opts.MaxRetryDelay; i++ {
		delay *= 2
	}
	return Decision{Verdict: Retry, Delay: min(delay, w.opts.MaxRetryDelay), Outcome: OutcomeRetry, Err: err}
}

// leaseDelay is how long a message waits for another replica's lease: it
// doubles with each delivery, so a long sync does not use up a waiting
// message's deliveries.
func (w *Worker) leaseDelay(t Trigger) time.Duration {
	delay := w.opts.LeaseRetryDelay
	for i := uint64(1); i < t.Deliveries && delay < w.opts.MaxRetryDelay; i++ {
		delay *= 2
	}
	return min(delay, w.opts.MaxRetryDelay)
}

func (w *Worker) markOverdue(ctx context.Context, owner events.Owner) {
	for range 3 {
		s, rev, err := w.state.Load(ctx, owner)
		if err != nil {
			return
		}
		s.Overdue = true
		if _, err := w.state.Save(ctx, owner, s, rev); !errors.Is(err, ErrConflict) {
			return
		}
	}
}

// acquire takes the owner's lease, or says to come back shortly.
func (w *Worker) acquire(ctx context.Context, owner events.Owner, t Trigger) (Lease, *Decision) {
	lease, err := w.leases.Acquire(ctx, owner)
	switch {
	case errors.Is(err, ErrLeaseHeld):
		// Not a failure: another replica is syncing this owner. Coming back
		// after it finished, this webhook will usually be satisfied. Each
		// conflict costs a delivery, so the wait doubles: a long sync does
		// not exhaust a waiting webhook's deliveries.
		if t.LastDelivery {
			d := w.retry(ctx, owner, t, err)
			return nil, &d
		}
		return nil, &Decision{Verdict: Retry, Delay: w.leaseDelay(t), Outcome: OutcomeLeaseConflict}
	case err != nil:
		d := w.retry(ctx, owner, t, fmt.Errorf("acquire lease: %w", err))
		return nil, &d
	}
	return lease, nil
}

// sync runs one update for owner from its saved cursor.
func (w *Worker) sync(ctx context.Context, owner events.Owner, t Trigger, heartbeat func()) Decision {
	cred, d := w.credential(ctx, owner, t)
	if d != nil {
		return *d
	}
	state, _, err := w.state.Load(ctx, owner)
	if err != nil {
		return w.retry(ctx, owner, t, fmt.Errorf("load state: %w", err))
	}
	if d, done := w.settled(state, t); done {
		return d
	}

	lease, err := w.leases.Acquire(ctx, owner)
	if errors.Is(err, ErrLeaseHeld) {
		return w.leaveToHolder(ctx, owner, cred, t, heartbeat)
	}
	if err != nil {
		return w.retry(ctx, owner, t, fmt.Errorf("acquire lease: %w", err))
	}
	return w.finishHolding(ctx, owner, cred, t, lease, heartbeat, w.syncLocked(ctx, owner, cred, t, lease, heartbeat))
}

func (w *Worker) release(ctx context.Context, lease Lease) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = lease.Release(rctx) // an unreleased lease expires by itself
}

// leaveToHolder handles a sync trigger whose owner another replica is
// working on: it records the trigger in FollowUpSeq for the holder, then
// tries the lease once more. Either the holder sees the record after it
// releases the lease (and syncs once more), or this worker gets the lease
// after the holder released it. If the lease is still held, the message
// comes back later rather than being acked, in case the holder dies.
func (w *Worker) leaveToHolder(ctx context.Context, owner events.Owner, cred Credential, t Trigger, heartbeat func()) Decision {
	for attempt := 0; ; attempt++ {
		state, rev, err := w.state.Load(ctx, owner)
		if err != nil {
			return w.retry(ctx, owner, t, fmt.Errorf("load state: %w", err))
		}
		if d, done := w.settled(state, t); done {
			return d
		}
		if state.FollowUpSeq >= t.Seq {
			break
		}
		state.FollowUpSeq = t.Seq
		_, err = w.state.Save(ctx, owner, state, rev)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrConflict) || attempt == 4 {
			return w.retry(ctx, owner, t, fmt.Errorf("record follow-up: %w", err))
		}
	}
	lease, err := w.leases.Acquire(ctx, owner)
	if errors.Is(err, ErrLeaseHeld) {
		// Not acked: the holder may die before it sees the record (and this
		// may even be the dead holder's own message, redelivered). Come
		// back later: by then a live holder has covered it (coalesced), or
		// the lease has expired and this message syncs itself.
		if t.LastDelivery {
			return w.retry(ctx, owner, t, err)
		}
		return Decision{Verdict: Retry, Delay: w.leaseDelay(t), Outcome: OutcomeFollowUp}
	}
	if err != nil {
		return w.retry(ctx, owner, t, fmt.Errorf("acquire lease: %w", err))
	}
	return w.finishHolding(ctx, owner, cred, t, lease, heartbeat, w.syncLocked(ctx, owner, cred, t, lease, heartbeat))
}

// maxFollowUps bounds the extra syncs one lease holder runs; triggers that
// keep arriving beyond that stay recorded for the next holder.
const maxFollowUps = 10

// finishHolding ends work done under lease: it releases the lease, then
// looks for sync triggers that were left for the holder (FollowUpSeq above
// SyncedThroughSeq) and, if there are, takes the lease again and syncs once
// more. Checking after the release closes the race with leaveToHolder: a
// trigger recorded before this check is seen here; one recorded after it
// finds the lease free (or held by a newer holder, which checks in turn).
func (w *Worker) finishHolding(ctx context.Context, owner events.Owner, cred Credential, t Trigger, lease Lease, heartbeat func(), d Decision) Decision {
	for range maxFollowUps {
		w.release(ctx, lease)
		if d.Verdict != Ack {
			return d
		}
		state, _, err := w.state.Load(ctx, owner)
		if err != nil {
			return w.retry(ctx, owner, t, fmt.Errorf("check follow-ups: %w", err))
		}
		if state.Parked || state.FollowUpSeq <= state.SyncedThroughSeq {
			return d
		}
		lease, err = w.leases.Acquire(ctx, owner)
		if errors.Is(err, ErrLeaseHeld) {
			return d // the new holder checks the follow-up in turn
		}
		if err != nil {
			// Not acked, so redelivered; its sync covers the follow-up.
			return w.retry(ctx, owner, t, fmt.Errorf("acquire lease for a follow-up: %w", err))
		}
		// Seq 0: not covered by any earlier sync, so it always syncs.
		next := w.syncLocked(ctx, owner, cred, Trigger{Deliveries: t.Deliveries, LastDelivery: t.LastDelivery, Webhook: t.Webhook}, lease, heartbeat)
		if next.Verdict != Ack {
			d = next
			continue // releases, then returns next
		}
		d = mergeStats(d, next)
	}
	w.release(ctx, lease)
	return d
}

func mergeStats(a, b Decision) Decision {
	switch {
	case b.Sync == nil:
		return a
	case a.Sync == nil:
		a.Sync, a.Outcome = b.Sync, b.Outcome
		return a
	}
	m := &SyncStats{Pages: a.Sync.Pages + b.Sync.Pages, Restarts: a.Sync.Restarts + b.Sync.Restarts, Duration: a.Sync.Duration + b.Sync.Duration, Events: map[string]int{}}
	for _, ev := range []map[string]int{a.Sync.Events, b.Sync.Events} {
		for k, v := range ev {
			m.Events[k] += v
		}
	}
	a.Sync = m
	return a
}

// settled reports whether the trigger needs no sync: the owner is parked, or
// a sync that began after the webhook was stored has already covered it.
func (w *Worker) settled(s State, t Trigger) (Decision, bool) {
	switch {
	case s.Parked:
		return Decision{Verdict: Ack, Outcome: OutcomeParked}, true
	case t.Seq != 0 && t.Seq <= s.SyncedThroughSeq:
		return Decision{Verdict: Ack, Outcome: OutcomeCoalesced}, true
	}
	return Decision{}, false
}

// syncLocked runs the sync under the owner's lease: reload state (the
// previous holder may have advanced it), note the webhook stream's head,
// page through Plaid, publish, save the cursor.
func (w *Worker) syncLocked(ctx context.Context, owner events.Owner, cred Credential, t Trigger, lease Lease, heartbeat func()) Decision {
	start := w.opts.Now()
	// Read the credential again under the lease: an owner removed (under
	// its lease) since the trigger arrived must get no event after its
	// plaid.item.removed, and a replaced token takes effect at once.
	cred, d := w.credential(ctx, owner, t)
	if d != nil {
		return *d
	}
	state, rev, err := w.state.Load(ctx, owner)
	if err != nil {
		return w.retry(ctx, owner, t, fmt.Errorf("load state: %w", err))
	}
	if d, done := w.settled(state, t); done {
		return d
	}
	storedCursor := state.Cursor
	// A run that published a whole update and then died before saving the
	// cursor left the update's plaid.sync.completed behind: consumers have
	// applied it, so continue from its end, not from the saved cursor
	// (which would publish an overlapping update from the same start).
	if last, err := w.pub.LastCompleted(ctx, owner); err != nil {
		return w.retry(ctx, owner, t, fmt.Errorf("read last completed update: %w", err))
	} else if last != nil && last.ResyncEpoch == state.ResyncEpoch {
		var c events.SyncCompleted
		if err := json.Unmarshal(last.Data, &c); err == nil && c.StartCursor == state.Cursor && c.EndCursor != state.Cursor {
			w.logger.InfoContext(ctx, "rolling the cursor forward to an update published by an interrupted run", "owner", owner.ID)
			state.Cursor = c.EndCursor
		}
	}
	// Every webhook stored up to now is satisfied by this sync: Plaid's data
	// as of now includes whatever they announced.
	head, err := w.head.LastSeq(ctx)
	if err != nil {
		return w.retry(ctx, owner, t, fmt.Errorf("read webhook stream head: %w", err))
	}

	stop := w.keepAlive(ctx, lease, heartbeat)
	defer stop()
	opts := plaid.SyncOptions{Count: w.opts.SyncCount, OmitRaw: !w.opts.KeepRaw, OnPage: func(int) { heartbeat() }}
	var update *plaid.SyncUpdate
	if owner.Kind == events.OwnerProcessor {
		update, err = w.plaid.SyncProcessorTransactions(ctx, plaid.ProcessorToken(cred.Token), state.Cursor, opts)
	} else {
		update, err = w.plaid.SyncTransactions(ctx, plaid.AccessToken(cred.Token), state.Cursor, opts)
	}
	if err != nil {
		return w.plaidFailure(ctx, owner, cred, t, state, rev, err)
	}

	msgs, err := BuildUpdateEvents(update, UpdateParams{Owner: owner, Environment: cred.Environment, Epoch: state.ResyncEpoch, Now: w.opts.Now(), KeepRaw: w.opts.KeepRaw})
	if err != nil {
		return Decision{Verdict: DeadLetter, Outcome: OutcomeDeadLetter, Reason: "build events: " + err.Error(), Err: err}
	}
	// A replica that lost its lease (it stalled past the TTL and another
	// took over) must not publish: the other replica's update is the one
	// consumers should see. The cursor compare-and-set below is the final
	// guard; this check keeps a stale update from being published at all.
	if err := lease.Renew(ctx); err != nil {
		return w.retry(ctx, owner, t, fmt.Errorf("lease lost before publishing: %w", err))
	}
	if err := w.pub.Publish(ctx, msgs); err != nil {
		return w.retry(ctx, owner, t, fmt.Errorf("publish events: %w", err))
	}

	// Save the cursor. Others may have written the state meanwhile
	// (FollowUpSeq, Overdue, an item webhook's bookkeeping); the cursor is
	// ours while we hold the lease, so on a conflict re-read and re-apply,
	// unless the cursor itself moved (the lease was lost).
	for attempt := 0; ; attempt++ {
		state.Cursor = update.NextCursor
		state.SyncedThroughSeq = max(state.SyncedThroughSeq, head)
		state.Overdue = false
		state.LastSyncAt = start
		state.LastSyncOutcome = OutcomeSynced
		if t.Webhook.MsgID != "" && t.Webhook.WebhookType != events.SyncRequestType {
			state.LastWebhookAt = t.Webhook.ReceivedAt // Plaid's webhooks, not our own requests
		}
		_, err = w.state.Save(ctx, owner, state, rev)
		if err == nil {
			break
		}
		if errors.Is(err, ErrConflict) && attempt < 4 {
			cur, curRev, lerr := w.state.Load(ctx, owner)
			if lerr == nil && (cur.Cursor == storedCursor || cur.Cursor == update.NextCursor) {
				state, rev = cur, curRev
				continue
			}
			if lerr != nil {
				err = lerr
			}
		}
		// The events are stored with deterministic ids and the update's
		// plaid.sync.completed lets the next run roll forward.
		return w.retry(ctx, owner, t, fmt.Errorf("save cursor: %w", err))
	}
	return Decision{Verdict: Ack, Outcome: OutcomeSynced, Sync: &SyncStats{
		Pages: update.Pages, Restarts: update.Restarts, Events: countByType(msgs), Duration: w.opts.Now().Sub(start),
	}}
}

// keepAlive renews lease and calls heartbeat every KeepAlive until the
// returned stop is called (stop waits for the goroutine to end).
func (w *Worker) keepAlive(ctx context.Context, lease Lease, heartbeat func()) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(w.opts.KeepAlive)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				heartbeat()
				_ = lease.Renew(ctx) // a lost lease is caught before publishing
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func countByType(msgs []Message) map[string]int {
	n := make(map[string]int)
	for _, m := range msgs {
		n[m.Event.Type]++
	}
	return n
}

// plaidFailure decides what a failed Plaid call means for the owner.
func (w *Worker) plaidFailure(ctx context.Context, owner events.Owner, cred Credential, t Trigger, state State, rev uint64, err error) Decision {
	class := plaid.Classify(err)
	switch class {
	case plaid.ClassNeedsUser, plaid.ClassGone:
		outcome := OutcomeNeedsUser
		if class == plaid.ClassGone {
			outcome = OutcomeGone
		}
		var pe *plaid.Error
		code := "ERROR"
		var raw json.RawMessage
		if errors.As(err, &pe) {
			code = pe.ErrorCode
			raw, _ = json.Marshal(pe)
		}
		msg, berr := BuildItemEvent(ItemParams{
			Owner: owner, Environment: cred.Environment, Epoch: state.ResyncEpoch, Now: w.opts.Now(),
			Status: "error", Error: raw, Parked: true, TriggerID: "sync:" + t.Webhook.MsgID + ":" + code,
		})
		if berr != nil {
			return Decision{Verdict: DeadLetter, Outcome: OutcomeDeadLetter, Reason: berr.Error(), Err: berr}
		}
		if perr := w.pub.Publish(ctx, []Message{msg}); perr != nil {
			return w.retry(ctx, owner, t, fmt.Errorf("publish item event: %w", perr))
		}
		state.Parked, state.ParkedReason = true, strings.ToLower(code)
		state.LastSyncAt, state.LastSyncOutcome = w.opts.Now(), outcome
		if _, serr := w.state.Save(ctx, owner, state, rev); serr != nil {
			return w.retry(ctx, owner, t, fmt.Errorf("park owner: %w", serr))
		}
		return Decision{Verdict: Ack, Outcome: outcome, Err: err}
	case plaid.ClassBug, plaid.ClassUnknown:
		return Decision{Verdict: DeadLetter, Outcome: OutcomeDeadLetter, Reason: "plaid: " + err.Error(), Err: err}
	default: // retry, restart sync, transport
		return w.retry(ctx, owner, t, err)
	}
}

// itemWebhook turns an ITEM webhook into plaid.item.<code>; ERROR with
// ITEM_LOGIN_REQUIRED parks the owner, LOGIN_REPAIRED un-parks it and syncs.
// It works under the owner's lease, so its event never lands after the
// owner's plaid.item.removed or inside another replica's update.
func (w *Worker) itemWebhook(ctx context.Context, owner events.Owner, t Trigger, heartbeat func()) Decision {
	cred, d := w.credential(ctx, owner, t)
	if d != nil {
		return *d
	}
	lease, d := w.acquire(ctx, owner, t)
	if d != nil {
		return *d
	}
	return w.finishHolding(ctx, owner, cred, t, lease, heartbeat, w.itemWebhookLocked(ctx, owner, t, lease, heartbeat))
}

func (w *Worker) itemWebhookLocked(ctx context.Context, owner events.Owner, t Trigger, lease Lease, heartbeat func()) Decision {
	cred, d := w.credential(ctx, owner, t)
	if d != nil {
		return *d
	}
	var body struct {
		Error *struct {
			ErrorCode string `json:"error_code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(t.Webhook.Body, &body) // the webhook was verified; fields are optional
	var rawErr json.RawMessage
	if body.Error != nil {
		var whole struct {
			Error json.RawMessage `json:"error"`
		}
		_ = json.Unmarshal(t.Webhook.Body, &whole)
		rawErr = whole.Error
	}

	for range 3 {
		state, rev, err := w.state.Load(ctx, owner)
		if err != nil {
			return w.retry(ctx, owner, t, fmt.Errorf("load state: %w", err))
		}
		code := t.Webhook.WebhookCode
		switch {
		case code == "ERROR" && body.Error != nil && (plaid.Classify(&plaid.Error{ErrorCode: body.Error.ErrorCode, HTTPStatus: 400}) == plaid.ClassNeedsUser):
			state.Parked, state.ParkedReason = true, strings.ToLower(body.Error.ErrorCode)
		case code == "LOGIN_REPAIRED":
			state.Parked, state.ParkedReason = false, ""
			state.SyncedThroughSeq = 0 // the next trigger syncs
		}
		msg, err := BuildItemEvent(ItemParams{
			Owner: owner, Environment: cred.Environment, Epoch: state.ResyncEpoch, Now: w.opts.Now(),
			Status: code, Error: rawErr, Parked: state.Parked, Webhook: t.Webhook.Body, TriggerID: t.Webhook.MsgID,
		})
		if err != nil {
			return Decision{Verdict: DeadLetter, Outcome: OutcomeDeadLetter, Reason: "build item event: " + err.Error(), Err: err}
		}
		if err := w.pub.Publish(ctx, []Message{msg}); err != nil {
			return w.retry(ctx, owner, t, fmt.Errorf("publish item event: %w", err))
		}
		state.LastWebhookAt = t.Webhook.ReceivedAt
		_, err = w.state.Save(ctx, owner, state, rev)
		if errors.Is(err, ErrConflict) {
			continue // the event id is deterministic: publishing again is harmless
		}
		if err != nil {
			return w.retry(ctx, owner, t, fmt.Errorf("save state: %w", err))
		}
		if code == "LOGIN_REPAIRED" {
			// Catch up now: Plaid may not send another webhook. Seq 0: not
			// covered by any earlier sync, so it always syncs.
			next := w.syncLocked(ctx, owner, cred, Trigger{Deliveries: t.Deliveries, LastDelivery: t.LastDelivery, Webhook: t.Webhook}, lease, heartbeat)
			if next.Verdict == Ack && next.Outcome == OutcomeSynced {
				next.Sync.Events[events.ItemEventType(strings.ToLower(code))]++
			}
			return next
		}
		return Decision{Verdict: Ack, Outcome: OutcomeItemEvent}
	}
	return w.retry(ctx, owner, t, ErrConflict)
}

// recurringUpdate diffs the owner's recurring streams against the stored
// snapshot and publishes the changes.
func (w *Worker) recurringUpdate(ctx context.Context, owner events.Owner, t Trigger, heartbeat func()) Decision {
	cred, d := w.credential(ctx, owner, t)
	if d != nil {
		return *d
	}
	state, _, err := w.state.Load(ctx, owner)
	if err != nil {
		return w.retry(ctx, owner, t, fmt.Errorf("load state: %w", err))
	}
	if state.Parked {
		return Decision{Verdict: Ack, Outcome: OutcomeParked}
	}
	lease, d := w.acquire(ctx, owner, t)
	if d != nil {
		return *d
	}
	// Sync triggers may have been left for this lease holder meanwhile.
	return w.finishHolding(ctx, owner, cred, t, lease, heartbeat, w.recurringLocked(ctx, owner, t, heartbeat))
}

// recurringLocked diffs and publishes the owner's recurring streams under
// its lease: finish an interrupted run first, store the next snapshot as
// pending, publish, then promote it.
func (w *Worker) recurringLocked(ctx context.Context, owner events.Owner, t Trigger, heartbeat func()) Decision {
	cred, d := w.credential(ctx, owner, t)
	if d != nil {
		return *d
	}
	state, rev, err := w.state.Load(ctx, owner)
	if err != nil {
		return w.retry(ctx, owner, t, fmt.Errorf("load state: %w", err))
	}
	if state.Parked {
		return Decision{Verdict: Ack, Outcome: OutcomeParked}
	}
	heartbeat()
	params := RecurringParams{Owner: owner, Environment: cred.Environment, Epoch: state.ResyncEpoch, Now: w.opts.Now(), KeepRaw: w.opts.KeepRaw}
	rs, rrev, err := w.recurring.Load(ctx, owner)
	if err != nil {
		return w.retry(ctx, owner, t, fmt.Errorf("load recurring snapshot: %w", err))
	}
	if rs.Epoch != state.ResyncEpoch {
		// A resync began since: consumers dropped the owner's streams.
		rs = RecurringState{Epoch: state.ResyncEpoch}
	}
	if rs.Pending != nil {
		msgs, err := RecurringMessages(rs.Current, *rs.Pending, params)
		if err != nil {
			return Decision{Verdict: DeadLetter, Outcome: OutcomeDeadLetter, Reason: "replay recurring: " + err.Error(), Err: err}
		}
		if err := w.pub.Publish(ctx, msgs); err != nil {
			return w.retry(ctx, owner, t, fmt.Errorf("republish recurring events: %w", err))
		}
		rs = RecurringState{Epoch: rs.Epoch, Current: *rs.Pending}
		if rrev, err = w.recurring.Save(ctx, owner, rs, rrev); err != nil {
			return w.retry(ctx, owner, t, fmt.Errorf("promote recurring snapshot: %w", err))
		}
	}
	var resp *plaid.TransactionsRecurringGetResponse
	if owner.Kind == events.OwnerProcessor {
		resp, err = w.plaid.ProcessorTransactionsRecurringGet(ctx, plaid.ProcessorTransactionsRecurringGetRequest{ProcessorToken: plaid.ProcessorToken(cred.Token)})
	} else {
		resp, err = w.plaid.TransactionsRecurringGet(ctx, plaid.TransactionsRecurringGetRequest{AccessToken: plaid.AccessToken(cred.Token)})
	}
	if err != nil {
		return w.plaidFailure(ctx, owner, cred, t, state, rev, err)
	}
	next, msgs, err := DiffRecurring(rs.Current, resp, params)
	if err != nil {
		return Decision{Verdict: DeadLetter, Outcome: OutcomeDeadLetter, Reason: "diff recurring: " + err.Error(), Err: err}
	}
	if len(msgs) == 0 {
		return Decision{Verdict: Ack, Outcome: OutcomeRecurring}
	}
	rs.Pending = &next
	if rrev, err = w.recurring.Save(ctx, owner, rs, rrev); err != nil {
		return w.retry(ctx, owner, t, fmt.Errorf("store pending recurring snapshot: %w", err))
	}
	if err := w.pub.Publish(ctx, msgs); err != nil {
		return w.retry(ctx, owner, t, fmt.Errorf("publish recurring events: %w", err))
	}
	if _, err := w.recurring.Save(ctx, owner, RecurringState{Epoch: rs.Epoch, Current: next}, rrev); err != nil {
		return w.retry(ctx, owner, t, fmt.Errorf("save recurring snapshot: %w", err))
	}
	return Decision{Verdict: Ack, Outcome: OutcomeRecurring, Sync: &SyncStats{Events: countByType(msgs)}}
}

// syncRequest handles plaidstream's own sync request (registration, a forced
// sync): like a webhook, but it may un-park the owner first.
func (w *Worker) syncRequest(ctx context.Context, owner events.Owner, t Trigger, heartbeat func()) Decision {
	var req events.SyncRequest
	if err := json.Unmarshal(t.Webhook.Body, &req); err != nil {
		return Decision{Verdict: DeadLetter, Outcome: OutcomeDeadLetter, Reason: "undecodable sync request: " + err.Error(), Err: err}
	}
	if req.ResyncEpoch > 0 {
		return w.resync(ctx, owner, t, req.ResyncEpoch, heartbeat)
	}
	if req.Unpark {
		for attempt := 0; ; attempt++ {
			s, rev, err := w.state.Load(ctx, owner)
			if err != nil {
				return w.retry(ctx, owner, t, fmt.Errorf("load state: %w", err))
			}
			if !s.Parked {
				break
			}
			s.Parked, s.ParkedReason = false, ""
			_, err = w.state.Save(ctx, owner, s, rev)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrConflict) || attempt == 2 {
				return w.retry(ctx, owner, t, fmt.Errorf("un-park: %w", err))
			}
		}
	}
	return w.sync(ctx, owner, t, heartbeat)
}

// resync replays the owner's whole history under a new resync epoch: under
// the lease it emits plaid.item.resync_started (in the new epoch), saves the
// epoch with an empty cursor (un-parked), syncs from that empty cursor, and
// announces the recurring streams again if the owner had any. Each step is
// idempotent, so a crash anywhere re-runs to the same events; a request for
// an epoch already reached just syncs (and is usually coalesced).
func (w *Worker) resync(ctx context.Context, owner events.Owner, t Trigger, epoch uint64, heartbeat func()) Decision {
	cred, d := w.credential(ctx, owner, t)
	if d != nil {
		return *d
	}
	lease, d := w.acquire(ctx, owner, t)
	if d != nil {
		return *d
	}
	return w.finishHolding(ctx, owner, cred, t, lease, heartbeat, w.resyncLocked(ctx, owner, t, epoch, lease, heartbeat))
}

func (w *Worker) resyncLocked(ctx context.Context, owner events.Owner, t Trigger, epoch uint64, lease Lease, heartbeat func()) Decision {
	cred, cd := w.credential(ctx, owner, t)
	if cd != nil {
		return *cd
	}
	for attempt := 0; ; attempt++ {
		state, rev, err := w.state.Load(ctx, owner)
		if err != nil {
			return w.retry(ctx, owner, t, fmt.Errorf("load state: %w", err))
		}
		if state.ResyncEpoch >= epoch {
			break
		}
		msg, err := BuildItemEvent(ItemParams{
			Owner: owner, Environment: cred.Environment, Epoch: epoch, Now: w.opts.Now(),
			Status: events.ItemStatusResyncStarted, TriggerID: fmt.Sprintf("resync:%d", epoch),
		})
		if err != nil {
			return Decision{Verdict: DeadLetter, Outcome: OutcomeDeadLetter, Reason: "build resync event: " + err.Error(), Err: err}
		}
		if err := w.pub.Publish(ctx, []Message{msg}); err != nil {
			return w.retry(ctx, owner, t, fmt.Errorf("publish resync event: %w", err))
		}
		state.ResyncEpoch, state.Cursor, state.SyncedThroughSeq = epoch, "", 0
		state.Parked, state.ParkedReason, state.Overdue = false, "", false
		_, err = w.state.Save(ctx, owner, state, rev)
		if err == nil {
			w.logger.InfoContext(ctx, "resync started", "owner", owner.ID, "resync_epoch", epoch)
			break
		}
		if !errors.Is(err, ErrConflict) || attempt == 4 {
			return w.retry(ctx, owner, t, fmt.Errorf("save resync epoch: %w", err))
		}
	}
	d := w.syncLocked(ctx, owner, cred, t, lease, heartbeat)
	if d.Verdict != Ack {
		return d
	}
	// Announce the recurring streams again if the owner has any from an
	// older epoch (consumers dropped them at resync_started).
	rs, _, err := w.recurring.Load(ctx, owner)
	if err != nil {
		return w.retry(ctx, owner, t, fmt.Errorf("load recurring snapshot: %w", err))
	}
	if rs.Epoch < epoch && (len(rs.Current.Streams) > 0 || rs.Pending != nil) {
		rd := w.recurringLocked(ctx, owner, t, heartbeat)
		if rd.Verdict != Ack {
			return rd
		}
		d = mergeStats(d, rd)
	}
	return d
}
