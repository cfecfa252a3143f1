package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/events"
)

// ItemSchemaVersion is the schema version of ItemState values in PLAID_ITEMS.
// A binary refuses to decode (and so never overwrites) a newer version.
const ItemSchemaVersion = 1

// ItemState is one owner's sync state in PLAID_ITEMS. An owner is an item
// (access token) or a processor account (processor token); see
// events.OwnerKey.
type ItemState struct {
	// Owner is the owner's key, events.OwnerKey: "item.<id>" or
	// "processor.<id>".
	Owner string `json:"owner"`
	// Kind is the owner's kind; it must match Owner.
	Kind events.OwnerKind `json:"kind"`
	// Environment is the Plaid environment the owner lives in.
	Environment string `json:"environment,omitempty"`
	// Cursor is the /transactions/sync cursor every event up to which has
	// been published; "" before the first sync. Save it only through Create
	// or Update (compare-and-set) after the events' PubAcks.
	Cursor string `json:"cursor"`
	// ResyncEpoch counts resyncs from scratch; events carry it.
	ResyncEpoch uint64 `json:"resync_epoch"`
	// SyncedThroughSeq is the PLAID_WEBHOOKS stream sequence up to which
	// webhooks are satisfied: a sync that began after a webhook was stored
	// covers it, so a webhook with a sequence at or below this needs no sync.
	SyncedThroughSeq uint64 `json:"synced_through_seq"`
	// FollowUpSeq is the highest webhook sequence left for the current
	// lease holder to cover with one more sync (see fetch.State).
	FollowUpSeq uint64 `json:"follow_up_seq,omitempty"`
	// Parked stops syncs (ITEM_LOGIN_REQUIRED and the like) until the item
	// is repaired or an operator forces a sync; ParkedReason says why (a
	// Plaid error code, never a token) and ParkedAt when.
	Parked       bool      `json:"parked,omitempty"`
	ParkedReason string    `json:"parked_reason,omitempty"`
	ParkedAt     time.Time `json:"parked_at,omitzero"`
	// Overdue marks an owner whose sync trigger was dead-lettered, for the
	// reconciliation sweep to catch up.
	Overdue bool `json:"overdue,omitempty"`
	// LastSyncAt, LastSyncOutcome and LastError describe the latest sync
	// attempt (LastError: a Plaid error code or short reason, never a token).
	LastSyncAt      time.Time `json:"last_sync_at,omitzero"`
	LastSyncOutcome string    `json:"last_sync_outcome,omitempty"`
	LastError       string    `json:"last_error,omitempty"`
	// LastWebhookAt is when the latest webhook for the owner was received.
	LastWebhookAt time.Time `json:"last_webhook_at,omitzero"`
	// CreatedAt is set by Create; UpdatedAt by every write.
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// itemRecord is ItemState as stored: with its schema version.
type itemRecord struct {
	V int `json:"v"`
	ItemState
}

// ItemEntry is a state with the revision it was read at, for Update.
type ItemEntry struct {
	State    ItemState
	Revision uint64
}

// ItemStore keeps ItemState values in PLAID_ITEMS. Every write that could
// race is a compare-and-set on the key's revision, so two fetcher replicas
// can never interleave cursors: the loser gets ErrConflict and must re-read.
// It is safe for concurrent use.
type ItemStore struct {
	kv  jetstream.KeyValue
	now func() time.Time
}

// NewItemStore returns a store over kv (from EnsureBucket with
// events.ItemsBucketSpec()).
func NewItemStore(kv jetstream.KeyValue) *ItemStore {
	return &ItemStore{kv: kv, now: time.Now}
}

// Get returns owner's state and its revision, or ErrNotFound.
func (s *ItemStore) Get(ctx context.Context, owner string) (ItemState, uint64, error) {
	if _, err := ownerKey(owner); err != nil {
		return ItemState{}, 0, err
	}
	e, err := s.kv.Get(ctx, owner)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return ItemState{}, 0, fmt.Errorf("item state %s: %w", owner, ErrNotFound)
	}
	if err != nil {
		return ItemState{}, 0, fmt.Errorf("get item state %s: %w", owner, err)
	}
	st, err := decodeItem(owner, e.Value())
	if err != nil {
		return ItemState{}, 0, err
	}
	return st, e.Revision(), nil
}

// Create stores the first state of an owner and returns its revision. It
// fails with ErrExists if the owner already has one.
func (s *ItemStore) Create(ctx context.Context, st ItemState) (uint64, error) {
	now := s.now().UTC()
	if st.CreatedAt.IsZero() {
		st.CreatedAt = now
	}
	st.UpdatedAt = now
	b, err := encodeItem(st)
	if err != nil {
		return 0, err
	}
	rev, err := s.kv.Create(ctx, st.Owner, b)
	if isWrongLastSequence(err) {
		return 0, fmt.Errorf("item state %s: %w", st.Owner, ErrExists)
	}
	if err != nil {
		return 0, fmt.Errorf("create item state %s: %w", st.Owner, err)
	}
	return rev, nil
}

// Update replaces owner's state if its revision is still expectedRev and
// returns the new revision; otherwise it returns ErrConflict and writes
// nothing. This compare-and-set is the only way a cursor is saved.
func (s *ItemStore) Update(ctx context.Context, st ItemState, expectedRev uint64) (uint64, error) {
	if expectedRev == 0 {
		return 0, fmt.Errorf("update item state %s: no revision (use Create)", st.Owner)
	}
	st.UpdatedAt = s.now().UTC()
	return s.write(ctx, st, expectedRev)
}

func (s *ItemStore) write(ctx context.Context, st ItemState, expectedRev uint64) (uint64, error) {
	b, err := encodeItem(st)
	if err != nil {
		return 0, err
	}
	rev, err := s.kv.Update(ctx, st.Owner, b, expectedRev)
	if isWrongLastSequence(err) {
		return 0, fmt.Errorf("item state %s at revision %d: %w", st.Owner, expectedRev, ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("update item state %s: %w", st.Owner, err)
	}
	return rev, nil
}

// ErrSyncFieldChanged is returned by Modify when its function changed
// Cursor, ResyncEpoch or SyncedThroughSeq.
var ErrSyncFieldChanged = errors.New("Modify must not change the cursor, resync epoch or synced-through sequence")

// Modify applies fn to owner's current state and saves it by compare-and-set,
// re-reading and re-applying fn when another writer got there first (up to
// a few times, then ErrConflict). It is for bookkeeping fields (Parked,
// Overdue, LastWebhookAt, ...): a blind retry must never carry a cursor over
// someone else's, so fn may not change Cursor, ResyncEpoch or
// SyncedThroughSeq (ErrSyncFieldChanged); save those with Get + Update.
// fn returning an error aborts without writing.
func (s *ItemStore) Modify(ctx context.Context, owner string, fn func(*ItemState) error) (ItemState, uint64, error) {
	const attempts = 5
	for range attempts {
		st, rev, err := s.Get(ctx, owner)
		if err != nil {
			return ItemState{}, 0, err
		}
		next := st
		if err := fn(&next); err != nil {
			return ItemState{}, 0, err
		}
		if next.Owner != st.Owner || next.Kind != st.Kind {
			return ItemState{}, 0, fmt.Errorf("modify item state %s: owner changed", owner)
		}
		if next.Cursor != st.Cursor || next.ResyncEpoch != st.ResyncEpoch || next.SyncedThroughSeq != st.SyncedThroughSeq {
			return ItemState{}, 0, fmt.Errorf("modify item state %s: %w", owner, ErrSyncFieldChanged)
		}
		next.UpdatedAt = s.now().UTC()
		newRev, err := s.write(ctx, next, rev)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return ItemState{}, 0, err
		}
		return next, newRev, nil
	}
	return ItemState{}, 0, fmt.Errorf("modify item state %s: %d attempts: %w", owner, attempts, ErrConflict)
}

// Delete removes owner's state and its history. Deleting an absent owner is
// not an error.
func (s *ItemStore) Delete(ctx context.Context, owner string) error {
	if _, err := ownerKey(owner); err != nil {
		return err
	}
	if err := s.kv.Purge(ctx, owner); err != nil {
		return fmt.Errorf("delete item state %s: %w", owner, err)
	}
	return nil
}

// List returns every owner's current state with its revision, sorted by
// owner. A value this binary cannot decode fails the whole list.
func (s *ItemStore) List(ctx context.Context) ([]ItemEntry, error) {
	entries, err := latestEntries(ctx, s.kv)
	if err != nil {
		return nil, err
	}
	out := make([]ItemEntry, 0, len(entries))
	for _, e := range entries {
		st, err := decodeItem(e.Key(), e.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, ItemEntry{State: st, Revision: e.Revision()})
	}
	slices.SortFunc(out, func(a, b ItemEntry) int { return strings.Compare(a.State.Owner, b.State.Owner) })
	return out, nil
}

func encodeItem(st ItemState) ([]byte, error) {
	o, err := ownerKey(st.Owner)
	if err != nil {
		return nil, fmt.Errorf("item state: %w", err)
	}
	if st.Kind == "" {
		st.Kind = o.Kind
	}
	if st.Kind != o.Kind {
		return nil, fmt.Errorf("item state %s: kind %q does not match the key", st.Owner, st.Kind)
	}
	b, err := json.Marshal(itemRecord{V: ItemSchemaVersion, ItemState: st})
	if err != nil {
		return nil, fmt.Errorf("encode item state %s: %w", st.Owner, err)
	}
	return b, nil
}

func decodeItem(key string, b []byte) (ItemState, error) {
	var r itemRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return ItemState{}, fmt.Errorf("decode item state %s: %w", key, err)
	}
	switch {
	case r.V > ItemSchemaVersion:
		return ItemState{}, fmt.Errorf("item state %s: version %d: %w", key, r.V, ErrUnsupportedSchema)
	case r.V < 1:
		return ItemState{}, fmt.Errorf("decode item state %s: no schema version", key)
	case r.Owner != key:
		return ItemState{}, fmt.Errorf("decode item state %s: value names owner %q", key, r.Owner)
	}
	return r.ItemState, nil
}
