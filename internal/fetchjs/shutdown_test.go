package fetchjs_test

import (
	"context"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/fetch"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// TestShutdownHandsBackInFlightSync: a replica told to stop while a sync is
// stuck in Plaid waits out its grace period, cancels the sync, releases the
// item's lease and hands the message back (counted as handed_back), so
// another replica syncs the item at once instead of after AckWait.
func TestShutdownHandsBackInFlightSync(t *testing.T) {
	p := newPipeline(t, 1)
	p.stopFirst()
	itemID := p.register(30)
	if err := p.sim.InjectFault("/transactions/sync", plaidsim.Fault{ItemID: itemID, Count: 1, Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	stop := p.startReplica("leaving", 1, 50*time.Millisecond)
	p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", itemID)
	key, _ := events.OwnerKey(events.OwnerItem, itemID)
	waitFor(t, "the sync to hold the item's lease", func() bool {
		info, err := p.leases.Holder(context.Background(), key)
		return err == nil && info.Holder == "leaving"
	})
	stop()
	if n := p.outcome(fetch.OutcomeHandedBack); n != 1 {
		t.Fatalf("handed back %d messages, want 1", n)
	}
	p.startReplica("staying", 1, 20*time.Second)
	waitFor(t, "the other replica's sync", func() bool { return p.outcome(fetch.OutcomeSynced) == 1 })
	equalLedger(t, p.ledger(itemID), p.truth(itemID))
	p.checkCursor(itemID)
}
