package webhookd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/embednats"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
	"github.com/plaidstream/plaidstream/internal/verify/verifytest"
)

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func noEnv(string) string { return "" }

func jsonLog(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

func TestVerifyCommand(t *testing.T) {
	iat := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	signer, err := verifytest.NewSigner("kid-cli", iat.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	body := syncUpdates(t, "item-cli")
	token := signer.Sign(body, iat)
	jwk, _ := json.Marshal(signer.JWK(nil))
	response, _ := json.Marshal(map[string]any{"key": signer.JWK(nil), "request_id": "req-1"})
	bodyFile := writeFile(t, "body.json", body)
	reformatted := writeFile(t, "body4.json", bytes.ReplaceAll(body, []byte("  "), []byte("    ")))
	jwkFile := writeFile(t, "key.json", jwk)
	responseFile := writeFile(t, "response.json", response)

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"valid with bare jwk", []string{"--body", bodyFile, "--token", token, "--jwk", jwkFile, "--at", iat.Add(time.Minute).Format(time.RFC3339)}, 0, "verdict: VALID"},
		{"explains the accepted window", []string{"--body", bodyFile, "--token", token, "--jwk", jwkFile, "--at", iat.Format(time.RFC3339)}, 0, "accepted from -5m0s to +5s"},
		{"zero skew rejects a future iat", []string{"--body", bodyFile, "--token", token, "--jwk", jwkFile, "--at", iat.Add(-time.Second).Format(time.RFC3339), "--max-future-skew", "0"}, 1, "INVALID (future)"},
		{"valid with key response and unix --at", []string{"--body", bodyFile, "--token", token, "--jwk", responseFile, "--at", strconv.FormatInt(iat.Unix()+10, 10)}, 0, "verdict: VALID"},
		{"stale at a later time", []string{"--body", bodyFile, "--token", token, "--jwk", jwkFile, "--at", iat.Add(10 * time.Minute).Format(time.RFC3339)}, 1, "INVALID (stale)"},
		{"re-indented body", []string{"--body", reformatted, "--token", token, "--jwk", jwkFile, "--at", iat.Format(time.RFC3339)}, 1, "INVALID (body_mismatch)"},
		{"garbage token", []string{"--body", bodyFile, "--token", "abc", "--jwk", jwkFile}, 1, "INVALID (malformed)"},
		{"missing body flag", []string{"--token", token, "--jwk", jwkFile}, 2, ""},
		{"bad --at", []string{"--body", bodyFile, "--token", token, "--jwk", jwkFile, "--at", "yesterday"}, 2, ""},
		{"no key and no credentials", []string{"--body", bodyFile, "--token", token}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), append([]string{"verify"}, tt.args...), noEnv, &out, &errOut)
			if got := exitCode(err, io.Discard); got != tt.wantCode {
				t.Fatalf("exit code: got %d (err %v), want %d\n%s", got, err, tt.wantCode, out.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output lacks %q:\n%s", tt.wantOut, out.String())
			}
		})
	}
}

func TestVerifyCommandFetchesKeyFromPlaid(t *testing.T) {
	sim, err := plaidsim.New(plaidsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	srv := httptest.NewServer(sim)
	defer srv.Close()
	body := syncUpdates(t, "item-live")
	token := sim.SignWebhook(body)
	env := map[string]string{"PLAID_BASE_URL": srv.URL, "PLAID_CLIENT_ID": "test_client_id", "PLAID_SECRET": "test_secret"}
	var out bytes.Buffer
	err = run(context.Background(), []string{"verify", "--body", writeFile(t, "b.json", body), "--token", token}, func(k string) string { return env[k] }, &out, io.Discard)
	if err != nil {
		t.Fatalf("got %v, want valid\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "from Plaid at "+srv.URL) || strings.Contains(out.String(), "test_secret") {
		t.Errorf("unexpected output:\n%s", out.String())
	}
}

func TestHelpNamesEverySetting(t *testing.T) {
	var errOut bytes.Buffer
	err := run(context.Background(), []string{"--help"}, noEnv, io.Discard, &errOut)
	if !errors.Is(err, flag.ErrHelp) || exitCode(err, io.Discard) != 0 {
		t.Fatalf("got %v, want flag.ErrHelp and exit 0", err)
	}
	for _, env := range []string{"WEBHOOKD_LISTEN", "WEBHOOKD_ADMIN_LISTEN", "NATS_URL", "NATS_CREDS", "NATS_NKEY_SEED_FILE", "NATS_TLS_CA", "PLAID_ENV", "PLAID_BASE_URL", "PLAID_CLIENT_ID", "PLAID_SECRET_FILE", "WEBHOOKD_MAX_BODY_BYTES", "WEBHOOKD_PUBLISH_TIMEOUT", "WEBHOOKD_STREAM_MAX_AGE", "WEBHOOKD_EMBEDDED_NATS"} {
		if !strings.Contains(errOut.String(), env) {
			t.Errorf("--help does not mention %s", env)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"no credentials", nil, nil},
		{"bad environment", []string{"--plaid-env", "development"}, map[string]string{"PLAID_CLIENT_ID": "c", "PLAID_SECRET": "s"}},
		{"bad duration in env", nil, map[string]string{"PLAID_CLIENT_ID": "c", "PLAID_SECRET": "s", "WEBHOOKD_PUBLISH_TIMEOUT": "soon"}},
		{"bad log level", []string{"--log-level", "loud"}, map[string]string{"PLAID_CLIENT_ID": "c", "PLAID_SECRET": "s"}},
		{"missing secret file", []string{"--plaid-secret-file", "/nonexistent/secret"}, map[string]string{"PLAID_CLIENT_ID": "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if code := exitCode(err, io.Discard); code != 2 {
				t.Fatalf("got exit code %d (%v), want 2", code, err)
			}
		})
	}
}

func TestSecretFromFileNeverPrinted(t *testing.T) {
	file := writeFile(t, "secret", []byte("s3cr3t-value\n"))
	cfg, err := parseConfig([]string{"--plaid-secret-file", file}, func(k string) string {
		return map[string]string{"PLAID_CLIENT_ID": "c"}[k]
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Plaid.Secret.Reveal() != "s3cr3t-value" {
		t.Errorf("secret: got %q", cfg.Plaid.Secret.Reveal())
	}
	var buf bytes.Buffer
	jsonLog(&buf).Info("config", "cfg", cfg, "secret", cfg.Plaid.Secret)
	if strings.Contains(buf.String(), "s3cr3t") {
		t.Errorf("secret leaked into a log line: %s", buf.String())
	}
}

// TestRunServesUntilCancelled drives the real entry point: run with
// arguments and environment, a webhook through it, then a clean stop.
func TestRunServesUntilCancelled(t *testing.T) {
	sim, err := plaidsim.New(plaidsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	ns, err := embednats.Start(embednats.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	env := map[string]string{
		"WEBHOOKD_LISTEN": "127.0.0.1:0", "WEBHOOKD_ADMIN_LISTEN": "127.0.0.1:0",
		"NATS_URL": ns.ClientURL(), "PLAID_BASE_URL": simSrv.URL,
		"PLAID_CLIENT_ID": "test_client_id", "PLAID_SECRET": "test_secret",
	}
	logs, logW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, func(k string) string { return env[k] }, logW, io.Discard)
		logW.Close()
	}()

	// The "webhookd ready" line names the bound addresses.
	var ready struct {
		Msg        string `json:"msg"`
		WebhookURL string `json:"webhook_url"`
	}
	lines := bufio.NewScanner(logs)
	for lines.Scan() {
		if strings.Contains(lines.Text(), "test_secret") {
			t.Errorf("a log line contains the Plaid secret")
		}
		if err := json.Unmarshal(lines.Bytes(), &ready); err == nil && ready.Msg == "webhookd ready" {
			break
		}
	}
	if ready.WebhookURL == "" {
		cancel()
		t.Fatalf("run never logged readiness: %v", <-done)
	}
	rest := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(logs)
		rest <- string(b)
	}()

	body := syncUpdates(t, "item-run")
	req, _ := http.NewRequest(http.MethodPost, ready.WebhookURL, bytes.NewReader(body))
	req.Header.Set("Plaid-Verification", sim.SignWebhook(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status: got %d, want 200", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run returned %v, want nil", err)
	}
	logged := <-rest
	if !strings.Contains(logged, `"msg":"webhook.received"`) || !strings.Contains(logged, `"item_id":"item-run"`) {
		t.Errorf("no webhook.received line for the request:\n%s", logged)
	}
	if strings.Contains(logged, "test_secret") {
		t.Errorf("a log line contains the Plaid secret")
	}
}
