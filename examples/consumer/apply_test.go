package main

// The events in these tests are built by the fetcher's own builders
// (internal/fetch), so they are exactly what PLAID_EVENTS carries: if the
// contract changes, these tests notice before a copied consumer does.

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/fetch"
	"github.com/plaidstream/plaidstream/internal/plaid"
)

var (
	itemOwner = events.Owner{Kind: events.OwnerItem, ID: "item-1"}
	itemSrc   = itemOwner.Source("sandbox")
	observed  = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
)

// txn returns a Plaid transaction; pendingID links a posted one to the
// pending one it replaces.
func txn(t *testing.T, id, amount string, pending bool, pendingID string) plaid.Transaction {
	t.Helper()
	pid := "null"
	if pendingID != "" {
		pid = fmt.Sprintf("%q", pendingID)
	}
	raw := fmt.Sprintf(`{"transaction_id":%q,"account_id":"acc-1","amount":%s,"iso_currency_code":"USD",
		"unofficial_currency_code":null,"date":"2026-11-20","name":"COFFEE","pending":%t,
		"pending_transaction_id":%s,"payment_channel":"in store"}`, id, amount, pending, pid)
	var tx plaid.Transaction
	if err := json.Unmarshal([]byte(raw), &tx); err != nil {
		t.Fatal(err)
	}
	return tx
}

func removed(id string) plaid.RemovedTransaction {
	return plaid.RemovedTransaction{TransactionID: id, AccountID: "acc-1"}
}

// update builds the events of one /transactions/sync update, as the fetcher
// publishes them: transaction events, then plaid.sync.completed last.
func update(t *testing.T, epoch uint64, start, end string, added, modified []plaid.Transaction, rm ...plaid.RemovedTransaction) []Event {
	t.Helper()
	u := &plaid.SyncUpdate{StartCursor: start, NextCursor: end, Added: added, Modified: modified, Removed: rm, UpdateStatus: "HISTORICAL_UPDATE_COMPLETE"}
	msgs, err := fetch.BuildUpdateEvents(u, fetch.UpdateParams{Owner: itemOwner, Environment: "sandbox", Epoch: epoch, Now: observed})
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, msgs)
}

func itemEvent(t *testing.T, status string, epoch uint64, trigger string) Event {
	t.Helper()
	m, err := fetch.BuildItemEvent(fetch.ItemParams{Owner: itemOwner, Environment: "sandbox", Epoch: epoch, Now: observed, Status: status, TriggerID: trigger})
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, []fetch.Message{m})[0]
}

// decode reads messages the way the consumer does: from their bytes.
func decode(t *testing.T, msgs []fetch.Message) []Event {
	t.Helper()
	out := make([]Event, len(msgs))
	for i, m := range msgs {
		if err := json.Unmarshal(m.Body, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// feeder applies events at increasing stream sequences, like a consumer
// reading PLAID_EVENTS.
type feeder struct {
	t   *testing.T
	s   *Store
	seq uint64
}

func newFeeder(t *testing.T) *feeder { return &feeder{t: t, s: NewStore()} }

func (f *feeder) apply(evs ...Event) []Result {
	f.t.Helper()
	var rs []Result
	for _, e := range evs {
		f.seq++
		rs = append(rs, f.s.Apply(f.seq, e))
	}
	return rs
}

func (f *feeder) owner() *Owner {
	f.t.Helper()
	o := f.s.Owners[itemSrc]
	if o == nil {
		f.t.Fatalf("no owner %s in the store", itemSrc)
	}
	return o
}

// txIDs lists the owner's transaction ids as a set.
func txIDs(o *Owner) map[string]bool {
	ids := map[string]bool{}
	for id := range o.Transactions {
		ids[id] = true
	}
	return ids
}

func wantIDs(t *testing.T, o *Owner, want ...string) {
	t.Helper()
	got := txIDs(o)
	if len(got) != len(want) {
		t.Fatalf("transactions %v, want %v", got, want)
	}
	for _, id := range want {
		if !got[id] {
			t.Fatalf("transactions %v, want %v", got, want)
		}
	}
}

func amountOf(t *testing.T, o *Owner, id string) string {
	t.Helper()
	var tx events.Transaction
	if err := json.Unmarshal(o.Transactions[id], &tx); err != nil {
		t.Fatal(err)
	}
	return tx.Amount
}

func TestUpdateAppliesWholeAtItsCompletion(t *testing.T) {
	f := newFeeder(t)
	evs := update(t, 0, "", "c1", []plaid.Transaction{txn(t, "t1", "12.30", false, ""), txn(t, "p1", "4.5", true, "")}, nil)
	rs := f.apply(evs[:len(evs)-1]...)
	for i, r := range rs {
		if r.Outcome != Buffered {
			t.Errorf("event %d (%s): outcome %s, want buffered", i, evs[i].Type, r.Outcome)
		}
	}
	if n := len(f.owner().Transactions); n != 0 {
		t.Fatalf("%d transactions visible before plaid.sync.completed, want 0", n)
	}
	r := f.apply(evs[len(evs)-1])[0]
	if r.Outcome != Applied || r.Changes != 2 || r.Gap || r.Incomplete {
		t.Errorf("completion: got %+v, want applied with 2 changes, no gap, complete", r)
	}
	o := f.owner()
	wantIDs(t, o, "t1", "p1")
	// The payload is stored as the fetcher normalized it: exact decimal
	// text with Plaid's trailing zero kept.
	if got := amountOf(t, o, "t1"); got != "12.30" {
		t.Errorf("amount of t1: got %q, want %q", got, "12.30")
	}
	if o.LastEndCursor != "c1" || o.Updates != 1 || len(o.Pending) != 0 {
		t.Errorf("after the update: cursor %q updates %d pending %d, want c1, 1, 0", o.LastEndCursor, o.Updates, len(o.Pending))
	}
}

func TestPostedTransactionReplacesThePendingOne(t *testing.T) {
	f := newFeeder(t)
	f.apply(update(t, 0, "", "c1", []plaid.Transaction{txn(t, "t1", "1", false, ""), txn(t, "p1", "4.5", true, "")}, nil)...)
	evs := update(t, 0, "c1", "c2",
		[]plaid.Transaction{txn(t, "t2", "5.25", false, "p1")},
		[]plaid.Transaction{txn(t, "t1", "1.01", false, "")},
		removed("p1"))
	if evs[0].Type != TypeTransactionPosted {
		t.Fatalf("first event %s, want %s (the builder pairs a posted transaction with its pending one)", evs[0].Type, TypeTransactionPosted)
	}
	f.apply(evs...)
	o := f.owner()
	wantIDs(t, o, "t1", "t2")
	if got := amountOf(t, o, "t1"); got != "1.01" {
		t.Errorf("modified amount of t1: got %q, want 1.01", got)
	}
}

func TestDuplicatesChangeNothing(t *testing.T) {
	first := update(t, 0, "", "c1", []plaid.Transaction{txn(t, "t1", "1", false, ""), txn(t, "t2", "2", false, "")}, nil)
	second := update(t, 0, "c1", "c2", nil, nil, removed("t1"))
	streams := recurringEvents(t, fetch.Snapshot{}, stream("s1", "9.99", "MATURE"))

	tests := []struct {
		name string
		// after every event of first, second and streams applied once
		// in order, replay is applied: none of it may change the result.
		replay func(f *feeder)
	}{
		{"a redelivered message (same stream sequence)", func(f *feeder) {
			f.s.Apply(2, first[1])
			f.s.Apply(3, first[2])
		}},
		{"the whole history again at new sequences (copies in the stream)", func(f *feeder) {
			f.apply(first...)
			f.apply(second...)
			f.apply(streams...)
		}},
		{"an applied update's events and completion again", func(f *feeder) {
			f.apply(second...)
		}},
		{"one transaction event again", func(f *feeder) {
			f.apply(first[0])
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFeeder(t)
			f.apply(first...)
			f.apply(second...)
			f.apply(streams...)
			before := f.s.Stats.Duplicates
			tc.replay(f)
			o := f.owner()
			wantIDs(t, o, "t2")
			if o.Updates != 2 || o.Gaps != 0 || len(o.RecurringStreams) != 1 {
				t.Errorf("updates %d gaps %d streams %d, want 2, 0, 1", o.Updates, o.Gaps, len(o.RecurringStreams))
			}
			if f.s.Stats.Duplicates == before {
				t.Error("no duplicate counted")
			}
			// Leftovers of a late copy must not be applied by a later update.
			f.apply(update(t, 0, "c2", "c3", nil, nil)...)
			wantIDs(t, f.owner(), "t2")
		})
	}
}

func TestInterruptedRunIsDroppedAtTheNextCompletion(t *testing.T) {
	f := newFeeder(t)
	// A run published part of its update from "" and died; the re-run saw
	// more data, so its update has other ids and another end cursor.
	dead := update(t, 0, "", "c1", []plaid.Transaction{txn(t, "ghost", "7", false, ""), txn(t, "t1", "1", false, "")}, nil)
	f.apply(dead[:1]...)
	rerun := update(t, 0, "", "c1b", []plaid.Transaction{txn(t, "t1", "1", false, ""), txn(t, "t2", "2", false, "")}, nil)
	rs := f.apply(rerun...)
	last := rs[len(rs)-1]
	if last.Dropped != 1 || last.Gap {
		t.Errorf("completion of the re-run: got %+v, want 1 dropped update and no gap", last)
	}
	wantIDs(t, f.owner(), "t1", "t2")
	if len(f.owner().Pending) != 0 {
		t.Errorf("%d updates still buffered, want 0", len(f.owner().Pending))
	}
}

func TestGapsAreCounted(t *testing.T) {
	tests := []struct {
		name     string
		starts   []string // each update i goes from starts[i] to ends[i]
		ends     []string
		wantGaps int
	}{
		{"a chain", []string{"", "c1", "c2"}, []string{"c1", "c2", "c3"}, 0},
		{"a missing update", []string{"", "c2"}, []string{"c1", "c3"}, 1},
		{"a first update that does not start at the beginning", []string{"c5"}, []string{"c6"}, 1},
		{"an update that starts over", []string{"", "c1", ""}, []string{"c1", "c2", "c9"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFeeder(t)
			for i := range tc.starts {
				f.apply(update(t, 0, tc.starts[i], tc.ends[i], []plaid.Transaction{txn(t, fmt.Sprint("t", i), "1", false, "")}, nil)...)
			}
			if got := f.owner().Gaps; got != tc.wantGaps {
				t.Errorf("gaps: got %d, want %d", got, tc.wantGaps)
			}
			if got := f.s.Stats.Gaps; got != tc.wantGaps {
				t.Errorf("store gaps: got %d, want %d", got, tc.wantGaps)
			}
		})
	}
}

func TestIncompleteUpdateIsReported(t *testing.T) {
	f := newFeeder(t)
	evs := update(t, 0, "", "c1", []plaid.Transaction{txn(t, "t1", "1", false, ""), txn(t, "t2", "2", false, "")}, nil)
	rs := f.apply(evs[1:]...) // t1's event never arrived
	if r := rs[len(rs)-1]; !r.Incomplete || r.Changes != 1 {
		t.Errorf("completion: got %+v, want incomplete with 1 change", r)
	}
	if f.s.Stats.Incomplete != 1 {
		t.Errorf("incomplete updates: got %d, want 1", f.s.Stats.Incomplete)
	}
}

func TestResyncRebuildsTheOwnerFromEmpty(t *testing.T) {
	f := newFeeder(t)
	f.apply(update(t, 0, "", "c1", []plaid.Transaction{txn(t, "t1", "1", false, ""), txn(t, "gone", "2", false, "")}, nil)...)
	f.apply(recurringEvents(t, fetch.Snapshot{}, stream("s1", "9.99", "MATURE"))...)
	// A run of epoch 0 left part of an update behind.
	stale := update(t, 0, "c1", "c2", []plaid.Transaction{txn(t, "late", "3", false, "")}, nil)
	f.apply(stale[0])

	if r := f.apply(itemEvent(t, events.ItemStatusResyncStarted, 1, "resync-1"))[0]; r.Outcome != Applied {
		t.Fatalf("resync_started: %s, want applied", r.Outcome)
	}
	o := f.owner()
	if len(o.Transactions) != 0 || len(o.RecurringStreams) != 0 || len(o.Pending) != 0 || o.ResyncEpoch != 1 || o.Status != "resync_started" {
		t.Fatalf("after resync_started: %d transactions, %d streams, %d pending, epoch %d, status %q; want an empty owner at epoch 1",
			len(o.Transactions), len(o.RecurringStreams), len(o.Pending), o.ResyncEpoch, o.Status)
	}
	// The replay starts from "": no gap.
	f.apply(update(t, 1, "", "r1", []plaid.Transaction{txn(t, "t1", "1", false, "")}, nil)...)
	// Events of the old epoch delivered late are stale.
	if r := f.apply(stale[1])[0]; r.Outcome != Stale {
		t.Errorf("old-epoch completion after the resync: %s, want stale", r.Outcome)
	}
	o = f.owner()
	wantIDs(t, o, "t1")
	if o.Gaps != 0 || o.Updates != 1 {
		t.Errorf("gaps %d updates %d, want 0 and 1", o.Gaps, o.Updates)
	}
}

func TestRemovedForgetsTheOwnerUntilItIsRegisteredAgain(t *testing.T) {
	f := newFeeder(t)
	f.apply(update(t, 0, "", "c1", []plaid.Transaction{txn(t, "t1", "1", false, "")}, nil)...)
	late := itemEvent(t, "ERROR", 0, "late-webhook")
	f.apply(itemEvent(t, events.ItemStatusRemoved, 0, "remove-1"))
	o := f.owner()
	if !o.Removed || len(o.Transactions) != 0 || o.Status != "removed" {
		t.Fatalf("after removed: removed %t, %d transactions, status %q", o.Removed, len(o.Transactions), o.Status)
	}
	if r := f.apply(late)[0]; r.Outcome != Stale {
		t.Errorf("an event of the removed registration: %s, want stale", r.Outcome)
	}
	// Registered again: its events continue in the next epoch, from "".
	f.apply(update(t, 1, "", "n1", []plaid.Transaction{txn(t, "t9", "9", false, "")}, nil)...)
	o = f.owner()
	if o.Removed || o.Gaps != 0 {
		t.Errorf("after the new registration: removed %t gaps %d, want false and 0", o.Removed, o.Gaps)
	}
	wantIDs(t, o, "t9")
}

func TestItemStatusIsKept(t *testing.T) {
	f := newFeeder(t)
	f.apply(itemEvent(t, "ERROR", 0, "w1"))
	if got := f.owner().Status; got != "error" {
		t.Errorf("status %q, want error", got)
	}
	f.apply(itemEvent(t, "LOGIN_REPAIRED", 0, "w2"))
	if got := f.owner().Status; got != "login_repaired" {
		t.Errorf("status %q, want login_repaired", got)
	}
}

func TestUnknownTypesAreIgnored(t *testing.T) {
	f := newFeeder(t)
	e := Event{SpecVersion: "1.0", ID: "x1", Source: itemSrc, Type: "plaid.balance.updated", Data: json.RawMessage(`{}`)}
	if r := f.apply(e)[0]; r.Outcome != Ignored {
		t.Errorf("unknown type: %s, want ignored", r.Outcome)
	}
}

func stream(id, amount, status string) plaid.TransactionStream {
	d, err := plaid.ParseDecimal(amount)
	if err != nil {
		panic(err)
	}
	usd := "USD"
	return plaid.TransactionStream{
		AccountID: "acc-1", StreamID: id, Description: "GYM", FirstDate: "2026-01-05", LastDate: "2026-11-05",
		Frequency: "MONTHLY", TransactionIDs: []string{}, IsActive: status != "TOMBSTONED", Status: status,
		AverageAmount: plaid.TransactionStreamAmount{Amount: &d, ISOCurrencyCode: &usd},
		LastAmount:    plaid.TransactionStreamAmount{Amount: &d, ISOCurrencyCode: &usd},
	}
}

// recurringEvents diffs outflow streams against prev, as the fetcher does.
func recurringEvents(t *testing.T, prev fetch.Snapshot, streams ...plaid.TransactionStream) []Event {
	t.Helper()
	_, msgs := recurringDiff(t, prev, streams...)
	return msgs
}

func recurringDiff(t *testing.T, prev fetch.Snapshot, streams ...plaid.TransactionStream) (fetch.Snapshot, []Event) {
	t.Helper()
	next, msgs, err := fetch.DiffRecurring(prev, &plaid.TransactionsRecurringGetResponse{OutflowStreams: streams},
		fetch.RecurringParams{Owner: itemOwner, Environment: "sandbox", Now: observed})
	if err != nil {
		t.Fatal(err)
	}
	return next, decode(t, msgs)
}

func TestRecurringStreamsApplyAsTheyArrive(t *testing.T) {
	f := newFeeder(t)
	snap, evs := recurringDiff(t, fetch.Snapshot{}, stream("s1", "9.99", "MATURE"), stream("s2", "50", "MATURE"))
	f.apply(evs...)
	if n := len(f.owner().RecurringStreams); n != 2 {
		t.Fatalf("%d streams, want 2", n)
	}
	_, evs = recurringDiff(t, snap, stream("s1", "10.99", "MATURE"), stream("s2", "50", "TOMBSTONED"))
	f.apply(evs...)
	o := f.owner()
	if len(o.RecurringStreams) != 1 || o.RecurringStreams["s1"] == nil {
		t.Fatalf("streams %v, want only s1", o.RecurringStreams)
	}
	var s events.RecurringStream
	if err := json.Unmarshal(o.RecurringStreams["s1"], &s); err != nil {
		t.Fatal(err)
	}
	if s.AverageAmount == nil || s.AverageAmount.Amount == nil || *s.AverageAmount.Amount != "10.99" {
		t.Errorf("s1 average amount %+v, want 10.99", s.AverageAmount)
	}
}
