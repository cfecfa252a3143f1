package fetch

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid"
)

func recurringParams() RecurringParams {
	return RecurringParams{Owner: itemOwner, Environment: "sandbox", Now: fixedNow}
}

// stream is a minimal MATURE recurring stream.
func stream(id, amount string) plaid.TransactionStream {
	a := plaid.MustParseDecimal(amount)
	return plaid.TransactionStream{
		AccountID:      "acc-" + id,
		StreamID:       id,
		Description:    "stream " + id,
		FirstDate:      "2026-01-01",
		LastDate:       "2026-11-01",
		Frequency:      "MONTHLY",
		TransactionIDs: []string{"tx-" + id},
		AverageAmount:  plaid.TransactionStreamAmount{Amount: &a},
		LastAmount:     plaid.TransactionStreamAmount{Amount: &a},
		IsActive:       true,
		Status:         "MATURE",
	}
}

func tombstoned(s plaid.TransactionStream) plaid.TransactionStream {
	s.Status = StreamTombstoned
	return s
}

func withTxn(s plaid.TransactionStream, id string) plaid.TransactionStream {
	s.TransactionIDs = append(slices.Clone(s.TransactionIDs), id)
	return s
}

// outflows is a recurring answer with only outflow streams.
func outflows(streams ...plaid.TransactionStream) *plaid.TransactionsRecurringGetResponse {
	return &plaid.TransactionsRecurringGetResponse{OutflowStreams: streams}
}

func TestDiffRecurring(t *testing.T) {
	tests := []struct {
		name        string
		before      *plaid.TransactionsRecurringGetResponse
		after       *plaid.TransactionsRecurringGetResponse
		want        []string
		wantStreams []string // live stream ids in the next snapshot
	}{
		{name: "new stream is added", before: outflows(), after: outflows(stream("s1", "10")),
			want: []string{"recurring_stream.added:s1"}, wantStreams: []string{"s1"}},
		{name: "already TOMBSTONED when first seen emits nothing", before: outflows(), after: outflows(tombstoned(stream("s1", "10"))),
			want: nil, wantStreams: []string{}},
		{name: "amount changed is modified", before: outflows(stream("s1", "10")), after: outflows(stream("s1", "10.01")),
			want: []string{"recurring_stream.modified:s1"}, wantStreams: []string{"s1"}},
		{name: "new transaction id is modified", before: outflows(stream("s1", "10")), after: outflows(withTxn(stream("s1", "10"), "tx-new")),
			want: []string{"recurring_stream.modified:s1"}, wantStreams: []string{"s1"}},
		{name: "flow changed is modified", before: outflows(stream("s1", "10")), after: &plaid.TransactionsRecurringGetResponse{InflowStreams: []plaid.TransactionStream{stream("s1", "10")}},
			want: []string{"recurring_stream.modified:s1"}, wantStreams: []string{"s1"}},
		{name: "unchanged emits nothing", before: outflows(stream("s1", "10")), after: outflows(stream("s1", "10")),
			want: nil, wantStreams: []string{"s1"}},
		{name: "became TOMBSTONED is removed", before: outflows(stream("s1", "10"), stream("s2", "5")), after: outflows(tombstoned(stream("s1", "10")), stream("s2", "5")),
			want: []string{"recurring_stream.removed:s1"}, wantStreams: []string{"s2"}},
		{name: "disappeared is removed", before: outflows(stream("s1", "10"), stream("s2", "5")), after: outflows(stream("s2", "5")),
			want: []string{"recurring_stream.removed:s1"}, wantStreams: []string{"s2"}},
		{name: "TOMBSTONED stream that comes back is added", before: outflows(tombstoned(stream("s1", "10"))), after: outflows(stream("s1", "10")),
			want: []string{"recurring_stream.added:s1"}, wantStreams: []string{"s1"}},
		{name: "added, modified, removed, each by stream id",
			before: outflows(stream("d", "1"), stream("c", "1"), stream("f", "1"), stream("e", "1"), stream("g", "1")),
			after:  outflows(stream("g", "1"), stream("b", "1"), stream("d", "2"), stream("a", "1"), stream("c", "2")),
			want: []string{"recurring_stream.added:a", "recurring_stream.added:b", "recurring_stream.modified:c", "recurring_stream.modified:d",
				"recurring_stream.removed:e", "recurring_stream.removed:f"},
			wantStreams: []string{"a", "b", "c", "d", "g"}},
		{name: "stream id listed twice: the last entry counts", before: outflows(stream("s1", "10")), after: outflows(stream("s1", "99"), stream("s1", "10")),
			want: nil, wantStreams: []string{"s1"}},
		{name: "listed twice, last TOMBSTONED: removed", before: outflows(stream("s1", "10")), after: outflows(stream("s1", "10"), tombstoned(stream("s1", "10"))),
			want: []string{"recurring_stream.removed:s1"}, wantStreams: []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := recurringParams()
			prev, _, err := DiffRecurring(Snapshot{}, tc.before, p)
			if err != nil {
				t.Fatal(err)
			}
			next, msgs, err := DiffRecurring(prev, tc.after, p)
			if err != nil {
				t.Fatal(err)
			}
			checkMessages(t, msgs, itemOwner, "sandbox", 0, fixedNow)
			if got := summary(msgs); !slices.Equal(got, tc.want) {
				t.Errorf("events\n got %q\nwant %q", got, tc.want)
			}
			if got := sortedKeys(next.Streams); !slices.Equal(got, tc.wantStreams) {
				t.Errorf("snapshot streams %q, want %q", got, tc.wantStreams)
			}
			if gotNew, wantNew := next.Hash != prev.Hash, len(tc.want) > 0; gotNew != wantNew {
				t.Errorf("snapshot hash changed: %v, want %v (events: %d)", gotNew, wantNew, len(msgs))
			}
			wantUpdateID := events.UpdateID(itemOwner, 0, prev.Hash, next.Hash)
			for _, m := range msgs {
				if m.Event.UpdateID != wantUpdateID {
					t.Errorf("%s: updateid %q, want %q", m.Event.Type, m.Event.UpdateID, wantUpdateID)
				}
			}
		})
	}
}

func TestDiffRecurringPayloads(t *testing.T) {
	p := recurringParams()
	p.Owner = processorOwner
	prev, _, err := DiffRecurring(Snapshot{}, outflows(stream("s1", "10"), stream("s2", "1e1")), p)
	if err != nil {
		t.Fatal(err)
	}
	_, msgs, err := DiffRecurring(prev, &plaid.TransactionsRecurringGetResponse{InflowStreams: []plaid.TransactionStream{stream("s2", "-3.50")}}, p)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summary(msgs), []string{"recurring_stream.modified:s2", "recurring_stream.removed:s1"}; !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	mod := data[events.RecurringStream](t, msgs[0])
	if mod.Flow != events.StreamInflow || deref(mod.LastAmount.Amount) != "-3.50" || mod.ItemID != "" || mod.AccountID != "acc-s2" {
		t.Errorf("modified data %+v", mod)
	}
	rm := data[events.RemovedRecurringStream](t, msgs[1])
	if want := (events.RemovedRecurringStream{SchemaVersion: 1, StreamID: "s1", AccountID: "acc-s1"}); rm != want {
		t.Errorf("removed data %+v, want %+v", rm, want)
	}
}

// TestDiffRecurringSnapshotRoundTrip: a snapshot stored as JSON, compact or
// indented, diffs like the original, and RecurringMessages re-derives the
// diff's exact ids from the stored snapshots.
func TestDiffRecurringSnapshotRoundTrip(t *testing.T) {
	p := recurringParams()
	p.KeepRaw = true
	var first plaid.TransactionsRecurringGetResponse
	raw := `{"outflow_streams":[{"account_id":"a1","stream_id":"s1","description":"AT&T <phone>","first_date":"2026-01-01","last_date":"2026-11-01","frequency":"MONTHLY","transaction_ids":["t1"],"average_amount":{"amount":1e1},"last_amount":{"amount":10.10},"is_active":true,"status":"MATURE","is_user_modified":false,"future":"\u2028"}]}`
	if err := json.Unmarshal([]byte(raw), &first); err != nil {
		t.Fatal(err)
	}
	prev, msgs, err := DiffRecurring(Snapshot{}, &first, p)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		encode func(any) ([]byte, error)
	}{
		{name: "compact", encode: json.Marshal},
		{name: "indented", encode: func(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stored, err := tc.encode(prev)
			if err != nil {
				t.Fatal(err)
			}
			var loaded Snapshot
			if err := json.Unmarshal(stored, &loaded); err != nil {
				t.Fatal(err)
			}
			next, again, err := DiffRecurring(loaded, &first, p)
			if err != nil || len(again) != 0 || next.Hash != prev.Hash {
				t.Errorf("diff against the stored snapshot: %q, hash %s (was %s), %v; want no events, same hash", summary(again), next.Hash, prev.Hash, err)
			}
			rederived, err := RecurringMessages(Snapshot{}, loaded, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(rederived) != len(msgs) || rederived[0].MsgID != msgs[0].MsgID || string(rederived[0].Body) != string(msgs[0].Body) {
				t.Errorf("re-derived %q, want the original %q with the same ids and bodies", summary(rederived), summary(msgs))
			}
		})
	}
}

// TestDiffRecurringABA: a stream changing A→B→A→B gets a distinct modified
// id every time (the snapshot hash is chained), and the same diff run twice
// gets the same ids.
func TestDiffRecurringABA(t *testing.T) {
	p := recurringParams()
	snap, _, err := DiffRecurring(Snapshot{}, outflows(stream("s1", "10")), p)
	if err != nil {
		t.Fatal(err)
	}
	ids := make(map[string]bool)
	for i, amount := range []string{"20", "10", "20", "10"} {
		cur := outflows(stream("s1", amount))
		next, msgs, err := DiffRecurring(snap, cur, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 1 || msgs[0].Event.Type != events.TypeRecurringStreamModified {
			t.Fatalf("change %d: %q, want one modified", i, summary(msgs))
		}
		p2 := p
		p2.Now = p.Now.Add(time.Minute)
		rerun, msgs2, err := DiffRecurring(snap, cur, p2)
		if err != nil || rerun.Hash != next.Hash || msgs2[0].MsgID != msgs[0].MsgID {
			t.Errorf("change %d: a re-run gives hash %s id %s, want %s %s (%v)", i, rerun.Hash, msgs2[0].MsgID, next.Hash, msgs[0].MsgID, err)
		}
		ids[msgs[0].MsgID] = true
		snap = next
	}
	if len(ids) != 4 {
		t.Errorf("%d distinct ids over 4 changes, want 4", len(ids))
	}
}

// TestDiffRecurringRemovedThenBack: a stream removed and later added again
// with the same content gets a new added id.
func TestDiffRecurringRemovedThenBack(t *testing.T) {
	p := recurringParams()
	s1, a1, err := DiffRecurring(Snapshot{}, outflows(stream("s1", "10")), p)
	if err != nil {
		t.Fatal(err)
	}
	s2, _, err := DiffRecurring(s1, outflows(), p)
	if err != nil {
		t.Fatal(err)
	}
	_, a3, err := DiffRecurring(s2, outflows(stream("s1", "10")), p)
	if err != nil {
		t.Fatal(err)
	}
	if len(a1) != 1 || len(a3) != 1 || a1[0].MsgID == a3[0].MsgID {
		t.Errorf("added %q then %q with ids %v; want two added events with distinct ids", summary(a1), summary(a3), []string{a1[0].MsgID, a3[0].MsgID})
	}
}

func TestDiffRecurringInvalid(t *testing.T) {
	noID := stream("", "1")
	tests := []struct {
		name string
		prev Snapshot
		cur  *plaid.TransactionsRecurringGetResponse
		p    func(*RecurringParams)
	}{
		{name: "nil response", p: func(*RecurringParams) {}},
		{name: "stream without id", cur: outflows(noID), p: func(*RecurringParams) {}},
		{name: "snapshot from a newer fetcher", prev: Snapshot{Version: SnapshotVersion + 1}, cur: outflows(), p: func(*RecurringParams) {}},
		{name: "corrupt snapshot", prev: Snapshot{Version: 1, Hash: "h", Streams: map[string]json.RawMessage{"s1": json.RawMessage(`{"account_id":`)}}, cur: outflows(), p: func(*RecurringParams) {}},
		{name: "bad owner", cur: outflows(), p: func(p *RecurringParams) { p.Owner.ID = "a>b" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := recurringParams()
			tc.p(&p)
			if _, msgs, err := DiffRecurring(tc.prev, tc.cur, p); err == nil || msgs != nil {
				t.Errorf("got %d messages, %v; want an error", len(msgs), err)
			}
		})
	}
	if _, _, err := DiffRecurring(Snapshot{}, nil, recurringParams()); !errors.Is(err, errParams) {
		t.Errorf("nil response: %v, want errParams", err)
	}
}
