package bus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
)

func newLeases(t *testing.T, ttl time.Duration) (*bus.Leases, jetstream.KeyValue, jetstream.JetStream) {
	t.Helper()
	js := startJetStream(t)
	kv := ensureBucket(t, js, events.LeasesBucketSpec())
	ls, err := bus.NewLeases(testContext(t, 5*time.Second), js, kv, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return ls, kv, js
}

// waitForExpiry blocks until the server removes key by its TTL (the bucket's
// limit marker shows up on a watch), or fails the test.
func waitForExpiry(ctx context.Context, t *testing.T, kv jetstream.KeyValue, key string) {
	t.Helper()
	w, err := kv.Watch(ctx, key, jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	// The key may have expired before the watch started.
	if _, err := kv.Get(ctx, key); errors.Is(err, jetstream.ErrKeyNotFound) {
		return
	}
	for {
		select {
		case e := <-w.Updates():
			if e != nil && e.Operation() != jetstream.KeyValuePut {
				return
			}
		case <-ctx.Done():
			t.Fatalf("lease %s did not expire: %v", key, ctx.Err())
		}
	}
}

func TestLeaseRaceHasOneWinner(t *testing.T) {
	t.Parallel()
	ls, _, _ := newLeases(t, 0)
	ctx := testContext(t, 10*time.Second)
	// Twice: on a fresh key, then on a released one (a purge marker, which
	// takes nats.go's Create down another path).
	for round := range 2 {
		winner := raceForLease(ctx, t, ls, round)
		if err := winner.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if ls.TTL() != bus.DefaultLeaseTTL {
		t.Errorf("default ttl: %v", ls.TTL())
	}
}

func raceForLease(ctx context.Context, t *testing.T, ls *bus.Leases, round int) *bus.Lease {
	t.Helper()
	const holders = 8
	var wg sync.WaitGroup
	results := make([]error, holders)
	leases := make([]*bus.Lease, holders)
	start := make(chan struct{})
	for i := range holders {
		wg.Go(func() {
			<-start
			leases[i], results[i] = ls.Acquire(ctx, "item.i1", fmt.Sprintf("replica-%d", i))
		})
	}
	close(start)
	wg.Wait()
	var winner *bus.Lease
	for i, err := range results {
		switch {
		case err == nil && winner == nil:
			winner = leases[i]
		case err == nil:
			t.Fatalf("round %d: two holders acquired the lease", round)
		case !errors.Is(err, bus.ErrLeaseHeld):
			t.Errorf("round %d, holder %d: got %v, want ErrLeaseHeld", round, i, err)
		}
	}
	if winner == nil {
		t.Fatalf("round %d: nobody acquired the lease", round)
	}
	return winner
}

func TestLeaseReleaseFreesAndRenewKeeps(t *testing.T) {
	t.Parallel()
	ls, kv, js := newLeases(t, 0)
	ctx := testContext(t, 10*time.Second)
	a, err := ls.Acquire(ctx, "item.i1", "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ls.Acquire(ctx, "item.i1", "a"); !errors.Is(err, bus.ErrLeaseHeld) {
		t.Fatalf("second acquire by the same holder: got %v, want ErrLeaseHeld", err)
	}
	if time.Until(a.ValidUntil()) <= 0 {
		t.Errorf("valid until %v", a.ValidUntil())
	}
	rev := a.Revision()
	if err := a.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if a.Revision() <= rev {
		t.Errorf("renew did not write: revision %d -> %d", rev, a.Revision())
	}
	// The renewal must carry the TTL again: nats.go's Update would drop it
	// and make the lease immortal.
	stream, err := js.Stream(ctx, "KV_"+kv.Bucket())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := stream.GetLastMsgForSubject(ctx, "$KV."+kv.Bucket()+".item.i1")
	if err != nil {
		t.Fatal(err)
	}
	if got := raw.Header.Get(jetstream.MsgTTLHeader); got != bus.DefaultLeaseTTL.String() {
		t.Errorf("renewed lease's TTL header: got %q, want %q", got, bus.DefaultLeaseTTL)
	}
	info, err := ls.Holder(ctx, "item.i1")
	if err != nil || info.Holder != "a" || info.Revision != a.Revision() || info.TTL != bus.DefaultLeaseTTL {
		t.Fatalf("holder: %+v %v", info, err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx); err != nil {
		t.Errorf("second release: %v", err)
	}
	if err := a.Renew(ctx); !errors.Is(err, bus.ErrLeaseLost) {
		t.Errorf("renew after release: got %v, want ErrLeaseLost", err)
	}
	b, err := ls.Acquire(ctx, "item.i1", "b")
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestLeaseExpiresAndALostLeaseTouchesNothing: a holder that stops renewing
// loses the lease after its TTL; another acquires it; the first one's Renew
// and Release then fail with ErrLeaseLost and leave the new lease alone.
func TestLeaseExpiresAndALostLeaseTouchesNothing(t *testing.T) {
	t.Parallel()
	ls, kv, _ := newLeases(t, time.Second)
	ctx := testContext(t, 5*time.Second)
	a, err := ls.Acquire(ctx, "item.i1", "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ls.Acquire(ctx, "item.i1", "b"); !errors.Is(err, bus.ErrLeaseHeld) {
		t.Fatalf("acquire while held: got %v", err)
	}
	waitForExpiry(ctx, t, kv, "item.i1")
	b, err := ls.Acquire(ctx, "item.i1", "b")
	if err != nil {
		t.Fatalf("acquire after expiry: %v", err)
	}
	if err := a.Renew(ctx); !errors.Is(err, bus.ErrLeaseLost) {
		t.Errorf("renew of an expired lease: got %v, want ErrLeaseLost", err)
	}
	if err := a.Release(ctx); !errors.Is(err, bus.ErrLeaseLost) {
		t.Errorf("release of a lost lease: got %v, want ErrLeaseLost", err)
	}
	if !a.ValidUntil().IsZero() {
		t.Error("a lost lease still reports a validity")
	}
	info, err := ls.Holder(ctx, "item.i1")
	if err != nil || info.Holder != "b" || info.Revision != b.Revision() {
		t.Fatalf("the lost holder's release touched the new lease: %+v %v", info, err)
	}
}

// TestLeaseRenewKeepsItPastItsTTL: renewals keep a 1s lease alive well past
// one second. Time passing is what is under test here, so the renewals run
// on a ticker.
func TestLeaseRenewKeepsItPastItsTTL(t *testing.T) {
	t.Parallel()
	ls, _, _ := newLeases(t, time.Second)
	ctx := testContext(t, 5*time.Second)
	a, err := ls.Acquire(ctx, "item.i1", "a")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2500 * time.Millisecond)
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		<-tick.C
		if err := a.Renew(ctx); err != nil {
			t.Fatalf("renew: %v", err)
		}
	}
	if _, err := ls.Acquire(ctx, "item.i1", "b"); !errors.Is(err, bus.ErrLeaseHeld) {
		t.Fatalf("after 2.5s of renewals of a 1s lease: got %v, want ErrLeaseHeld", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLeasesRejectABucketWithoutPerKeyTTL(t *testing.T) {
	t.Parallel()
	js := startJetStream(t)
	kv := ensureBucket(t, js, events.BucketSpec{Name: "NO_TTL", History: 1})
	if _, err := bus.NewLeases(testContext(t, 5*time.Second), js, kv, 0); err == nil {
		t.Fatal("leases over a bucket without per-key TTLs")
	}
}

func TestLeaseAcquireValidates(t *testing.T) {
	t.Parallel()
	ls, _, _ := newLeases(t, 1500*time.Millisecond)
	if ls.TTL() != 2*time.Second {
		t.Errorf("TTL rounds up to whole seconds: got %v", ls.TTL())
	}
	ctx := testContext(t, 5*time.Second)
	if _, err := ls.Acquire(ctx, "item.a b", "a"); !errors.Is(err, events.ErrBadOwner) {
		t.Errorf("bad owner: %v", err)
	}
	if _, err := ls.Acquire(ctx, "item.i1", "\n"); err == nil {
		t.Error("accepted an empty holder")
	}
}
