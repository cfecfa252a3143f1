package reconcile_test

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/natstest"
	"github.com/plaidstream/plaidstream/internal/reconcile"
	"github.com/plaidstream/plaidstream/internal/tokens"
)

type fixture struct {
	js       jetstream.JetStream
	webhooks jetstream.Stream
	tokens   *bus.TokenStore
	states   *bus.ItemStore
	leases   *bus.Leases
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	_, js := natstest.Start(t)
	f := &fixture{js: js}
	var err error
	if f.webhooks, err = bus.EnsureStream(ctx, js, events.WebhookStreamSpec(), bus.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	kv := map[string]jetstream.KeyValue{}
	for _, spec := range []events.BucketSpec{events.TokensBucketSpec(), events.ItemsBucketSpec(), events.LeasesBucketSpec()} {
		if kv[spec.Name], err = bus.EnsureBucket(ctx, js, spec, 1); err != nil {
			t.Fatal(err)
		}
	}
	ring, err := tokens.NewKeyring(tokens.Key{ID: "0", Bytes: make([]byte, tokens.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	f.tokens = bus.NewTokenStore(kv[events.TokensBucket], ring)
	f.states = bus.NewItemStore(kv[events.ItemsBucket])
	if f.leases, err = bus.NewLeases(ctx, js, kv[events.LeasesBucket], 5*time.Second); err != nil {
		t.Fatal(err)
	}
	return f
}

// register stores a token for itemID and, unless st is nil, its state.
func (f *fixture) register(t *testing.T, itemID string, st *bus.ItemState) {
	t.Helper()
	ctx := context.Background()
	if _, err := f.tokens.PutItem(ctx, itemID, "access-sandbox-"+itemID, "", "sandbox"); err != nil {
		t.Fatal(err)
	}
	if st != nil {
		f.putState(t, itemID, *st)
	}
}

func (f *fixture) putState(t *testing.T, itemID string, st bus.ItemState) {
	t.Helper()
	st.Owner, st.Kind = "item."+itemID, events.OwnerItem
	if _, err := f.states.Create(context.Background(), st); err != nil {
		t.Fatal(err)
	}
}

// requested returns the owners of the sync requests in PLAID_WEBHOOKS.
func (f *fixture) requested(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	cons, err := f.js.OrderedConsumer(ctx, events.WebhookStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.FetchNoWait(100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for m := range batch.Messages() {
		var req events.SyncRequest
		if err := json.Unmarshal(m.Data(), &req); err != nil {
			t.Fatal(err)
		}
		if req.Reason != "reconcile" || req.WebhookCode != events.SyncRequestCode || req.Environment != "sandbox" {
			t.Errorf("unexpected request %s", m.Data())
		}
		out = append(out, req.ItemID)
	}
	sort.Strings(out)
	return out
}

func TestSweepRequestsSyncsOfDueOwnersOnce(t *testing.T) {
	f := newFixture(t)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	f.register(t, "fresh", &bus.ItemState{LastSyncAt: now.Add(-time.Hour), Cursor: "c"})
	f.register(t, "stale", &bus.ItemState{LastSyncAt: now.Add(-48 * time.Hour), Cursor: "c"})
	f.register(t, "never", nil)
	f.register(t, "overdue", &bus.ItemState{LastSyncAt: now.Add(-time.Minute), Overdue: true})
	f.register(t, "parked", &bus.ItemState{LastSyncAt: now.Add(-72 * time.Hour), Parked: true, ParkedReason: "item_login_required"})
	f.putState(t, "unregistered", bus.ItemState{LastSyncAt: now.Add(-72 * time.Hour)}) // removed: state kept, no token

	var seen []reconcile.Result
	sw := reconcile.New(f.js, f.tokens, f.states, f.leases, reconcile.Options{
		Interval: time.Hour, StaleAfter: 24 * time.Hour, Rate: 1000, Holder: "replica-a",
		Now: func() time.Time { return now }, OnSweep: func(r reconcile.Result) { seen = append(seen, r) },
	})
	res, err := sw.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Due != 3 || res.Requested != 3 || res.Skipped {
		t.Errorf("first sweep: %+v, want 3 due and requested", res)
	}
	want := []string{"never", "overdue", "stale"}
	if got := f.requested(t); !slices.Equal(got, want) {
		t.Errorf("requested %v, want %v", got, want)
	}
	// The same round again (a restarted replica) stores nothing new.
	if _, err := sw.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.requested(t); !slices.Equal(got, want) {
		t.Errorf("after a repeated sweep: %v, want %v", got, want)
	}
	if len(seen) != 2 {
		t.Errorf("OnSweep called %d times, want 2", len(seen))
	}
}

func TestSweepSkipsWhileAnotherReplicaSweeps(t *testing.T) {
	f := newFixture(t)
	f.register(t, "never", nil)
	other, err := f.leases.AcquireTask(context.Background(), "reconcile", "replica-b")
	if err != nil {
		t.Fatal(err)
	}
	sw := reconcile.New(f.js, f.tokens, f.states, f.leases, reconcile.Options{Holder: "replica-a"})
	res, err := sw.Sweep(context.Background())
	if err != nil || !res.Skipped {
		t.Fatalf("sweep while another holds the lease: %+v %v, want skipped", res, err)
	}
	if got := f.requested(t); len(got) != 0 {
		t.Errorf("requested %v while skipped", got)
	}
	if err := other.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if res, err := sw.Sweep(context.Background()); err != nil || res.Requested != 1 {
		t.Errorf("after release: %+v %v", res, err)
	}
}

func TestDue(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		name string
		st   bus.ItemState
		want bool
	}{
		{"fresh", bus.ItemState{LastSyncAt: now.Add(-time.Minute)}, false},
		{"stale", bus.ItemState{LastSyncAt: now.Add(-25 * time.Hour)}, true},
		{"never synced", bus.ItemState{}, true},
		{"overdue", bus.ItemState{LastSyncAt: now, Overdue: true}, true},
		{"parked and stale", bus.ItemState{LastSyncAt: now.Add(-99 * time.Hour), Parked: true}, false},
	} {
		if got := reconcile.Due(c.st, now, 24*time.Hour); got != c.want {
			t.Errorf("%s: Due = %v, want %v", c.name, got, c.want)
		}
	}
}
