package verify_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/verify"
)

// FuzzVerify feeds arbitrary tokens and bodies to a Verifier. Nothing may
// panic; every error wraps exactly one sentinel; and an accepted token must
// carry a signature that the test key really made over its header.payload
// (checked with crypto/ecdsa, not jwx) and the SHA-256 of the body.
func FuzzVerify(f *testing.F) {
	s := newSigner(f, "k1")
	gone := newSigner(f, "k-expired")
	expiredAt := t0.Add(-time.Hour)
	pub := &s.PrivateKey.PublicKey
	v := verify.New(verify.StaticKeys{publicKey(f, s, nil), publicKey(f, gone, &expiredAt)},
		verify.Options{Now: func() time.Time { return t0 }, FetchRate: 1e9, FetchBurst: 1 << 20})

	body := webhookBody
	valid := s.Sign(body, t0)
	h, p, sg := parts(f, valid)
	sig, _ := base64.RawURLEncoding.DecodeString(sg)
	good := string(claimsJSON(body, t0))
	for _, seed := range []struct {
		token string
		body  []byte
	}{
		{valid, body},
		{valid, append(append([]byte(nil), body...), ' ')},
		{valid, nil},
		{s.Sign(nil, t0), nil},
		{highS(sig, h, p), body},
		{h + "." + p + "." + sg + "A", body},
		{h + "." + p, body},
		{h + ".." + sg, body},
		{"", body},
		{"a.b.c", body},
		{s.Sign(body, t0.Add(-time.Hour)), body},
		{s.Sign(body, t0.Add(time.Hour)), body},
		{gone.Sign(body, t0), body},
		{newSigner(f, "k-unknown").Sign(body, t0), body},
		{unsigned(`{"alg":"none","kid":"k1"}`, good, nil), body},
		{hs256(`{"alg":"HS256","kid":"k1"}`, good, []byte("secret")), body},
		{s.SignRaw([]byte(`{"alg":"RS256","kid":"k1"}`), []byte(good)), body},
		{s.SignRaw([]byte(`{"alg":"ES256"}`), []byte(good)), body},
		{s.SignRaw([]byte(`{"alg":"ES256","kid":"k1","b64":false}`), []byte(good)), body},
		{s.SignRaw(esHeader("k1"), fmt.Appendf(nil, `{"iat":"%d","request_body_sha256":%q}`, t0.Unix(), hexSHA256(body))), body},
		{s.SignRaw(esHeader("k1"), fmt.Appendf(nil, `{"iat":%d,"request_body_sha256":%q}`, t0.Unix(), strings.ToUpper(hexSHA256(body)))), body},
		{fmt.Sprintf(`{"payload":%q,"signatures":[{"protected":%q,"signature":%q}]}`, p, h, sg), body},
	} {
		f.Add(seed.token, seed.body)
	}

	f.Fuzz(func(t *testing.T, token string, body []byte) {
		res, err := v.Verify(context.Background(), token, body)
		if err != nil {
			n := 0
			for _, s := range allSentinels {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("error %q wraps %d sentinels, want 1", err, n)
			}
			return
		}
		// Accepted: check independently of jwx.
		ps := strings.Split(token, ".")
		if len(ps) != 3 {
			t.Fatalf("accepted a token with %d parts", len(ps))
		}
		sig, err := base64.RawURLEncoding.DecodeString(ps[2])
		if err != nil || len(sig) != 64 {
			t.Fatalf("accepted a token whose signature is not 64 base64url bytes")
		}
		digest := sha256.Sum256([]byte(ps[0] + "." + ps[1]))
		r, sv := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(pub, digest[:], r, sv) {
			t.Fatalf("accepted a token the test key did not sign")
		}
		payload, err := base64.RawURLEncoding.DecodeString(ps[1])
		if err != nil {
			t.Fatalf("accepted a token whose payload is not base64url")
		}
		var c struct {
			IssuedAt   int64  `json:"iat"`
			BodySHA256 string `json:"request_body_sha256"`
		}
		if err := json.Unmarshal(payload, &c); err != nil {
			t.Fatalf("accepted claims encoding/json cannot read: %v", err)
		}
		sum := sha256.Sum256(body)
		if c.BodySHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("accepted a body whose hash is not the claim")
		}
		if res.KeyID != "k1" || !res.IssuedAt.Equal(time.Unix(c.IssuedAt, 0)) {
			t.Fatalf("got result %+v, want kid k1 issued at %d", res, c.IssuedAt)
		}
	})
}

// highS returns the token with its signature (r, s) replaced by (r, n-s),
// the other valid ECDSA signature for the same input. ES256 does not forbid
// it, so it verifies: the token string is not unique for a message.
func highS(sig []byte, h, p string) string {
	n := elliptic.P256().Params().N
	sv := new(big.Int).SetBytes(sig[32:])
	out := append([]byte(nil), sig...)
	new(big.Int).Sub(n, sv).FillBytes(out[32:])
	return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(out)
}
