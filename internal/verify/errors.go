package verify

import "errors"

// Sentinel errors. Every error returned by [Verifier.Verify] wraps exactly one
// of them, so callers classify failures with [errors.Is] or [Reason]. Error
// messages may name the kid but never contain the token, the body or a hash.
var (
	// ErrMissingHeader: the Plaid-Verification token is empty.
	ErrMissingHeader = errors.New("missing Plaid-Verification token")
	// ErrMalformed: the token is not a well-formed compact JWS with a JSON
	// header and Plaid's claims (iat a JSON integer, request_body_sha256 a
	// JSON string), or its header has no kid.
	ErrMalformed = errors.New("malformed Plaid-Verification token")
	// ErrAlgorithm: the token's header alg is not exactly "ES256".
	ErrAlgorithm = errors.New("token algorithm is not ES256")
	// ErrUnknownKey: Plaid does not know the token's kid. A [KeyFetcher]
	// also wraps it to report that the kid does not exist.
	ErrUnknownKey = errors.New("unknown verification key")
	// ErrKeyExpired: Plaid reports a non-null expired_at for the token's kid.
	ErrKeyExpired = errors.New("verification key expired")
	// ErrSignature: the ES256 signature does not verify with the kid's key.
	ErrSignature = errors.New("invalid token signature")
	// ErrStale: the token's iat is older than Options.MaxAge.
	ErrStale = errors.New("token is too old")
	// ErrFuture: the token's iat is further ahead than Options.MaxFutureSkew.
	ErrFuture = errors.New("token is issued in the future")
	// ErrBodyMismatch: the SHA-256 of the body differs from the token's
	// request_body_sha256 claim.
	ErrBodyMismatch = errors.New("body does not match token hash")
	// ErrKeyFetch: the key could not be fetched (fetch error, a key Plaid
	// returned that is not a usable ES256 P-256 key, or the fetch rate limit).
	// It is transient: answer so that Plaid retries (5xx).
	ErrKeyFetch = errors.New("verification key fetch failed")
)

// Reason maps err to a stable, low-cardinality metric label: "missing_header",
// "malformed", "bad_alg", "unknown_key", "expired_key", "bad_signature",
// "stale", "future", "body_mismatch" or "key_fetch_failed" for errors wrapping
// the matching sentinel, "" for nil and "other" for anything else.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrMissingHeader):
		return "missing_header"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrAlgorithm):
		return "bad_alg"
	case errors.Is(err, ErrUnknownKey):
		return "unknown_key"
	case errors.Is(err, ErrKeyExpired):
		return "expired_key"
	case errors.Is(err, ErrSignature):
		return "bad_signature"
	case errors.Is(err, ErrStale):
		return "stale"
	case errors.Is(err, ErrFuture):
		return "future"
	case errors.Is(err, ErrBodyMismatch):
		return "body_mismatch"
	case errors.Is(err, ErrKeyFetch):
		return "key_fetch_failed"
	default:
		return "other"
	}
}

// wrapsSentinel reports whether err wraps any of this package's sentinels.
func wrapsSentinel(err error) bool {
	r := Reason(err)
	return r != "" && r != "other"
}
