package plaid

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const testSecret = "s3cr3t-do-not-leak"

func newTestClient(t *testing.T, baseURL string) *Client {
	t.Helper()
	c, err := NewClient(Config{BaseURL: baseURL, ClientID: "client-1", Secret: testSecret, InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

func TestBaseURLFor(t *testing.T) {
	tests := []struct {
		env     string
		want    string
		wantErr bool
	}{
		{env: "sandbox", want: SandboxURL},
		{env: "production", want: ProductionURL},
		{env: "development", wantErr: true},
		{env: "Sandbox", wantErr: true},
		{env: "", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.env, func(t *testing.T) {
			got, err := BaseURLFor(tc.env)
			if (err != nil) != tc.wantErr {
				t.Fatalf("BaseURLFor(%q) error = %v, want error %v", tc.env, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("BaseURLFor(%q) = %q, want %q", tc.env, got, tc.want)
			}
		})
	}
}

func TestNewClientRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "no base URL", cfg: Config{ClientID: "id", Secret: "s"}},
		{name: "relative base URL", cfg: Config{BaseURL: "/plaid", ClientID: "id", Secret: "s"}},
		{name: "ftp scheme", cfg: Config{BaseURL: "ftp://plaid.example", ClientID: "id", Secret: "s"}},
		{name: "credentials in URL", cfg: Config{BaseURL: "https://u:p@plaid.example", ClientID: "id", Secret: "s"}},
		{name: "query in URL", cfg: Config{BaseURL: "https://plaid.example/?x=1", ClientID: "id", Secret: "s"}},
		{name: "no client ID", cfg: Config{BaseURL: SandboxURL, Secret: "s"}},
		{name: "no secret", cfg: Config{BaseURL: SandboxURL, ClientID: "id"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewClient(tc.cfg); err == nil {
				t.Errorf("NewClient(%v) succeeded, want error", tc.cfg)
			}
		})
	}
}

func TestCallSendsPlaidRequest(t *testing.T) {
	var (
		gotMethod, gotPath string
		gotHeader          http.Header
		gotBody            []byte
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotMethod, gotPath, gotHeader = r.Method, r.URL.Path, r.Header.Clone()
		gotBody, _ = io.ReadAll(r.Body)
		io.WriteString(w, `{"key":{"alg":"ES256","created_at":1,"crv":"P-256","expired_at":null,"kid":"k1","kty":"EC","use":"sig","x":"X","y":"Y","extra":true},"request_id":"req1"}`)
	}))
	defer srv.Close()

	c := newTestClient(t, srv.URL+"/")
	got, err := c.GetWebhookVerificationKey(context.Background(), "k1")
	if err != nil {
		t.Fatalf("GetWebhookVerificationKey: %v", err)
	}
	if gotMethod != http.MethodPost || gotPath != "/webhook_verification_key/get" {
		t.Errorf("request = %s %s, want POST /webhook_verification_key/get", gotMethod, gotPath)
	}
	wantHeaders := map[string]string{
		"Content-Type":    "application/json",
		"Plaid-Client-Id": "client-1",
		"Plaid-Secret":    testSecret,
		"Plaid-Version":   "2020-09-14",
	}
	for k, want := range wantHeaders {
		if v := gotHeader.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
	if string(gotBody) != `{"key_id":"k1"}` {
		t.Errorf("body = %s, want {\"key_id\":\"k1\"} (credentials only in headers)", gotBody)
	}
	if got.Key.Kid != "k1" || got.Key.ExpiredAt != nil || got.RequestID != "req1" {
		t.Errorf("response = %+v, want kid k1, expired_at nil, request_id req1", got)
	}
}

func TestGetWebhookVerificationKeyRequiresKeyID(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1")
	if _, err := c.GetWebhookVerificationKey(context.Background(), ""); err == nil {
		t.Error("GetWebhookVerificationKey(\"\") succeeded, want error")
	}
}

func TestNonPlaidErrorBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html>bad gateway "+r.Header.Get("PLAID-SECRET")+"</html>")
	}))
	defer srv.Close()

	_, err := newTestClient(t, srv.URL).GetWebhookVerificationKey(context.Background(), "k1")
	var perr *Error
	if !errors.As(err, &perr) {
		t.Fatalf("error = %v (%T), want *Error", err, err)
	}
	if perr.HTTPStatus != http.StatusBadGateway || perr.ErrorCode != ErrorCodeUnexpectedResponse {
		t.Errorf("got HTTP %d %s, want HTTP 502 %s", perr.HTTPStatus, perr.ErrorCode, ErrorCodeUnexpectedResponse)
	}
	if errors.Is(err, ErrTransport) {
		t.Error("a complete non-200 answer must not count as a transport failure")
	}
	if strings.Contains(err.Error(), "bad gateway") || strings.Contains(err.Error(), testSecret) {
		t.Errorf("error %q quotes the response body", err)
	}
}

func TestTransportFailures(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)

	truncated := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, `{"key":`)
	}))
	defer truncated.Close()

	tests := []struct {
		name    string
		baseURL string
		timeout time.Duration
		wantIs  error
	}{
		{name: "connection refused", baseURL: closedURL},
		{name: "deadline", baseURL: slow.URL, timeout: 50 * time.Millisecond, wantIs: context.DeadlineExceeded},
		{name: "truncated body", baseURL: truncated.URL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			_, err := newTestClient(t, tc.baseURL).GetWebhookVerificationKey(ctx, "k1")
			if !errors.Is(err, ErrTransport) {
				t.Fatalf("error = %v, want one wrapping ErrTransport", err)
			}
			var perr *Error
			if errors.As(err, &perr) {
				t.Errorf("transport failure came back as *Error %v", perr)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error = %v, want one wrapping %v", err, tc.wantIs)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

func TestResponseBodyIsCapped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"request_id":"`)
		io.Copy(w, io.LimitReader(neverEnding('a'), maxResponseBytes))
		io.WriteString(w, `"}`)
	}))
	defer srv.Close()

	_, err := newTestClient(t, srv.URL).GetWebhookVerificationKey(context.Background(), "k1")
	if err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("error = %v, want a size-cap error", err)
	}
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	var leaked atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("PLAID-SECRET") != "")
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()

	// A caller-supplied client that would follow redirects.
	c, err := NewClient(Config{BaseURL: srv.URL, ClientID: "id", Secret: testSecret, HTTPClient: &http.Client{}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetWebhookVerificationKey(context.Background(), "k1")
	var perr *Error
	if !errors.As(err, &perr) || perr.HTTPStatus != http.StatusTemporaryRedirect {
		t.Errorf("error = %v, want *Error with HTTP 307", err)
	}
	if leaked.Load() {
		t.Error("the redirect was followed and PLAID-SECRET sent to its target")
	}
}

// TestErrorsNeverContainTheSecret covers Plaid error text that (hypothetically)
// echoes the secret, and every way a Config can be printed or logged.
func TestErrorsNeverContainTheSecret(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := r.Header.Get("PLAID-SECRET")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]any{
			"error_type":      "INVALID_INPUT",
			"error_code":      "INVALID_API_KEYS",
			"error_message":   "invalid client_id or secret provided: " + s,
			"display_message": "secret " + s,
			"request_id":      "req1",
		})
	}))
	defer srv.Close()

	cfg := Config{BaseURL: srv.URL, ClientID: "id", Secret: testSecret}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetWebhookVerificationKey(context.Background(), "k1")
	if !IsInvalidAPIKeys(err) {
		t.Fatalf("error = %v, want INVALID_API_KEYS", err)
	}
	var perr *Error
	errors.As(err, &perr)
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "cfg", cfg, "err", err)
	outputs := map[string]string{
		"err.Error()":        err.Error(),
		"%+v of *Error":      fmt.Sprintf("%+v", perr),
		"display_message":    *perr.DisplayMessage,
		"%v of Config":       fmt.Sprintf("%v", cfg),
		"%+v of Config":      fmt.Sprintf("%+v", cfg),
		"%#v of Config":      fmt.Sprintf("%#v", cfg),
		"slog of Config/err": logged.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, testSecret) {
			t.Errorf("%s contains the secret: %s", name, out)
		}
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{
		ErrorType:    "INVALID_INPUT",
		ErrorCode:    "INVALID_API_KEYS",
		ErrorMessage: "invalid client_id or secret provided",
		RequestID:    "RZ6Omi1bzzwDaLo",
		HTTPStatus:   400,
		Endpoint:     "/webhook_verification_key/get",
	}
	want := "plaid /webhook_verification_key/get: HTTP 400 INVALID_INPUT/INVALID_API_KEYS: invalid client_id or secret provided (request_id RZ6Omi1bzzwDaLo)"
	if got := e.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestErrorHelpers(t *testing.T) {
	unknownKey := &Error{HTTPStatus: 400, ErrorType: "INVALID_INPUT", ErrorCode: "INVALID_WEBHOOK_VERIFICATION_KEY_ID"}
	badKeys := &Error{HTTPStatus: 400, ErrorType: "INVALID_INPUT", ErrorCode: "INVALID_API_KEYS"}
	tests := []struct {
		name               string
		err                error
		unknownKey, badKey bool
	}{
		{name: "unknown key", err: unknownKey, unknownKey: true},
		{name: "wrapped unknown key", err: fmt.Errorf("verify: %w", unknownKey), unknownKey: true},
		{name: "unknown key code with HTTP 500", err: &Error{HTTPStatus: 500, ErrorCode: "INVALID_WEBHOOK_VERIFICATION_KEY_ID"}},
		{name: "invalid API keys", err: badKeys, badKey: true},
		{name: "transport", err: fmt.Errorf("x: %w", ErrTransport)},
		{name: "nil", err: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsUnknownWebhookKey(tc.err); got != tc.unknownKey {
				t.Errorf("IsUnknownWebhookKey = %v, want %v", got, tc.unknownKey)
			}
			if got := IsInvalidAPIKeys(tc.err); got != tc.badKey {
				t.Errorf("IsInvalidAPIKeys = %v, want %v", got, tc.badKey)
			}
		})
	}
}
