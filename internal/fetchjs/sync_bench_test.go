package fetchjs_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/embednats"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/fetch"
	"github.com/plaidstream/plaidstream/internal/fetchjs"
	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
	"github.com/plaidstream/plaidstream/internal/tokens"
)

// BenchmarkSyncInitial is one item's initial sync of 10,000 transactions
// through the real worker, stores and publisher: embedded JetStream (file
// storage) and the simulator over loopback HTTP, no added latency. Each
// iteration syncs a fresh item. For CPU and allocation profiles of the
// fetcher's sync path:
//
//	go test -run NONE -bench SyncInitial -cpuprofile cpu.out ./internal/fetchjs
func BenchmarkSyncInitial(b *testing.B) {
	const n = 10_000
	ctx := context.Background()
	w, sim, ts := benchWorker(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		size := n
		item, err := sim.CreateItem(plaidsim.ItemOptions{Transactions: &size})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ts.PutItem(ctx, item.ItemID, item.AccessToken, "", "sandbox"); err != nil {
			b.Fatal(err)
		}
		env := events.WebhookEnvelope{WebhookType: "TRANSACTIONS", WebhookCode: "SYNC_UPDATES_AVAILABLE", ItemID: item.ItemID, Environment: "sandbox"}
		b.StartTimer()
		d := w.Handle(ctx, fetch.Trigger{Seq: uint64(i + 1), Deliveries: 1, Webhook: events.WebhookMessage{WebhookEnvelope: env}}, nil)
		if d.Outcome != fetch.OutcomeSynced {
			b.Fatalf("outcome %s: %v", d.Outcome, d.Err)
		}
	}
	b.ReportMetric(float64(b.N*(n+1))/b.Elapsed().Seconds(), "events/s")
}

// benchWorker wires a fetch.Worker on real parts.
func benchWorker(b *testing.B) (*fetch.Worker, *plaidsim.Sim, *bus.TokenStore) {
	b.Helper()
	ctx := context.Background()
	ns, err := embednats.Start(embednats.Options{StoreDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	var webhooks jetstream.Stream
	for _, spec := range []events.StreamSpec{events.WebhookStreamSpec(), events.EventStreamSpec(), events.DLQStreamSpec()} {
		st, err := bus.EnsureStream(ctx, js, spec, bus.StreamSettings{})
		if err != nil {
			b.Fatal(err)
		}
		if spec.Name == events.WebhookStream {
			webhooks = st
		}
	}
	kv := map[string]jetstream.KeyValue{}
	for _, spec := range []events.BucketSpec{events.TokensBucketSpec(), events.ItemsBucketSpec(), events.LeasesBucketSpec(), events.RecurringBucketSpec()} {
		if kv[spec.Name], err = bus.EnsureBucket(ctx, js, spec, 1); err != nil {
			b.Fatal(err)
		}
	}
	ring, err := tokens.NewKeyring(tokens.Key{ID: "0", Bytes: make([]byte, tokens.KeySize)})
	if err != nil {
		b.Fatal(err)
	}
	ts := bus.NewTokenStore(kv[events.TokensBucket], ring)
	leases, err := bus.NewLeases(ctx, js, kv[events.LeasesBucket], 30*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	sim, err := plaidsim.New(plaidsim.Options{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sim.Close() })
	srv := httptest.NewServer(sim)
	b.Cleanup(srv.Close)
	client, err := plaid.NewClient(plaid.Config{BaseURL: srv.URL, ClientID: plaidsim.DefaultClientID, Secret: plaidsim.DefaultSecret})
	if err != nil {
		b.Fatal(err)
	}
	w := fetch.NewWorker(client, fetchjs.Credentials{Store: ts}, fetchjs.States{Store: bus.NewItemStore(kv[events.ItemsBucket])},
		fetchjs.Recurring{KV: kv[events.RecurringBucket]}, fetchjs.Leases{Leases: leases, Holder: "bench"},
		fetchjs.Publisher{JS: js}, fetchjs.WebhookHead{Stream: webhooks}, nil, fetch.WorkerOptions{})
	return w, sim, ts
}
