package verify

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestNegativeCacheBounded checks the negative cache never exceeds
// maxUnknownKeys and sweeps lapsed entries first when full.
func TestNegativeCacheBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	calls := 0
	unknown := fetcherFunc(func(context.Context, string) (PublicKey, error) {
		calls++
		return PublicKey{}, ErrUnknownKey
	})
	v := New(unknown, Options{Now: func() time.Time { return now }, FetchRate: 1e9, FetchBurst: 1e6, NegativeTTL: time.Minute})
	ctx := context.Background()

	for i := range maxUnknownKeys + 100 {
		if _, err := v.key(ctx, fmt.Sprintf("forged-%d", i), now); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("got %v, want ErrUnknownKey", err)
		}
	}
	if got := len(v.unknown); got != maxUnknownKeys {
		t.Fatalf("full cache: got %d entries, want %d", got, maxUnknownKeys)
	}
	if got := calls; got != maxUnknownKeys+100 {
		t.Fatalf("got %d fetches, want %d", got, maxUnknownKeys+100)
	}
	last := fmt.Sprintf("forged-%d", maxUnknownKeys+99)
	if _, err := v.key(ctx, last, now); !errors.Is(err, ErrUnknownKey) || calls != maxUnknownKeys+100 {
		t.Fatalf("newest entry: got %v after %d fetches, want ErrUnknownKey from memory", err, calls)
	}

	now = now.Add(time.Minute)
	if _, err := v.key(ctx, "after-ttl", now); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("got %v, want ErrUnknownKey", err)
	}
	if got := len(v.unknown); got != 1 {
		t.Errorf("after all entries lapsed: got %d entries, want 1", got)
	}
}

type fetcherFunc func(ctx context.Context, kid string) (PublicKey, error)

func (f fetcherFunc) FetchKey(ctx context.Context, kid string) (PublicKey, error) { return f(ctx, kid) }
