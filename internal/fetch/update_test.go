package fetch

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid"
)

// counts is what plaid.sync.completed reports: posted, added, modified,
// removed.
type counts [4]int

func completedCounts(t *testing.T, msgs []Message) counts {
	t.Helper()
	last := msgs[len(msgs)-1]
	if last.Event.Type != events.TypeSyncCompleted {
		t.Fatalf("last event is %s, want %s", last.Event.Type, events.TypeSyncCompleted)
	}
	d := data[events.SyncCompleted](t, last)
	return counts{d.Posted, d.Added, d.Modified, d.Removed}
}

func TestBuildUpdateEventsOrderAndPairing(t *testing.T) {
	tests := []struct {
		name       string
		update     plaid.SyncUpdate
		want       []string
		wantCounts counts
	}{
		{
			name: "posted pair first, then added, modified, removed",
			update: plaid.SyncUpdate{
				Added:    []plaid.Transaction{txn("a1", "3"), posted("t2", "p1", "5")},
				Modified: []plaid.Transaction{txn("m1", "4")},
				Removed:  []plaid.RemovedTransaction{removed("r1"), removed("p1")},
			},
			want:       []string{"transaction.posted:t2", "transaction.added:a1", "transaction.modified:m1", "transaction.removed:r1", "sync.completed:"},
			wantCounts: counts{1, 1, 1, 1},
		},
		{
			name:       "pending id not in removed is a plain added event",
			update:     plaid.SyncUpdate{Added: []plaid.Transaction{posted("t2", "p9", "5")}, Removed: []plaid.RemovedTransaction{removed("r1")}},
			want:       []string{"transaction.added:t2", "transaction.removed:r1", "sync.completed:"},
			wantCounts: counts{0, 1, 0, 1},
		},
		{
			name:       "pair split across updates: the removal alone",
			update:     plaid.SyncUpdate{Removed: []plaid.RemovedTransaction{removed("p1")}},
			want:       []string{"transaction.removed:p1", "sync.completed:"},
			wantCounts: counts{0, 0, 0, 1},
		},
		{
			name: "posted events in the order of Added, not of Removed",
			update: plaid.SyncUpdate{
				Added:   []plaid.Transaction{posted("t1", "p1", "1"), txn("a1", "1"), posted("t2", "p2", "2")},
				Removed: []plaid.RemovedTransaction{removed("p2"), removed("p1")},
			},
			want:       []string{"transaction.posted:t1", "transaction.posted:t2", "transaction.added:a1", "sync.completed:"},
			wantCounts: counts{2, 1, 0, 0},
		},
		{
			name:       "Plaid's order within each kind",
			update:     plaid.SyncUpdate{Added: []plaid.Transaction{txn("c", "1"), txn("a", "1"), txn("b", "1")}, Removed: []plaid.RemovedTransaction{removed("z"), removed("y")}},
			want:       []string{"transaction.added:c", "transaction.added:a", "transaction.added:b", "transaction.removed:z", "transaction.removed:y", "sync.completed:"},
			wantCounts: counts{0, 3, 0, 2},
		},
		{
			name:       "id in added and removed: added then removed, so it ends deleted",
			update:     plaid.SyncUpdate{Added: []plaid.Transaction{txn("x", "1")}, Removed: []plaid.RemovedTransaction{removed("x")}},
			want:       []string{"transaction.added:x", "transaction.removed:x", "sync.completed:"},
			wantCounts: counts{0, 1, 0, 1},
		},
		{
			name: "pending id that is also upserted is not paired",
			update: plaid.SyncUpdate{
				Added:    []plaid.Transaction{posted("t2", "p1", "5")},
				Modified: []plaid.Transaction{txn("p1", "5")},
				Removed:  []plaid.RemovedTransaction{removed("p1")},
			},
			want:       []string{"transaction.added:t2", "transaction.modified:p1", "transaction.removed:p1", "sync.completed:"},
			wantCounts: counts{0, 1, 1, 1},
		},
		{
			name: "posted transaction itself removed in the same update",
			update: plaid.SyncUpdate{
				Added:   []plaid.Transaction{posted("t2", "p1", "5")},
				Removed: []plaid.RemovedTransaction{removed("p1"), removed("t2")},
			},
			want:       []string{"transaction.posted:t2", "transaction.removed:t2", "sync.completed:"},
			wantCounts: counts{1, 0, 0, 1},
		},
		{
			name:       "two posted transactions naming one pending id: the first pairs",
			update:     plaid.SyncUpdate{Added: []plaid.Transaction{posted("t2", "p1", "5"), posted("t3", "p1", "5")}, Removed: []plaid.RemovedTransaction{removed("p1")}},
			want:       []string{"transaction.posted:t2", "transaction.added:t3", "sync.completed:"},
			wantCounts: counts{1, 1, 0, 0},
		},
		{
			name:       "pending id removed on two pages pairs once, no leftover removal",
			update:     plaid.SyncUpdate{Added: []plaid.Transaction{posted("t2", "p1", "5")}, Removed: []plaid.RemovedTransaction{removed("p1"), removed("p1")}},
			want:       []string{"transaction.posted:t2", "sync.completed:"},
			wantCounts: counts{1, 0, 0, 0},
		},
		{
			name:       "identical entry on two pages is one event",
			update:     plaid.SyncUpdate{Added: []plaid.Transaction{txn("a", "1"), txn("a", "1")}, Removed: []plaid.RemovedTransaction{removed("r"), removed("r")}},
			want:       []string{"transaction.added:a", "transaction.removed:r", "sync.completed:"},
			wantCounts: counts{0, 1, 0, 1},
		},
		{
			name:       "differing entries for one id are both kept, in order",
			update:     plaid.SyncUpdate{Modified: []plaid.Transaction{txn("m", "1"), txn("m", "2")}},
			want:       []string{"transaction.modified:m", "transaction.modified:m", "sync.completed:"},
			wantCounts: counts{0, 0, 2, 0},
		},
		{
			name:       "cursor moved, nothing changed: only sync.completed",
			update:     plaid.SyncUpdate{NextCursor: "c-other"},
			want:       []string{"sync.completed:"},
			wantCounts: counts{0, 0, 0, 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.update
			u.StartCursor = "c-start"
			if u.NextCursor == "" {
				u.NextCursor = "c-end"
			}
			msgs, err := BuildUpdateEvents(&u, updateParams())
			if err != nil {
				t.Fatal(err)
			}
			checkMessages(t, msgs, itemOwner, "sandbox", 0, fixedNow)
			if got := summary(msgs); !slices.Equal(got, tc.want) {
				t.Errorf("events\n got %q\nwant %q", got, tc.want)
			}
			if got := completedCounts(t, msgs); got != tc.wantCounts {
				t.Errorf("posted, added, modified, removed = %v, want %v", got, tc.wantCounts)
			}
			wantUpdateID := events.UpdateID(itemOwner, 0, u.StartCursor, u.NextCursor)
			for _, m := range msgs {
				if m.Event.UpdateID != wantUpdateID {
					t.Errorf("%s: updateid %q, want %q", m.Event.Type, m.Event.UpdateID, wantUpdateID)
				}
			}
		})
	}
}

// TestBuildUpdateEventsNothing: an update that changed nothing and left the
// cursor where it was emits nothing, whatever its status.
func TestBuildUpdateEventsNothing(t *testing.T) {
	tests := []struct {
		name   string
		update plaid.SyncUpdate
	}{
		{name: "same cursor", update: plaid.SyncUpdate{StartCursor: "c1", NextCursor: "c1", UpdateStatus: plaid.UpdateStatusHistoricalComplete}},
		{name: "not ready yet, no cursor", update: plaid.SyncUpdate{UpdateStatus: plaid.UpdateStatusNotReady}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := BuildUpdateEvents(&tc.update, updateParams())
			if err != nil || len(msgs) != 0 {
				t.Errorf("got %d messages, %v; want none", len(msgs), err)
			}
		})
	}
}

func TestBuildUpdateEventsPayloads(t *testing.T) {
	u := &plaid.SyncUpdate{
		StartCursor:  "c-start",
		NextCursor:   "c-end",
		Added:        []plaid.Transaction{posted("t2", "p1", "-12.50")},
		Removed:      []plaid.RemovedTransaction{removed("p1"), {TransactionID: "r1", AccountID: "acc-7"}},
		UpdateStatus: plaid.UpdateStatusInitialComplete,
	}
	tests := []struct {
		name               string
		owner              events.Owner
		wantItem, wantAcct string // sync.completed's item_id and account_id
	}{
		{name: "item", owner: itemOwner, wantItem: "item-1"},
		{name: "processor", owner: processorOwner, wantAcct: "acct-9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := updateParams()
			p.Owner = tc.owner
			msgs, err := BuildUpdateEvents(u, p)
			if err != nil {
				t.Fatal(err)
			}
			checkMessages(t, msgs, tc.owner, "sandbox", 0, fixedNow)
			if len(msgs) != 3 {
				t.Fatalf("got %q", summary(msgs))
			}
			pt := data[events.Transaction](t, msgs[0])
			if pt.TransactionID != "t2" || deref(pt.PendingTransactionID) != "p1" || pt.Amount != "-12.50" || pt.Direction != events.DirectionCredit || pt.ItemID != tc.wantItem {
				t.Errorf("posted data %+v", pt)
			}
			rm := data[events.RemovedTransaction](t, msgs[1])
			if want := (events.RemovedTransaction{SchemaVersion: 1, TransactionID: "r1", AccountID: "acc-7", ItemID: tc.wantItem}); rm != want {
				t.Errorf("removed data %+v, want %+v", rm, want)
			}
			done := data[events.SyncCompleted](t, msgs[2])
			want := events.SyncCompleted{SchemaVersion: 1, ItemID: tc.wantItem, AccountID: tc.wantAcct, StartCursor: "c-start", EndCursor: "c-end",
				Posted: 1, Removed: 1, TransactionsUpdateStatus: "INITIAL_UPDATE_COMPLETE"}
			if done != want {
				t.Errorf("sync.completed data %+v, want %+v", done, want)
			}
		})
	}
}

// sampleUpdate has one event of each kind.
func sampleUpdate() *plaid.SyncUpdate {
	return &plaid.SyncUpdate{
		StartCursor: "c-start",
		NextCursor:  "c-end",
		Added:       []plaid.Transaction{posted("t2", "p1", "5"), txn("a1", "1")},
		Modified:    []plaid.Transaction{txn("m1", "2")},
		Removed:     []plaid.RemovedTransaction{removed("p1"), removed("r1")},
	}
}

// TestBuildUpdateEventsDeterministic: building one update twice, observed at
// different times, gives the same ids and bodies apart from time.
func TestBuildUpdateEventsDeterministic(t *testing.T) {
	p1, p2 := updateParams(), updateParams()
	p2.Now = fixedNow.Add(time.Hour).In(time.FixedZone("elsewhere", 5*3600))
	a, err := BuildUpdateEvents(sampleUpdate(), p1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := BuildUpdateEvents(sampleUpdate(), p2)
	if err != nil {
		t.Fatal(err)
	}
	checkMessages(t, b, itemOwner, "sandbox", 0, p2.Now)
	if len(a) != len(b) {
		t.Fatalf("%d messages, then %d", len(a), len(b))
	}
	for i := range a {
		if a[i].MsgID != b[i].MsgID || a[i].Subject != b[i].Subject || a[i].Event.UpdateID != b[i].Event.UpdateID {
			t.Errorf("message %d: id/subject/updateid differ: %s %s, %s %s", i, a[i].MsgID, a[i].Subject, b[i].MsgID, b[i].Subject)
		}
		withTime := bytes.Replace(a[i].Body, []byte(p1.Now.UTC().Format(time.RFC3339Nano)), []byte(p2.Now.UTC().Format(time.RFC3339Nano)), 1)
		if !bytes.Equal(withTime, b[i].Body) {
			t.Errorf("message %d: bodies differ beyond time:\n%s\n%s", i, a[i].Body, b[i].Body)
		}
	}
}

// TestBuildUpdateEventsIDsDiffer: changing what scopes an update (start
// cursor, epoch, owner) changes every id.
func TestBuildUpdateEventsIDsDiffer(t *testing.T) {
	base, err := BuildUpdateEvents(sampleUpdate(), updateParams())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*plaid.SyncUpdate, *UpdateParams)
	}{
		{name: "start cursor", change: func(u *plaid.SyncUpdate, _ *UpdateParams) { u.StartCursor = "c-start-2" }},
		{name: "epoch", change: func(_ *plaid.SyncUpdate, p *UpdateParams) { p.Epoch = 1 }},
		{name: "owner", change: func(_ *plaid.SyncUpdate, p *UpdateParams) { p.Owner.ID = "item-2" }},
		{name: "owner kind", change: func(_ *plaid.SyncUpdate, p *UpdateParams) { p.Owner.Kind = events.OwnerProcessor }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, p := sampleUpdate(), updateParams()
			tc.change(u, &p)
			msgs, err := BuildUpdateEvents(u, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != len(base) {
				t.Fatalf("%d messages, base has %d", len(msgs), len(base))
			}
			for i := range msgs {
				if msgs[i].MsgID == base[i].MsgID {
					t.Errorf("%s keeps its id %s", summary(msgs)[i], msgs[i].MsgID)
				}
			}
		})
	}
}

// TestBuildUpdateEventsABA: a transaction changed A→B→A over three updates
// gives three distinct modified ids (and update ids): none is dropped as a
// duplicate.
func TestBuildUpdateEventsABA(t *testing.T) {
	cursors := []string{"c0", "c1", "c2", "c3"}
	amounts := []string{"1.00", "2.00", "1.00"}
	ids := make(map[string]bool)
	updateIDs := make(map[string]bool)
	for i, amount := range amounts {
		u := &plaid.SyncUpdate{StartCursor: cursors[i], NextCursor: cursors[i+1], Modified: []plaid.Transaction{txn("t1", amount)}}
		msgs, err := BuildUpdateEvents(u, updateParams())
		if err != nil {
			t.Fatal(err)
		}
		if got, want := summary(msgs), []string{"transaction.modified:t1", "sync.completed:"}; !slices.Equal(got, want) {
			t.Fatalf("update %d: %q, want %q", i, got, want)
		}
		ids[msgs[0].MsgID] = true
		updateIDs[msgs[0].Event.UpdateID] = true
	}
	if len(ids) != 3 || len(updateIDs) != 3 {
		t.Errorf("%d distinct modified ids and %d update ids over 3 updates, want 3 and 3", len(ids), len(updateIDs))
	}
}

func TestBuildUpdateEventsInvalid(t *testing.T) {
	tests := []struct {
		name   string
		update *plaid.SyncUpdate
		change func(*UpdateParams)
	}{
		{name: "nil update", change: func(*UpdateParams) {}},
		{name: "unknown owner kind", update: sampleUpdate(), change: func(p *UpdateParams) { p.Owner.Kind = "user" }},
		{name: "owner id with a dot", update: sampleUpdate(), change: func(p *UpdateParams) { p.Owner.ID = "item.1" }},
		{name: "empty owner id", update: sampleUpdate(), change: func(p *UpdateParams) { p.Owner.ID = "" }},
		{name: "no environment", update: sampleUpdate(), change: func(p *UpdateParams) { p.Environment = "" }},
		{name: "zero time", update: sampleUpdate(), change: func(p *UpdateParams) { p.Now = time.Time{} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := updateParams()
			tc.change(&p)
			msgs, err := BuildUpdateEvents(tc.update, p)
			if !errors.Is(err, errParams) || msgs != nil {
				t.Errorf("got %d messages, %v; want an invalid-parameters error", len(msgs), err)
			}
		})
	}
}

// TestRerunThatSawMoreGetsNewIDs: a run publishes part of an update from
// cursor C and crashes; the re-run from C sees one more change. Every event
// of the re-run must have a new id, or JetStream would drop its copy of the
// first run's events and a consumer applying the re-run's update would miss
// them.
func TestRerunThatSawMoreGetsNewIDs(t *testing.T) {
	p := updateParams()
	first, err := BuildUpdateEvents(&plaid.SyncUpdate{StartCursor: "C", NextCursor: "E1", Added: []plaid.Transaction{txn("t1", "1.00")}}, p)
	if err != nil {
		t.Fatal(err)
	}
	again, err := BuildUpdateEvents(&plaid.SyncUpdate{StartCursor: "C", NextCursor: "E1", Added: []plaid.Transaction{txn("t1", "1.00")}}, p)
	if err != nil {
		t.Fatal(err)
	}
	if first[0].MsgID != again[0].MsgID {
		t.Fatal("an identical re-run got a different id")
	}
	more, err := BuildUpdateEvents(&plaid.SyncUpdate{StartCursor: "C", NextCursor: "E2", Added: []plaid.Transaction{txn("t1", "1.00"), txn("t2", "2.00")}}, p)
	if err != nil {
		t.Fatal(err)
	}
	if more[0].Event.Subject != "t1" || more[0].MsgID == first[0].MsgID {
		t.Errorf("t1 in a re-run that saw more: got id %s, want a new id (first run: %s)", more[0].MsgID, first[0].MsgID)
	}
}
