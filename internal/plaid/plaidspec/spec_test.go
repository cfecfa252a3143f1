package plaidspec_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/plaid/plaidspec"
)

var loadSpec = sync.OnceValues(plaidspec.Load)

func spec(t *testing.T) *plaidspec.Spec {
	t.Helper()
	s, err := loadSpec()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return s
}

func TestLoad(t *testing.T) {
	start := time.Now()
	s, err := plaidspec.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Logf("Load took %v", time.Since(start))
	if got := s.Doc().Info.Version; got != plaidspec.Version {
		t.Errorf("info.version = %q, want %q", got, plaidspec.Version)
	}
	if n := s.Doc().Paths.Len(); n != 16 {
		t.Errorf("paths = %d, want 16", n)
	}
}

func newRequest(path, body string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8600"+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}

func jsonHeader() http.Header {
	return http.Header{"Content-Type": []string{"application/json; charset=utf-8"}}
}

const (
	goodKeyResponse = `{"key":{"alg":"ES256","created_at":1560466150,"crv":"P-256","expired_at":null,` +
		`"kid":"bfbd5111-8e33-4643-8ced-b2e642a72f3c","kty":"EC","use":"sig","x":"hKXLGIjWvCBv-cP5euCTxl8g9GLG9zHo_3pO5NN1DwQ",` +
		`"y":"shhexqPB7YffGn6fR6h2UhTSuCtPmfzQJ6ENVIoO4Ys"},"request_id":"RZ6Omi1bzzwDaLo"}`
	goodError = `{"display_message":null,"documentation_url":"https://plaid.com/docs/?ref=error#invalid-input-errors",` +
		`"error_code":"INVALID_API_KEYS","error_message":"invalid client_id or secret provided","error_type":"INVALID_INPUT",` +
		`"request_id":"0PBlhvIaeYbdrTp","suggested_action":null}`
)

func TestValidateExchange(t *testing.T) {
	s := spec(t)
	tests := []struct {
		name    string
		path    string
		reqBody string
		status  int
		header  http.Header
		body    string
		wantErr string // substring; "" means valid
	}{
		{name: "valid 200", path: "/webhook_verification_key/get", reqBody: `{"key_id":"k"}`, status: 200, header: jsonHeader(), body: goodKeyResponse},
		{name: "valid error", path: "/webhook_verification_key/get", reqBody: `{"key_id":"k"}`, status: 400, header: jsonHeader(), body: goodError},
		{name: "request missing key_id", path: "/webhook_verification_key/get", reqBody: `{}`, status: 400, header: jsonHeader(), body: goodError, wantErr: "key_id"},
		{name: "request key_id not a string", path: "/webhook_verification_key/get", reqBody: `{"key_id":1}`, status: 400, header: jsonHeader(), body: goodError, wantErr: "key_id"},
		{name: "response without request_id", path: "/webhook_verification_key/get", reqBody: `{"key_id":"k"}`, status: 200, header: jsonHeader(),
			body: strings.Replace(goodKeyResponse, `,"request_id":"RZ6Omi1bzzwDaLo"`, "", 1), wantErr: "request_id"},
		{name: "key without expired_at", path: "/webhook_verification_key/get", reqBody: `{"key_id":"k"}`, status: 200, header: jsonHeader(),
			body: strings.Replace(goodKeyResponse, `"expired_at":null,`, "", 1), wantErr: "expired_at"},
		{name: "error without display_message", path: "/webhook_verification_key/get", reqBody: `{"key_id":"k"}`, status: 400, header: jsonHeader(),
			body: strings.Replace(goodError, `"display_message":null,`, "", 1), wantErr: "display_message"},
		{name: "error with unknown error_type", path: "/webhook_verification_key/get", reqBody: `{"key_id":"k"}`, status: 400, header: jsonHeader(),
			body: strings.Replace(goodError, `"INVALID_INPUT"`, `"NOPE"`, 1), wantErr: "error_type"},
		{name: "text/html response", path: "/webhook_verification_key/get", reqBody: `{"key_id":"k"}`, status: 502,
			header: http.Header{"Content-Type": []string{"text/html"}}, body: "<html></html>", wantErr: "text/html"},
		{name: "unknown path", path: "/nope", reqBody: `{}`, status: 404, header: jsonHeader(), body: goodError, wantErr: "/nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.ValidateExchange(context.Background(), newRequest(tc.path, tc.reqBody), []byte(tc.reqBody), tc.status, tc.header, []byte(tc.body))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("ValidateExchange: %v, want valid", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("ValidateExchange = %v, want an error mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestGETIsNotAnOperation(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/webhook_verification_key/get", nil)
	if err := spec(t).ValidateRequest(context.Background(), req, nil); err == nil {
		t.Error("GET /webhook_verification_key/get validated")
	}
}

func TestValidateSchemaWithSpecExamples(t *testing.T) {
	s := spec(t)
	for _, name := range []string{"SyncUpdatesAvailableWebhook", "ItemErrorWebhook", "DefaultUpdateWebhook", "WebhookUpdateAcknowledgedWebhook"} {
		t.Run(name, func(t *testing.T) {
			ex, err := s.SchemaExample(name, "example-1")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.ValidateSchema(name, ex); err != nil {
				t.Errorf("Plaid's own example fails: %v\n%s", err, ex)
			}
		})
	}
	if err := s.ValidateSchema("SyncUpdatesAvailableWebhook", []byte(`{"webhook_type":"TRANSACTIONS"}`)); err == nil {
		t.Error("an incomplete SYNC_UPDATES_AVAILABLE body validated")
	}
	if err := s.ValidateSchema("NoSuchSchema", []byte(`{}`)); err == nil {
		t.Error("an unknown schema name validated")
	}
}

func TestResponseExample(t *testing.T) {
	s := spec(t)
	ex, err := s.ResponseExample("/webhook_verification_key/get", 200, "example-1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ex), `"kid":"bfbd5111-8e33-4643-8ced-b2e642a72f3c"`) || !strings.Contains(string(ex), `"expired_at":null`) {
		t.Errorf("example = %s", ex)
	}
	if _, err := s.ResponseExample("/webhook_verification_key/get", 200, "nope"); err == nil {
		t.Error("a missing example was found")
	}
}

// recorder is a testing.TB that records Errorf calls.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestTransport(t *testing.T) {
	s := spec(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(string(body), "bad") {
			io.WriteString(w, `{"key":{}}`) // missing every required field
			return
		}
		io.WriteString(w, goodKeyResponse)
	}))
	defer srv.Close()

	tests := []struct {
		name      string
		body      string
		wantFails bool
	}{
		{name: "valid exchange", body: `{"key_id":"good"}`},
		{name: "invalid response", body: `{"key_id":"bad"}`, wantFails: true},
		{name: "invalid request", body: `{"kid":"good"}`, wantFails: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			client := &http.Client{Transport: plaidspec.Transport(rec, s, nil)}
			resp, err := client.Post(srv.URL+"/webhook_verification_key/get", "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if len(got) == 0 {
				t.Error("the transport swallowed the response body")
			}
			if failed := len(rec.errors) > 0; failed != tc.wantFails {
				t.Errorf("transport reported %q, want failure %v", rec.errors, tc.wantFails)
			}
		})
	}
}
