package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/events"
)

// Errors shared by the key-value stores (ItemStore, TokenStore). Callers
// test them with errors.Is; the returned errors add the key, never a value.
var (
	// ErrNotFound means the key has no value (never written, or deleted).
	ErrNotFound = errors.New("not found")
	// ErrExists means a create found the key already holding a value.
	ErrExists = errors.New("already exists")
	// ErrConflict means a compare-and-set lost: the key changed since the
	// revision the caller read. Re-read, re-decide, retry — or give up.
	ErrConflict = errors.New("changed concurrently (revision mismatch)")
	// ErrUnsupportedSchema means a stored value was written by a newer
	// plaidstream with a schema this binary does not know; it is left alone.
	ErrUnsupportedSchema = errors.New("stored value has an unsupported schema version")
)

// KeyValueConfig maps a bucket spec to nats.go's configuration, with file
// storage and replicas (1, or 3 on a cluster).
func KeyValueConfig(spec events.BucketSpec, replicas int) jetstream.KeyValueConfig {
	if replicas < 1 {
		replicas = 1
	}
	history := spec.History
	if history < 1 {
		history = 1
	}
	if history > jetstream.KeyValueMaxHistory {
		history = jetstream.KeyValueMaxHistory
	}
	return jetstream.KeyValueConfig{
		Bucket:         spec.Name,
		Description:    spec.Description,
		History:        uint8(history),
		TTL:            spec.TTL,
		Storage:        jetstream.FileStorage,
		Replicas:       replicas,
		LimitMarkerTTL: spec.LimitMarkerTTL,
	}
}

// EnsureBucket creates the bucket described by spec, or updates it to match,
// with file storage. It is safe to call from many replicas at once.
func EnsureBucket(ctx context.Context, js jetstream.JetStream, spec events.BucketSpec, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, KeyValueConfig(spec, replicas))
	if err != nil {
		return nil, fmt.Errorf("create or update bucket %s: %w", spec.Name, err)
	}
	return kv, nil
}

// isWrongLastSequence reports whether err is JetStream's answer to a failed
// compare-and-set (an expected last subject sequence that did not match).
// Replicated streams answer 10164 rather than 10071, and nats.go's KV Create
// passes the raw API error through when it races on a deleted key, so match
// the codes rather than only nats.go's sentinels.
func isWrongLastSequence(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// ownerKey checks that key is an events.OwnerKey.
func ownerKey(key string) (events.Owner, error) {
	o, err := events.ParseOwnerKey(key)
	if err != nil {
		return events.Owner{}, fmt.Errorf("key %q: %w", key, err)
	}
	return o, nil
}

// latestEntries returns the current value of every key in kv (no deleted
// keys), in one pass over the bucket rather than one request per key.
func latestEntries(ctx context.Context, kv jetstream.KeyValue) ([]jetstream.KeyValueEntry, error) {
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("list bucket %s: %w", kv.Bucket(), err)
	}
	defer func() { _ = w.Stop() }()
	var out []jetstream.KeyValueEntry
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("list bucket %s: watcher closed", kv.Bucket())
			}
			if e == nil { // all current values delivered
				return out, nil
			}
			out = append(out, e)
		case <-ctx.Done():
			return nil, fmt.Errorf("list bucket %s: %w", kv.Bucket(), ctx.Err())
		}
	}
}
