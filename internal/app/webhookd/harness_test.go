package webhookd

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/embednats"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// clock is a real clock that tests can shift, shared by the simulator (which
// signs) so tokens can be minted in the past or future.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time        { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) shift(d time.Duration) { c.offset.Store(int64(d)) }
func (c *clock) reset()                { c.offset.Store(0) }

// harness is webhookd wired to a real embedded JetStream server and the Plaid
// simulator over loopback HTTP.
type harness struct {
	t        testing.TB
	simClock *clock
	sim      *plaidsim.Sim
	simURL   string
	nats     *embednats.Server
	storeDir string
	app      *app
	url      string // POST /plaid/webhook
	adminURL string
	logs     *syncBuffer
	js       jetstream.JetStream // the test's own connection, for reading the stream
	cancel   context.CancelFunc
	done     chan error
}

type harnessOption func(*Config, *hooks)

func newHarness(t testing.TB, opts ...harnessOption) *harness {
	t.Helper()
	h := &harness{t: t, simClock: &clock{}, storeDir: t.TempDir(), logs: &syncBuffer{}}
	sim, err := plaidsim.New(plaidsim.Options{ClientID: "test_client_id", Secret: "test_secret", Now: h.simClock.now})
	if err != nil {
		t.Fatal(err)
	}
	h.sim = sim
	t.Cleanup(func() { _ = sim.Close() })
	simServer := httptest.NewServer(sim)
	t.Cleanup(simServer.Close)
	h.simURL = simServer.URL

	h.nats, err = embednats.Start(embednats.Options{StoreDir: h.storeDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.nats.Shutdown() })

	cfg, err := parseConfig([]string{
		"--listen", "127.0.0.1:0",
		"--admin-listen", "127.0.0.1:0",
		"--nats-url", h.nats.ClientURL(),
		"--nats-reconnect-wait", "20ms",
		"--plaid-base-url", h.simURL,
		"--plaid-client-id", "test_client_id",
		"--log-level", "debug",
	}, func(k string) string {
		if k == "PLAID_SECRET" {
			return "test_secret"
		}
		return ""
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	hk := hooks{}
	for _, o := range opts {
		o(&cfg, &hk)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.app, err = newAppWithHooks(ctx, cfg, h.logs, hk)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	h.url = "http://" + h.app.publicLn.Addr().String() + "/plaid/webhook"
	h.adminURL = "http://" + h.app.adminLn.Addr().String()
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.app.Run(ctx) }()
	t.Cleanup(func() { h.stop() })

	nc, err := nats.Connect(h.nats.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if h.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	h.waitReady()
	return h
}

// stop shuts webhookd down and returns Run's result; later calls return it too.
func (h *harness) stop() error {
	h.t.Helper()
	h.cancel()
	select {
	case err := <-h.done:
		h.done <- err
		return err
	case <-time.After(30 * time.Second):
		h.t.Fatal("webhookd did not stop within 30s")
		return nil
	}
}

// waitReady polls /readyz until it answers 200 (a condition, not a sleep).
func (h *harness) waitReady() {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(h.adminURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not synchronization
	}
	h.t.Fatal("webhookd never became ready")
}

// post sends body with a Plaid-Verification token and returns the status and
// response body.
func (h *harness) post(body []byte, token string) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Plaid-Verification", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// messages returns everything in PLAID_WEBHOOKS.
func (h *harness) messages() []*jetstream.RawStreamMsg {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := h.js.Stream(ctx, events.WebhookStream)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			h.t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// metric returns the text exposition of one metric family from /metrics.
func (h *harness) metric(name string) string {
	h.t.Helper()
	resp, err := http.Get(h.adminURL + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// plaidBody renders a webhook body the way Plaid does: keys sorted, 2-space
// indent, no trailing newline.
func plaidBody(t testing.TB, fields map[string]any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(fields); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func syncUpdates(t testing.TB, itemID string) []byte {
	return plaidBody(t, map[string]any{
		"webhook_type":               "TRANSACTIONS",
		"webhook_code":               "SYNC_UPDATES_AVAILABLE",
		"item_id":                    itemID,
		"initial_update_complete":    true,
		"historical_update_complete": true,
		"environment":                "sandbox",
	})
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// failKeyEndpoint makes Plaid's key endpoint answer 500 more often than the
// client retries.
func (h *harness) failKeyEndpoint() {
	h.sim.InjectFault("/webhook_verification_key/get", plaidsim.Fault{Count: 100, Status: http.StatusInternalServerError})
}
