package plaid_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

var testNow = time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC)

// setup starts a simulator on a loopback port and a client for it whose
// every exchange goes through specTransport. Retries pause 1–2 ms; opts
// adjust the client's Config further.
func setup(t *testing.T, secret string, opts ...func(*plaid.Config)) (*plaidsim.Sim, *plaid.Client) {
	t.Helper()
	sim, err := plaidsim.New(plaidsim.Options{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatalf("plaidsim.New: %v", err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { sim.Close() })
	cfg := plaid.Config{
		BaseURL:  srv.URL,
		ClientID: plaidsim.DefaultClientID,
		Secret:   secret,
		HTTPClient: &http.Client{
			Timeout:   5 * time.Second,
			Transport: specTransport(t, http.DefaultTransport),
		},
		InitialBackoff: time.Millisecond,
		MaxBackoff:     2 * time.Millisecond,
	}
	for _, o := range opts {
		o(&cfg)
	}
	client, err := plaid.NewClient(cfg)
	if err != nil {
		t.Fatalf("plaid.NewClient: %v", err)
	}
	return sim, client
}

// noRetries makes a client give up after its first attempt.
func noRetries(c *plaid.Config) { c.MaxAttempts = 1 }

func TestGetWebhookVerificationKeyFromSim(t *testing.T) {
	sim, client := setup(t, plaidsim.DefaultSecret)
	kid := sim.CurrentKeyID()

	got, err := client.GetWebhookVerificationKey(context.Background(), kid)
	if err != nil {
		t.Fatalf("GetWebhookVerificationKey: %v", err)
	}
	k := got.Key
	if k.Kid != kid || k.Alg != "ES256" || k.Crv != "P-256" || k.Kty != "EC" || k.Use != "sig" {
		t.Errorf("key = %+v, want kid %s, ES256, P-256, EC, sig", k, kid)
	}
	if k.CreatedAt != testNow.Unix() || k.ExpiredAt != nil {
		t.Errorf("created_at, expired_at = %d, %v; want %d, nil", k.CreatedAt, k.ExpiredAt, testNow.Unix())
	}
	if got.RequestID == "" {
		t.Error("request_id is empty")
	}
	// The key the client fetched verifies what the simulator signs.
	body := []byte("{\n  \"webhook_code\": \"SYNC_UPDATES_AVAILABLE\"\n}")
	if !verifies(t, k, sim.SignWebhook(body)) {
		t.Error("a token signed by the simulator does not verify with the fetched key")
	}
	if n := sim.KeyFetches(); n != 1 {
		t.Errorf("KeyFetches = %d, want 1", n)
	}
}

func TestSimErrorsThroughClient(t *testing.T) {
	tests := []struct {
		name       string
		secret     string
		kid        string // "" means the simulator's current kid
		fault      *plaidsim.Fault
		wantStatus int
		wantType   string
		wantCode   string
		unknownKey bool
		badKeys    bool
	}{
		{
			name: "unknown kid", secret: plaidsim.DefaultSecret, kid: "6c5516e1-92dc-479e-a8ff-5a51992e0001",
			wantStatus: 400, wantType: "INVALID_INPUT", wantCode: "INVALID_WEBHOOK_VERIFICATION_KEY_ID", unknownKey: true,
		},
		{
			name: "wrong secret", secret: "wrong-secret-value",
			wantStatus: 400, wantType: "INVALID_INPUT", wantCode: "INVALID_API_KEYS", badKeys: true,
		},
		{
			name: "500", secret: plaidsim.DefaultSecret, fault: &plaidsim.Fault{Status: 500},
			wantStatus: 500, wantType: "API_ERROR", wantCode: "INTERNAL_SERVER_ERROR",
		},
		{
			name: "429", secret: plaidsim.DefaultSecret, fault: &plaidsim.Fault{Status: 429},
			wantStatus: 429, wantType: "RATE_LIMIT_EXCEEDED", wantCode: "RATE_LIMIT",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim, client := setup(t, tc.secret, noRetries)
			kid := tc.kid
			if kid == "" {
				kid = sim.CurrentKeyID()
			}
			if tc.fault != nil {
				sim.InjectFault("/webhook_verification_key/get", *tc.fault)
			}
			_, err := client.GetWebhookVerificationKey(context.Background(), kid)
			var perr *plaid.Error
			if !errors.As(err, &perr) {
				t.Fatalf("error = %v (%T), want *plaid.Error", err, err)
			}
			if perr.HTTPStatus != tc.wantStatus || perr.ErrorType != tc.wantType || perr.ErrorCode != tc.wantCode {
				t.Errorf("got HTTP %d %s/%s, want HTTP %d %s/%s",
					perr.HTTPStatus, perr.ErrorType, perr.ErrorCode, tc.wantStatus, tc.wantType, tc.wantCode)
			}
			if perr.RequestID == "" || perr.DisplayMessage != nil {
				t.Errorf("request_id %q, display_message %v; want an id and null", perr.RequestID, perr.DisplayMessage)
			}
			if got := plaid.IsUnknownWebhookKey(err); got != tc.unknownKey {
				t.Errorf("IsUnknownWebhookKey = %v, want %v", got, tc.unknownKey)
			}
			if got := plaid.IsInvalidAPIKeys(err); got != tc.badKeys {
				t.Errorf("IsInvalidAPIKeys = %v, want %v", got, tc.badKeys)
			}
			if errors.Is(err, plaid.ErrTransport) {
				t.Error("a Plaid error counts as a transport failure")
			}
			if strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error %q contains the secret", err)
			}
			if tc.fault != nil { // one-shot: the next call succeeds
				if _, err := client.GetWebhookVerificationKey(context.Background(), kid); err != nil {
					t.Errorf("call after the fault: %v", err)
				}
			}
		})
	}
}

func TestSimDelayIsATransportFailure(t *testing.T) {
	sim, client := setup(t, plaidsim.DefaultSecret)
	sim.InjectFault("/webhook_verification_key/get", plaidsim.Fault{Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := client.GetWebhookVerificationKey(ctx, sim.CurrentKeyID())
	if !errors.Is(err, plaid.ErrTransport) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want ErrTransport wrapping context.DeadlineExceeded", err)
	}
}

func TestKeyRotationAndExpiryThroughClient(t *testing.T) {
	sim, client := setup(t, plaidsim.DefaultSecret)
	ctx := context.Background()
	old := sim.CurrentKeyID()
	oldToken := sim.SignWebhook([]byte("{}"))

	current, err := sim.RotateKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, kid := range []string{old, current} {
		got, err := client.GetWebhookVerificationKey(ctx, kid)
		if err != nil {
			t.Fatalf("fetch %s: %v", kid, err)
		}
		if got.Key.ExpiredAt != nil {
			t.Errorf("key %s expired_at = %d after rotation, want null", kid, *got.Key.ExpiredAt)
		}
	}

	if err := sim.ExpireKey(old); err != nil {
		t.Fatal(err)
	}
	got, err := client.GetWebhookVerificationKey(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	if got.Key.ExpiredAt == nil || *got.Key.ExpiredAt != testNow.Unix() {
		t.Errorf("expired_at = %v, want %d", got.Key.ExpiredAt, testNow.Unix())
	}
	// An expired key still verifies its old signatures; rejecting it is the
	// verifier's job.
	if !verifies(t, got.Key, oldToken) {
		t.Error("the expired key no longer verifies the token it signed")
	}
	if n := sim.KeyFetches(); n != 3 {
		t.Errorf("KeyFetches = %d, want 3", n)
	}
}

// verifies reports whether token is an ES256 JWT with kid k.Kid whose
// signature verifies with k.
func verifies(t *testing.T, k plaid.JWKPublicKey, token string) bool {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	dec := base64.RawURLEncoding
	header, _ := dec.DecodeString(parts[0])
	var h struct{ Alg, Kid string }
	if err := json.Unmarshal(header, &h); err != nil || h.Alg != "ES256" || h.Kid != k.Kid {
		t.Fatalf("token header %s, want ES256 with kid %s", header, k.Kid)
	}
	x, err1 := dec.DecodeString(k.X)
	y, err2 := dec.DecodeString(k.Y)
	sig, err3 := dec.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatalf("decode: %v", err)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		t.Fatalf("key is not a P-256 point: %v", err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	return len(sig) == 64 && ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}
