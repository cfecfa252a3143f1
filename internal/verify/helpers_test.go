package verify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/verify"
	"github.com/plaidstream/plaidstream/internal/verify/verifytest"
)

// t0 is "now" in most tests.
var t0 = time.Unix(1_700_000_000, 0)

// webhookBody is shaped like a real Plaid body: 2-space indent, no trailing newline.
var webhookBody = []byte(`{
  "environment": "sandbox",
  "historical_update_complete": false,
  "initial_update_complete": true,
  "item_id": "wz666MBjYWTp2PDzzggYhM6oWWmBb",
  "webhook_code": "SYNC_UPDATES_AVAILABLE",
  "webhook_type": "TRANSACTIONS"
}`)

var allSentinels = []error{
	verify.ErrMissingHeader, verify.ErrMalformed, verify.ErrAlgorithm, verify.ErrUnknownKey,
	verify.ErrKeyExpired, verify.ErrSignature, verify.ErrStale, verify.ErrFuture,
	verify.ErrBodyMismatch, verify.ErrKeyFetch,
}

// clock is an injectable, manually advanced clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(t time.Time) *clock { return &clock{now: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeKeys is a scripted KeyFetcher that counts calls per kid. A kid with
// neither key nor error is unknown, as Plaid reports it.
type fakeKeys struct {
	mu    sync.Mutex
	keys  map[string]verify.PublicKey
	errs  map[string]error
	calls map[string]int
}

var _ verify.KeyFetcher = (*fakeKeys)(nil)

func newFakeKeys(keys ...verify.PublicKey) *fakeKeys {
	f := &fakeKeys{keys: map[string]verify.PublicKey{}, errs: map[string]error{}, calls: map[string]int{}}
	for _, k := range keys {
		f.keys[k.KeyID] = k
	}
	return f
}

func (f *fakeKeys) FetchKey(_ context.Context, kid string) (verify.PublicKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[kid]++
	if err := f.errs[kid]; err != nil {
		return verify.PublicKey{}, err
	}
	k, ok := f.keys[kid]
	if !ok {
		return verify.PublicKey{}, fmt.Errorf("plaid: HTTP 400 INVALID_WEBHOOK_VERIFICATION_KEY_ID: %w", verify.ErrUnknownKey)
	}
	return k, nil
}

// set makes kid answer k (err nil) or fail with err.
func (f *fakeKeys) set(kid string, k verify.PublicKey, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[kid] = k
	f.errs[kid] = err
}

func (f *fakeKeys) remove(kid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.keys, kid)
	delete(f.errs, kid)
}

func (f *fakeKeys) callsFor(kid string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[kid]
}

// fetchLog records OnKeyFetch results.
type fetchLog struct {
	mu      sync.Mutex
	results []string
}

func (l *fetchLog) record(result string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.results = append(l.results, result)
}

func (l *fetchLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.results...)
}

func newSigner(t testing.TB, kid string) *verifytest.Signer {
	t.Helper()
	s, err := verifytest.NewSigner(kid, t0.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// publicKey returns s's key as a KeyFetcher would, through Plaid's JSON.
func publicKey(t testing.TB, s *verifytest.Signer, expiredAt *time.Time) verify.PublicKey {
	t.Helper()
	data, err := json.Marshal(s.JWK(expiredAt))
	if err != nil {
		t.Fatal(err)
	}
	k, err := verify.ParseJWK(data)
	if err != nil {
		t.Fatalf("ParseJWK(%s): %v", data, err)
	}
	return k
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// esHeader is Plaid's header for kid.
func esHeader(kid string) []byte {
	return fmt.Appendf(nil, `{"alg":"ES256","kid":%q,"typ":"JWT"}`, kid)
}

// claimsJSON is Plaid's payload for body at iat.
func claimsJSON(body []byte, iat time.Time) []byte {
	return fmt.Appendf(nil, `{"iat":%d,"request_body_sha256":%q}`, iat.Unix(), hexSHA256(body))
}

// unsigned builds header.payload.signature from raw parts.
func unsigned(header, payload string, sig []byte) string {
	return b64(header) + "." + b64(payload) + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// hs256 signs header.payload with HMAC-SHA256 under secret.
func hs256(header, payload string, secret []byte) string {
	input := b64(header) + "." + b64(payload)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// parts returns the three dot-separated parts of a token.
func parts(t testing.TB, token string) (h, p, s string) {
	t.Helper()
	ps := strings.Split(token, ".")
	if len(ps) != 3 {
		t.Fatalf("token has %d parts, want 3", len(ps))
	}
	return ps[0], ps[1], ps[2]
}

// checkError fails unless err wraps want (nil: err is nil), wraps no other
// sentinel, and its message quotes none of secrets (pieces of 12 bytes or
// more: tokens and their parts, bodies, hashes).
func checkError(t *testing.T, err, want error, secrets ...string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("got error %v, want nil", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want one wrapping %v", err, want)
	}
	var wrapped []error
	for _, s := range allSentinels {
		if errors.Is(err, s) {
			wrapped = append(wrapped, s)
		}
	}
	if len(wrapped) != 1 {
		t.Errorf("error %q wraps %d sentinels %v, want exactly 1", err, len(wrapped), wrapped)
	}
	msg := err.Error()
	for _, s := range secrets {
		for _, piece := range strings.Split(s, ".") {
			if len(piece) >= 12 && strings.Contains(msg, piece) {
				t.Errorf("error %q contains secret material %q", msg, piece)
			}
		}
	}
}

// fetcherFunc adapts a function to KeyFetcher.
type fetcherFunc func(ctx context.Context, kid string) (verify.PublicKey, error)

func (f fetcherFunc) FetchKey(ctx context.Context, kid string) (verify.PublicKey, error) {
	return f(ctx, kid)
}
