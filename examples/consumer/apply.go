package main

// This file is the consumer's logic, with no I/O: how one event changes the
// store. It follows docs/events.md ("Applying events", "Item lifecycle
// events", "Resyncs"); the comments quote the rule each step implements.
// Copy it, swap the JSON file for your database, keep the rules.

import (
	"encoding/json"
	"strings"
	"time"
)

// Event types of PLAID_EVENTS (docs/events.md, "Event types").
const (
	TypeTransactionAdded    = "plaid.transaction.added"
	TypeTransactionModified = "plaid.transaction.modified"
	TypeTransactionPosted   = "plaid.transaction.posted"
	TypeTransactionRemoved  = "plaid.transaction.removed"

	TypeRecurringStreamAdded    = "plaid.recurring_stream.added"
	TypeRecurringStreamModified = "plaid.recurring_stream.modified"
	TypeRecurringStreamRemoved  = "plaid.recurring_stream.removed"

	TypeSyncCompleted = "plaid.sync.completed"

	// typeItemPrefix starts plaid.item.<status>: Plaid's ITEM webhook codes
	// in lower case, plus plaidstream's own statuses below.
	typeItemPrefix = "plaid.item."

	TypeItemRemoved       = "plaid.item.removed"
	TypeItemResyncStarted = "plaid.item.resync_started"
)

// Event is a plaidstream CloudEvent, as much of it as this consumer reads
// (docs/events.md, "Attributes"). Your service would declare the same few
// fields; nothing here depends on plaidstream's Go packages.
type Event struct {
	SpecVersion string    `json:"specversion"`
	ID          string    `json:"id"`
	Source      string    `json:"source"`
	Type        string    `json:"type"`
	Subject     string    `json:"subject,omitempty"`
	Time        time.Time `json:"time"`
	// ResyncEpoch is the owner's resync epoch: 0 until its first resync.
	ResyncEpoch uint64 `json:"resyncepoch"`
	// UpdateID is shared by every event of one update and by the
	// plaid.sync.completed that closes it.
	UpdateID string          `json:"updateid,omitempty"`
	Data     json.RawMessage `json:"data"`
}

// syncCompleted is the data of plaid.sync.completed.
type syncCompleted struct {
	StartCursor string `json:"start_cursor"`
	EndCursor   string `json:"end_cursor"`
	Added       int    `json:"added"`
	Modified    int    `json:"modified"`
	Removed     int    `json:"removed"`
	Posted      int    `json:"posted"`
}

// transactionRef is what the consumer needs from a transaction payload to
// file it; the whole payload is stored as it came.
type transactionRef struct {
	TransactionID        string  `json:"transaction_id"`
	PendingTransactionID *string `json:"pending_transaction_id"`
}

// Bounds of the per-owner dedupe memory. Redeliveries (a crash between the
// store write and the ack) are caught exactly by Store.StreamSeq; these
// windows catch the duplicates that are in the stream itself, which come
// from a fetcher re-running the update it was in the middle of. Those are
// always recent, so a short memory per owner suffices.
const (
	appliedUpdatesKept = 64
	seenIDsKept        = 512
)

// Store is everything the consumer keeps. It is written to disk whole after
// every batch (store.go) and read back at start.
type Store struct {
	Version int `json:"version"`
	// StreamSeq is the PLAID_EVENTS sequence of the last message applied.
	// One process reads one durable consumer in order, so a message at or
	// below it was applied before: JetStream is redelivering it because
	// its ack was lost.
	StreamSeq uint64 `json:"stream_seq"`
	// Owners by CloudEvents source: plaid/<env>/items/<item_id> or
	// plaid/<env>/processor/<account_id>. Ids are unique per source.
	Owners map[string]*Owner `json:"owners"`
	Stats  Stats             `json:"stats"`
}

// StoreVersion is the format of Store this program writes.
const StoreVersion = 1

// Stats counts what happened to the events this store has seen.
type Stats struct {
	Events     int `json:"events"`     // messages handled
	Applied    int `json:"applied"`    // events whose effect is in the store (transaction events once their update applied)
	Duplicates int `json:"duplicates"` // same source and id seen before, or a redelivery
	Stale      int `json:"stale"`      // from an older resync epoch or a removed registration
	Updates    int `json:"updates"`    // plaid.sync.completed applied
	Gaps       int `json:"gaps"`       // updates that did not start where the previous one ended
	Incomplete int `json:"incomplete"` // updates applied with fewer events than their counts
	Dropped    int `json:"dropped"`    // buffered updates of interrupted runs, dropped
	Malformed  int `json:"malformed"`  // messages or payloads that could not be read
	Ignored    int `json:"ignored"`    // event types this consumer does not know
}

// Owner is one item's (or processor account's) state.
type Owner struct {
	// ResyncEpoch is the epoch of the state held.
	ResyncEpoch uint64 `json:"resync_epoch"`
	// Removed is set by plaid.item.removed: the state is gone.
	Removed bool `json:"removed,omitempty"`
	// Status is the latest plaid.item.<status>, e.g. "error",
	// "login_repaired", "resync_started".
	Status string `json:"status,omitempty"`
	// LastEndCursor is the end cursor of the last applied update; the next
	// update must start there.
	LastEndCursor string `json:"last_end_cursor"`
	Updates       int    `json:"updates"`
	Gaps          int    `json:"gaps"`
	// Transactions by transaction_id: the normalized payload as received.
	Transactions map[string]json.RawMessage `json:"transactions"`
	// RecurringStreams by stream_id: the stream's whole state.
	RecurringStreams map[string]json.RawMessage `json:"recurring_streams"`
	// Pending holds transaction events of updates whose
	// plaid.sync.completed has not arrived yet, by updateid. They are
	// stored (and so acked) like everything else.
	Pending map[string]*PendingUpdate `json:"pending,omitempty"`
	// AppliedUpdates are the last updateids applied, oldest first.
	AppliedUpdates []string `json:"applied_updates,omitempty"`
	// SeenIDs are the ids of the last recurring-stream and item events
	// applied, oldest first.
	SeenIDs []string `json:"seen_ids,omitempty"`
}

// PendingUpdate is an update's transaction events, in arrival order.
type PendingUpdate struct {
	Events []Event `json:"events"`
	ids    map[string]bool
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{Version: StoreVersion, Owners: map[string]*Owner{}}
}

func newOwner(epoch uint64) *Owner {
	return &Owner{
		ResyncEpoch:      epoch,
		Transactions:     map[string]json.RawMessage{},
		RecurringStreams: map[string]json.RawMessage{},
		Pending:          map[string]*PendingUpdate{},
	}
}

// Outcome says what Apply did with an event.
type Outcome string

// Outcomes of Apply.
const (
	// Buffered: a transaction event, kept until its update completes.
	Buffered Outcome = "buffered"
	// Applied: the event's effect is in the store.
	Applied Outcome = "applied"
	// Duplicate: seen before (same source and id), or redelivered.
	Duplicate Outcome = "duplicate"
	// Stale: from a resync epoch the owner has left, or from a registration
	// that was removed.
	Stale Outcome = "stale"
	// Malformed: the payload could not be read; nothing changed.
	Malformed Outcome = "malformed"
	// Ignored: an event type this consumer does not know (Plaid and
	// plaidstream add types; ignoring them is forward compatible).
	Ignored Outcome = "ignored"
)

// Result is what Apply did, for logs and metrics.
type Result struct {
	Outcome Outcome
	// For a plaid.sync.completed that was applied:
	Gap        bool // it did not start at the previous update's end cursor
	Incomplete bool // fewer events were buffered than its counts announce
	Changes    int  // transaction events applied
	Dropped    int  // other buffered updates dropped (interrupted runs)
}

// Apply applies one event, delivered at stream sequence seq (0 if
// unknown), to the store.
func (s *Store) Apply(seq uint64, e Event) Result {
	s.Stats.Events++
	if seq != 0 {
		if seq <= s.StreamSeq {
			s.Stats.Duplicates++
			return Result{Outcome: Duplicate}
		}
		s.StreamSeq = seq
	}
	if e.ID == "" || e.Source == "" || e.Type == "" {
		s.Stats.Malformed++
		return Result{Outcome: Malformed}
	}

	o := s.Owners[e.Source]
	if o == nil {
		o = newOwner(e.ResyncEpoch)
		s.Owners[e.Source] = o
	}
	switch {
	case e.ResyncEpoch < o.ResyncEpoch, o.Removed && e.ResyncEpoch == o.ResyncEpoch:
		// "Every event of the replay and after carries the new epoch": an
		// older epoch is history the owner has been rebuilt without. And
		// plaid.item.removed is "an owner's last event" of its
		// registration.
		s.Stats.Stale++
		return Result{Outcome: Stale}
	case e.ResyncEpoch > o.ResyncEpoch:
		// A new epoch starts the owner over: a resync replays its whole
		// history from an empty cursor, and a registration after a removal
		// "continues in the next resync epoch". Drop the old state (the
		// documented "drop at resync_started"; it is the first event of a
		// replay) and reset gap tracking.
		o = newOwner(e.ResyncEpoch)
		s.Owners[e.Source] = o
	}

	switch e.Type {
	case TypeTransactionAdded, TypeTransactionModified, TypeTransactionPosted, TypeTransactionRemoved:
		return s.buffer(o, e)
	case TypeSyncCompleted:
		return s.complete(o, e)
	}
	// Everything else applies as it arrives: dedupe by id.
	if o.seen(e.ID) {
		s.Stats.Duplicates++
		return Result{Outcome: Duplicate}
	}
	r := s.applyNow(o, e)
	if r.Outcome == Applied {
		o.SeenIDs = keepLast(append(o.SeenIDs, e.ID), seenIDsKept)
		s.Stats.Applied++
	}
	return r
}

// buffer keeps a transaction event until its update's plaid.sync.completed:
// "To apply an update atomically, buffer transaction events by updateid".
func (s *Store) buffer(o *Owner, e Event) Result {
	if e.UpdateID == "" {
		s.Stats.Malformed++
		return Result{Outcome: Malformed}
	}
	if o.applied(e.UpdateID) {
		// A late copy of an update already applied (a fetcher re-run that
		// saw the same data): its effect is in the store.
		s.Stats.Duplicates++
		return Result{Outcome: Duplicate}
	}
	p := o.Pending[e.UpdateID]
	if p == nil {
		p = &PendingUpdate{ids: map[string]bool{}}
		o.Pending[e.UpdateID] = p
	}
	if p.ids[e.ID] {
		s.Stats.Duplicates++
		return Result{Outcome: Duplicate}
	}
	p.ids[e.ID] = true
	p.Events = append(p.Events, e)
	return Result{Outcome: Buffered}
}

// complete applies the update e closes.
func (s *Store) complete(o *Owner, e Event) Result {
	if e.UpdateID == "" {
		s.Stats.Malformed++
		return Result{Outcome: Malformed}
	}
	if o.applied(e.UpdateID) {
		delete(o.Pending, e.UpdateID) // copies that arrived again since
		s.Stats.Duplicates++
		return Result{Outcome: Duplicate}
	}
	var c syncCompleted
	if err := json.Unmarshal(e.Data, &c); err != nil {
		s.Stats.Malformed++
		return Result{Outcome: Malformed}
	}
	r := Result{Outcome: Applied}
	// "A gap is an update whose start_cursor is not the previous update's
	// end_cursor." A fresh owner (or one just resynced) starts at "".
	if c.StartCursor != o.LastEndCursor {
		r.Gap = true
		o.Gaps++
		s.Stats.Gaps++
	}
	var evs []Event
	if p := o.Pending[e.UpdateID]; p != nil {
		evs = p.Events
	}
	// The counts are "the number of distinct events a consumer receives";
	// fewer means events went missing on the way (a subject filter that
	// drops some, a stream that lost messages).
	if want := c.Added + c.Modified + c.Removed + c.Posted; len(evs) != want {
		r.Incomplete = true
		s.Stats.Incomplete++
	}
	for _, te := range evs {
		if o.applyTransaction(te) {
			r.Changes++
		} else {
			s.Stats.Malformed++
		}
	}
	s.Stats.Applied += r.Changes + 1
	// "Updates of one owner never overlap, so when an update completes,
	// any other buffered updateid of that owner was an interrupted run and
	// is dropped: its changes are in the completed update or in a later
	// one."
	r.Dropped = len(o.Pending)
	if o.Pending[e.UpdateID] != nil {
		r.Dropped--
	}
	s.Stats.Dropped += r.Dropped
	clear(o.Pending)
	o.LastEndCursor = c.EndCursor
	o.Updates++
	s.Stats.Updates++
	o.AppliedUpdates = keepLast(append(o.AppliedUpdates, e.UpdateID), appliedUpdatesKept)
	return r
}

// applyTransaction applies one buffered transaction event; false if its
// payload cannot be read.
func (o *Owner) applyTransaction(e Event) bool {
	var t transactionRef
	if err := json.Unmarshal(e.Data, &t); err != nil || t.TransactionID == "" {
		return false
	}
	switch e.Type {
	case TypeTransactionRemoved:
		delete(o.Transactions, t.TransactionID)
	case TypeTransactionPosted:
		// "its pending_transaction_id names the pending one, which is gone"
		if t.PendingTransactionID != nil {
			delete(o.Transactions, *t.PendingTransactionID)
		}
		o.Transactions[t.TransactionID] = e.Data
	default: // added, modified: the transaction's whole new state
		o.Transactions[t.TransactionID] = e.Data
	}
	return true
}

// applyNow applies an event that does not wait for a plaid.sync.completed.
func (s *Store) applyNow(o *Owner, e Event) Result {
	switch e.Type {
	case TypeRecurringStreamAdded, TypeRecurringStreamModified, TypeRecurringStreamRemoved:
		// "Recurring-stream events carry the stream's whole state and are
		// applied as they arrive (upsert by stream_id, delete on removed)."
		var ref struct {
			StreamID string `json:"stream_id"`
		}
		if err := json.Unmarshal(e.Data, &ref); err != nil || ref.StreamID == "" {
			s.Stats.Malformed++
			return Result{Outcome: Malformed}
		}
		if e.Type == TypeRecurringStreamRemoved {
			delete(o.RecurringStreams, ref.StreamID)
		} else {
			o.RecurringStreams[ref.StreamID] = e.Data
		}
		return Result{Outcome: Applied}
	case TypeItemRemoved:
		// "plaid.item.removed is an owner's last event ... Drop the item's
		// state." Keep a tombstone with the epoch, so events of the removed
		// registration delivered late are recognised as stale.
		gone := newOwner(o.ResyncEpoch)
		gone.Removed, gone.Status = true, "removed"
		*o = *gone
		return Result{Outcome: Applied}
	case TypeItemResyncStarted:
		// "Drop at resync_started": its new epoch already started the owner
		// over in Apply, so the replay that follows rebuilds it from empty.
		o.Status = "resync_started"
		return Result{Outcome: Applied}
	}
	if status, ok := strings.CutPrefix(e.Type, typeItemPrefix); ok {
		// Other item statuses (error, login_repaired, pending_expiration,
		// refresh_failed, ...) are informational here.
		o.Status = status
		return Result{Outcome: Applied}
	}
	s.Stats.Ignored++
	return Result{Outcome: Ignored}
}

func (o *Owner) applied(updateID string) bool {
	for _, u := range o.AppliedUpdates {
		if u == updateID {
			return true
		}
	}
	return false
}

func (o *Owner) seen(id string) bool {
	for _, v := range o.SeenIDs {
		if v == id {
			return true
		}
	}
	return false
}

// keepLast returns the last n elements of s.
func keepLast(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append([]string(nil), s[len(s)-n:]...)
}

// reindex rebuilds what is not stored (the pending id sets) after a load.
func (s *Store) reindex() {
	if s.Owners == nil {
		s.Owners = map[string]*Owner{}
	}
	for _, o := range s.Owners {
		if o.Transactions == nil {
			o.Transactions = map[string]json.RawMessage{}
		}
		if o.RecurringStreams == nil {
			o.RecurringStreams = map[string]json.RawMessage{}
		}
		if o.Pending == nil {
			o.Pending = map[string]*PendingUpdate{}
		}
		for _, p := range o.Pending {
			p.ids = make(map[string]bool, len(p.Events))
			for _, e := range p.Events {
				p.ids[e.ID] = true
			}
		}
	}
}
