package plaid_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/plaidstream/plaidstream/internal/plaid"
)

// TestSpecExampleDecodes decodes the example response that Plaid's OpenAPI
// document gives for /webhook_verification_key/get with the client's types.
func TestSpecExampleDecodes(t *testing.T) {
	raw, err := testSpec(t).ResponseExample("/webhook_verification_key/get", 200, "example-1")
	if err != nil {
		t.Fatal(err)
	}
	var got plaid.WebhookVerificationKeyGetResponse
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields() // every field of the example has a home
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	want := plaid.WebhookVerificationKeyGetResponse{
		Key: plaid.JWKPublicKey{
			Alg:       "ES256",
			CreatedAt: 1560466150,
			Crv:       "P-256",
			Kid:       "bfbd5111-8e33-4643-8ced-b2e642a72f3c",
			Kty:       "EC",
			Use:       "sig",
			X:         "hKXLGIjWvCBv-cP5euCTxl8g9GLG9zHo_3pO5NN1DwQ",
			Y:         "shhexqPB7YffGn6fR6h2UhTSuCtPmfzQJ6ENVIoO4Ys",
		},
		RequestID: "RZ6Omi1bzzwDaLo",
	}
	if got != want {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
	}
}
