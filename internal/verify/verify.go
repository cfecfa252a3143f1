package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// Options tunes a [Verifier]. The zero value gives Plaid's documented 5-minute
// window and the defaults below; a zero or negative field means its default
// (except MaxFutureSkew, see there).
type Options struct {
	// MaxAge is the oldest acceptable iat (Plaid: "not more than 5 minutes
	// old"). Default 5m. A token exactly MaxAge old is accepted.
	MaxAge time.Duration
	// MaxFutureSkew is how far in the future iat may be, to absorb clock skew
	// between Plaid and us (Plaid documents none). Default 5s; negative means
	// no skew at all.
	MaxFutureSkew time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// RecheckInterval is how long a fetched live key is used before it is
	// re-fetched on next use, so that a later non-null expired_at (or the kid
	// disappearing) is noticed. Default 1h.
	RecheckInterval time.Duration
	// NegativeTTL is how long a kid Plaid called unknown is answered from
	// memory with ErrUnknownKey, so repeated forged kids do not reach Plaid.
	// Default 1m.
	NegativeTTL time.Duration
	// FetchRate limits fetches of kids not in the cache, per second (a token
	// bucket that never waits: over the limit Verify fails with ErrKeyFetch).
	// Re-checks of cached keys are not limited, so a flood of forged kids
	// cannot stop traffic signed with a known key. Default 5.
	FetchRate float64
	// FetchBurst is the bucket size for FetchRate. Default 5.
	FetchBurst int
	// OnKeyFetch, if set, is called once per key fetch attempt (not per
	// Verify call: concurrent calls share an attempt) with "ok", "unknown",
	// "expired", "error" or "throttled". It runs synchronously on the
	// goroutine doing the fetch, with no lock held, and should be quick
	// (e.g. increment a counter).
	OnKeyFetch func(result string)
	// FetchTimeout bounds one key fetch. The fetch is shared by every
	// Verify call waiting on that kid, so it does not end when the request
	// that started it goes away; this bound does. Default 10s.
	FetchTimeout time.Duration
}

// Defaults for Options.
const (
	defaultMaxAge          = 5 * time.Minute
	defaultMaxFutureSkew   = 5 * time.Second
	defaultRecheckInterval = time.Hour
	defaultNegativeTTL     = time.Minute
	defaultFetchRate       = 5
	defaultFetchBurst      = 5
	defaultFetchTimeout    = 10 * time.Second

	// recheckRetry is the longest wait before retrying a failed re-check of a
	// cached key, so an outage at Plaid does not turn every webhook into a
	// fetch. The cached key stays in use meanwhile.
	recheckRetry = time.Minute
	// maxUnknownKeys bounds the negative cache (about 10,000 × 256 bytes).
	maxUnknownKeys = 10_000
)

// Result describes a verified token.
type Result struct {
	KeyID    string    // the kid that signed the token
	IssuedAt time.Time // the token's iat, in UTC
}

// Verifier checks Plaid-Verification tokens. It caches Plaid's keys by kid
// and is safe for concurrent use. It starts no goroutines and needs no
// cleanup.
type Verifier struct {
	fetcher       KeyFetcher
	maxAge        time.Duration
	maxFutureSkew time.Duration
	recheck       time.Duration
	negativeTTL   time.Duration
	fetchTimeout  time.Duration
	now           func() time.Time
	onKeyFetch    func(string)
	limiter       *rate.Limiter // fetches of kids not in the cache
	flights       singleflight.Group
	es256         jws.Verifier // jwx's ES256 signature check (stateless)

	mu      sync.Mutex
	cache   map[string]cachedKey // kids Plaid has answered for
	unknown map[string]time.Time // kid → end of its negative-cache entry
}

// cachedKey is a kid Plaid has answered for.
type cachedKey struct {
	pub       *ecdsa.PublicKey // nil once expired
	expired   bool
	nextCheck time.Time // when a live key is re-fetched on next use
}

// New returns a Verifier that fetches Plaid's keys from keys and applies
// opts (zero fields take their defaults). It starts nothing; a Verifier needs
// no Close.
func New(keys KeyFetcher, opts Options) *Verifier {
	v := &Verifier{
		fetcher:       keys,
		maxAge:        opts.MaxAge,
		maxFutureSkew: opts.MaxFutureSkew,
		recheck:       opts.RecheckInterval,
		negativeTTL:   opts.NegativeTTL,
		now:           opts.Now,
		onKeyFetch:    opts.OnKeyFetch,
		fetchTimeout:  opts.FetchTimeout,
		cache:         make(map[string]cachedKey),
		unknown:       make(map[string]time.Time),
		es256:         newES256Verifier(),
	}
	if v.maxAge <= 0 {
		v.maxAge = defaultMaxAge
	}
	switch {
	case v.maxFutureSkew == 0:
		v.maxFutureSkew = defaultMaxFutureSkew
	case v.maxFutureSkew < 0:
		v.maxFutureSkew = 0
	}
	if v.recheck <= 0 {
		v.recheck = defaultRecheckInterval
	}
	if v.negativeTTL <= 0 {
		v.negativeTTL = defaultNegativeTTL
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.fetchTimeout <= 0 {
		v.fetchTimeout = defaultFetchTimeout
	}
	fetchRate, burst := opts.FetchRate, opts.FetchBurst
	if fetchRate <= 0 {
		fetchRate = defaultFetchRate
	}
	if burst <= 0 {
		burst = defaultFetchBurst
	}
	v.limiter = rate.NewLimiter(rate.Limit(fetchRate), burst)
	return v
}

// Verify checks token, the Plaid-Verification header value, against body, the
// raw request body exactly as received (never re-encoded JSON). It follows
// Plaid's procedure: the header alg must be "ES256" (the algorithm is fixed
// here, never taken from the token), the kid's key is fetched from the
// KeyFetcher (or the cache) and must not be expired, the ES256 signature must
// verify, iat must lie within [now-MaxAge, now+MaxFutureSkew], with now read
// once when Verify starts, and the lowercase hex SHA-256 of body must equal
// the request_body_sha256 claim (compared in constant time; an uppercase
// claim therefore does not match, Plaid sends lowercase).
//
// Every error wraps exactly one of the sentinel errors; [Reason] maps it to a
// metric label. ErrKeyFetch is transient (answer 5xx so Plaid retries); the
// others mean the request is not a valid Plaid webhook (answer 401).
func (v *Verifier) Verify(ctx context.Context, token string, body []byte) (Result, error) {
	if token == "" {
		return Result{}, ErrMissingHeader
	}
	now := v.now()
	tok, err := parseCompact(token)
	if err != nil {
		return Result{}, err
	}
	h, err := parseHeader(tok.header)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	switch {
	case !h.hasAlg || h.alg != "ES256":
		return Result{}, fmt.Errorf("%w: header alg must be ES256", ErrAlgorithm)
	case h.kid == "":
		return Result{}, fmt.Errorf("%w: header has no kid", ErrMalformed)
	case len(h.kid) > maxKeyIDLen:
		return Result{}, fmt.Errorf("%w: header kid longer than %d bytes", ErrMalformed, maxKeyIDLen)
	case h.hasCrit:
		return Result{}, fmt.Errorf("%w: kid %q: header crit is not supported", ErrMalformed, h.kid)
	case h.hasB64:
		return Result{}, fmt.Errorf("%w: kid %q: header b64 is not supported", ErrMalformed, h.kid)
	case len(tok.signature) != 64:
		return Result{}, fmt.Errorf("%w: kid %q: ES256 signature is not 64 bytes", ErrMalformed, h.kid)
	}

	key, err := v.key(ctx, h.kid, now)
	if err != nil {
		return Result{}, err
	}
	payload, err := v.verifySignature(token, tok, h, key)
	if err != nil {
		return Result{}, err
	}

	c, err := parseClaims(payload)
	switch {
	case err != nil:
		return Result{}, fmt.Errorf("%w: kid %q: %w", ErrMalformed, h.kid, err)
	case !c.hasIssuedAt:
		return Result{}, fmt.Errorf("%w: kid %q: claim iat is missing", ErrMalformed, h.kid)
	case !c.hasBodyHash:
		return Result{}, fmt.Errorf("%w: kid %q: claim request_body_sha256 is missing", ErrMalformed, h.kid)
	}
	// Clamp so time.Unix cannot overflow; such an iat is rejected anyway.
	const farIat = 1 << 40 // about 35,000 years from 1970
	issued := time.Unix(min(max(c.issuedAt, -farIat), farIat), 0)
	if age := now.Sub(issued); age > v.maxAge {
		return Result{}, fmt.Errorf("%w: kid %q: issued %s ago, limit %s", ErrStale, h.kid, age, v.maxAge)
	}
	if ahead := issued.Sub(now); ahead > v.maxFutureSkew {
		return Result{}, fmt.Errorf("%w: kid %q: issued %s ahead, limit %s", ErrFuture, h.kid, ahead, v.maxFutureSkew)
	}
	sum := sha256.Sum256(body)
	var want [2 * sha256.Size]byte
	hex.Encode(want[:], sum[:])
	if subtle.ConstantTimeCompare(want[:], c.bodySHA256) != 1 {
		return Result{}, fmt.Errorf("%w: kid %q", ErrBodyMismatch, h.kid)
	}
	return Result{KeyID: h.kid, IssuedAt: issued.UTC()}, nil
}

// newES256Verifier returns jwx's ES256 signature verifier. It is stateless
// (jwx creates a fresh one per jws.Verify call for the same purpose), so a
// Verifier keeps one.
func newES256Verifier() jws.Verifier {
	v, err := jws.NewVerifier(jwa.ES256)
	if err != nil {
		panic("verify: jwx has no ES256 verifier: " + err.Error()) // jwx always registers ES256
	}
	return v
}

// verifySignature checks tok's ES256 signature with key and returns the
// signed payload. The algorithm and the key are fixed by the caller, never
// taken from the token (jwk, jku, x5u, ... are never used to choose them).
//
// Plaid's header has exactly alg, kid and typ, all checked by parseHeader;
// for such a header jwx's own JWS parser would accept and decode exactly what
// parseCompact did, so jwx's ES256 verifier checks the signature over the
// signing input (the token up to its last '.': canonical base64url, so the
// same bytes jwx would re-encode) without parsing the token a second time.
// Any other header member sends the token through jws.Verify as a whole, so
// jwx's stricter model of registered members (jwk, x5c, ...) still applies.
func (v *Verifier) verifySignature(token string, tok compactJWS, h header, key *ecdsa.PublicKey) ([]byte, error) {
	if h.onlyPlain {
		dot := strings.LastIndexByte(token, '.')
		if err := v.es256.Verify([]byte(token[:dot]), tok.signature, key); err != nil {
			return nil, fmt.Errorf("%w: kid %q", ErrSignature, h.kid)
		}
		return tok.payload, nil
	}
	payload, err := jws.Verify([]byte(token), jws.WithKey(jwa.ES256, key), jws.WithCompact())
	if err != nil {
		if jws.IsVerificationError(err) {
			return nil, fmt.Errorf("%w: kid %q", ErrSignature, h.kid)
		}
		// jwx's header model is stricter than ours for some registered
		// members (jwk, x5c, ...). Its error is not quoted: it may
		// describe token contents.
		return nil, fmt.Errorf("%w: kid %q: JWS rejected by the JOSE parser", ErrMalformed, h.kid)
	}
	return payload, nil
}

// CachedKeys returns the number of live (not expired) keys in the cache, for
// a gauge.
func (v *Verifier) CachedKeys() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, e := range v.cache {
		if !e.expired {
			n++
		}
	}
	return n
}
