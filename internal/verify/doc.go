// Package verify checks Plaid's Plaid-Verification webhook JWT over the raw
// request body, following Plaid's published procedure: the token must be
// ES256, signed by the key Plaid publishes for its kid at
// /webhook_verification_key/get, issued within the last five minutes, and
// carry the SHA-256 of the exact body bytes in request_body_sha256.
//
// # Checks, in order
//
// [Verifier.Verify] rejects, wrapping exactly one sentinel error:
//
//   - an empty token: [ErrMissingHeader];
//   - anything but a compact JWS of three canonical unpadded base64url parts
//     (JSON serialization, padding, whitespace, more than 8 KiB), a header
//     that is not a JSON object with string members alg, kid and typ, no or
//     an empty kid (or one over 256 bytes), a crit or b64 header, a
//     signature that is not 64 bytes: [ErrMalformed];
//   - a header alg other than exactly "ES256" (none, HS256, RS256, ES384,
//     es256, ...): [ErrAlgorithm]. The algorithm and key given to jwx are
//     fixed by this package, never taken from the token;
//   - a kid Plaid does not know: [ErrUnknownKey]; one whose key has a
//     non-null expired_at: [ErrKeyExpired]; a failed or rate-limited key
//     fetch, or a key that is not a valid ES256 P-256 key: [ErrKeyFetch];
//   - a signature that does not verify: [ErrSignature];
//   - then, only for a correctly signed token, claims that are not a JSON
//     object with an integer iat and a string request_body_sha256:
//     [ErrMalformed]; iat older than MaxAge: [ErrStale]; iat more than
//     MaxFutureSkew ahead: [ErrFuture]; a body whose lowercase hex SHA-256
//     differs from request_body_sha256 (constant-time compare; an uppercase
//     claim does not match): [ErrBodyMismatch].
//
// For Plaid's header (exactly alg, kid and typ) the token is parsed once:
// jwx's ES256 verifier checks the signature over the signing input as split
// here. A header with any other member also goes through jwx's whole JWS
// parser (jws.Verify), whose model of registered members (jwk, x5c, ...) is
// stricter than this package's.
//
// JSON members are matched case-sensitively and duplicate names are
// rejected. Error messages may name the kid; they never contain the token,
// the body or a hash. [Reason] turns an error into a metric label.
// ErrKeyFetch is transient (answer 503 so Plaid retries); the rest mean the
// request is not a valid Plaid webhook (answer 401).
//
// # Key cache
//
// Keys are cached by kid. A kid is fetched on first use, and only that kid;
// concurrent misses share one fetch (singleflight, on the first caller's
// goroutine and context: if that context is cancelled, the callers sharing
// the fetch get ErrKeyFetch). A non-null expired_at is a final verdict. A
// live key is re-fetched on its first use after Options.RecheckInterval: a
// failed re-fetch keeps the cached key (retried a minute later), expired
// rejects it from then on, unknown drops it. Unknown kids are remembered for
// Options.NegativeTTL (at most 10,000 of them). Fetches of kids not in the
// cache are rate-limited (Options.FetchRate, FetchBurst; over the limit is
// ErrKeyFetch, never a wait); re-checks are not, so a flood of forged kids
// cannot stop traffic signed with a cached key. The package starts no
// goroutines and has no global state besides the sentinel errors.
//
// # Token identity
//
// ECDSA signatures are malleable: for a signature (r, s), (r, n-s) also
// verifies, and Plaid's ES256 does not forbid it, so one signed message has
// two accepted token strings. To derive an idempotency key (Nats-Msg-Id) from
// a verified token, hash the signing input (the token up to its last '.'),
// not the whole token.
package verify
