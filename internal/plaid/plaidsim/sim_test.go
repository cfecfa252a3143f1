package plaidsim

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/verify/verifytest"
)

var testNow = time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC)

func newSim(t *testing.T) (*Sim, *httptest.Server) {
	t.Helper()
	sim, err := New(Options{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		sim.Close()
	})
	return sim, srv
}

var goodCreds = map[string]string{"PLAID-CLIENT-ID": DefaultClientID, "PLAID-SECRET": DefaultSecret}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// post sends body to path with Content-Type application/json plus headers.
func post(t *testing.T, srv *httptest.Server, path string, headers map[string]string, body string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return do(t, req, body)
}

// do sends req, whose body is body, and checks the answer against Plaid's
// OpenAPI document (checkSpec).
func do(t *testing.T, req *http.Request, body string) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: respBody}
	checkSpec(t, req, []byte(body), a)
	return a
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9]{15}$`)

// checkPlaidError asserts a complete PlaidError body with the given status,
// type and code, and returns its error_message.
func checkPlaidError(t *testing.T, a answer, status int, errorType, code string) string {
	t.Helper()
	if a.status != status {
		t.Errorf("status = %d, want %d (body %s)", a.status, status, a.body)
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var got map[string]any
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatalf("body %s: %v", a.body, err)
	}
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	wantKeys := []string{"display_message", "documentation_url", "error_code", "error_message", "error_type", "request_id", "suggested_action"}
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("error fields = %v, want %v", keys, wantKeys)
	}
	if got["error_type"] != errorType || got["error_code"] != code {
		t.Errorf("error = %v/%v, want %s/%s", got["error_type"], got["error_code"], errorType, code)
	}
	if got["display_message"] != nil || got["suggested_action"] != nil {
		t.Errorf("display_message, suggested_action = %v, %v; want null, null", got["display_message"], got["suggested_action"])
	}
	if id, _ := got["request_id"].(string); !requestIDPattern.MatchString(id) {
		t.Errorf("request_id = %q, want 15 alphanumerics", id)
	}
	if u, _ := got["documentation_url"].(string); !strings.HasPrefix(u, "https://plaid.com/docs/?ref=error#") {
		t.Errorf("documentation_url = %q", u)
	}
	msg, _ := got["error_message"].(string)
	return msg
}

func TestWebhookVerificationKeyGetErrors(t *testing.T) {
	sim, srv := newSim(t)
	kid := sim.CurrentKeyID()
	const path = "/webhook_verification_key/get"

	tests := []struct {
		name      string
		headers   map[string]string
		body      string
		status    int
		errorType string
		code      string
		message   string
	}{
		{
			name: "wrong secret", headers: map[string]string{"PLAID-CLIENT-ID": DefaultClientID, "PLAID-SECRET": "nope"},
			body: `{"key_id":"` + kid + `"}`, status: 400, errorType: "INVALID_INPUT", code: "INVALID_API_KEYS",
			message: "invalid client_id or secret provided",
		},
		{
			name: "no credentials", body: `{"key_id":"` + kid + `"}`,
			status: 400, errorType: "INVALID_INPUT", code: "INVALID_API_KEYS",
			message: "invalid client_id or secret provided",
		},
		{
			name: "wrong client_id in body", body: `{"client_id":"x","secret":"` + DefaultSecret + `","key_id":"` + kid + `"}`,
			status: 400, errorType: "INVALID_INPUT", code: "INVALID_API_KEYS",
			message: "invalid client_id or secret provided",
		},
		{
			name: "unknown key id", headers: goodCreds, body: `{"key_id":"00000000-0000-4000-8000-000000000000"}`,
			status: 400, errorType: "INVALID_INPUT", code: "INVALID_WEBHOOK_VERIFICATION_KEY_ID",
			message: "invalid key_id provided. note that key_ids are specific to Plaid environments, and verification requests must be made to the same environment that the webhook was sent from",
		},
		{
			name: "missing key_id", headers: goodCreds, body: `{}`,
			status: 400, errorType: "INVALID_REQUEST", code: "MISSING_FIELDS",
			message: "the following required fields are missing: key_id",
		},
		{
			name: "empty key_id", headers: goodCreds, body: `{"key_id":""}`,
			status: 400, errorType: "INVALID_REQUEST", code: "MISSING_FIELDS",
			message: "the following required fields are missing: key_id",
		},
		{
			name: "key_id not a string", headers: goodCreds, body: `{"key_id":42}`,
			status: 400, errorType: "INVALID_REQUEST", code: "INVALID_FIELD",
			message: "key_id must be a string",
		},
		{
			name: "unknown fields", headers: goodCreds, body: `{"key_id":"` + kid + `","zeta":1,"alpha":2}`,
			status: 400, errorType: "INVALID_REQUEST", code: "UNKNOWN_FIELDS",
			message: "the following fields are not recognized by this endpoint: alpha, zeta",
		},
		{
			name: "invalid JSON", headers: goodCreds, body: `{"key_id":`,
			status: 400, errorType: "INVALID_REQUEST", code: "INVALID_BODY",
			message: "body could not be parsed as JSON",
		},
		{
			name: "JSON array", headers: goodCreds, body: `[]`,
			status: 400, errorType: "INVALID_REQUEST", code: "INVALID_BODY",
			message: "body could not be parsed as JSON",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := post(t, srv, path, tc.headers, tc.body)
			if msg := checkPlaidError(t, a, tc.status, tc.errorType, tc.code); msg != tc.message {
				t.Errorf("error_message = %q, want %q", msg, tc.message)
			}
		})
	}
}

func TestWrongContentTypeIsInvalidBody(t *testing.T) {
	sim, srv := newSim(t)
	body := `{"key_id":"` + sim.CurrentKeyID() + `"}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhook_verification_key/get", strings.NewReader(body))
	req.Header.Set("Content-Type", "text/plain")
	for k, v := range goodCreds {
		req.Header.Set(k, v)
	}
	checkPlaidError(t, do(t, req, body), 400, "INVALID_REQUEST", "INVALID_BODY")
}

func TestUnknownPathAndMethod(t *testing.T) {
	_, srv := newSim(t)
	checkPlaidError(t, post(t, srv, "/transactions/nope", goodCreds, `{}`), 404, "INVALID_REQUEST", "NOT_FOUND")

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/webhook_verification_key/get", nil)
	a := do(t, req, "")
	checkPlaidError(t, a, 405, "INVALID_REQUEST", "METHOD_NOT_ALLOWED")
	if allow := a.header.Get("Allow"); allow != "POST" {
		t.Errorf("Allow = %q, want POST", allow)
	}
}

// TestCredentialsInBody covers Plaid's alternative to the headers.
func TestCredentialsInBody(t *testing.T) {
	sim, srv := newSim(t)
	kid := sim.CurrentKeyID()
	a := post(t, srv, "/webhook_verification_key/get", nil,
		`{"client_id":"`+DefaultClientID+`","secret":"`+DefaultSecret+`","key_id":"`+kid+`"}`)
	if a.status != http.StatusOK {
		t.Fatalf("status = %d, body %s", a.status, a.body)
	}
	var got webhookVerificationKeyGetResponse
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Key.Kid != kid || !requestIDPattern.MatchString(got.RequestID) {
		t.Errorf("got kid %q request_id %q, want kid %q and a request_id", got.Key.Kid, got.RequestID, kid)
	}
}

func TestKeyLifecycle(t *testing.T) {
	now := testNow
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }

	sim, err := New(Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	fetch := func(kid string) verifytest.JWK {
		t.Helper()
		a := post(t, srv, "/webhook_verification_key/get", goodCreds, `{"key_id":"`+kid+`"}`)
		if a.status != http.StatusOK {
			t.Fatalf("fetch %s: status %d, body %s", kid, a.status, a.body)
		}
		if !bytes.Contains(a.body, []byte(`"expired_at":`)) {
			t.Errorf("expired_at missing from %s; Plaid always sends it", a.body)
		}
		var got webhookVerificationKeyGetResponse
		if err := json.Unmarshal(a.body, &got); err != nil {
			t.Fatal(err)
		}
		return got.Key
	}

	first := sim.CurrentKeyID()
	if k := fetch(first); k.ExpiredAt != nil || k.CreatedAt != testNow.Unix() {
		t.Errorf("first key = %+v, want created_at %d and no expired_at", k, testNow.Unix())
	}

	advance(time.Hour)
	second, err := sim.RotateKey()
	if err != nil {
		t.Fatal(err)
	}
	if second == first || sim.CurrentKeyID() != second {
		t.Fatalf("RotateKey = %q (current %q), want a new current kid", second, sim.CurrentKeyID())
	}
	if k := fetch(first); k.ExpiredAt != nil {
		t.Errorf("old key expired by rotation: %+v", k)
	}
	body := []byte(`{"a": 1}`)
	if c := verifyToken(t, fetch(second), sim.SignWebhook(body)); c.IssuedAt != testNow.Add(time.Hour).Unix() {
		t.Errorf("iat = %d, want %d", c.IssuedAt, testNow.Add(time.Hour).Unix())
	}

	advance(time.Minute)
	if err := sim.ExpireKey(first); err != nil {
		t.Fatal(err)
	}
	advance(time.Minute)
	if err := sim.ExpireKey(first); err != nil { // idempotent, keeps the first time
		t.Fatal(err)
	}
	k := fetch(first)
	if want := testNow.Add(time.Hour + time.Minute).Unix(); k.ExpiredAt == nil || *k.ExpiredAt != want {
		t.Errorf("expired_at = %v, want %d", k.ExpiredAt, want)
	}
	if err := sim.ExpireKey("no-such-kid"); err == nil {
		t.Error("ExpireKey of an unknown kid succeeded")
	}
	if got := sim.KeyFetches(); got != 4 {
		t.Errorf("KeyFetches = %d, want 4", got)
	}
}

func TestFaults(t *testing.T) {
	sim, srv := newSim(t)
	const path = "/webhook_verification_key/get"
	body := `{"key_id":"` + sim.CurrentKeyID() + `"}`
	msg := "custom"
	sim.InjectFault(path, Fault{Count: 2, Status: 500})
	sim.InjectFault(path, Fault{Status: 429})
	sim.InjectFault(path, Fault{Status: 503, Error: &PlaidError{ErrorType: "API_ERROR", ErrorCode: "PLANNED_MAINTENANCE", ErrorMessage: msg}})

	checkPlaidError(t, post(t, srv, path, goodCreds, body), 500, "API_ERROR", "INTERNAL_SERVER_ERROR")
	checkPlaidError(t, post(t, srv, path, nil, body), 500, "API_ERROR", "INTERNAL_SERVER_ERROR") // before auth
	checkPlaidError(t, post(t, srv, path, goodCreds, body), 429, "RATE_LIMIT_EXCEEDED", "RATE_LIMIT")
	if got := checkPlaidError(t, post(t, srv, path, goodCreds, body), 503, "API_ERROR", "PLANNED_MAINTENANCE"); got != msg {
		t.Errorf("error_message = %q, want %q", got, msg)
	}
	if a := post(t, srv, path, goodCreds, body); a.status != http.StatusOK {
		t.Errorf("after the faults: status %d, want 200", a.status)
	}
	if got := sim.KeyFetches(); got != 5 {
		t.Errorf("KeyFetches = %d, want 5 (faulted calls count)", got)
	}
}

func TestDelayFault(t *testing.T) {
	sim, srv := newSim(t)
	const path = "/webhook_verification_key/get"
	sim.InjectFault(path, Fault{Delay: 50 * time.Millisecond})
	start := time.Now()
	a := post(t, srv, path, goodCreds, `{"key_id":"`+sim.CurrentKeyID()+`"}`)
	if a.status != http.StatusOK {
		t.Errorf("status = %d, want 200 after the delay", a.status)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("answered after %v, want ≥ 50ms", d)
	}

	// A caller that gives up releases the handler at once (otherwise the
	// server's Close in t.Cleanup would block for the hour).
	sim.InjectFault(path, Fault{Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+path, strings.NewReader(`{}`))
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Error("request with a 1h delay fault succeeded")
	}
}

func TestMarshalWebhookBody(t *testing.T) {
	in := json.RawMessage(`{"webhook_type":"TRANSACTIONS","item_id":"wz666MBjYWTp2PDzzggYhM6oWWmBb","error":null,` +
		`"new_transactions":12345678901234567890,"ratio":1.10,"nested":{"z":[1,{"b":true,"a":"<&>"}],"a":""},"environment":"sandbox"}`)
	want := `{
  "environment": "sandbox",
  "error": null,
  "item_id": "wz666MBjYWTp2PDzzggYhM6oWWmBb",
  "nested": {
    "a": "",
    "z": [
      1,
      {
        "a": "<&>",
        "b": true
      }
    ]
  },
  "new_transactions": 12345678901234567890,
  "ratio": 1.10,
  "webhook_type": "TRANSACTIONS"
}`
	got, err := MarshalWebhookBody(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("MarshalWebhookBody =\n%s\nwant\n%s", got, want)
	}

	type envelope struct {
		WebhookType string `json:"webhook_type"`
		ItemID      string `json:"item_id"`
	}
	got, err = MarshalWebhookBody(envelope{WebhookType: "ITEM", ItemID: "i"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"item_id\": \"i\",\n  \"webhook_type\": \"ITEM\"\n}"; string(got) != want {
		t.Errorf("struct body = %q, want %q (keys sorted regardless of field order)", got, want)
	}

	for _, bad := range []any{json.RawMessage(`[]`), "x", nil} {
		if _, err := MarshalWebhookBody(bad); err == nil {
			t.Errorf("MarshalWebhookBody(%v) succeeded, want error", bad)
		}
	}
}

// receiver records webhook deliveries and answers status.
type receiver struct {
	status int
	mu     sync.Mutex
	header http.Header
	body   []byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.header, rc.body = r.Header.Clone(), body
	rc.mu.Unlock()
	w.WriteHeader(rc.status)
}

func TestSimWebhooksSend(t *testing.T) {
	sim, srv := newSim(t)
	rc := &receiver{status: http.StatusAccepted}
	target := httptest.NewServer(rc)
	defer target.Close()

	payload := `{"webhook_type":"TRANSACTIONS","webhook_code":"SYNC_UPDATES_AVAILABLE","item_id":"item-1",` +
		`"initial_update_complete":true,"historical_update_complete":false,"environment":"sandbox"}`
	a := post(t, srv, "/sim/webhooks/send", nil, `{"url":"`+target.URL+`/plaid/webhook","body":`+payload+`}`)
	if a.status != http.StatusOK {
		t.Fatalf("status = %d, body %s", a.status, a.body)
	}
	var got SendWebhookResponse
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatal(err)
	}

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if got.Status != http.StatusAccepted {
		t.Errorf("status = %d, want the receiver's 202", got.Status)
	}
	sum := sha256.Sum256(rc.body)
	if got.BodySHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("body_sha256 = %s, want sha256 of the delivered bytes %x", got.BodySHA256, sum)
	}
	if ct := rc.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("delivered Content-Type = %q", ct)
	}
	wantBody := `{
  "environment": "sandbox",
  "historical_update_complete": false,
  "initial_update_complete": true,
  "item_id": "item-1",
  "webhook_code": "SYNC_UPDATES_AVAILABLE",
  "webhook_type": "TRANSACTIONS"
}`
	if string(rc.body) != wantBody {
		t.Errorf("delivered body =\n%s\nwant\n%s", rc.body, wantBody)
	}
	claims := verifyToken(t, currentJWK(sim), rc.header.Get("Plaid-Verification"))
	if claims.RequestBodySHA256 != got.BodySHA256 || claims.IssuedAt != testNow.Unix() {
		t.Errorf("token claims = %+v, want request_body_sha256 %s and iat %d", claims, got.BodySHA256, testNow.Unix())
	}
}

func TestSimWebhooksSendErrors(t *testing.T) {
	_, srv := newSim(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{name: "missing url", body: `{"body":{}}`, status: 400, code: "MISSING_FIELDS"},
		{name: "missing body", body: `{"url":"http://127.0.0.1:1/"}`, status: 400, code: "MISSING_FIELDS"},
		{name: "not http", body: `{"url":"ftp://x/","body":{}}`, status: 400, code: "INVALID_FIELD"},
		{name: "body not an object", body: `{"url":"http://127.0.0.1:1/","body":[1]}`, status: 400, code: "INVALID_FIELD"},
		{name: "invalid JSON", body: `{`, status: 400, code: "INVALID_BODY"},
		{name: "trailing data", body: `{"url":"http://127.0.0.1:1/","body":{}} x`, status: 400, code: "INVALID_BODY"},
		{name: "unknown field", body: `{"url":"http://127.0.0.1:1/","body":{},"x":1}`, status: 400, code: "INVALID_BODY"},
		{name: "receiver unreachable", body: `{"url":"` + closed.URL + `","body":{}}`, status: 502, code: "WEBHOOK_DELIVERY_FAILED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := post(t, srv, "/sim/webhooks/send", nil, tc.body)
			wantType := "INVALID_REQUEST"
			if tc.status == 502 {
				wantType = "API_ERROR"
			}
			checkPlaidError(t, a, tc.status, wantType, tc.code)
		})
	}
}

func TestSimWebhooksSendTimeout(t *testing.T) {
	sim, srv := newSim(t)
	sim.deliver.Timeout = 50 * time.Millisecond // Plaid's 10 s, shortened
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)

	a := post(t, srv, "/sim/webhooks/send", nil, `{"url":"`+slow.URL+`","body":{"a":1}}`)
	checkPlaidError(t, a, 502, "API_ERROR", "WEBHOOK_DELIVERY_FAILED")
}

func currentJWK(sim *Sim) verifytest.JWK {
	sim.mu.Lock()
	defer sim.mu.Unlock()
	k := sim.keys[sim.current]
	return k.signer.JWK(k.expiredAt)
}

// verifyToken checks token as a Plaid-Verification JWT signed by jwk and
// returns its claims. It is deliberately independent of verifytest's signing
// code.
func verifyToken(t *testing.T, jwk verifytest.JWK, token string) verifytest.Claims {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	dec := base64.RawURLEncoding
	header, err1 := dec.DecodeString(parts[0])
	payload, err2 := dec.DecodeString(parts[1])
	sig, err3 := dec.DecodeString(parts[2])
	x, err4 := dec.DecodeString(jwk.X)
	y, err5 := dec.DecodeString(jwk.Y)
	for _, err := range []error{err1, err2, err3, err4, err5} {
		if err != nil {
			t.Fatalf("decode token or key: %v", err)
		}
	}
	var h struct{ Alg, Kid, Typ string }
	if err := json.Unmarshal(header, &h); err != nil || h.Alg != "ES256" || h.Kid != jwk.Kid || h.Typ != "JWT" {
		t.Fatalf("header %s, want ES256 JWT with kid %s", header, jwk.Kid)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		t.Fatalf("JWK is not a P-256 point: %v", err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if len(sig) != 64 || !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatal("signature does not verify with the JWK")
	}
	var c verifytest.Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatalf("payload %s: %v", payload, err)
	}
	return c
}
