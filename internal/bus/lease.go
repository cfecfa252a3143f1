package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/events"
)

// DefaultLeaseTTL is how long a lease lives without a renewal. A replica
// killed mid-sync frees its owners this long after its last renewal.
const DefaultLeaseTTL = 30 * time.Second

// Lease errors.
var (
	// ErrLeaseHeld means another holder has a live lease on the owner.
	ErrLeaseHeld = errors.New("lease held by another holder")
	// ErrLeaseLost means the lease expired or was released, and perhaps
	// taken by another holder: stop the work it guarded.
	ErrLeaseLost = errors.New("lease lost")
)

// Leases hands out sync leases in PLAID_LEASES: at most one live lease per
// owner across all replicas.
//
// The guarantee is that of a lease, not of a lock. Acquire succeeds only
// through an atomic create of the owner's key, so two holders never both
// acquire the same live lease. Every write carries a per-key TTL (JetStream
// per-message TTL, nats-server 2.11+) measured by the server; a holder that
// does not renew within the TTL — killed, partitioned, or merely stalled
// (GC pause, slow Plaid call) — loses the lease, and another holder may then
// acquire it while the first is still working. A holder can only notice this
// at its next Renew or Release (ErrLeaseLost), or by checking ValidUntil,
// which is a conservative local estimate. So a lease makes duplicate
// concurrent syncs rare; it does not make them impossible. What keeps a
// stale holder from doing damage is the compare-and-set on the cursor in
// ItemStore: its Update fails with ErrConflict once the new holder saved.
//
// Expiry is timed by the JetStream server that stores the lease (on a
// cluster, the bucket's stream leader; a leader change onto a server whose
// clock runs ahead can end a lease early, so keep the servers on NTP). TTLs
// are whole seconds (the server's resolution), rounded up, at least 1s.
type Leases struct {
	js        jetstream.JetStream
	kv        jetstream.KeyValue
	ttl       time.Duration
	markerTTL time.Duration
	now       func() time.Time
}

// NewLeases returns leases over kv (from EnsureBucket with
// events.LeasesBucketSpec()) with the given TTL (0: DefaultLeaseTTL). The
// bucket must have per-key TTLs enabled (LimitMarkerTTL); NewLeases checks.
func NewLeases(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue, ttl time.Duration) (*Leases, error) {
	if ttl <= 0 {
		ttl = DefaultLeaseTTL
	}
	if rem := ttl % time.Second; rem != 0 {
		ttl += time.Second - rem
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("lease bucket %s: %w", kv.Bucket(), err)
	}
	if st.LimitMarkerTTL() <= 0 {
		return nil, fmt.Errorf("lease bucket %s has no per-key TTLs (LimitMarkerTTL); create it from events.LeasesBucketSpec", kv.Bucket())
	}
	if st.TTL() != 0 && st.TTL() < ttl {
		return nil, fmt.Errorf("lease bucket %s expires keys after %v, shorter than the lease TTL %v", kv.Bucket(), st.TTL(), ttl)
	}
	return &Leases{js: js, kv: kv, ttl: ttl, markerTTL: st.LimitMarkerTTL(), now: time.Now}, nil
}

// TTL is the lease lifetime without renewal.
func (ls *Leases) TTL() time.Duration { return ls.ttl }

// leaseRecord is a lease as stored. It names the holder for operators
// (`nats kv get PLAID_LEASES item.<id>`); identity is the key's revision.
type leaseRecord struct {
	Holder     string    `json:"holder"`
	AcquiredAt time.Time `json:"acquired_at"`
	RenewedAt  time.Time `json:"renewed_at"`
	TTLSeconds int64     `json:"ttl_seconds"`
}

// LeaseInfo describes the current holder of a lease.
type LeaseInfo struct {
	Owner      string
	Holder     string
	AcquiredAt time.Time
	RenewedAt  time.Time
	TTL        time.Duration
	Revision   uint64
}

// Acquire takes the lease on owner (an events.OwnerKey) for holder (a
// replica's unique name; it appears in logs and in the bucket). It returns
// ErrLeaseHeld if anyone, including holder itself through another Lease,
// holds a live lease on owner.
func (ls *Leases) Acquire(ctx context.Context, owner, holder string) (*Lease, error) {
	if _, err := ownerKey(owner); err != nil {
		return nil, err
	}
	return ls.acquire(ctx, owner, holder)
}

// TaskLeasePrefix starts the keys of task leases, which no owner key does.
const TaskLeasePrefix = "task."

// AcquireTask takes the lease on a fleet-wide task (such as the
// reconciliation sweep) that one replica at a time should run. name must be
// an events.SafeOwnerID; the key is TaskLeasePrefix + name.
func (ls *Leases) AcquireTask(ctx context.Context, name, holder string) (*Lease, error) {
	if !events.SafeOwnerID(name) {
		return nil, fmt.Errorf("task lease %q: not a safe name", name)
	}
	return ls.acquire(ctx, TaskLeasePrefix+name, holder)
}

func (ls *Leases) acquire(ctx context.Context, owner, holder string) (*Lease, error) {
	if !validHolder(holder) {
		return nil, fmt.Errorf("lease %s: holder must be 1 to %d printable characters", owner, events.MaxNameLength)
	}
	// A key found to exist may expire before we read it; try again then.
	for range 3 {
		start := ls.now()
		rec := leaseRecord{Holder: holder, AcquiredAt: start.UTC(), RenewedAt: start.UTC(), TTLSeconds: int64(ls.ttl / time.Second)}
		b, err := json.Marshal(rec)
		if err != nil {
			return nil, fmt.Errorf("lease %s: %w", owner, err)
		}
		rev, err := ls.kv.Create(ctx, owner, b, jetstream.KeyTTL(ls.ttl))
		if err == nil {
			return &Lease{leases: ls, owner: owner, holder: holder, rev: rev, acquiredAt: start, validUntil: start.Add(ls.ttl)}, nil
		}
		if !isWrongLastSequence(err) {
			return nil, fmt.Errorf("acquire lease %s: %w", owner, err)
		}
		info, err := ls.Holder(ctx, owner)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("lease %s: %w: %s since %s", owner, ErrLeaseHeld, info.Holder, info.AcquiredAt.Format(time.RFC3339))
	}
	return nil, fmt.Errorf("lease %s: %w (it keeps changing hands)", owner, ErrLeaseHeld)
}

// Holder describes the live lease on owner, or returns ErrNotFound.
func (ls *Leases) Holder(ctx context.Context, owner string) (LeaseInfo, error) {
	e, err := ls.kv.Get(ctx, owner)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return LeaseInfo{}, fmt.Errorf("lease %s: %w", owner, ErrNotFound)
	}
	if err != nil {
		return LeaseInfo{}, fmt.Errorf("get lease %s: %w", owner, err)
	}
	var rec leaseRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return LeaseInfo{}, fmt.Errorf("decode lease %s: %w", owner, err)
	}
	return LeaseInfo{
		Owner: owner, Holder: rec.Holder, AcquiredAt: rec.AcquiredAt, RenewedAt: rec.RenewedAt,
		TTL: time.Duration(rec.TTLSeconds) * time.Second, Revision: e.Revision(),
	}, nil
}

// Lease is one acquired lease. Its methods are safe for concurrent use (a
// heartbeat goroutine may Renew while the worker Releases).
type Lease struct {
	leases        *Leases
	owner, holder string

	mu         sync.Mutex
	rev        uint64
	acquiredAt time.Time
	validUntil time.Time
	done       error // ErrLeaseLost once lost; errReleased once released
}

var errReleased = errors.New("lease released")

// Owner is the key the lease is on.
func (l *Lease) Owner() string { return l.owner }

// Holder is the holder that acquired the lease.
func (l *Lease) Holder() string { return l.holder }

// Revision is the lease key's revision at the last successful write.
func (l *Lease) Revision() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rev
}

// ValidUntil is a conservative estimate of when the lease expires unless
// renewed: the TTL counted from before the last successful write was sent.
// It is zero once the lease is known lost or released. Renew well before it
// (every TTL/3 is a good rhythm).
func (l *Lease) ValidUntil() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done != nil {
		return time.Time{}
	}
	return l.validUntil
}

// Renew extends the lease by its TTL if it is still ours: a compare-and-set
// on its revision that also resets the key's TTL. ErrLeaseLost means it
// expired or someone else took it. Any other error (a timeout) leaves the
// outcome unknown; the lease stays valid until ValidUntil at most, and a
// later Renew may find it lost.
func (l *Lease) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done != nil {
		return fmt.Errorf("renew lease %s: %w", l.owner, ErrLeaseLost)
	}
	ls := l.leases
	start := ls.now()
	rec := leaseRecord{Holder: l.holder, AcquiredAt: l.acquiredAt.UTC(), RenewedAt: start.UTC(), TTLSeconds: int64(ls.ttl / time.Second)}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("renew lease %s: %w", l.owner, err)
	}
	// KeyValue.Update would drop the per-key TTL (nats.go publishes it
	// without one), making the lease immortal. Publish the same message
	// nats.go's Create does instead: the key's subject, expected last
	// subject sequence = our revision, and a fresh Nats-TTL.
	msg := &nats.Msg{Subject: kvSubject(ls.kv, l.owner), Data: b}
	ack, err := ls.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(l.rev), jetstream.WithMsgTTL(ls.ttl))
	if isWrongLastSequence(err) {
		l.done = ErrLeaseLost
		return fmt.Errorf("renew lease %s: %w", l.owner, ErrLeaseLost)
	}
	if err != nil {
		return fmt.Errorf("renew lease %s: %w", l.owner, err)
	}
	l.rev = ack.Sequence
	l.validUntil = start.Add(ls.ttl)
	return nil
}

// Release gives the lease up if it is still ours (a compare-and-set delete
// on its revision), so the next Acquire succeeds at once. A lost lease is
// not touched — it may be someone else's now — and Release returns
// ErrLeaseLost. Releasing twice returns nil.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch l.done {
	case errReleased:
		return nil
	case ErrLeaseLost:
		return fmt.Errorf("release lease %s: %w", l.owner, ErrLeaseLost)
	}
	// Purge (not Delete) with a marker TTL, so the key disappears entirely
	// after a while instead of leaving a delete marker per owner forever.
	err := l.leases.kv.Purge(ctx, l.owner, jetstream.LastRevision(l.rev), jetstream.PurgeTTL(l.leases.markerTTL))
	if isWrongLastSequence(err) {
		l.done = ErrLeaseLost
		return fmt.Errorf("release lease %s: %w", l.owner, ErrLeaseLost)
	}
	if err != nil {
		return fmt.Errorf("release lease %s: %w", l.owner, err)
	}
	l.done = errReleased
	return nil
}

// kvSubject is the subject JetStream KV stores key under ($KV.<bucket>.<key>,
// ADR-8). Buckets reached through a JetStream domain or API prefix are not
// supported by the code that uses it.
func kvSubject(kv jetstream.KeyValue, key string) string {
	return "$KV." + kv.Bucket() + "." + key
}

func validHolder(h string) bool {
	if h == "" || len(h) > events.MaxNameLength {
		return false
	}
	for _, r := range h {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
