package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Plaid's documented limit of /transactions/refresh: 2 calls per Item per
// minute.
const (
	DefaultRefreshLimit  = 2
	DefaultRefreshWindow = time.Minute
)

// ErrRefreshLimited means an owner used up its refreshes for the window.
var ErrRefreshLimited = errors.New("refresh limit reached")

// RefreshLimitedError says when the next refresh may be accepted.
type RefreshLimitedError struct {
	Owner      string
	RetryAfter time.Duration
}

func (e *RefreshLimitedError) Error() string {
	return fmt.Sprintf("%s: %v; retry after %v", e.Owner, ErrRefreshLimited, e.RetryAfter)
}

// Unwrap makes errors.Is(err, ErrRefreshLimited) hold.
func (e *RefreshLimitedError) Unwrap() error { return ErrRefreshLimited }

// RefreshGuard admits at most Limit refreshes per owner per Window across
// every replica. Each accepted refresh atomically creates one of the owner's
// Limit slot keys in PLAID_REFRESH_LIMITS with a per-key TTL of Window, so
// the count is the server's, not a replica's, and slots free themselves.
type RefreshGuard struct {
	kv     jetstream.KeyValue
	limit  int
	window time.Duration
	now    func() time.Time
}

// NewRefreshGuard returns a guard over kv (from EnsureBucket with
// events.RefreshLimitsBucketSpec()); limit and window 0 take Plaid's
// documented 2 per minute. window is rounded up to whole seconds (the
// server's TTL resolution).
func NewRefreshGuard(kv jetstream.KeyValue, limit int, window time.Duration) *RefreshGuard {
	if limit <= 0 {
		limit = DefaultRefreshLimit
	}
	if window <= 0 {
		window = DefaultRefreshWindow
	}
	if rem := window % time.Second; rem != 0 {
		window += time.Second - rem
	}
	return &RefreshGuard{kv: kv, limit: limit, window: window, now: time.Now}
}

type refreshSlot struct {
	AcceptedAt time.Time `json:"accepted_at"`
}

// Reserve takes one of owner's slots (owner is an events.OwnerKey) or
// returns a *RefreshLimitedError saying when one frees up.
func (g *RefreshGuard) Reserve(ctx context.Context, owner string) error {
	if _, err := ownerKey(owner); err != nil {
		return err
	}
	b, err := json.Marshal(refreshSlot{AcceptedAt: g.now().UTC()})
	if err != nil {
		return err
	}
	retryAfter := g.window
	for slot := range g.limit {
		key := owner + "." + strconv.Itoa(slot)
		_, err := g.kv.Create(ctx, key, b, jetstream.KeyTTL(g.window))
		if err == nil {
			return nil
		}
		if !isWrongLastSequence(err) {
			return fmt.Errorf("refresh guard %s: %w", owner, err)
		}
		e, err := g.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			// Expired between the two calls: take it.
			if _, err := g.kv.Create(ctx, key, b, jetstream.KeyTTL(g.window)); err == nil {
				return nil
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("refresh guard %s: %w", owner, err)
		}
		retryAfter = min(retryAfter, max(time.Second, e.Created().Add(g.window).Sub(g.now())))
	}
	return &RefreshLimitedError{Owner: owner, RetryAfter: retryAfter}
}
