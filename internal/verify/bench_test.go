package verify_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/plaidstream/plaidstream/internal/verify"
)

// BenchmarkVerify is the whole check with a cached key: parse, jwx
// parse+verify, claims, iat and body hash.
func BenchmarkVerify(b *testing.B) {
	s := newSigner(b, "k1")
	v := verify.New(verify.StaticKeys{publicKey(b, s, nil)}, verify.Options{Now: func() time.Time { return t0 }})
	token := s.Sign(webhookBody, t0)
	ctx := context.Background()
	if _, err := v.Verify(ctx, token, webhookBody); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, token, webhookBody); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyParallel is BenchmarkVerify from GOMAXPROCS goroutines
// sharing one Verifier.
func BenchmarkVerifyParallel(b *testing.B) {
	s := newSigner(b, "k1")
	v := verify.New(verify.StaticKeys{publicKey(b, s, nil)}, verify.Options{Now: func() time.Time { return t0 }})
	token := s.Sign(webhookBody, t0)
	ctx := context.Background()
	if _, err := v.Verify(ctx, token, webhookBody); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, token, webhookBody); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkJWSVerify is jwx's jws.Verify alone, the share of
// BenchmarkVerify spent in the JOSE library.
func BenchmarkJWSVerify(b *testing.B) {
	s := newSigner(b, "k1")
	token := []byte(s.Sign(webhookBody, t0))
	pub := &s.PrivateKey.PublicKey
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jws.Verify(token, jws.WithKey(jwa.ES256, pub), jws.WithCompact()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawECDSA is the floor: split the same token, base64-decode
// payload and signature, SHA-256 the signing input, crypto/ecdsa.Verify.
func BenchmarkRawECDSA(b *testing.B) {
	s := newSigner(b, "k1")
	token := s.Sign(webhookBody, t0)
	pub := &s.PrivateKey.PublicKey
	b.ReportAllocs()
	for b.Loop() {
		dot := strings.LastIndexByte(token, '.')
		input, sigPart := token[:dot], token[dot+1:]
		_, payloadPart, _ := strings.Cut(input, ".")
		if _, err := base64.RawURLEncoding.DecodeString(payloadPart); err != nil {
			b.Fatal(err)
		}
		sig, err := base64.RawURLEncoding.DecodeString(sigPart)
		if err != nil || len(sig) != 64 {
			b.Fatal("bad signature encoding")
		}
		digest := sha256.Sum256([]byte(input))
		r, sv := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(pub, digest[:], r, sv) {
			b.Fatal("signature does not verify")
		}
	}
}
