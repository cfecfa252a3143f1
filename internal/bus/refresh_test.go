package bus_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
)

// TestRefreshGuardAdmitsLimitPerWindowAcrossGuards: two guards (two
// replicas) share the bucket; of many concurrent attempts on one owner
// exactly Limit pass, the rest learn when to come back, other owners are
// unaffected, and the slots free themselves when the window passes.
func TestRefreshGuardAdmitsLimitPerWindowAcrossGuards(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	js := startJetStream(t)
	kv := ensureBucket(t, js, events.RefreshLimitsBucketSpec())
	const window = 2 * time.Second
	guards := []*bus.RefreshGuard{bus.NewRefreshGuard(kv, 2, window), bus.NewRefreshGuard(kv, 2, window)}

	var mu sync.Mutex
	accepted, limited := 0, 0
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			err := guards[i%2].Reserve(ctx, "item.i1")
			var le *bus.RefreshLimitedError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				accepted++
			case errors.As(err, &le) && errors.Is(err, bus.ErrRefreshLimited):
				limited++
				if le.RetryAfter < time.Second || le.RetryAfter > window {
					t.Errorf("retry after %v, want within (0, %v]", le.RetryAfter, window)
				}
			default:
				t.Errorf("reserve: %v", err)
			}
		})
	}
	wg.Wait()
	if accepted != 2 || limited != 8 {
		t.Fatalf("accepted %d, limited %d; want 2 and 8", accepted, limited)
	}
	if err := guards[0].Reserve(ctx, "item.i2"); err != nil {
		t.Errorf("another item was limited: %v", err)
	}
	// The slots expire with the window.
	for _, slot := range []string{"item.i1.0", "item.i1.1"} {
		waitForExpiry(ctx, t, kv, slot)
	}
	if err := guards[1].Reserve(ctx, "item.i1"); err != nil {
		t.Errorf("after the window: %v", err)
	}
}

func TestRefreshGuardRejectsABadOwner(t *testing.T) {
	js := startJetStream(t)
	kv := ensureBucket(t, js, events.RefreshLimitsBucketSpec())
	if err := bus.NewRefreshGuard(kv, 0, 0).Reserve(testContext(t, 5*time.Second), "not an owner"); err == nil {
		t.Error("reserved for a malformed owner key")
	}
}

// TestTaskLeaseIsExclusive: a fleet-wide task lease has one holder at a
// time and does not collide with owner leases.
func TestTaskLeaseIsExclusive(t *testing.T) {
	ctx := testContext(t, 10*time.Second)
	ls, _, _ := newLeases(t, 5*time.Second)
	first, err := ls.AcquireTask(ctx, "reconcile", "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ls.AcquireTask(ctx, "reconcile", "b"); !errors.Is(err, bus.ErrLeaseHeld) {
		t.Errorf("second holder: %v, want ErrLeaseHeld", err)
	}
	if _, err := ls.AcquireTask(ctx, "bad name!", "b"); err == nil {
		t.Error("accepted an unsafe task name")
	}
	if err := first.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ls.AcquireTask(ctx, "reconcile", "b"); err != nil {
		t.Errorf("after release: %v", err)
	}
}
