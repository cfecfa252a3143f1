package fetchjs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// TestStormMatchesGroundTruth throws seeded storms at two competing
// replicas: transaction changes, duplicate and out-of-order webhooks,
// mutations during pagination, 429s and 500s, and a replica stopped
// mid-work. Afterwards a reference consumer's ledger equals the simulator's
// ground truth for every item, and no saved cursor is ahead of its events.
func TestStormMatchesGroundTruth(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("reproduce with seed %d", seed)
				}
			})
			storm(t, seed)
		})
	}
}

func storm(t *testing.T, seed int64) {
	r := rand.New(rand.NewPCG(uint64(seed), 42))
	p := newPipeline(t, 3)
	// A stopped replica's messages that were already on their way to it
	// come back after AckWait; keep it short so the test converges fast.
	cons, err := bus.EnsureConsumer(context.Background(), p.js, events.WebhookStream, bus.ConsumerSettings{Durable: "fetcher", MaxDeliver: 8, AckWait: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p.consumer = cons
	stopB := p.startReplica("replica-b", 2, 20*time.Second)
	// A replica stopped with almost no grace: its in-flight work is cut
	// short and handed back.
	stopC := p.startReplica("replica-c", 2, time.Millisecond)

	var items []string
	for range 3 {
		items = append(items, p.register(100+r.IntN(200)))
	}
	for _, id := range items {
		p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", id)
	}
	for round := range 15 {
		id := items[r.IntN(len(items))]
		mutate := func() {
			if _, err := p.sim.Mutate(id, plaidsim.MutateOptions{Seed: r.Int64(), Add: r.IntN(8), Modify: r.IntN(6), Remove: r.IntN(4), Post: r.IntN(3)}); err != nil {
				t.Fatal(err)
			}
		}
		switch r.IntN(6) {
		case 0: // a change and its webhook
			mutate()
			p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", id)
		case 1: // the same signed webhook delivered twice
			mutate()
			p.duplicateWebhook(id)
		case 2: // rate limited for a while
			p.fault(plaidsim.Fault{ItemID: id, Count: 2, Status: http.StatusTooManyRequests})
			mutate()
			p.webhook("TRANSACTIONS", "DEFAULT_UPDATE", id)
		case 3: // Plaid's 500s
			p.fault(plaidsim.Fault{ItemID: id, Count: 3, Status: http.StatusInternalServerError})
			mutate()
			p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", id)
		case 4: // the data changes between pages
			p.fault(plaidsim.Fault{ItemID: id, Count: 1, MutateAtPage: 2})
			mutate()
			p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", id)
		case 5: // out of order: the webhook before the change it announces
			p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", id)
			mutate()
			p.webhook("TRANSACTIONS", "TRANSACTIONS_REMOVED", id)
		}
		if round == 7 {
			stopC()
			stopB()
			p.startReplica("replica-d", 2, 20*time.Second)
		}
	}

	// Converge: no more faults, one last webhook per item.
	p.sim.ClearFaults()
	for _, id := range items {
		p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", id)
	}
	// Converged: nothing left to deliver and every ledger matches. (A
	// message Nak'd with a delay is not visible in the consumer's counts
	// while it waits, so the ledgers are part of the condition.)
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := p.consumer.Info(context.Background())
		drained := err == nil && info.NumPending == 0 && info.NumAckPending == 0
		same := drained
		for _, id := range items {
			if !same {
				break
			}
			same = sameTransactions(p.ledger(id), p.truth(id))
		}
		if same {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	for _, id := range items {
		t.Cleanup(func() {
			if t.Failed() {
				p.dumpUpdates(id)
			}
		})
		equalLedger(t, p.ledger(id), p.truth(id))
		p.checkCursor(id)
	}
}

// dumpUpdates logs the shape of an owner's event stream, for diagnosis.
func (p *pipeline) dumpUpdates(owner string) {
	key, _ := events.OwnerKey(events.OwnerItem, owner)
	st, _, err := p.items.Get(context.Background(), key)
	p.mu.Lock()
	p.t.Logf("%s: state %+v (%v); outcomes %v", owner, st, err, p.outcomes)
	p.mu.Unlock()
	var run []string
	flush := func(tail string) {
		if len(run) > 0 || tail != "" {
			p.t.Logf("%s: %v %s", owner, run, tail)
		}
		run = nil
	}
	for _, e := range p.eventsOf(owner) {
		if e.Type == events.TypeSyncCompleted {
			var c events.SyncCompleted
			_ = json.Unmarshal(e.Data, &c)
			flush(fmt.Sprintf("completed %s start=%.12s end=%.12s +%d ~%d -%d p%d", e.UpdateID[:6], c.StartCursor, c.EndCursor, c.Added, c.Modified, c.Removed, c.Posted))
			continue
		}
		id := e.UpdateID[:min(6, len(e.UpdateID))]
		if n := len(run); n > 0 && strings.HasPrefix(run[n-1], id+"x") {
			var k int
			_, _ = fmt.Sscanf(run[n-1], id+"x%d", &k)
			run[n-1] = fmt.Sprintf("%sx%d", id, k+1)
		} else {
			run = append(run, id+"x1")
		}
	}
	flush("(end)")
}

// fault injects f on /transactions/sync.
func (p *pipeline) fault(f plaidsim.Fault) {
	p.t.Helper()
	if err := p.sim.InjectFault("/transactions/sync", f); err != nil {
		p.t.Fatal(err)
	}
}

// duplicateWebhook stores one webhook message twice with the same
// Nats-Msg-Id, as a re-delivered signed request would be.
func (p *pipeline) duplicateWebhook(itemID string) {
	p.t.Helper()
	body, _ := json.Marshal(map[string]any{"webhook_type": "TRANSACTIONS", "webhook_code": "SYNC_UPDATES_AVAILABLE", "item_id": itemID})
	env := events.WebhookEnvelope{WebhookType: "TRANSACTIONS", WebhookCode: "SYNC_UPDATES_AVAILABLE", ItemID: itemID}
	id := events.WebhookMsgID(fmt.Sprint(itemID, time.Now().UnixNano()))
	for range 2 {
		msg := &nats.Msg{Subject: events.WebhookSubject(env.WebhookType, env.WebhookCode), Data: body, Header: nats.Header(events.WebhookHeaders(env, id, "kid", time.Now()))}
		if _, err := p.js.PublishMsg(context.Background(), msg); err != nil {
			p.t.Fatal(err)
		}
	}
}

// checkCursor: the saved cursor is exactly the end cursor of the item's last
// plaid.sync.completed, never ahead of the events consumers received.
func (p *pipeline) checkCursor(itemID string) {
	p.t.Helper()
	key, _ := events.OwnerKey(events.OwnerItem, itemID)
	st, _, err := p.items.Get(context.Background(), key)
	if err != nil {
		p.t.Fatal(err)
	}
	last := ""
	for _, e := range p.eventsOf(itemID) {
		if e.Type == events.TypeSyncCompleted {
			var c events.SyncCompleted
			_ = json.Unmarshal(e.Data, &c)
			last = c.EndCursor
		}
	}
	if st.Cursor != last {
		p.t.Errorf("item %s: saved cursor %q is not the last published end cursor %q", itemID, st.Cursor, last)
	}
}

// sameTransactions reports whether a ledger holds exactly want.
func sameTransactions(l *ledger, want map[string]json.RawMessage) bool {
	if len(l.txns) != len(want) {
		return false
	}
	for id, w := range want {
		var a, b any
		_ = json.Unmarshal(l.txns[id], &a)
		_ = json.Unmarshal(w, &b)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			return false
		}
	}
	return true
}
