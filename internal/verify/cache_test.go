package verify_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/plaidstream/plaidstream/internal/verify"
	"github.com/plaidstream/plaidstream/internal/verify/verifytest"
)

// env is a Verifier over fake keys and a manual clock.
type env struct {
	t     *testing.T
	clock *clock
	keys  *fakeKeys
	log   *fetchLog
	v     *verify.Verifier
}

func newEnv(t *testing.T, opts verify.Options, keys ...verify.PublicKey) *env {
	e := &env{t: t, clock: newClock(t0), keys: newFakeKeys(keys...), log: &fetchLog{}}
	opts.Now = e.clock.Now
	opts.OnKeyFetch = e.log.record
	e.v = verify.New(e.keys, opts)
	return e
}

// verify signs a fresh token with s at the current time and verifies it.
func (e *env) verify(s *verifytest.Signer) error {
	_, err := e.v.Verify(context.Background(), s.Sign(webhookBody, e.clock.Now()), webhookBody)
	return err
}

// step verifies with s and checks the error, the fetches of s's kid so far
// and the OnKeyFetch results so far.
func (e *env) step(what string, s *verifytest.Signer, want error, wantCalls int, wantResults ...string) {
	e.t.Helper()
	err := e.verify(s)
	if !errors.Is(err, want) || (want == nil) != (err == nil) {
		e.t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
	if got := e.keys.callsFor(s.KeyID); got != wantCalls {
		e.t.Fatalf("%s: got %d fetches of %q, want %d", what, got, s.KeyID, wantCalls)
	}
	if got := e.log.get(); !reflect.DeepEqual(got, wantResults) && !(len(got) == 0 && len(wantResults) == 0) {
		e.t.Fatalf("%s: got OnKeyFetch results %q, want %q", what, got, wantResults)
	}
}

func (e *env) checkCachedKeys(want int) {
	e.t.Helper()
	if got := e.v.CachedKeys(); got != want {
		e.t.Errorf("got CachedKeys() = %d, want %d", got, want)
	}
}

func TestKeyRotation(t *testing.T) {
	old, cur := newSigner(t, "k-old"), newSigner(t, "k-new")
	e := newEnv(t, verify.Options{}, publicKey(t, old, nil), publicKey(t, cur, nil))

	e.step("old key", old, nil, 1, "ok")
	e.step("new key", cur, nil, 1, "ok", "ok")
	e.step("old key again", old, nil, 1, "ok", "ok")
	e.step("new key again", cur, nil, 1, "ok", "ok")
	e.checkCachedKeys(2)

	// Plaid retires the old key; both are re-checked after RecheckInterval.
	expiredAt := e.clock.Now()
	e.keys.set(old.KeyID, publicKey(t, old, &expiredAt), nil)
	e.clock.Advance(time.Hour)
	e.step("new key after recheck", cur, nil, 2, "ok", "ok", "ok")
	e.step("old key after recheck", old, verify.ErrKeyExpired, 2, "ok", "ok", "ok", "expired")
	e.checkCachedKeys(1)
}

func TestExpiredKey(t *testing.T) {
	t.Run("expired at first fetch", func(t *testing.T) {
		s := newSigner(t, "k1")
		expiredAt := t0.Add(-time.Hour)
		e := newEnv(t, verify.Options{}, publicKey(t, s, &expiredAt))
		e.step("first", s, verify.ErrKeyExpired, 1, "expired")
		e.step("verdict is cached", s, verify.ErrKeyExpired, 1, "expired")
		e.clock.Advance(3 * time.Hour)
		e.step("and kept past RecheckInterval", s, verify.ErrKeyExpired, 1, "expired")
		e.checkCachedKeys(0)
	})
	t.Run("expired later, noticed at recheck", func(t *testing.T) {
		s := newSigner(t, "k1")
		e := newEnv(t, verify.Options{RecheckInterval: time.Hour}, publicKey(t, s, nil))
		e.step("live", s, nil, 1, "ok")
		expiredAt := e.clock.Now()
		e.keys.set(s.KeyID, publicKey(t, s, &expiredAt), nil)
		e.clock.Advance(time.Hour - time.Second)
		e.step("before RecheckInterval the cached key is used", s, nil, 1, "ok")
		e.clock.Advance(time.Second)
		e.step("recheck sees expired_at", s, verify.ErrKeyExpired, 2, "ok", "expired")
		e.keys.set(s.KeyID, publicKey(t, s, nil), nil)
		e.clock.Advance(2 * time.Hour)
		e.step("rejected from then on", s, verify.ErrKeyExpired, 2, "ok", "expired")
		e.checkCachedKeys(0)
	})
}

func TestRecheck(t *testing.T) {
	t.Run("transient failure keeps the cached key", func(t *testing.T) {
		s := newSigner(t, "k1")
		pk := publicKey(t, s, nil)
		e := newEnv(t, verify.Options{RecheckInterval: time.Hour}, pk)
		e.step("first", s, nil, 1, "ok")
		e.keys.set(s.KeyID, verify.PublicKey{}, errors.New("plaid: HTTP 503"))
		e.clock.Advance(time.Hour)
		e.step("recheck fails", s, nil, 2, "ok", "error")
		e.clock.Advance(59 * time.Second)
		e.step("no retry within a minute", s, nil, 2, "ok", "error")
		e.clock.Advance(time.Second)
		e.step("retry after a minute fails", s, nil, 3, "ok", "error", "error")
		e.keys.set(s.KeyID, pk, nil)
		e.clock.Advance(time.Minute)
		e.step("retry succeeds", s, nil, 4, "ok", "error", "error", "ok")
		e.clock.Advance(59 * time.Minute)
		e.step("next recheck a full interval later", s, nil, 4, "ok", "error", "error", "ok")
		e.checkCachedKeys(1)
	})
	t.Run("bad key material at recheck keeps the cached key", func(t *testing.T) {
		s := newSigner(t, "k1")
		pk := publicKey(t, s, nil)
		e := newEnv(t, verify.Options{}, pk)
		e.step("first", s, nil, 1, "ok")
		bad := pk
		bad.Curve = "P-384"
		e.keys.set(s.KeyID, bad, nil)
		e.clock.Advance(time.Hour)
		e.step("recheck returns an unusable key", s, nil, 2, "ok", "error")
	})
	t.Run("unknown at recheck drops the key", func(t *testing.T) {
		s := newSigner(t, "k1")
		e := newEnv(t, verify.Options{}, publicKey(t, s, nil))
		e.step("first", s, nil, 1, "ok")
		e.keys.remove(s.KeyID)
		e.clock.Advance(time.Hour)
		e.step("recheck says unknown", s, verify.ErrUnknownKey, 2, "ok", "unknown")
		e.checkCachedKeys(0)
		e.clock.Advance(time.Second)
		e.step("then negatively cached", s, verify.ErrUnknownKey, 2, "ok", "unknown")
	})
	t.Run("rechecks are not throttled", func(t *testing.T) {
		s := newSigner(t, "k1")
		e := newEnv(t, verify.Options{FetchRate: 1e-9, FetchBurst: 1, RecheckInterval: time.Minute}, publicKey(t, s, nil))
		e.step("first fetch takes the only token", s, nil, 1, "ok")
		for i := range 3 {
			e.clock.Advance(time.Minute)
			e.step(fmt.Sprintf("recheck %d", i+1), s, nil, 2+i, slices.Repeat([]string{"ok"}, 2+i)...)
		}
	})
}

func TestFetchFailureVersusUnknown(t *testing.T) {
	s := newSigner(t, "k1")
	good := publicKey(t, s, nil)
	with := func(f func(*verify.PublicKey)) verify.PublicKey {
		k := good
		f(&k)
		return k
	}
	expiredAt := t0.Unix()
	tests := []struct {
		name        string
		key         verify.PublicKey
		fetchErr    error
		want        error
		wantCalls   int // after two Verify calls
		wantResults []string
	}{
		{"unknown kid", verify.PublicKey{}, fmt.Errorf("plaid: INVALID_WEBHOOK_VERIFICATION_KEY_ID: %w", verify.ErrUnknownKey), verify.ErrUnknownKey, 1, []string{"unknown"}},
		{"network error", verify.PublicKey{}, errors.New("dial tcp: connection refused"), verify.ErrKeyFetch, 2, []string{"error", "error"}},
		{"deadline", verify.PublicKey{}, context.DeadlineExceeded, verify.ErrKeyFetch, 2, []string{"error", "error"}},
		{"fetcher error wrapping another sentinel", verify.PublicKey{}, fmt.Errorf("adapter: %w", verify.ErrMalformed), verify.ErrKeyFetch, 2, []string{"error", "error"}},
		{"key for another kid", with(func(k *verify.PublicKey) { k.KeyID = "k2" }), nil, verify.ErrKeyFetch, 2, []string{"error", "error"}},
		{"key kty RSA", with(func(k *verify.PublicKey) { k.KeyType = "RSA" }), nil, verify.ErrKeyFetch, 2, []string{"error", "error"}},
		{"key crv P-384", with(func(k *verify.PublicKey) { k.Curve = "P-384" }), nil, verify.ErrKeyFetch, 2, []string{"error", "error"}},
		{"key alg HS256", with(func(k *verify.PublicKey) { k.Algorithm = "HS256" }), nil, verify.ErrKeyFetch, 2, []string{"error", "error"}},
		{"key off the curve", with(func(k *verify.PublicKey) { k.X, k.Y = k.Y, k.X }), nil, verify.ErrKeyFetch, 2, []string{"error", "error"}},
		{"key expired", with(func(k *verify.PublicKey) { k.ExpiredAt = &expiredAt }), nil, verify.ErrKeyExpired, 1, []string{"expired"}},
		{"key expired, material unusable", with(func(k *verify.PublicKey) { k.ExpiredAt = &expiredAt; k.X = "" }), nil, verify.ErrKeyExpired, 1, []string{"expired"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, verify.Options{})
			e.keys.set(s.KeyID, tc.key, tc.fetchErr)
			token := s.Sign(webhookBody, t0)
			for range 2 {
				_, err := e.v.Verify(context.Background(), token, webhookBody)
				checkError(t, err, tc.want, token)
			}
			if got := e.keys.callsFor(s.KeyID); got != tc.wantCalls {
				t.Errorf("got %d fetches, want %d", got, tc.wantCalls)
			}
			if got := e.log.get(); !reflect.DeepEqual(got, tc.wantResults) {
				t.Errorf("got OnKeyFetch results %q, want %q", got, tc.wantResults)
			}
		})
	}
}

// plaidError stands in for the Plaid client's error type.
type plaidError struct{ requestID string }

func (e *plaidError) Error() string { return "plaid: HTTP 500 (request " + e.requestID + ")" }

func TestFetchErrorKeepsCause(t *testing.T) {
	s := newSigner(t, "k1")
	keys := fetcherFunc(func(context.Context, string) (verify.PublicKey, error) {
		return verify.PublicKey{}, &plaidError{requestID: "req-1"}
	})
	v := verify.New(keys, verify.Options{Now: func() time.Time { return t0 }})
	_, err := v.Verify(context.Background(), s.Sign(webhookBody, t0), webhookBody)
	var pe *plaidError
	if !errors.As(err, &pe) || pe.requestID != "req-1" {
		t.Errorf("got %v, want an error wrapping *plaidError with request req-1", err)
	}
	if got := verify.Reason(err); got != "key_fetch_failed" {
		t.Errorf("got Reason %q, want key_fetch_failed", got)
	}
}

func TestFetchUsesCallerContext(t *testing.T) {
	type ctxKey struct{}
	s := newSigner(t, "k1")
	pk := publicKey(t, s, nil)
	var got any
	keys := fetcherFunc(func(ctx context.Context, kid string) (verify.PublicKey, error) {
		got = ctx.Value(ctxKey{})
		return pk, nil
	})
	v := verify.New(keys, verify.Options{Now: func() time.Time { return t0 }})
	ctx := context.WithValue(context.Background(), ctxKey{}, "request-42")
	if _, err := v.Verify(ctx, s.Sign(webhookBody, t0), webhookBody); err != nil {
		t.Fatal(err)
	}
	if got != "request-42" {
		t.Errorf("got context value %v, want request-42", got)
	}
}

// TestSingleflight checks that concurrent Verify calls for a new kid share
// one fetch. synctest.Wait returns only once every caller is durably
// blocked: one inside FetchKey, the others waiting on its flight.
func TestSingleflight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSigner(t, "k-new")
		pk := publicKey(t, s, nil)
		release := make(chan struct{})
		var calls atomic.Int32
		keys := fetcherFunc(func(ctx context.Context, kid string) (verify.PublicKey, error) {
			calls.Add(1)
			<-release
			return pk, nil
		})
		log := &fetchLog{}
		v := verify.New(keys, verify.Options{Now: func() time.Time { return t0 }, OnKeyFetch: log.record})
		token := s.Sign(webhookBody, t0)

		const n = 32
		errs := make(chan error, n)
		for range n {
			go func() {
				_, err := v.Verify(context.Background(), token, webhookBody)
				errs <- err
			}()
		}
		synctest.Wait()
		if got := calls.Load(); got != 1 {
			t.Errorf("with %d callers waiting: got %d fetches, want 1", n, got)
		}
		if got := len(errs); got != 0 {
			t.Errorf("got %d callers finished before the fetch returned, want 0", got)
		}
		close(release)
		for range n {
			if err := <-errs; err != nil {
				t.Errorf("got error %v, want nil", err)
			}
		}
		if got := calls.Load(); got != 1 {
			t.Errorf("got %d fetches, want 1", got)
		}
		if got, want := log.get(), []string{"ok"}; !reflect.DeepEqual(got, want) {
			t.Errorf("got OnKeyFetch results %q, want %q", got, want)
		}
	})
}

// TestSingleflightRecheck checks that concurrent callers due for a recheck
// share one re-fetch and all keep verifying meanwhile.
func TestSingleflightRecheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSigner(t, "k1")
		pk := publicKey(t, s, nil)
		c := newClock(t0)
		var calls atomic.Int32
		release := make(chan struct{})
		keys := fetcherFunc(func(ctx context.Context, kid string) (verify.PublicKey, error) {
			if calls.Add(1) > 1 {
				<-release
				return verify.PublicKey{}, errors.New("plaid: HTTP 503")
			}
			return pk, nil
		})
		v := verify.New(keys, verify.Options{Now: c.Now})
		if _, err := v.Verify(context.Background(), s.Sign(webhookBody, t0), webhookBody); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Hour)
		token := s.Sign(webhookBody, c.Now())
		const n = 8
		errs := make(chan error, n)
		for range n {
			go func() {
				_, err := v.Verify(context.Background(), token, webhookBody)
				errs <- err
			}()
		}
		synctest.Wait()
		close(release)
		for range n {
			if err := <-errs; err != nil {
				t.Errorf("got error %v, want nil", err)
			}
		}
		if got := calls.Load(); got != 2 {
			t.Errorf("got %d fetches, want 2 (first fetch and one shared recheck)", got)
		}
	})
}

func TestNegativeCache(t *testing.T) {
	s := newSigner(t, "k-ghost")
	e := newEnv(t, verify.Options{NegativeTTL: 30 * time.Second})
	e.step("unknown", s, verify.ErrUnknownKey, 1, "unknown")
	e.step("repeat answered from memory", s, verify.ErrUnknownKey, 1, "unknown")
	e.clock.Advance(30*time.Second - time.Nanosecond)
	e.step("still within NegativeTTL", s, verify.ErrUnknownKey, 1, "unknown")
	e.clock.Advance(time.Nanosecond)
	e.step("NegativeTTL passed: asks again", s, verify.ErrUnknownKey, 2, "unknown", "unknown")
	e.keys.set(s.KeyID, publicKey(t, s, nil), nil)
	e.step("published meanwhile, still remembered as unknown", s, verify.ErrUnknownKey, 2, "unknown", "unknown")
	e.clock.Advance(30 * time.Second)
	e.step("after NegativeTTL the new key is found", s, nil, 3, "unknown", "unknown", "ok")
	e.checkCachedKeys(1)
}

func TestThrottle(t *testing.T) {
	good := newSigner(t, "k-good")
	e := newEnv(t, verify.Options{FetchRate: 1, FetchBurst: 2}, publicKey(t, good, nil))
	forged := func(kid string) string {
		return good.SignRaw(esHeader(kid), claimsJSON(webhookBody, e.clock.Now()))
	}
	verifyForged := func(kid string) error {
		_, err := e.v.Verify(context.Background(), forged(kid), webhookBody)
		return err
	}

	e.step("honest key takes a token", good, nil, 1, "ok")
	checkError(t, verifyForged("forged-1"), verify.ErrUnknownKey)
	err := verifyForged("forged-2")
	checkError(t, err, verify.ErrKeyFetch)
	if got := e.keys.callsFor("forged-2"); got != 0 {
		t.Errorf("throttled kid: got %d fetches, want 0", got)
	}
	checkError(t, verifyForged("forged-1"), verify.ErrUnknownKey) // negative cache, no token needed
	e.step("cached honest key still verifies", good, nil, 1, "ok", "unknown", "throttled")

	e.clock.Advance(time.Second) // one token back
	checkError(t, verifyForged("forged-2"), verify.ErrUnknownKey)
	checkError(t, verifyForged("forged-3"), verify.ErrKeyFetch)
	e.step("results", good, nil, 1, "ok", "unknown", "throttled", "unknown", "throttled")
}

func TestOnKeyFetchResults(t *testing.T) {
	live, gone := newSigner(t, "live"), newSigner(t, "gone")
	expiredAt := t0
	tests := []struct {
		name string
		opts verify.Options
		kids []*verifytest.Signer
		want []string
	}{
		{"ok", verify.Options{}, []*verifytest.Signer{live}, []string{"ok"}},
		{"cached: one attempt", verify.Options{}, []*verifytest.Signer{live, live, live}, []string{"ok"}},
		{"expired", verify.Options{}, []*verifytest.Signer{gone, gone}, []string{"expired"}},
		{"unknown", verify.Options{}, []*verifytest.Signer{newSigner(t, "nobody"), newSigner(t, "nobody")}, []string{"unknown"}},
		{"error", verify.Options{}, []*verifytest.Signer{newSigner(t, "broken"), newSigner(t, "broken")}, []string{"error", "error"}},
		{"throttled", verify.Options{FetchRate: 1, FetchBurst: 1}, []*verifytest.Signer{newSigner(t, "nobody"), live}, []string{"unknown", "throttled"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts, publicKey(t, live, nil), publicKey(t, gone, &expiredAt))
			e.keys.set("broken", verify.PublicKey{}, errors.New("boom"))
			for _, s := range tc.kids {
				_ = e.verify(s)
			}
			if got := e.log.get(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCachedKeys(t *testing.T) {
	a, b, x := newSigner(t, "a"), newSigner(t, "b"), newSigner(t, "x")
	expiredAt := t0
	e := newEnv(t, verify.Options{}, publicKey(t, a, nil), publicKey(t, b, nil), publicKey(t, x, &expiredAt))
	e.checkCachedKeys(0)
	_ = e.verify(a)
	_ = e.verify(x)
	_ = e.verify(newSigner(t, "unknown"))
	e.checkCachedKeys(1)
	_ = e.verify(b)
	e.checkCachedKeys(2)
}

// TestConcurrentVerify mixes live, expired and unknown kids while the clock
// moves past RecheckInterval, for the race detector.
func TestConcurrentVerify(t *testing.T) {
	live1, live2, gone, ghost := newSigner(t, "live1"), newSigner(t, "live2"), newSigner(t, "gone"), newSigner(t, "ghost")
	expiredAt := t0
	e := newEnv(t, verify.Options{RecheckInterval: 10 * time.Second, NegativeTTL: 5 * time.Second, FetchRate: 1000, FetchBurst: 1000},
		publicKey(t, live1, nil), publicKey(t, live2, nil), publicKey(t, gone, &expiredAt))
	cases := []struct {
		s    *verifytest.Signer
		want error
	}{{live1, nil}, {live2, nil}, {gone, verify.ErrKeyExpired}, {ghost, verify.ErrUnknownKey}}
	tokens := make([]string, len(cases))
	for i, c := range cases {
		tokens[i] = c.s.Sign(webhookBody, t0)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				if g == 0 && i%10 == 0 {
					e.clock.Advance(time.Second)
				}
				c := (g + i) % len(cases)
				_, err := e.v.Verify(context.Background(), tokens[c], webhookBody)
				if !errors.Is(err, cases[c].want) || (cases[c].want == nil) != (err == nil) {
					t.Errorf("kid %s: got %v, want %v", cases[c].s.KeyID, err, cases[c].want)
					return
				}
				_ = e.v.CachedKeys()
			}
		})
	}
	wg.Wait()
	e.checkCachedKeys(2)
}

// TestNoGoroutines checks that verifying, fetching and re-checking keys
// leaves no goroutine behind.
func TestNoGoroutines(t *testing.T) {
	s := newSigner(t, "k1")
	e := newEnv(t, verify.Options{}, publicKey(t, s, nil))
	before := runtime.NumGoroutine()
	_ = e.verify(s)
	_ = e.verify(newSigner(t, "unknown"))
	e.clock.Advance(time.Hour)
	_ = e.verify(s)
	if after := runtime.NumGoroutine(); after != before {
		t.Errorf("got %d goroutines after Verify, want %d", after, before)
	}
}

// TestSharedFetchOutlivesTheCallerThatStartedIt: a client hanging up must
// not fail the key fetch that other webhooks for the same kid are waiting on.
func TestSharedFetchOutlivesTheCallerThatStartedIt(t *testing.T) {
	s := newSigner(t, "kid-shared")
	key := publicKey(t, s, nil)
	started, release := make(chan struct{}), make(chan struct{})
	fetcher := fetcherFunc(func(ctx context.Context, kid string) (verify.PublicKey, error) {
		close(started)
		<-release
		if err := ctx.Err(); err != nil {
			return verify.PublicKey{}, err
		}
		return key, nil
	})
	v := verify.New(fetcher, verify.Options{Now: func() time.Time { return t0 }})
	body := []byte(`{"webhook_type":"T","webhook_code":"C"}`)
	token := s.Sign(body, t0)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := v.Verify(ctx, token, body)
		done <- err
	}()
	<-started
	cancel() // the first client hangs up while the fetch is in flight
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("verify after the caller's context ended: got %v, want the shared fetch to finish", err)
	}
	if _, err := v.Verify(context.Background(), token, body); err != nil {
		t.Errorf("second webhook for the same kid: got %v, want valid from the cache", err)
	}
}
