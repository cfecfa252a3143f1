package webhookd

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/plaidstream/plaidstream/internal/embednats"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
	"github.com/plaidstream/plaidstream/internal/verify"
	"github.com/plaidstream/plaidstream/internal/verify/verifytest"
)

func TestWebhookIsStoredExactlyBeforeOK(t *testing.T) {
	h := newHarness(t)
	body := syncUpdates(t, "item-1")
	token := h.sim.SignWebhook(body)
	before := time.Now()

	status, resp := h.post(body, token)
	if status != http.StatusOK {
		t.Fatalf("status: got %d (%s), want 200", status, resp)
	}
	msgs := h.messages()
	if len(msgs) != 1 {
		t.Fatalf("stream holds %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if !bytes.Equal(m.Data, body) {
		t.Errorf("stored body differs from the signed bytes:\ngot  %q\nwant %q", m.Data, body)
	}
	if got, want := m.Subject, "plaid.webhooks.TRANSACTIONS.SYNC_UPDATES_AVAILABLE"; got != want {
		t.Errorf("subject: got %q, want %q", got, want)
	}
	kid, err := inspectToken(token)
	if err != nil {
		t.Fatal(err)
	}
	wantHeaders := map[string]string{
		events.HeaderMsgID:       events.WebhookMsgID(token),
		events.HeaderItemID:      "item-1",
		events.HeaderEnvironment: "sandbox",
		events.HeaderWebhookType: "TRANSACTIONS",
		events.HeaderWebhookCode: "SYNC_UPDATES_AVAILABLE",
		events.HeaderKeyID:       kid,
	}
	for k, want := range wantHeaders {
		if got := m.Header.Get(k); got != want {
			t.Errorf("header %s: got %q, want %q", k, got, want)
		}
	}
	if m.Header.Get(events.HeaderAccountID) != "" {
		t.Errorf("account header set on an item webhook")
	}
	decoded, err := events.DecodeWebhookMessage(m.Header, m.Data)
	if err != nil {
		t.Fatalf("decode stored message: %v", err)
	}
	if decoded.ReceivedAt.Before(before.Add(-time.Second)) || decoded.ReceivedAt.After(time.Now()) {
		t.Errorf("received-at %v is not the time of the request", decoded.ReceivedAt)
	}
	if !strings.Contains(h.metric("webhookd_webhooks_total"), `webhookd_webhooks_total{outcome="accepted",webhook_code="SYNC_UPDATES_AVAILABLE",webhook_type="TRANSACTIONS"} 1`) {
		t.Errorf("accepted webhook not counted:\n%s", h.metric("webhookd_webhooks_total"))
	}
}

// inspectToken returns the kid a token names.
func inspectToken(token string) (string, error) {
	info, err := verify.Inspect(token)
	return info.KeyID, err
}

func TestProcessorAndUnknownWebhooksArePublished(t *testing.T) {
	h := newHarness(t)
	processor := plaidBody(t, map[string]any{"webhook_type": "TRANSACTIONS", "webhook_code": "SYNC_UPDATES_AVAILABLE", "account_id": "acct-9", "environment": "production", "initial_update_complete": true, "historical_update_complete": false})
	unknown := plaidBody(t, map[string]any{"webhook_type": "BRAND_NEW_PRODUCT", "webhook_code": "SOMETHING_NEW", "payload": map[string]any{"a": 1}})
	for _, body := range [][]byte{processor, unknown} {
		if status, resp := h.post(body, h.sim.SignWebhook(body)); status != http.StatusOK {
			t.Fatalf("status: got %d (%s), want 200", status, resp)
		}
	}
	msgs := h.messages()
	if len(msgs) != 2 {
		t.Fatalf("got %d messages, want 2", len(msgs))
	}
	if got := msgs[0].Header.Get(events.HeaderAccountID); got != "acct-9" {
		t.Errorf("processor webhook account header: got %q, want acct-9", got)
	}
	if got := msgs[0].Header.Get(events.HeaderItemID); got != "" {
		t.Errorf("processor webhook has item header %q", got)
	}
	if got, want := msgs[1].Subject, "plaid.webhooks.BRAND_NEW_PRODUCT.SOMETHING_NEW"; got != want {
		t.Errorf("unknown webhook subject: got %q, want %q", got, want)
	}
}

func TestRejectedWebhooksAreNotStored(t *testing.T) {
	h := newHarness(t)
	good := syncUpdates(t, "item-1")
	other, err := verifytest.NewSigner(h.simKeyID(good), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		body       func() []byte
		token      func(body []byte) string
		wantStatus int
		wantReason string // verify failure reason, if any
	}{
		{"missing header", func() []byte { return good }, func([]byte) string { return "" }, 401, "missing_header"},
		{"garbage token", func() []byte { return good }, func([]byte) string { return "not.a.jwt" }, 401, "malformed"},
		{"signed by another key with the same kid", func() []byte { return good }, func(b []byte) string { return other.Sign(b, time.Now()) }, 401, "bad_signature"},
		{"one byte of the body changed", func() []byte { return good }, func(b []byte) string {
			token := h.sim.SignWebhook(b)
			b[len(b)-3] ^= 1
			return token
		}, 401, "body_mismatch"},
		{"stale token", func() []byte { return good }, func(b []byte) string {
			h.simClock.shift(-6 * time.Minute)
			defer h.simClock.reset()
			return h.sim.SignWebhook(b)
		}, 401, "stale"},
		{"token from the future", func() []byte { return good }, func(b []byte) string {
			h.simClock.shift(time.Minute)
			defer h.simClock.reset()
			return h.sim.SignWebhook(b)
		}, 401, "future"},
		{"unknown kid", func() []byte { return good }, func(b []byte) string {
			s, err := verifytest.NewSigner("no-such-kid", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			return s.Sign(b, time.Now())
		}, 401, "unknown_key"},
		{"malformed json", func() []byte { return []byte(`{"webhook_type": "TRANSACTIONS",`) }, h.sim.SignWebhook, 400, ""},
		{"no webhook code", func() []byte { return plaidBody(t, map[string]any{"webhook_type": "TRANSACTIONS"}) }, h.sim.SignWebhook, 400, ""},
		{"dot in code", func() []byte {
			return plaidBody(t, map[string]any{"webhook_type": "TRANSACTIONS", "webhook_code": "A.B", "item_id": "i"})
		}, h.sim.SignWebhook, 400, ""},
		{"wildcard in item id", func() []byte {
			return plaidBody(t, map[string]any{"webhook_type": "TRANSACTIONS", "webhook_code": "X", "item_id": ">"})
		}, h.sim.SignWebhook, 400, ""},
		{"oversized body", func() []byte {
			return plaidBody(t, map[string]any{"webhook_type": "TRANSACTIONS", "webhook_code": "X", "pad": strings.Repeat("x", 65<<10)})
		}, h.sim.SignWebhook, 413, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := append([]byte(nil), tt.body()...)
			token := tt.token(body)
			status, resp := h.post(body, token)
			if status != tt.wantStatus {
				t.Fatalf("status: got %d (%s), want %d", status, resp, tt.wantStatus)
			}
			if !strings.HasPrefix(resp, `{"error":{"code":`) {
				t.Errorf("error body is not our JSON error: %s", resp)
			}
			if token != "" && strings.Contains(resp, token) {
				t.Errorf("response echoes the token")
			}
			if tt.wantReason != "" && !strings.Contains(h.metric("webhookd_verify_failures_total"), `reason="`+tt.wantReason+`"} 1`) {
				t.Errorf("reason %s not counted:\n%s", tt.wantReason, h.metric("webhookd_verify_failures_total"))
			}
		})
	}
	if n := len(h.messages()); n != 0 {
		t.Errorf("stream holds %d messages after only rejected requests", n)
	}
	if logs := h.logs.String(); strings.Contains(logs, "test_secret") {
		t.Errorf("logs contain the Plaid secret")
	}
}

// simKeyID returns the kid the simulator currently signs with.
func (h *harness) simKeyID(body []byte) string {
	h.t.Helper()
	kid, err := inspectToken(h.sim.SignWebhook(body))
	if err != nil {
		h.t.Fatal(err)
	}
	return kid
}

func TestChunkedOversizedBodyIs413(t *testing.T) {
	h := newHarness(t)
	body := bytes.Repeat([]byte("x"), 70<<10)
	// An io.Reader without a length makes the client send it chunked, so
	// only the read cap (not Content-Length) can catch it.
	req, err := http.NewRequest(http.MethodPost, h.url, struct{ *bytes.Reader }{bytes.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Plaid-Verification", h.sim.SignWebhook(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status: got %d, want 413", resp.StatusCode)
	}
	if !strings.Contains(h.metric("webhookd_webhooks_total"), `outcome="too_large"`) {
		t.Error("oversized body not counted")
	}
}

func TestSameSignedRequestTwiceIsStoredOnce(t *testing.T) {
	h := newHarness(t)
	body := syncUpdates(t, "item-1")
	token := h.sim.SignWebhook(body)
	for i := range 2 {
		if status, resp := h.post(body, token); status != http.StatusOK {
			t.Fatalf("delivery %d: got %d (%s), want 200", i+1, status, resp)
		}
	}
	if n := len(h.messages()); n != 1 {
		t.Fatalf("got %d messages, want 1", n)
	}
	if !strings.Contains(h.metric("webhookd_webhooks_total"), `outcome="duplicate"`) {
		t.Error("duplicate not counted")
	}
}

func TestIdenticalBodiesWithDifferentTokensAreBothStored(t *testing.T) {
	h := newHarness(t)
	body := syncUpdates(t, "item-1")
	first := h.sim.SignWebhook(body)
	h.simClock.shift(time.Second) // a later notification: new iat, new token
	defer h.simClock.reset()
	second := h.sim.SignWebhook(body)
	if first == second {
		t.Fatal("simulator produced identical tokens")
	}
	for _, tok := range []string{first, second} {
		if status, resp := h.post(body, tok); status != http.StatusOK {
			t.Fatalf("got %d (%s), want 200", status, resp)
		}
	}
	if n := len(h.messages()); n != 2 {
		t.Fatalf("got %d messages, want 2", n)
	}
}

func TestNATSDownThenBack(t *testing.T) {
	h := newHarness(t)
	port := h.nats.Port()
	h.nats.Shutdown()

	body := syncUpdates(t, "item-down")
	status, resp := h.post(body, h.sim.SignWebhook(body))
	if status != http.StatusServiceUnavailable {
		t.Fatalf("with NATS down: got %d (%s), want 503", status, resp)
	}
	readyz, err := http.Get(h.adminURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	readyz.Body.Close()
	if readyz.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz with NATS down: got %d, want 503", readyz.StatusCode)
	}

	h.nats, err = embednats.Start(embednats.Options{Port: port, StoreDir: h.storeDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.nats.Shutdown() })
	h.waitReady()

	body2 := syncUpdates(t, "item-back")
	if status, resp := h.post(body2, h.sim.SignWebhook(body2)); status != http.StatusOK {
		t.Fatalf("with NATS back: got %d (%s), want 200", status, resp)
	}
	msgs := h.messages()
	if len(msgs) != 1 || msgs[0].Header.Get(events.HeaderItemID) != "item-back" {
		t.Fatalf("stream after outage: got %d messages, want only item-back (the 503'd webhook must not be stored)", len(msgs))
	}
	if !strings.Contains(h.metric("webhookd_webhooks_total"), `outcome="publish_failed"`) {
		t.Error("publish failure not counted")
	}
}

func TestKeyRotationAndKeyEndpointFailure(t *testing.T) {
	h := newHarness(t)
	body := syncUpdates(t, "item-1")
	if status, _ := h.post(body, h.sim.SignWebhook(body)); status != http.StatusOK {
		t.Fatalf("old key: got %d", status)
	}
	if _, err := h.sim.RotateKey(); err != nil {
		t.Fatal(err)
	}
	body2 := syncUpdates(t, "item-2")
	if status, resp := h.post(body2, h.sim.SignWebhook(body2)); status != http.StatusOK {
		t.Fatalf("rotated key: got %d (%s)", status, resp)
	}
	if got := h.sim.KeyFetches(); got != 2 {
		t.Errorf("key fetches: got %d, want 2 (one per kid)", got)
	}
	// A new kid while Plaid's key endpoint fails: 503 so Plaid retries.
	if _, err := h.sim.RotateKey(); err != nil {
		t.Fatal(err)
	}
	h.failKeyEndpoint()
	body3 := syncUpdates(t, "item-3")
	if status, resp := h.post(body3, h.sim.SignWebhook(body3)); status != http.StatusServiceUnavailable {
		t.Fatalf("key endpoint failing: got %d (%s), want 503", status, resp)
	}
	if !strings.Contains(h.metric("webhookd_key_fetches_total"), `result="error"} 1`) {
		t.Errorf("failed key fetch not counted:\n%s", h.metric("webhookd_key_fetches_total"))
	}
	if n := len(h.messages()); n != 2 {
		t.Errorf("got %d messages, want 2", n)
	}
}

// gatedPublisher holds every publish until released, so a test can act
// while a webhook is in flight.
type gatedPublisher struct {
	next    Publisher
	entered chan struct{}
	release chan struct{}
}

func (g *gatedPublisher) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	g.entered <- struct{}{}
	<-g.release
	return g.next.PublishMsg(ctx, msg, opts...)
}

func TestGracefulShutdownFinishesInFlightPublish(t *testing.T) {
	gate := &gatedPublisher{entered: make(chan struct{}, 1), release: make(chan struct{})}
	h := newHarness(t, func(_ *Config, hk *hooks) {
		hk.wrapPublisher = func(p Publisher) Publisher { gate.next = p; return gate }
	})
	body := syncUpdates(t, "item-inflight")
	token := h.sim.SignWebhook(body)

	type result struct {
		status int
		body   string
	}
	got := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, h.url, bytes.NewReader(body))
		req.Header.Set("Plaid-Verification", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- result{0, err.Error()}
			return
		}
		resp.Body.Close()
		got <- result{resp.StatusCode, ""}
	}()
	<-gate.entered // the webhook is verified and its publish has begun

	h.cancel() // SIGTERM
	// /readyz fails first, while the request is still in flight.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(h.adminURL + "/readyz")
		if err != nil {
			t.Fatalf("admin listener closed before in-flight work finished: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz never failed during shutdown")
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
	close(gate.release)

	r := <-got
	if r.status != http.StatusOK {
		t.Fatalf("in-flight webhook: got %d %s, want 200", r.status, r.body)
	}
	if err := h.stop(); err != nil {
		t.Fatalf("Run returned %v, want nil", err)
	}
	if n := len(h.messages()); n != 1 {
		t.Fatalf("got %d messages, want the in-flight one stored", n)
	}
}

func TestKeyEndpointProblemsAnswer503(t *testing.T) {
	tests := []struct {
		name    string
		option  harnessOption
		fault   *plaidsim.Fault
		wantLog string
	}{
		{
			name:    "our credentials rejected",
			option:  func(c *Config, _ *hooks) { c.Plaid.Secret = "wrong_secret" },
			wantLog: "Plaid rejected our client id or secret",
		},
		{
			name:   "key endpoint times out",
			option: func(c *Config, _ *hooks) { c.Plaid.KeyFetchTimeout = 50 * time.Millisecond },
			fault:  &plaidsim.Fault{Count: 100, Delay: 10 * time.Second},
		},
		{
			name:   "key endpoint rate limited",
			option: func(*Config, *hooks) {},
			fault:  &plaidsim.Fault{Count: 100, Status: http.StatusTooManyRequests},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.option)
			if tt.fault != nil {
				h.sim.InjectFault("/webhook_verification_key/get", *tt.fault)
			}
			body := syncUpdates(t, "item-1")
			if status, resp := h.post(body, h.sim.SignWebhook(body)); status != http.StatusServiceUnavailable {
				t.Fatalf("got %d (%s), want 503", status, resp)
			}
			if !strings.Contains(h.metric("webhookd_verify_failures_total"), `reason="key_fetch_failed"} 1`) {
				t.Errorf("key fetch failure not counted")
			}
			logs := h.logs.String()
			if tt.wantLog != "" && !strings.Contains(logs, tt.wantLog) {
				t.Errorf("logs lack %q", tt.wantLog)
			}
			for _, secret := range []string{"wrong_secret", "test_secret"} {
				if strings.Contains(logs, secret) {
					t.Errorf("logs contain the secret %q", secret)
				}
			}
			if n := len(h.messages()); n != 0 {
				t.Errorf("got %d messages, want 0", n)
			}
		})
	}
}

func TestMetricsLint(t *testing.T) {
	reg := newRegistry()
	m := newMetrics(reg, func() int { return 0 })
	m.webhookHandled("TRANSACTIONS", "DEFAULT_UPDATE", outcomeAccepted, time.Millisecond)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
}

func TestExpiredKeyIsRejected(t *testing.T) {
	h := newHarness(t)
	body := syncUpdates(t, "item-1")
	if err := h.sim.ExpireKey(h.sim.CurrentKeyID()); err != nil {
		t.Fatal(err)
	}
	// The simulator keeps signing with the expired key until it rotates.
	if status, resp := h.post(body, h.sim.SignWebhook(body)); status != http.StatusUnauthorized {
		t.Fatalf("got %d (%s), want 401", status, resp)
	}
	if !strings.Contains(h.metric("webhookd_verify_failures_total"), `reason="expired_key"} 1`) {
		t.Errorf("expired key not counted:\n%s", h.metric("webhookd_verify_failures_total"))
	}
	if !strings.Contains(h.metric("webhookd_key_fetches_total"), `result="expired"} 1`) {
		t.Errorf("expired key fetch not counted:\n%s", h.metric("webhookd_key_fetches_total"))
	}
}

// TestZeroFutureSkewRejectsFutureIat: --max-future-skew 0 passes validation
// and means "no future iat", not verify's 5 s default.
func TestZeroFutureSkewRejectsFutureIat(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *hooks) { c.Verify.MaxFutureSkew = 0 })
	body := syncUpdates(t, "item-skew")
	h.simClock.shift(2 * time.Second) // iat 1-2 s ahead: inside the 5 s default
	token := h.sim.SignWebhook(body)
	h.simClock.reset()
	if status, resp := h.post(body, token); status != http.StatusUnauthorized {
		t.Fatalf("got %d (%s), want 401", status, resp)
	}
	if !strings.Contains(h.metric("webhookd_verify_failures_total"), `reason="future"} 1`) {
		t.Errorf("future iat not counted:\n%s", h.metric("webhookd_verify_failures_total"))
	}
	if n := len(h.messages()); n != 0 {
		t.Errorf("got %d messages, want 0", n)
	}
}

// TestFailedStartReleasesListeners: when newApp fails after the --dev
// simulator bound its port, the port is released again.
func TestFailedStartReleasesListeners(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	devAddr := free.Addr().String()
	free.Close()

	cfg, err := parseConfig([]string{
		"--dev",
		"--dev-plaid-listen", devAddr,
		"--embedded-nats-listen", "127.0.0.1:0",
		"--embedded-nats-dir", t.TempDir(),
		"--listen", busy.Addr().String(), // makes newApp fail after the simulator started
		"--admin-listen", "127.0.0.1:0",
	}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, io.Discard)
	if err == nil {
		a.closeAll(context.Background())
		t.Fatal("newApp succeeded on a busy public address")
	}
	if !strings.Contains(err.Error(), "public listener") {
		t.Fatalf("got %v, want the public listener error", err)
	}
	ln, err := net.Listen("tcp", devAddr)
	if err != nil {
		t.Fatalf("simulator port still held after a failed start: %v", err)
	}
	ln.Close()
}

// TestStartFailsCleanlyWithoutNATS: a startup failure is an error from
// newApp (exit status 1 from run), not a panic in the cleanup.
func TestStartFailsCleanlyWithoutNATS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	natsURL := "nats://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	cfg, err := parseConfig([]string{
		"--nats-url", natsURL,
		"--listen", "127.0.0.1:0",
		"--admin-listen", "127.0.0.1:0",
		"--plaid-client-id", "c",
	}, func(k string) string { return map[string]string{"PLAID_SECRET": "s"}[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, io.Discard)
	if err == nil {
		a.closeAll(context.Background())
		t.Fatal("newApp succeeded without a NATS server")
	}
	if !strings.Contains(err.Error(), "connect to nats") {
		t.Errorf("got %v, want the NATS connect error", err)
	}
}

// TestShutdownDelayKeepsServingAfterReadyzFails: with a shutdown delay,
// /readyz fails first while webhooks are still accepted and stored, so a
// load balancer can stop sending before the listener closes.
func TestShutdownDelayKeepsServingAfterReadyzFails(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *hooks) { c.HTTP.ShutdownDelay = 3 * time.Second })
	h.cancel() // SIGTERM
	deadline := time.Now().Add(2 * time.Second)
	for {
		resp, err := http.Get(h.adminURL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not fail at the start of shutdown")
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
	body := syncUpdates(t, "item-late")
	if status, resp := h.post(body, h.sim.SignWebhook(body)); status != http.StatusOK {
		t.Fatalf("during the shutdown delay: got %d (%s), want 200", status, resp)
	}
	if err := h.stop(); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	if n := len(h.messages()); n != 1 {
		t.Errorf("got %d messages, want 1", n)
	}
}
