package fetch

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid"
)

// SnapshotVersion is the format of Snapshot this package writes.
const SnapshotVersion = 1

// Snapshot is what an owner's recurring streams looked like after the last
// diff: the state consumers hold if they applied every stream event. The
// fetcher stores it (JSON) and passes it to the next DiffRecurring. The zero
// Snapshot is "none yet".
type Snapshot struct {
	// Version is SnapshotVersion (0 in the zero Snapshot).
	Version int `json:"version"`
	// Hash names this snapshot in the owner's history; "" for the zero
	// Snapshot. It is chained, not a plain content hash: it covers the
	// previous snapshot's Hash and this one's streams, and changes exactly
	// when a diff emits events. So a history that returns to earlier
	// content (A→B→A) still gets a new Hash each time, and the ids of its
	// events, which are scoped by the previous Hash, never repeat.
	Hash string `json:"hash,omitempty"`
	// Streams maps each live stream's stream_id to its normalized payload,
	// the exact data bytes of its last added or modified event. TOMBSTONED
	// streams are not live.
	Streams map[string]json.RawMessage `json:"streams"`
}

// RecurringParams says whose recurring streams DiffRecurring is diffing and
// when they were observed.
type RecurringParams struct {
	// Owner is the item, or the processor token's account.
	Owner events.Owner
	// Environment is Plaid's environment, part of every event's source.
	Environment string
	// Epoch is the owner's resync epoch.
	Epoch uint64
	// Now is every event's time; it is not part of any id.
	Now time.Time
	// KeepRaw copies Plaid's whole stream object into each payload's raw
	// field. Changing it changes every payload, so the next diff reports
	// every live stream as modified.
	KeepRaw bool
}

// DiffRecurring compares the owner's streams from /transactions/recurring/get
// with prev and returns the next Snapshot and the events that lead from prev
// to it:
//
//   - plaid.recurring_stream.added for a stream not in prev, unless it is
//     TOMBSTONED (a stream already TOMBSTONED when first seen emits
//     nothing, ever);
//   - plaid.recurring_stream.modified for a stream in prev whose normalized
//     payload changed in any field (its flow, inflow or outflow, included);
//   - plaid.recurring_stream.removed for a stream in prev that disappeared
//     or became TOMBSTONED.
//
// Events come added, modified, removed, each sorted by stream_id. Their ids
// are events.EventID scoped by prev.Hash ("" for the first snapshot), their
// updateid is events.UpdateID(owner, epoch, prev.Hash, next.Hash), and
// their CloudEvents subject is the stream id. If nothing changed, no
// messages are returned and next equals prev (same Hash), so the caller
// need not store it again.
//
// A stream_id listed twice (Plaid lists each once) takes its last entry,
// inflow_streams before outflow_streams. A stream without a stream_id is an
// error.
//
// To publish safely, store next before publishing only as a pending
// snapshot: RecurringMessages(prev, next, ...) re-derives exactly these ids
// after a crash.
func DiffRecurring(prev Snapshot, cur *plaid.TransactionsRecurringGetResponse, p RecurringParams) (Snapshot, []Message, error) {
	if cur == nil {
		return Snapshot{}, nil, fmt.Errorf("%w: nil recurring response", errParams)
	}
	if err := checkScope(p.Owner, p.Environment, p.Now); err != nil {
		return Snapshot{}, nil, err
	}
	old, err := prev.compactStreams()
	if err != nil {
		return Snapshot{}, nil, err
	}
	next := Snapshot{Version: SnapshotVersion, Streams: make(map[string]json.RawMessage)}
	for _, list := range []struct {
		flow    string
		streams []plaid.TransactionStream
	}{{events.StreamInflow, cur.InflowStreams}, {events.StreamOutflow, cur.OutflowStreams}} {
		for _, s := range list.streams {
			if s.StreamID == "" {
				return Snapshot{}, nil, fmt.Errorf("fetch: recurring stream without stream_id (account %q)", s.AccountID)
			}
			if isTombstoned(s.Status) {
				delete(next.Streams, s.StreamID)
				continue
			}
			payload, err := json.Marshal(NormalizeStream(s, list.flow, p.Owner, p.KeepRaw))
			if err != nil {
				return Snapshot{}, nil, fmt.Errorf("fetch: encode stream %s: %w", s.StreamID, err)
			}
			next.Streams[s.StreamID] = payload
		}
	}
	if !changed(old, next.Streams) {
		return prev, nil, nil
	}
	next.Hash = chainHash(prev.Hash, next.Streams)
	msgs, err := RecurringMessages(prev, next, p)
	if err != nil {
		return Snapshot{}, nil, err
	}
	return next, msgs, nil
}

// RecurringMessages returns the events that lead from snapshot prev to
// snapshot next (see DiffRecurring for their order and ids). Given the same
// snapshots it returns the same ids and bodies, apart from time: a fetcher
// that stored next as pending and crashed before publishing re-derives
// exactly what it was about to publish. Snapshots must come from
// DiffRecurring (after a JSON round trip if need be).
func RecurringMessages(prev, next Snapshot, p RecurringParams) ([]Message, error) {
	if err := checkScope(p.Owner, p.Environment, p.Now); err != nil {
		return nil, err
	}
	old, err := prev.compactStreams()
	if err != nil {
		return nil, err
	}
	cur, err := next.compactStreams()
	if err != nil {
		return nil, err
	}
	env := envelope{
		owner:       p.Owner,
		environment: p.Environment,
		epoch:       p.Epoch,
		now:         p.Now,
		scope:       prev.Hash,
		updateID:    events.UpdateID(p.Owner, p.Epoch, prev.Hash, next.Hash),
	}
	var msgs []Message
	emit := func(eventType, id string, payload []byte) error {
		m, err := env.messageFromPayload(eventType, id, payload)
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
		return nil
	}
	for _, id := range sortedKeys(cur) {
		if _, ok := old[id]; !ok {
			if err := emit(events.TypeRecurringStreamAdded, id, cur[id]); err != nil {
				return nil, err
			}
		}
	}
	for _, id := range sortedKeys(cur) {
		if was, ok := old[id]; ok && !bytes.Equal(was, cur[id]) {
			if err := emit(events.TypeRecurringStreamModified, id, cur[id]); err != nil {
				return nil, err
			}
		}
	}
	for _, id := range sortedKeys(old) {
		if _, ok := cur[id]; ok {
			continue
		}
		var last struct {
			AccountID string `json:"account_id"`
		}
		if err := json.Unmarshal(old[id], &last); err != nil {
			return nil, fmt.Errorf("fetch: snapshot stream %s: %w", id, err)
		}
		payload, err := json.Marshal(events.RemovedRecurringStream{
			SchemaVersion: events.SchemaVersion,
			StreamID:      id,
			AccountID:     last.AccountID,
			ItemID:        itemIDOf(p.Owner),
		})
		if err != nil {
			return nil, fmt.Errorf("fetch: encode removed stream %s: %w", id, err)
		}
		if err := emit(events.TypeRecurringStreamRemoved, id, payload); err != nil {
			return nil, err
		}
	}
	return msgs, nil
}

// compactStreams checks the snapshot's version and returns its payloads
// compacted, so a snapshot stored with indentation compares and hashes like
// the original.
func (s Snapshot) compactStreams() (map[string][]byte, error) {
	if s.Version > SnapshotVersion || s.Version < 0 {
		return nil, fmt.Errorf("fetch: snapshot version %d, this fetcher knows %d", s.Version, SnapshotVersion)
	}
	out := make(map[string][]byte, len(s.Streams))
	for id, raw := range s.Streams {
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return nil, fmt.Errorf("fetch: snapshot stream %s: %w", id, err)
		}
		out[id] = b.Bytes()
	}
	return out, nil
}

// changed reports whether the stream sets differ in membership or payload.
func changed(old map[string][]byte, cur map[string]json.RawMessage) bool {
	if len(old) != len(cur) {
		return true
	}
	for id, payload := range cur {
		if was, ok := old[id]; !ok || !bytes.Equal(was, payload) {
			return true
		}
	}
	return false
}

// chainHash is the Hash of a snapshot with these streams following one whose
// Hash is prevHash: SHA-256 over length-prefixed fields (a tag, prevHash,
// then each stream_id and its payload's SHA-256 in stream_id order).
func chainHash(prevHash string, streams map[string]json.RawMessage) string {
	h := sha256.New()
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field("plaidstream recurring snapshot")
	field(prevHash)
	for _, id := range sortedKeys(streams) {
		sum := sha256.Sum256(streams[id])
		field(id)
		field(hex.EncodeToString(sum[:]))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
