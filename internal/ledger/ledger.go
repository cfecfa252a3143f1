// Package ledger is a reference consumer of PLAID_EVENTS, applying events
// exactly as docs/events.md tells subscribers to: dedupe by id, buffer
// transaction events per update and apply an update atomically at its
// plaid.sync.completed, drop superseded buffers, count gaps, restart at
// plaid.item.resync_started, forget an owner at plaid.item.removed.
// devstack uses it for its consistency check.
package ledger

import (
	"encoding/json"
	"maps"
	"slices"

	"github.com/plaidstream/plaidstream/internal/events"
)

// Ledger holds every owner's state rebuilt from events. It is not safe for
// concurrent use.
type Ledger struct {
	seen   map[string]bool
	owners map[string]*Owner
}

// Owner is one item's (or processor account's) rebuilt state.
type Owner struct {
	// Transactions by transaction id: the event's data.
	Transactions map[string]json.RawMessage
	// Streams by stream id: the recurring stream's data.
	Streams map[string]json.RawMessage
	// Status is the latest plaid.item.<status> status, if any.
	Status string
	// Epoch is the latest resync epoch seen.
	Epoch uint64
	// Updates counts applied updates; Gaps those that did not start where
	// the previous one ended.
	Updates, Gaps int
	// Removed is set by plaid.item.removed (the state is dropped).
	Removed  bool
	lastEnd  string
	buffered map[string][]events.Event
}

// New returns an empty ledger.
func New() *Ledger {
	return &Ledger{seen: map[string]bool{}, owners: map[string]*Owner{}}
}

func newOwner() *Owner {
	return &Owner{Transactions: map[string]json.RawMessage{}, Streams: map[string]json.RawMessage{}, buffered: map[string][]events.Event{}}
}

// Owner returns the state of the owner with CloudEvents source src, or nil.
func (l *Ledger) Owner(src string) *Owner { return l.owners[src] }

// Sources lists the owners seen, sorted.
func (l *Ledger) Sources() []string { return slices.Sorted(maps.Keys(l.owners)) }

// Apply applies one event; it reports false for a duplicate (same source
// and id), which changes nothing.
func (l *Ledger) Apply(e events.Event) bool {
	key := e.Source + " " + e.ID
	if l.seen[key] {
		return false
	}
	l.seen[key] = true
	o := l.owners[e.Source]
	if o == nil {
		o = newOwner()
		l.owners[e.Source] = o
	}
	o.Epoch = max(o.Epoch, e.ResyncEpoch)
	switch e.Type {
	case events.TypeTransactionAdded, events.TypeTransactionModified, events.TypeTransactionPosted, events.TypeTransactionRemoved:
		o.buffered[e.UpdateID] = append(o.buffered[e.UpdateID], e)
	case events.TypeSyncCompleted:
		var c events.SyncCompleted
		if json.Unmarshal(e.Data, &c) != nil {
			return true
		}
		if o.Updates > 0 && c.StartCursor != o.lastEnd {
			o.Gaps++
		}
		for _, te := range o.buffered[e.UpdateID] {
			o.applyTransaction(te)
		}
		clear(o.buffered) // one owner's updates never overlap: others were interrupted runs
		o.lastEnd = c.EndCursor
		o.Updates++
	case events.TypeRecurringStreamAdded, events.TypeRecurringStreamModified:
		o.Streams[e.Subject] = e.Data
	case events.TypeRecurringStreamRemoved:
		delete(o.Streams, e.Subject)
	case events.ItemEventType(events.ItemStatusResyncStarted):
		fresh := newOwner()
		fresh.Epoch, fresh.Status = e.ResyncEpoch, events.ItemStatusResyncStarted
		l.owners[e.Source] = fresh
	case events.ItemEventType(events.ItemStatusRemoved):
		gone := newOwner()
		gone.Epoch, gone.Status, gone.Removed = o.Epoch, events.ItemStatusRemoved, true
		l.owners[e.Source] = gone
	default:
		var s events.ItemStatus
		if json.Unmarshal(e.Data, &s) == nil && s.Status != "" {
			o.Status = s.Status
			o.Removed = false
		}
	}
	return true
}

func (o *Owner) applyTransaction(e events.Event) {
	if e.Type == events.TypeTransactionRemoved {
		delete(o.Transactions, e.Subject)
		return
	}
	var t struct {
		TransactionID        string  `json:"transaction_id"`
		PendingTransactionID *string `json:"pending_transaction_id"`
	}
	if json.Unmarshal(e.Data, &t) != nil {
		return
	}
	if e.Type == events.TypeTransactionPosted && t.PendingTransactionID != nil {
		delete(o.Transactions, *t.PendingTransactionID)
	}
	o.Transactions[t.TransactionID] = e.Data
}
