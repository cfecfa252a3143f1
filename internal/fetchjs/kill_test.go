package fetchjs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/fetch"
	"github.com/plaidstream/plaidstream/internal/fetchjs"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// TestKilledReplicaIsReplaced: a replica dies mid-sync (its NATS connection
// is gone, so it renews nothing and acks nothing). Once its lease TTL and
// the message's AckWait pass, another replica syncs the item and nothing is
// lost. Everything runs on the production defaults (bus.DefaultAckWait,
// bus.DefaultLeaseTTL, the worker's default keep-alive and retry delays),
// which must bring the survivor in within a minute of the kill.
func TestKilledReplicaIsReplaced(t *testing.T) {
	const resumeWithin = time.Minute
	ctx := context.Background()
	p := newPipeline(t, 2)
	p.stopFirst()
	cons, err := bus.EnsureConsumer(ctx, p.js, events.WebhookStream, bus.ConsumerSettings{Durable: "fetcher"}) // default AckWait, MaxDeliver, MaxAckPending
	if err != nil {
		t.Fatal(err)
	}
	p.consumer = cons
	itemID := p.register(60)
	// The victim's first sync call never answers.
	if err := p.sim.InjectFault("/transactions/sync", plaidsim.Fault{ItemID: itemID, Count: 1, Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	kill := p.startVictim(0) // default lease TTL
	p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", itemID)
	key, _ := events.OwnerKey(events.OwnerItem, itemID)
	waitFor(t, "the victim to hold the lease", func() bool {
		info, err := p.leases.Holder(ctx, key)
		return err == nil && info.Holder == "victim"
	})
	kill()
	killedAt := time.Now()

	p.startReplicaWith("survivor", 2, 20*time.Second, fetch.WorkerOptions{}) // default worker options
	waitWithin(t, resumeWithin, "the survivor's sync", func() bool { return p.outcome(fetch.OutcomeSynced) == 1 })
	t.Logf("the survivor synced %v after the kill (defaults: AckWait %v, lease TTL %v)",
		time.Since(killedAt).Round(100*time.Millisecond), bus.DefaultAckWait, bus.DefaultLeaseTTL)
	equalLedger(t, p.ledger(itemID), p.truth(itemID))
	p.checkCursor(itemID)
}

// startVictim runs a replica on its own NATS connection with the given lease TTL (0: default)
// and returns a function that kills it: the connection closes at once, as
// when a process dies; its goroutines are reaped at test cleanup.
func (p *pipeline) startVictim(leaseTTL time.Duration) (kill func()) {
	p.t.Helper()
	ctx := context.Background()
	nc, err := nats.Connect(p.natsURL)
	if err != nil {
		p.t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		p.t.Fatal(err)
	}
	leaseKV, err := js.KeyValue(ctx, events.LeasesBucket)
	if err != nil {
		p.t.Fatal(err)
	}
	leases, err := bus.NewLeases(ctx, js, leaseKV, leaseTTL)
	if err != nil {
		p.t.Fatal(err)
	}
	cons, err := js.Consumer(ctx, events.WebhookStream, "fetcher")
	if err != nil {
		p.t.Fatal(err)
	}
	webhooks, err := js.Stream(ctx, events.WebhookStream)
	if err != nil {
		p.t.Fatal(err)
	}
	worker := fetch.NewWorker(p.client, fetchjs.Credentials{Store: p.tokens}, fetchjs.States{Store: p.items},
		fetchjs.Recurring{KV: p.kv[events.RecurringBucket]}, fetchjs.Leases{Leases: leases, Holder: "victim"},
		fetchjs.Publisher{JS: js}, fetchjs.WebhookHead{Stream: webhooks}, nil,
		fetch.WorkerOptions{})
	consumer := fetchjs.NewConsumer(cons, js, worker, fetchjs.ConsumerOptions{Workers: 1, MaxDeliver: bus.DefaultMaxDeliver, Grace: time.Millisecond})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- consumer.Run(runCtx) }()
	p.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			p.t.Logf("victim: %v", err)
		}
	})
	return nc.Close
}
