package fetchjs_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/fetch"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// TestResyncRebuildsAConsumerFromEmpty: after a history and changes the
// fetcher never heard about, a resync emits plaid.item.resync_started and
// replays everything under epoch 1. Both documented ways to rebuild give
// Plaid's ground truth: (1) drop the item's state at resync_started and
// apply what follows; (2) keep applying, and at the resync's
// plaid.sync.completed remove every transaction the resync did not mention.
// Recurring streams are announced again in the new epoch, and a repeated
// request for the same epoch starts no second resync.
func TestResyncRebuildsAConsumerFromEmpty(t *testing.T) {
	ctx := context.Background()
	p := newPipeline(t, 1)
	itemID := p.register(40)
	owner := events.Owner{Kind: events.OwnerItem, ID: itemID}
	st, err := p.sim.Item(itemID)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"stream-rent", "stream-gym"} {
		in := plaidsim.StreamInput{TransactionStream: plaidsim.TransactionStream{AccountID: st.Accounts[0].AccountID, Description: id, Frequency: "MONTHLY", FirstDate: "2026-01-01", LastDate: "2026-11-01"}}
		if _, err := p.sim.PutRecurringStream(itemID, id, in); err != nil {
			t.Fatal(err)
		}
	}
	p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", itemID)
	waitFor(t, "the first sync", func() bool { return p.outcome(fetch.OutcomeSynced) == 1 })
	p.webhook("TRANSACTIONS", "RECURRING_TRANSACTIONS_UPDATE", itemID)
	waitFor(t, "the recurring diff", func() bool { return p.outcome(fetch.OutcomeRecurring) == 1 })

	// Changes whose webhooks were lost: only the resync brings them.
	if _, err := p.sim.Mutate(itemID, plaidsim.MutateOptions{Seed: 11, Add: 6, Modify: 4, Remove: 5}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"resync-a", "resync-b"} { // a retried API call: one resync
		if _, err := bus.RequestSync(ctx, p.js, owner, bus.SyncRequestOptions{Environment: "sandbox", Reason: "resync", Unpark: true, ResyncEpoch: 1, RequestID: id}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the resync and the repeated request", func() bool { return p.handled() == 4 })

	es := p.eventsOf(itemID)
	start := -1
	for i, e := range es {
		if e.Type == events.ItemEventType(events.ItemStatusResyncStarted) {
			if start >= 0 {
				t.Fatalf("two resync_started events")
			}
			start = i
		}
	}
	if start < 0 {
		t.Fatal("no plaid.item.resync_started event")
	}
	var resyncDone *events.SyncCompleted
	var resyncUpdate string
	streamsAgain := 0
	for _, e := range es[start:] {
		if e.ResyncEpoch != 1 {
			t.Errorf("%s after resync_started carries epoch %d, want 1", e.Type, e.ResyncEpoch)
		}
		switch e.Type {
		case events.TypeSyncCompleted:
			if resyncDone == nil {
				resyncDone = new(events.SyncCompleted)
				if err := json.Unmarshal(e.Data, resyncDone); err != nil {
					t.Fatal(err)
				}
				resyncUpdate = e.UpdateID
			}
		case events.TypeRecurringStreamAdded:
			streamsAgain++
		}
	}
	if resyncDone == nil || resyncDone.StartCursor != "" {
		t.Fatalf("the resync's plaid.sync.completed: %+v, want one starting from an empty cursor", resyncDone)
	}
	if streamsAgain != 2 {
		t.Errorf("recurring streams announced again: %d, want 2", streamsAgain)
	}
	truth := p.truth(itemID)

	// (1) Drop at resync_started: the reference ledger does that.
	dropped := p.ledger(itemID)
	equalLedger(t, dropped, truth)

	// (2) Keep everything, then remove what the resync did not mention.
	kept := &ledger{seen: map[string]bool{}, txns: map[string]json.RawMessage{}, pending: map[string][]events.Event{}}
	mentioned := map[string]bool{}
	for _, e := range es {
		if e.Type == events.ItemEventType(events.ItemStatusResyncStarted) {
			continue // this consumer does not drop its state
		}
		if e.UpdateID == resyncUpdate && e.Type != events.TypeSyncCompleted {
			mentioned[e.Subject] = true
		}
		if e.Type == events.TypeSyncCompleted && e.UpdateID == resyncUpdate {
			kept.completions = 0 // the replay starts from an empty cursor by design
		}
		kept.apply(e)
		if e.Type == events.TypeSyncCompleted && e.UpdateID == resyncUpdate {
			for id := range kept.txns {
				if !mentioned[id] {
					delete(kept.txns, id)
				}
			}
		}
	}
	equalLedger(t, kept, truth)

	state, _, err := p.items.Get(ctx, "item."+itemID)
	if err != nil {
		t.Fatal(err)
	}
	if state.ResyncEpoch != 1 || state.Cursor != resyncDone.EndCursor {
		t.Errorf("state after resync: epoch %d cursor %q, want 1 and %q", state.ResyncEpoch, state.Cursor, resyncDone.EndCursor)
	}
}
