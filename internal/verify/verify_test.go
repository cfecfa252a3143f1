package verify_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/verify"
)

// TestVerify covers every rejection rule and the valid cases, one token each,
// against a fresh Verifier whose clock reads t0.
func TestVerify(t *testing.T) {
	s := newSigner(t, "k1")
	impostor := newSigner(t, "k1") // same kid, different key
	expired := newSigner(t, "k-expired")
	stranger := newSigner(t, "k-unknown")
	broken := newSigner(t, "k-broken")
	expiredAt := t0.Add(-time.Hour)
	keys := newFakeKeys(publicKey(t, s, nil), publicKey(t, expired, &expiredAt))
	keys.set("k-broken", verify.PublicKey{}, errors.New("plaid: dial tcp: connection refused"))

	body := webhookBody
	valid := s.Sign(body, t0)
	vh, vp, vs := parts(t, valid)
	sig, _ := base64.RawURLEncoding.DecodeString(vs)
	flipped := append([]byte(nil), sig...)
	flipped[10] ^= 0x01
	other := s.Sign([]byte(`{"webhook_code":"OTHER"}`), t0)
	_, op, _ := parts(t, other)
	point, err := s.PrivateKey.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	jwkJSON, _ := json.Marshal(s.JWK(nil))
	goodClaims := string(claimsJSON(body, t0))
	hdr := string(esHeader("k1"))
	// The last character of a 64-byte signature carries 2 bits; setting an
	// unused low bit gives a second spelling of the same signature.
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", vs[len(vs)-1])
	nonCanonical := vh + "." + vp + "." + vs[:len(vs)-1] +
		string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last|1])
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	attackerJWK := newSigner(t, "k1")
	attackerJWK.PrivateKey = attacker
	embedded, _ := json.Marshal(attackerJWK.JWK(nil))
	jsonSerialization := fmt.Sprintf(`{"payload":%q,"signatures":[{"protected":%q,"signature":%q}]}`, vp, vh, vs)
	jsonTwoSigs := fmt.Sprintf(`{"payload":%q,"signatures":[{"protected":%q,"signature":%q},{"protected":%q,"signature":%q}]}`, vp, vh, vs, vh, vs)
	upper := fmt.Sprintf(`{"iat":%d,"request_body_sha256":%q}`, t0.Unix(), strings.ToUpper(hexSHA256(body)))

	tests := []struct {
		name  string
		token string
		body  []byte
		want  error
	}{
		{"valid", valid, body, nil},
		{"valid at exactly MaxAge", s.Sign(body, t0.Add(-5*time.Minute)), body, nil},
		{"valid at exactly MaxFutureSkew", s.Sign(body, t0.Add(5*time.Second)), body, nil},
		{"valid empty body", s.Sign(nil, t0), []byte{}, nil},
		// ECDSA signatures are malleable and ES256 does not forbid high s: a
		// second token string verifies for the same header.payload. Callers
		// deriving an ID from a verified token must hash header.payload only.
		{"valid high-s twin of the signature", highS(sig, vh, vp), body, nil},
		{"valid with extra header and claim members", s.SignRaw([]byte(`{"typ":"JWT","kid":"k1","x-extra":1,"alg":"ES256"}`), fmt.Appendf(nil, `{"request_body_sha256":%q,"iss":"plaid","iat": %d}`, hexSHA256(body), t0.Unix())), body, nil},

		{"empty token", "", body, verify.ErrMissingHeader},

		{"one part", "abc", body, verify.ErrMalformed},
		{"two parts", vh + "." + vp, body, verify.ErrMalformed},
		{"four parts", valid + "." + vs, body, verify.ErrMalformed},
		{"too long", vh + "." + strings.Repeat("A", 9000) + "." + vs, body, verify.ErrMalformed},
		{"padding", vh + "." + vp + "." + vs + "==", body, verify.ErrMalformed},
		{"standard base64 alphabet", vh + "." + vp + "." + strings.ReplaceAll(strings.ReplaceAll(vs, "-", "+"), "_", "/") + "+", body, verify.ErrMalformed},
		{"newline inside", valid[:20] + "\n" + valid[20:], body, verify.ErrMalformed},
		{"leading space", " " + valid, body, verify.ErrMalformed},
		{"non-canonical signature encoding", nonCanonical, body, verify.ErrMalformed},
		{"header not JSON", b64("hello") + "." + vp + "." + vs, body, verify.ErrMalformed},
		{"header JSON array", b64(`["ES256"]`) + "." + vp + "." + vs, body, verify.ErrMalformed},
		{"header trailing data", s.SignRaw([]byte(hdr+` {}`), []byte(goodClaims)), body, verify.ErrMalformed},
		{"header duplicate alg", s.SignRaw([]byte(`{"alg":"HS256","alg":"ES256","kid":"k1"}`), []byte(goodClaims)), body, verify.ErrMalformed},
		{"header duplicate kid via escape", s.SignRaw([]byte(`{"alg":"ES256","kid":"k1","k\u0069d":"k2"}`), []byte(goodClaims)), body, verify.ErrMalformed},
		{"payload not base64", vh + ".%%%." + vs, body, verify.ErrMalformed},
		{"JSON serialization", jsonSerialization, body, verify.ErrMalformed},
		{"JSON serialization with two signatures", jsonTwoSigs, body, verify.ErrMalformed},

		{"alg none unsigned", unsigned(`{"alg":"none","kid":"k1","typ":"JWT"}`, goodClaims, nil), body, verify.ErrAlgorithm},
		{"alg none with signature", s.SignRaw([]byte(`{"alg":"none","kid":"k1"}`), []byte(goodClaims)), body, verify.ErrAlgorithm},
		{"alg None", unsigned(`{"alg":"None","kid":"k1"}`, goodClaims, nil), body, verify.ErrAlgorithm},
		{"alg HS256 keyed with the public point", hs256(`{"alg":"HS256","kid":"k1"}`, goodClaims, point), body, verify.ErrAlgorithm},
		{"alg HS256 keyed with the JWK JSON", hs256(`{"alg":"HS256","kid":"k1"}`, goodClaims, jwkJSON), body, verify.ErrAlgorithm},
		{"alg RS256 (genuinely ES256-signed)", s.SignRaw([]byte(`{"alg":"RS256","kid":"k1"}`), []byte(goodClaims)), body, verify.ErrAlgorithm},
		{"alg ES384", s.SignRaw([]byte(`{"alg":"ES384","kid":"k1"}`), []byte(goodClaims)), body, verify.ErrAlgorithm},
		{"alg lowercase es256", s.SignRaw([]byte(`{"alg":"es256","kid":"k1"}`), []byte(goodClaims)), body, verify.ErrAlgorithm},
		{"alg with trailing space", s.SignRaw([]byte(`{"alg":"ES256 ","kid":"k1"}`), []byte(goodClaims)), body, verify.ErrAlgorithm},
		{"alg missing", s.SignRaw([]byte(`{"kid":"k1","typ":"JWT"}`), []byte(goodClaims)), body, verify.ErrAlgorithm},
		{"alg not a string", s.SignRaw([]byte(`{"alg":["ES256"],"kid":"k1"}`), []byte(goodClaims)), body, verify.ErrMalformed},

		{"kid missing", s.SignRaw([]byte(`{"alg":"ES256","typ":"JWT"}`), []byte(goodClaims)), body, verify.ErrMalformed},
		{"kid empty", s.SignRaw([]byte(`{"alg":"ES256","kid":""}`), []byte(goodClaims)), body, verify.ErrMalformed},
		{"kid not a string", s.SignRaw([]byte(`{"alg":"ES256","kid":1}`), []byte(goodClaims)), body, verify.ErrMalformed},
		{"kid too long", s.SignRaw(esHeader(strings.Repeat("k", 300)), []byte(goodClaims)), body, verify.ErrMalformed},
		{"typ not a string", s.SignRaw([]byte(`{"alg":"ES256","kid":"k1","typ":7}`), []byte(goodClaims)), body, verify.ErrMalformed},
		{"crit header", s.SignRaw([]byte(`{"alg":"ES256","kid":"k1","crit":["exp"],"exp":1}`), []byte(goodClaims)), body, verify.ErrMalformed},
		{"b64 false header", s.SignRaw([]byte(`{"alg":"ES256","kid":"k1","b64":false,"crit":["b64"]}`), []byte(goodClaims)), body, verify.ErrMalformed},
		{"b64 header alone", s.SignRaw([]byte(`{"alg":"ES256","kid":"k1","b64":"no"}`), []byte(goodClaims)), body, verify.ErrMalformed},
		{"jwk header jwx cannot parse", s.SignRaw([]byte(`{"alg":"ES256","kid":"k1","jwk":"x"}`), []byte(goodClaims)), body, verify.ErrMalformed},
		{"signature empty", vh + "." + vp + ".", body, verify.ErrMalformed},
		{"signature 63 bytes", vh + "." + vp + "." + base64.RawURLEncoding.EncodeToString(sig[:63]), body, verify.ErrMalformed},

		{"unknown kid", stranger.Sign(body, t0), body, verify.ErrUnknownKey},
		{"expired key", expired.Sign(body, t0), body, verify.ErrKeyExpired},
		{"key fetch fails", broken.Sign(body, t0), body, verify.ErrKeyFetch},

		{"signed by another key with the same kid", impostor.Sign(body, t0), body, verify.ErrSignature},
		{"signature bit flipped", vh + "." + vp + "." + base64.RawURLEncoding.EncodeToString(flipped), body, verify.ErrSignature},
		{"payload of another token", vh + "." + op + "." + vs, body, verify.ErrSignature},
		{"header changed", b64(`{"alg":"ES256","kid":"k1","typ":"JOSE"}`) + "." + vp + "." + vs, body, verify.ErrSignature},
		{"attacker key embedded as jwk header", attackerJWK.SignRaw(fmt.Appendf(nil, `{"alg":"ES256","kid":"k1","jwk":%s}`, embedded), []byte(goodClaims)), body, verify.ErrSignature},
		{"HS256 relabelled ES256 with the point as secret", hs256(hdr, goodClaims, point), body, verify.ErrMalformed}, // 32-byte MAC is not a 64-byte signature

		{"payload not JSON", s.SignRaw(esHeader("k1"), []byte(`iat=1`)), body, verify.ErrMalformed},
		{"payload JSON array", s.SignRaw(esHeader("k1"), []byte(`[1700000000]`)), body, verify.ErrMalformed},
		{"iat string", s.SignRaw(esHeader("k1"), fmt.Appendf(nil, `{"iat":"%d","request_body_sha256":%q}`, t0.Unix(), hexSHA256(body))), body, verify.ErrMalformed},
		{"iat fraction", s.SignRaw(esHeader("k1"), fmt.Appendf(nil, `{"iat":%d.5,"request_body_sha256":%q}`, t0.Unix(), hexSHA256(body))), body, verify.ErrMalformed},
		{"iat exponent", s.SignRaw(esHeader("k1"), fmt.Appendf(nil, `{"iat":1.7e9,"request_body_sha256":%q}`, hexSHA256(body))), body, verify.ErrMalformed},
		{"iat null", s.SignRaw(esHeader("k1"), fmt.Appendf(nil, `{"iat":null,"request_body_sha256":%q}`, hexSHA256(body))), body, verify.ErrMalformed},
		{"iat beyond int64", s.SignRaw(esHeader("k1"), fmt.Appendf(nil, `{"iat":99999999999999999999,"request_body_sha256":%q}`, hexSHA256(body))), body, verify.ErrMalformed},
		{"iat missing", s.SignRaw(esHeader("k1"), fmt.Appendf(nil, `{"request_body_sha256":%q}`, hexSHA256(body))), body, verify.ErrMalformed},
		{"iat only in another case", s.SignRaw(esHeader("k1"), fmt.Appendf(nil, `{"IAT":%d,"request_body_sha256":%q}`, t0.Unix(), hexSHA256(body))), body, verify.ErrMalformed},
		{"iat duplicated", s.SignRaw(esHeader("k1"), fmt.Appendf(nil, `{"iat":1,"iat":%d,"request_body_sha256":%q}`, t0.Unix(), hexSHA256(body))), body, verify.ErrMalformed},
		{"hash a number", s.SignRaw(esHeader("k1"), fmt.Appendf(nil, `{"iat":%d,"request_body_sha256":1}`, t0.Unix())), body, verify.ErrMalformed},
		{"hash null", s.SignRaw(esHeader("k1"), fmt.Appendf(nil, `{"iat":%d,"request_body_sha256":null}`, t0.Unix())), body, verify.ErrMalformed},
		{"hash missing", s.SignRaw(esHeader("k1"), fmt.Appendf(nil, `{"iat":%d}`, t0.Unix())), body, verify.ErrMalformed},

		{"stale by one second", s.Sign(body, t0.Add(-5*time.Minute-time.Second)), body, verify.ErrStale},
		{"stale iat 0", s.Sign(body, time.Unix(0, 0)), body, verify.ErrStale},
		{"stale iat MinInt64", s.SignRaw(esHeader("k1"), fmt.Appendf(nil, `{"iat":%d,"request_body_sha256":%q}`, int64(math.MinInt64), hexSHA256(body))), body, verify.ErrStale},
		{"future by six seconds", s.Sign(body, t0.Add(6*time.Second)), body, verify.ErrFuture},
		{"future iat MaxInt64", s.SignRaw(esHeader("k1"), fmt.Appendf(nil, `{"iat":%d,"request_body_sha256":%q}`, int64(math.MaxInt64), hexSHA256(body))), body, verify.ErrFuture},

		{"body one byte changed", valid, withByte(body, 30, 'X'), verify.ErrBodyMismatch},
		{"body with one space added", valid, []byte(strings.Replace(string(body), `": "`, `":  "`, 1)), verify.ErrBodyMismatch},
		{"body with trailing newline", valid, append(append([]byte(nil), body...), '\n'), verify.ErrBodyMismatch},
		{"body re-encoded compact", valid, compact(t, body), verify.ErrBodyMismatch},
		{"body empty", valid, nil, verify.ErrBodyMismatch},
		{"hash claim in uppercase hex", s.SignRaw(esHeader("k1"), []byte(upper)), body, verify.ErrBodyMismatch},
		{"hash claim empty", s.SignRaw(esHeader("k1"), fmt.Appendf(nil, `{"iat":%d,"request_body_sha256":""}`, t0.Unix())), body, verify.ErrBodyMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := verify.New(keys, verify.Options{Now: func() time.Time { return t0 }, FetchRate: 1000, FetchBurst: 1000})
			_, err := v.Verify(context.Background(), tc.token, tc.body)
			checkError(t, err, tc.want, tc.token, string(tc.body), hexSHA256(tc.body), hexSHA256(body))
		})
	}
}

// withByte returns a copy of b with b[i] set to c.
func withByte(b []byte, i int, c byte) []byte {
	out := append([]byte(nil), b...)
	out[i] = c
	return out
}

// compact re-encodes JSON without indentation, as a handler that parsed and
// re-marshalled the body would.
func compact(t *testing.T, body []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifyResult(t *testing.T) {
	s := newSigner(t, "bfbd5111-8e33-4643-8ced-b2e642a72f3c")
	v := verify.New(verify.StaticKeys{publicKey(t, s, nil)}, verify.Options{Now: func() time.Time { return t0 }})
	iat := t0.Add(-90 * time.Second)
	got, err := v.Verify(context.Background(), s.Sign(webhookBody, iat), webhookBody)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := verify.Result{KeyID: s.KeyID, IssuedAt: iat.UTC()}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got.IssuedAt.Location() != time.UTC {
		t.Errorf("got IssuedAt location %v, want UTC", got.IssuedAt.Location())
	}
}

func TestOptionsDefaults(t *testing.T) {
	s := newSigner(t, "k1")
	c := newClock(t0)
	tests := []struct {
		name string
		opts verify.Options
		iat  time.Time
		want error
	}{
		{"default MaxAge accepts 5m", verify.Options{}, t0.Add(-5 * time.Minute), nil},
		{"default MaxAge rejects 5m1s", verify.Options{}, t0.Add(-5*time.Minute - time.Second), verify.ErrStale},
		{"default skew accepts 5s", verify.Options{}, t0.Add(5 * time.Second), nil},
		{"default skew rejects 6s", verify.Options{}, t0.Add(6 * time.Second), verify.ErrFuture},
		{"MaxAge 1m rejects 61s", verify.Options{MaxAge: time.Minute}, t0.Add(-61 * time.Second), verify.ErrStale},
		{"negative MaxAge means default", verify.Options{MaxAge: -1}, t0.Add(-4 * time.Minute), nil},
		{"negative skew rejects 1s ahead", verify.Options{MaxFutureSkew: -1}, t0.Add(time.Second), verify.ErrFuture},
		{"negative skew accepts now", verify.Options{MaxFutureSkew: -1}, t0, nil},
		{"skew 1m accepts 59s ahead", verify.Options{MaxFutureSkew: time.Minute}, t0.Add(59 * time.Second), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.Now = c.Now
			v := verify.New(verify.StaticKeys{publicKey(t, s, nil)}, opts)
			_, err := v.Verify(context.Background(), s.Sign(webhookBody, tc.iat), webhookBody)
			checkError(t, err, tc.want)
		})
	}
}

func TestNowDefaultsToTimeNow(t *testing.T) {
	s := newSigner(t, "k1")
	v := verify.New(verify.StaticKeys{publicKey(t, s, nil)}, verify.Options{})
	if _, err := v.Verify(context.Background(), s.Sign(webhookBody, time.Now()), webhookBody); err != nil {
		t.Errorf("got %v, want nil", err)
	}
}

func TestReason(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"missing header", verify.ErrMissingHeader, "missing_header"},
		{"malformed", verify.ErrMalformed, "malformed"},
		{"algorithm", verify.ErrAlgorithm, "bad_alg"},
		{"unknown key", verify.ErrUnknownKey, "unknown_key"},
		{"expired key", verify.ErrKeyExpired, "expired_key"},
		{"signature", verify.ErrSignature, "bad_signature"},
		{"stale", verify.ErrStale, "stale"},
		{"future", verify.ErrFuture, "future"},
		{"body mismatch", verify.ErrBodyMismatch, "body_mismatch"},
		{"key fetch", verify.ErrKeyFetch, "key_fetch_failed"},
		{"wrapped twice", fmt.Errorf("handler: %w", fmt.Errorf("%w: kid %q", verify.ErrStale, "k")), "stale"},
		{"other error", errors.New("boom"), "other"},
		{"context canceled", context.Canceled, "other"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := verify.Reason(tc.err); got != tc.want {
				t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

func TestInspect(t *testing.T) {
	s := newSigner(t, "k1")
	valid := s.Sign(webhookBody, t0)
	tests := []struct {
		name    string
		token   string
		want    verify.TokenInfo
		wantErr error
	}{
		{"plaid token", valid, verify.TokenInfo{Algorithm: "ES256", KeyID: "k1", Type: "JWT", IssuedAt: t0.UTC(), BodySHA256: hexSHA256(webhookBody)}, nil},
		{"alg none, no claims", unsigned(`{"alg":"none"}`, `{}`, nil), verify.TokenInfo{Algorithm: "none"}, nil},
		{"HS256", hs256(`{"alg":"HS256","kid":"x","typ":"JWT"}`, `{"iat":5}`, []byte("secret")), verify.TokenInfo{Algorithm: "HS256", KeyID: "x", Type: "JWT", IssuedAt: time.Unix(5, 0).UTC()}, nil},
		{"empty", "", verify.TokenInfo{}, verify.ErrMissingHeader},
		{"not a JWS", "hello", verify.TokenInfo{}, verify.ErrMalformed},
		{"iat a string", unsigned(`{"alg":"ES256"}`, `{"iat":"5"}`, nil), verify.TokenInfo{}, verify.ErrMalformed},
		{"hash a number", unsigned(`{"alg":"ES256"}`, `{"request_body_sha256":5}`, nil), verify.TokenInfo{}, verify.ErrMalformed},
		{"kid a number", unsigned(`{"alg":"ES256","kid":5}`, `{}`, nil), verify.TokenInfo{}, verify.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := verify.Inspect(tc.token)
			checkError(t, err, tc.wantErr, tc.token)
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
