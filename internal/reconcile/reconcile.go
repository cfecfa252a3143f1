// Package reconcile runs the fetcher's reconciliation sweep: it requests a
// sync of every registered, unparked owner whose last successful sync is
// older than a threshold, that never synced, or whose trigger ran out of
// deliveries (overdue). Plaid drops a webhook after 24 hours of failed
// deliveries; with the sweep, a webhook lost for good costs latency, not
// data.
//
// One replica sweeps at a time (a task lease in PLAID_LEASES); the syncs
// themselves are ordinary sync requests in PLAID_WEBHOOKS, carried out,
// coalesced and rate-limited like any webhook.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
)

// Defaults of Options.
const (
	DefaultInterval   = 15 * time.Minute
	DefaultStaleAfter = 24 * time.Hour
	DefaultRate       = 5 // sync requests per second
)

// taskName is the sweep's task lease (bus.Leases.AcquireTask).
const taskName = "reconcile"

// Options tune a Sweeper.
type Options struct {
	// Interval is the mean time between sweeps; each wait is jittered by
	// ±20% so replicas and restarts do not line up. 0: DefaultInterval.
	Interval time.Duration
	// StaleAfter: an owner whose last successful sync is older is due.
	// 0: DefaultStaleAfter.
	StaleAfter time.Duration
	// Rate bounds the sync requests per second a sweep stores, so a sweep
	// of many items does not flood Plaid. 0: DefaultRate.
	Rate float64
	// Holder names this replica in the task lease.
	Holder string
	// OnSweep is told each completed sweep's result.
	OnSweep func(Result)
	Logger  *slog.Logger
	Now     func() time.Time
}

// Result is what one sweep found and did.
type Result struct {
	// Due is how many owners were due (overdue, never synced or stale).
	Due int
	// Requested is how many sync requests the sweep stored.
	Requested int
	// Skipped says another replica held the sweep's lease.
	Skipped bool
}

// Sweeper requests syncs of the owners that are due.
type Sweeper struct {
	js     jetstream.JetStream
	tokens *bus.TokenStore
	states *bus.ItemStore
	leases *bus.Leases
	opts   Options
}

// New returns a Sweeper over the fetcher's stores.
func New(js jetstream.JetStream, tokens *bus.TokenStore, states *bus.ItemStore, leases *bus.Leases, o Options) *Sweeper {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	if o.Rate <= 0 {
		o.Rate = DefaultRate
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.OnSweep == nil {
		o.OnSweep = func(Result) {}
	}
	return &Sweeper{js: js, tokens: tokens, states: states, leases: leases, opts: o}
}

// Due reports whether an owner with state st needs a sync from the sweep at
// now: not parked, and overdue, never synced, or last synced more than
// staleAfter ago.
func Due(st bus.ItemState, now time.Time, staleAfter time.Duration) bool {
	switch {
	case st.Parked:
		return false
	case st.Overdue, st.LastSyncAt.IsZero():
		return true
	}
	return now.Sub(st.LastSyncAt) > staleAfter
}

// Run sweeps every jittered Interval until ctx ends.
func (s *Sweeper) Run(ctx context.Context) {
	for {
		wait := time.Duration(float64(s.opts.Interval) * (0.8 + 0.4*rand.Float64()))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		res, err := s.Sweep(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.opts.Logger.WarnContext(ctx, "reconciliation sweep failed", "err", err, "requested", res.Requested)
			}
			continue
		}
		if !res.Skipped {
			s.opts.Logger.InfoContext(ctx, "reconciliation sweep done", "due", res.Due, "requested", res.Requested)
		}
	}
}

// Sweep runs one sweep now, unless another replica is sweeping. OnSweep is
// told what it did, also when it stopped early.
func (s *Sweeper) Sweep(ctx context.Context) (res Result, err error) {
	lease, err := s.leases.AcquireTask(ctx, taskName, s.opts.Holder)
	if errors.Is(err, bus.ErrLeaseHeld) {
		return Result{Skipped: true}, nil
	}
	if err != nil {
		return Result{}, err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = lease.Release(rctx)
		s.opts.OnSweep(res)
	}()

	start := s.opts.Now()
	// Every request of this sweep carries its round, so a sweep repeated
	// within the duplicate window (a replica restarting) stores nothing new.
	round := strconv.FormatInt(start.Truncate(s.opts.Interval).Unix(), 10)
	creds, err := s.tokens.List(ctx)
	if err != nil {
		return Result{}, err
	}
	states, err := s.states.List(ctx)
	if err != nil {
		return Result{}, err
	}
	byOwner := make(map[string]bus.ItemState, len(states))
	for _, e := range states {
		byOwner[e.State.Owner] = e.State
	}
	limiter := rate.NewLimiter(rate.Limit(s.opts.Rate), 1)
	renewAt := s.opts.Now().Add(s.leases.TTL() / 3)
	for _, c := range creds {
		st, ok := byOwner[c.Owner]
		if !ok {
			st = bus.ItemState{Owner: c.Owner, Kind: c.Kind}
		}
		if !Due(st, start, s.opts.StaleAfter) {
			continue
		}
		res.Due++
		if err := limiter.Wait(ctx); err != nil {
			return res, err
		}
		if now := s.opts.Now(); now.After(renewAt) {
			if err := lease.Renew(ctx); err != nil {
				return res, fmt.Errorf("sweep lease: %w", err)
			}
			renewAt = now.Add(s.leases.TTL() / 3)
		}
		owner := events.Owner{Kind: c.Kind, ID: c.ID}
		if _, err := bus.RequestSync(ctx, s.js, owner, bus.SyncRequestOptions{
			Environment: c.Environment, Reason: "reconcile", RequestID: "reconcile-" + c.Owner + "-" + round,
		}); err != nil {
			return res, err
		}
		res.Requested++
	}
	return res, nil
}
