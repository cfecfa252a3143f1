package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/verify"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// started is a run in the background, serving on url.
type started struct {
	url    string
	cancel context.CancelFunc
	done   <-chan error  // run's result
	logs   <-chan string // every log line after the startup line, once run returned
}

// startRun calls run in a goroutine and waits for its "plaidsim listening"
// line, which names the bound URL.
func startRun(t *testing.T, args []string, env map[string]string) *started {
	t.Helper()
	logs, logW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	returned := make(chan struct{})
	go func() {
		done <- run(ctx, args, envOf(env), logW, io.Discard)
		logW.Close()
		close(returned)
	}()
	t.Cleanup(func() {
		cancel()
		<-returned
	})

	var line struct {
		Msg string `json:"msg"`
		URL string `json:"url"`
	}
	lines := bufio.NewScanner(logs)
	var first []string
	for lines.Scan() {
		first = append(first, lines.Text())
		if err := json.Unmarshal(lines.Bytes(), &line); err == nil && line.Msg == "plaidsim listening" {
			break
		}
	}
	if line.URL == "" {
		cancel()
		t.Fatalf("run never logged \"plaidsim listening\" with a url: %v\n%s", <-done, strings.Join(first, "\n"))
	}
	rest := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(logs)
		rest <- strings.Join(first, "\n") + "\n" + string(b)
	}()
	return &started{url: line.URL, cancel: cancel, done: done, logs: rest}
}

type plaidAnswer struct {
	status int
	body   []byte
}

func postJSON(t *testing.T, url string, headers map[string]string, body string) plaidAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return plaidAnswer{resp.StatusCode, b}
}

// kidOf returns the kid in a Plaid-Verification token's header.
func kidOf(t *testing.T, token string) string {
	t.Helper()
	header, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil || h.Kid == "" {
		t.Fatalf("token header %s: no kid (%v)", raw, err)
	}
	return h.Kid
}

// TestRunServesPlaid drives the real entry point over real HTTP: settings
// from flags and the environment, a signed webhook out, its key fetched with
// the configured credentials and the token verified, wrong credentials
// refused as Plaid does, then a clean stop.
func TestRunServesPlaid(t *testing.T) {
	const clientID, secret = "client-from-env", "secret-from-env"
	s := startRun(t,
		[]string{"--listen", "127.0.0.1:0", "--time-factor", "1000", "--seed", "42"},
		map[string]string{"PLAIDSIM_CLIENT_ID": clientID, "PLAIDSIM_SECRET": secret, "PLAIDSIM_RATE_LIMITS": "true"})

	type received struct {
		token string
		body  []byte
	}
	got := make(chan received, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- received{r.Header.Get("Plaid-Verification"), b}
		w.WriteHeader(http.StatusOK)
	}))
	defer receiver.Close()

	send := postJSON(t, s.url+"/sim/webhooks/send", nil,
		`{"url":"`+receiver.URL+`/plaid/webhook","body":{"webhook_type":"TRANSACTIONS","webhook_code":"SYNC_UPDATES_AVAILABLE","item_id":"item-cli","environment":"sandbox","initial_update_complete":true,"historical_update_complete":true}}`)
	if send.status/100 != 2 {
		t.Fatalf("/sim/webhooks/send: got %d %s, want 2xx", send.status, send.body)
	}
	var hook received
	select {
	case hook = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the receiver never got the webhook")
	}

	keyReq := `{"key_id":"` + kidOf(t, hook.token) + `"}`
	key := postJSON(t, s.url+"/webhook_verification_key/get",
		map[string]string{"PLAID-CLIENT-ID": clientID, "PLAID-SECRET": secret}, keyReq)
	if key.status != http.StatusOK {
		t.Fatalf("/webhook_verification_key/get: got %d %s, want 200", key.status, key.body)
	}
	jwk, err := verify.ParseJWK(key.body)
	if err != nil {
		t.Fatalf("key response %s: %v", key.body, err)
	}
	v := verify.New(verify.StaticKeys{jwk}, verify.Options{})
	if _, err := v.Verify(context.Background(), hook.token, hook.body); err != nil {
		t.Errorf("the webhook's token does not verify with the served key: %v", err)
	}

	tests := []struct {
		name    string
		headers map[string]string
	}{
		{"wrong secret", map[string]string{"PLAID-CLIENT-ID": clientID, "PLAID-SECRET": "not-the-secret"}},
		{"the defaults, overridden by the environment", map[string]string{"PLAID-CLIENT-ID": "test_client_id", "PLAID-SECRET": "test_secret"}},
		{"no credentials", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := postJSON(t, s.url+"/webhook_verification_key/get", tt.headers, keyReq)
			var e struct {
				ErrorType string `json:"error_type"`
				ErrorCode string `json:"error_code"`
			}
			if err := json.Unmarshal(a.body, &e); err != nil {
				t.Fatalf("body %s: %v", a.body, err)
			}
			if a.status != http.StatusBadRequest || e.ErrorType != "INVALID_INPUT" || e.ErrorCode != "INVALID_API_KEYS" {
				t.Errorf("got %d %s/%s, want 400 INVALID_INPUT/INVALID_API_KEYS", a.status, e.ErrorType, e.ErrorCode)
			}
		})
	}

	s.cancel()
	if err := <-s.done; err != nil {
		t.Fatalf("run returned %v, want nil", err)
	}
	logged := <-s.logs
	for _, want := range []string{`"msg":"plaidsim listening"`, `"seed":42`, `"time_factor":1000`, `"rate_limits":true`, `"msg":"stopped"`} {
		if !strings.Contains(logged, want) {
			t.Errorf("logs lack %s:\n%s", want, logged)
		}
	}
	if strings.Contains(logged, secret) {
		t.Errorf("a log line contains the secret:\n%s", logged)
	}
}

func TestHelpNamesEverySetting(t *testing.T) {
	var errOut bytes.Buffer
	err := run(context.Background(), []string{"--help"}, envOf(nil), io.Discard, &errOut)
	if !errors.Is(err, flag.ErrHelp) || exitCode(err, io.Discard) != 0 {
		t.Fatalf("got %v, want flag.ErrHelp and exit 0", err)
	}
	help := errOut.String()
	for _, want := range []string{
		"PLAIDSIM_LISTEN", "PLAIDSIM_SEED", "PLAIDSIM_TIME_FACTOR", "PLAIDSIM_RATE_LIMITS",
		"PLAIDSIM_CLIENT_ID", "PLAIDSIM_SECRET", "PLAIDSIM_LOG_LEVEL",
		"-listen", "-seed", "-time-factor", "-rate-limits", "-client-id", "-secret", "-log-level",
		"127.0.0.1:8600", "test_client_id", "test_secret",
		"/sim/", "docs/plaidsim.md", "Plaid-Verification",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("--help does not mention %s", want)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"unknown flag", []string{"--no-such-flag"}, nil},
		{"stray argument", []string{"serve"}, nil},
		{"bad seed", []string{"--seed", "many"}, nil},
		{"bad time factor in env", nil, map[string]string{"PLAIDSIM_TIME_FACTOR": "fast"}},
		{"bad rate limits in env", nil, map[string]string{"PLAIDSIM_RATE_LIMITS": "perhaps"}},
		{"zero time factor", []string{"--time-factor", "0"}, nil},
		{"negative time factor", []string{"--time-factor", "-2"}, nil},
		{"NaN time factor", []string{"--time-factor", "NaN"}, nil},
		{"infinite time factor", []string{"--time-factor", "+Inf"}, nil},
		{"empty client id", []string{"--client-id", ""}, nil},
		{"empty secret", []string{"--secret", ""}, nil},
		{"bad log level", []string{"--log-level", "loud"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout bytes.Buffer
			err := run(context.Background(), tt.args, envOf(tt.env), &stdout, io.Discard)
			if code := exitCode(err, io.Discard); code != 2 {
				t.Fatalf("got exit code %d (%v), want 2", code, err)
			}
			if stdout.Len() != 0 {
				t.Errorf("run logged before its settings were valid:\n%s", stdout.String())
			}
		})
	}
}

// TestListenFailureExitsOne: a port already taken is a runtime error (exit
// 1), reported rather than logged and forgotten.
func TestListenFailureExitsOne(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = run(context.Background(), []string{"--listen", ln.Addr().String()}, envOf(nil), io.Discard, io.Discard)
	if code := exitCode(err, io.Discard); code != 1 {
		t.Fatalf("got exit code %d (%v), want 1", code, err)
	}
}
