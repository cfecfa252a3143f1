package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/embednats"
	"github.com/plaidstream/plaidstream/internal/events"
)

// startJetStream starts an embedded server for one test and returns a
// JetStream context on a connection to it; both end with the test.
func startJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	ns, err := embednats.Start(embednats.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := bus.Connect(ns.ClientURL(), bus.ConnectOptions{Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// testContext ends with the test, and after limit at the latest.
func testContext(t *testing.T, limit time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	t.Cleanup(cancel)
	return ctx
}

func ensureBucket(t *testing.T, js jetstream.JetStream, spec events.BucketSpec) jetstream.KeyValue {
	t.Helper()
	kv, err := bus.EnsureBucket(testContext(t, 5*time.Second), js, spec, 1)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func TestKeyValueConfig(t *testing.T) {
	cfg := bus.KeyValueConfig(events.LeasesBucketSpec(), 0)
	if cfg.Bucket != events.LeasesBucket || cfg.Storage != jetstream.FileStorage || cfg.Replicas != 1 || cfg.History != 1 {
		t.Errorf("leases: got %+v", cfg)
	}
	if cfg.LimitMarkerTTL != events.LeaseMarkerTTL || cfg.TTL != 0 {
		t.Errorf("leases need per-key TTLs and no bucket TTL: got marker %v ttl %v", cfg.LimitMarkerTTL, cfg.TTL)
	}
	if got := bus.KeyValueConfig(events.BucketSpec{Name: "X", History: 500}, 3); got.History != jetstream.KeyValueMaxHistory || got.Replicas != 3 {
		t.Errorf("clamping: got history %d replicas %d", got.History, got.Replicas)
	}
}

func TestEnsureBucketIsIdempotentAndUpdates(t *testing.T) {
	t.Parallel()
	js := startJetStream(t)
	ctx := testContext(t, 10*time.Second)
	for _, spec := range []events.BucketSpec{events.TokensBucketSpec(), events.ItemsBucketSpec(), events.LeasesBucketSpec(), events.RecurringBucketSpec()} {
		for range 2 {
			kv, err := bus.EnsureBucket(ctx, js, spec, 1)
			if err != nil {
				t.Fatalf("%s: %v", spec.Name, err)
			}
			st, err := kv.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Bucket() != spec.Name || st.History() != int64(spec.History) || st.LimitMarkerTTL() != spec.LimitMarkerTTL {
				t.Errorf("%s: got bucket %s history %d marker ttl %v", spec.Name, st.Bucket(), st.History(), st.LimitMarkerTTL())
			}
		}
	}
	spec := events.ItemsBucketSpec()
	spec.History = 10
	kv, err := bus.EnsureBucket(ctx, js, spec, 1)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := kv.Status(ctx); st.History() != 10 {
		t.Errorf("update: history %d, want 10", st.History())
	}
}
