package verify_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/verify"
)

var _ verify.KeyFetcher = verify.StaticKeys(nil)

// plaidExample is the example response of /webhook_verification_key/get in
// Plaid's OpenAPI spec.
const plaidExample = `{"key":{"alg":"ES256","created_at":1560466150,"crv":"P-256","expired_at":null,"kid":"bfbd5111-8e33-4643-8ced-b2e642a72f3c","kty":"EC","use":"sig","x":"hKXLGIjWvCBv-cP5euCTxl8g9GLG9zHo_3pO5NN1DwQ","y":"shhexqPB7YffGn6fR6h2UhTSuCtPmfzQJ6ENVIoO4Ys"},"request_id":"RZ6Omi1bzzwDaLo"}`

func int64p(n int64) *int64 { return &n }

func TestParseJWK(t *testing.T) {
	example := verify.PublicKey{
		KeyID: "bfbd5111-8e33-4643-8ced-b2e642a72f3c", Algorithm: "ES256", Curve: "P-256", KeyType: "EC", Use: "sig",
		X: "hKXLGIjWvCBv-cP5euCTxl8g9GLG9zHo_3pO5NN1DwQ", Y: "shhexqPB7YffGn6fR6h2UhTSuCtPmfzQJ6ENVIoO4Ys",
		CreatedAt: 1560466150,
	}
	bare := strings.TrimSuffix(strings.TrimPrefix(plaidExample, `{"key":`), `,"request_id":"RZ6Omi1bzzwDaLo"}`)
	expired := example
	expired.ExpiredAt = int64p(1700000000)
	noUse := example
	noUse.Use = ""

	tests := []struct {
		name string
		data string
		want verify.PublicKey
	}{
		{"Plaid spec example response", plaidExample, example},
		{"bare JWK", bare, example},
		{"expired_at set", strings.Replace(plaidExample, `"expired_at":null`, `"expired_at":1700000000`, 1), expired},
		{"expired_at absent", strings.Replace(plaidExample, `"expired_at":null,`, ``, 1), example},
		{"use absent", strings.Replace(plaidExample, `"use":"sig",`, ``, 1), noUse},
		{"unknown members ignored", strings.Replace(plaidExample, `"kty":"EC",`, `"kty":"EC","key_ops":["verify"],"x5c":[],`, 1), example},
		{"indented", "{\n  \"key\": " + bare + ",\n  \"request_id\": \"x\"\n}\n", example},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := verify.ParseJWK([]byte(tc.data))
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseJWKErrors(t *testing.T) {
	s := newSigner(t, "k1")
	jwk, _ := json.Marshal(s.JWK(nil))
	good := string(jwk)
	other := newSigner(t, "k2").JWK(nil)
	// Swap in another key's y: almost surely not on the curve with this x.
	offCurve := strings.Replace(good, s.JWK(nil).Y, other.Y, 1)

	tests := []struct {
		name    string
		data    string
		wantMsg string
	}{
		{"empty", ``, "not a JSON object"},
		{"not JSON", `hello`, "not a JSON object"},
		{"array", `[` + good + `]`, "not a JSON object"},
		{"trailing data", good + `{}`, "data after the JSON object"},
		{"key not an object", `{"key":"x","request_id":"r"}`, "member key: not a JSON object"},
		{"key null", `{"key":null}`, "member key: not a JSON object"},
		{"duplicate kid", strings.Replace(good, `"kid":"k1"`, `"kid":"k1","kid":"k2"`, 1), "duplicate member name"},
		{"kid missing", strings.Replace(good, `"kid":"k1",`, ``, 1), "member kid is missing"},
		{"x missing", strings.Replace(good, `"x":`, `"X":`, 1), "member x is missing"},
		{"kid a number", strings.Replace(good, `"kid":"k1"`, `"kid":1`, 1), "member kid is not a JSON string"},
		{"created_at a string", strings.Replace(good, `"created_at":`, `"created_at":"1",`+`"ignored":`, 1), "created_at is not a JSON integer"},
		{"expired_at a string", strings.Replace(good, `"expired_at":null`, `"expired_at":"2024-01-01"`, 1), "expired_at is neither null nor a JSON integer"},
		{"expired_at a fraction", strings.Replace(good, `"expired_at":null`, `"expired_at":1.5`, 1), "expired_at is neither null nor a JSON integer"},
		{"kty RSA", strings.Replace(good, `"kty":"EC"`, `"kty":"RSA"`, 1), "kty \"RSA\", want EC"},
		{"crv P-384", strings.Replace(good, `"crv":"P-256"`, `"crv":"P-384"`, 1), "crv \"P-384\", want P-256"},
		{"alg HS256", strings.Replace(good, `"alg":"ES256"`, `"alg":"HS256"`, 1), "alg \"HS256\", want ES256"},
		{"use enc", strings.Replace(good, `"use":"sig"`, `"use":"enc"`, 1), "use \"enc\", want sig"},
		{"x not base64url", strings.Replace(good, `"x":"`, `"x":"*`, 1), "x is not a base64url P-256 coordinate"},
		{"x too long", strings.Replace(good, `"x":"`, `"x":"AAAA`, 1), "x is not a base64url P-256 coordinate"},
		{"point off the curve", offCurve, "not a point on P-256"},
		{"point at zero", strings.Replace(strings.Replace(good, `"x":"`+s.JWK(nil).X, `"x":"AA`, 1), `"y":"`+s.JWK(nil).Y, `"y":"AA`, 1), "not a point on P-256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verify.ParseJWK([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantMsg)
			}
			if r := verify.Reason(err); r != "other" {
				t.Errorf("got Reason %q, want %q: ParseJWK errors must not wrap verify's sentinels", r, "other")
			}
		})
	}
}

func TestParseJWKShortCoordinate(t *testing.T) {
	// A coordinate encoded without its leading zero bytes decodes to the
	// same point. Find a key whose x starts with a zero byte.
	for range 5000 {
		s := newSigner(t, "k1")
		point, _ := s.PrivateKey.PublicKey.Bytes()
		if point[1] != 0 {
			continue
		}
		k := s.JWK(nil)
		short := k
		short.X = b64(string(point[2:33]))
		data, _ := json.Marshal(short)
		if _, err := verify.ParseJWK(data); err != nil {
			t.Fatalf("ParseJWK with 31-byte x: got %v, want nil", err)
		}
		pk := publicKey(t, s, nil)
		pk.X = short.X
		v := verify.New(verify.StaticKeys{pk}, verify.Options{Now: func() time.Time { return t0 }})
		if _, err := v.Verify(context.Background(), s.Sign(webhookBody, t0), webhookBody); err != nil {
			t.Fatalf("Verify with 31-byte x: got %v, want nil", err)
		}
		return
	}
	t.Skip("no key with a leading zero byte in 5000 tries")
}

func TestStaticKeys(t *testing.T) {
	a, b := newSigner(t, "a"), newSigner(t, "b")
	keys := verify.StaticKeys{publicKey(t, a, nil), publicKey(t, b, nil)}
	tests := []struct {
		name    string
		kid     string
		wantKey string
		wantErr error
	}{
		{"first", "a", "a", nil},
		{"second", "b", "b", nil},
		{"unknown", "c", "", verify.ErrUnknownKey},
		{"empty", "", "", verify.ErrUnknownKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := keys.FetchKey(context.Background(), tc.kid)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			if got.KeyID != tc.wantKey {
				t.Errorf("got kid %q, want %q", got.KeyID, tc.wantKey)
			}
		})
	}
}

// TestStaticKeysOffline is the `webhookd verify` flow: a saved key response,
// a saved token and body, checked at the token's own time.
func TestStaticKeysOffline(t *testing.T) {
	s := newSigner(t, "k1")
	resp, _ := json.Marshal(map[string]any{"key": s.JWK(nil), "request_id": "req"})
	key, err := verify.ParseJWK(resp)
	if err != nil {
		t.Fatal(err)
	}
	token := s.Sign(webhookBody, t0)
	info, err := verify.Inspect(token)
	if err != nil {
		t.Fatal(err)
	}
	v := verify.New(verify.StaticKeys{key}, verify.Options{Now: func() time.Time { return info.IssuedAt }})
	got, err := v.Verify(context.Background(), token, webhookBody)
	if err != nil {
		t.Fatalf("got %v, want nil", err)
	}
	if got.KeyID != "k1" {
		t.Errorf("got kid %q, want k1", got.KeyID)
	}
}
