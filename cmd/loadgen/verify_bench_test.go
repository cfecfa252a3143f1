package main

import (
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// BenchmarkIdealVerify is the ideal comparison handler's whole check with
// a cached key: split, header, raw crypto/ecdsa, claims, iat, body hash.
// Compare with internal/verify's BenchmarkVerify (jwx) and BenchmarkRawECDSA.
func BenchmarkIdealVerify(b *testing.B) {
	sim, url, stop, err := serveKeysAt("127.0.0.1:0", plaidsim.DefaultClientID, plaidsim.DefaultSecret)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(stop)
	v := newRawVerifier(&keyClient{baseURL: url, clientID: plaidsim.DefaultClientID, secret: plaidsim.DefaultSecret}, time.Now)
	body, err := webhookBody("item-1")
	if err != nil {
		b.Fatal(err)
	}
	token := sim.SignWebhook(body)
	if err := v.verify(token, body); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := v.verify(token, body); err != nil {
			b.Fatal(err)
		}
	}
}
