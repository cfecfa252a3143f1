package events

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// BucketSpec is the transport-free definition of a JetStream key-value bucket
// we own. Like StreamSpec, each binary creates or updates the buckets it uses
// from these definitions (internal/bus maps them to nats.go types).
type BucketSpec struct {
	Name        string
	Description string
	// TTL removes every value older than this, bucket-wide; 0 keeps values
	// until they are deleted. Writes reset a key's age.
	TTL time.Duration
	// History is how many values are kept per key (1 to 64; 0 means 1).
	History int
	// LimitMarkerTTL, when positive, enables per-key TTLs: a key written
	// with its own TTL disappears when that TTL passes, and the server then
	// leaves a marker for this long so that watchers see the expiry. Zero
	// disables per-key TTLs. Once enabled on a bucket it cannot be disabled.
	LimitMarkerTTL time.Duration
}

// The key-value buckets plaidstream keeps its state in. Names are a contract
// with operators (they appear in `nats kv ls`), not with event consumers.
const (
	// TokensBucket holds sealed access tokens and processor tokens
	// (internal/tokens), keyed by OwnerKey: "item.<item_id>" or
	// "processor.<account_id>". Values never contain a plaintext token.
	TokensBucket = "PLAID_TOKENS"
	// ItemsBucket holds each owner's sync state (cursor, resync epoch,
	// webhook sequence synced through, parked flag, last sync), keyed by
	// OwnerKey. The cursor is only ever written by compare-and-set.
	ItemsBucket = "PLAID_ITEMS"
	// LeasesBucket holds the sync leases that keep at most one sync per
	// owner running across fetcher replicas, keyed by OwnerKey. Every lease
	// carries its own TTL, so a killed replica's lease expires by itself.
	LeasesBucket = "PLAID_LEASES"
	// RecurringBucket holds the last recurring-stream snapshot per owner,
	// keyed by OwnerKey, to diff the next one against.
	RecurringBucket = "PLAID_RECURRING"
	// RefreshLimitsBucket holds the refresh guard's slots: one key per
	// accepted /transactions/refresh call, "<OwnerKey>.<slot>", living for
	// the limit's window, so every replica sees the same per-item count.
	RefreshLimitsBucket = "PLAID_REFRESH_LIMITS"
)

// LeaseMarkerTTL is how long PLAID_LEASES keeps the marker of an expired or
// released lease. Watchers of the bucket see expiries through these markers;
// afterwards the key disappears entirely, so dead owners leave nothing behind.
const LeaseMarkerTTL = 5 * time.Minute

// TokensBucketSpec defines PLAID_TOKENS. It keeps one value per key: after a
// token is replaced or re-sealed under a new key, no older sealed copy stays
// around (a retired key must not keep opening anything).
func TokensBucketSpec() BucketSpec {
	return BucketSpec{
		Name:        TokensBucket,
		Description: "Plaid access and processor tokens, AES-256-GCM sealed (plaidstream)",
		History:     1,
	}
}

// ItemsBucketSpec defines PLAID_ITEMS. A few older values per key are kept
// so an operator can see the cursors and states that came before.
func ItemsBucketSpec() BucketSpec {
	return BucketSpec{
		Name:        ItemsBucket,
		Description: "Per item and processor account sync state: cursor, resync epoch, webhook sequence (plaidstream fetcher)",
		History:     5,
	}
}

// LeasesBucketSpec defines PLAID_LEASES: per-key TTLs on, no bucket-wide TTL
// (each lease carries its own), one value per key.
func LeasesBucketSpec() BucketSpec {
	return BucketSpec{
		Name:           LeasesBucket,
		Description:    "Sync leases: at most one sync per item across fetcher replicas (plaidstream fetcher)",
		History:        1,
		LimitMarkerTTL: LeaseMarkerTTL,
	}
}

// RecurringBucketSpec defines PLAID_RECURRING.
func RecurringBucketSpec() BucketSpec {
	return BucketSpec{
		Name:        RecurringBucket,
		Description: "Last recurring-transaction stream snapshot per item (plaidstream fetcher)",
		History:     1,
	}
}

// RefreshLimitsBucketSpec defines PLAID_REFRESH_LIMITS: per-key TTLs on
// (each slot expires with its window), one value per key.
func RefreshLimitsBucketSpec() BucketSpec {
	return BucketSpec{
		Name:           RefreshLimitsBucket,
		Description:    "Accepted /transactions/refresh calls per item in the current window (plaidstream fetcher)",
		History:        1,
		LimitMarkerTTL: time.Minute,
	}
}

// ErrBadOwner means an owner kind, id or key is not one OwnerKey produces.
var ErrBadOwner = errors.New("not a valid owner")

// SafeOwnerID reports whether id may name an item or processor account in a
// bucket key: SafeName, and only ASCII letters, digits, '-', '_' and '='
// (the characters JetStream KV allows in a key token). Plaid's item and
// account ids are alphanumeric.
func SafeOwnerID(id string) bool {
	if !SafeName(id) {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '=':
		default:
			return false
		}
	}
	return true
}

// OwnerKey returns the bucket key for an item ("item.<item_id>") or a
// processor account ("processor.<account_id>"). The id must be SafeOwnerID
// (which implies SafeName); otherwise the error wraps ErrBadOwner and does
// not repeat the id.
func OwnerKey(kind OwnerKind, id string) (string, error) {
	if kind != OwnerItem && kind != OwnerProcessor {
		return "", fmt.Errorf("%w: unknown kind %q", ErrBadOwner, kind)
	}
	if !SafeOwnerID(id) {
		return "", fmt.Errorf("%w: %s id must be 1 to %d letters, digits, '-', '_' or '='", ErrBadOwner, kind, MaxNameLength)
	}
	return string(kind) + "." + id, nil
}

// ParseOwnerKey splits a key made by OwnerKey into its owner.
func ParseOwnerKey(key string) (Owner, error) {
	kind, id, ok := strings.Cut(key, ".")
	if !ok {
		return Owner{}, fmt.Errorf("%w: key has no kind", ErrBadOwner)
	}
	if _, err := OwnerKey(OwnerKind(kind), id); err != nil {
		return Owner{}, err
	}
	return Owner{Kind: OwnerKind(kind), ID: id}, nil
}
