package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/embednats"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
	"github.com/plaidstream/plaidstream/internal/tokens"
)

// fetchEnv is what the fetcher scenarios run on: an embedded JetStream
// server (file storage), the Plaid simulator behind a latency-adding,
// call-recording handler over loopback HTTP, and the token key the fetcher
// process is given.
type fetchEnv struct {
	dir      string
	ns       *embednats.Server
	nc       *nats.Conn
	js       jetstream.JetStream
	sim      *plaidsim.Sim
	simURL   string
	simSrv   *http.Server
	plaid    *latencyHandler
	tokenKey []byte
	tokens   *bus.TokenStore
}

// envOptions configure a fetchEnv.
type envOptions struct {
	Latency    time.Duration
	RateLimits bool
	// WebhookClient delivers the simulator's webhooks (nil: its default).
	WebhookClient *http.Client
}

// newFetchEnv starts NATS and the simulator under dir.
func newFetchEnv(dir string, o envOptions) (*fetchEnv, error) {
	e := &fetchEnv{dir: dir, tokenKey: make([]byte, tokens.KeySize)}
	_, _ = rand.Read(e.tokenKey) // never fails
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var err error
	if e.ns, err = embednats.Start(embednats.Options{StoreDir: filepath.Join(dir, "nats")}); err != nil {
		return nil, err
	}
	if e.nc, err = nats.Connect(e.ns.ClientURL(), nats.Name("loadgen-fetch")); err != nil {
		e.close()
		return nil, err
	}
	if e.js, err = jetstream.New(e.nc); err != nil {
		e.close()
		return nil, err
	}
	if e.sim, err = plaidsim.New(plaidsim.Options{Seed: 1, RateLimits: o.RateLimits, HTTPClient: o.WebhookClient}); err != nil {
		e.close()
		return nil, err
	}
	e.plaid = &latencyHandler{next: e.sim}
	e.plaid.setLatency(o.Latency)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.close()
		return nil, err
	}
	e.simURL = "http://" + ln.Addr().String()
	e.simSrv = &http.Server{Handler: e.plaid, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = e.simSrv.Serve(ln) }() // ends in close
	return e, nil
}

// close stops everything newFetchEnv started.
func (e *fetchEnv) close() {
	if e.simSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = e.simSrv.Shutdown(ctx)
		cancel()
	}
	if e.sim != nil {
		_ = e.sim.Close()
	}
	if e.nc != nil {
		e.nc.Close()
	}
	if e.ns != nil {
		e.ns.Shutdown()
	}
}

// tokenStore opens PLAID_TOKENS (created by the fetcher) with the key the
// fetcher was given.
func (e *fetchEnv) tokenStore(ctx context.Context) (*bus.TokenStore, error) {
	if e.tokens != nil {
		return e.tokens, nil
	}
	kv, err := e.js.KeyValue(ctx, events.TokensBucket)
	if err != nil {
		return nil, fmt.Errorf("tokens bucket: %w", err)
	}
	ring, err := tokens.NewKeyring(tokens.Key{ID: "0", Bytes: e.tokenKey})
	if err != nil {
		return nil, err
	}
	e.tokens = bus.NewTokenStore(kv, ring)
	return e.tokens, nil
}

// createItem makes a simulator item of n transactions (webhook: its URL,
// "" for none) and registers its token as `fetcher items add` would.
func (e *fetchEnv) createItem(ctx context.Context, n int, webhook string) (*plaidsim.CreatedItem, error) {
	it, err := e.sim.CreateItem(plaidsim.ItemOptions{Transactions: &n, Webhook: webhook})
	if err != nil {
		return nil, err
	}
	ts, err := e.tokenStore(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := ts.PutItem(ctx, it.ItemID, it.AccessToken, "", "sandbox"); err != nil {
		return nil, err
	}
	return it, nil
}

// trigger stores a SYNC_UPDATES_AVAILABLE webhook for itemID in
// PLAID_WEBHOOKS exactly as webhookd stores a verified one.
func (e *fetchEnv) trigger(ctx context.Context, itemID string) error {
	f, err := e.triggerAsync(itemID)
	if err != nil {
		return err
	}
	select {
	case <-f.Ok():
		return nil
	case err := <-f.Err():
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// triggerAsync is trigger without waiting for the PubAck.
func (e *fetchEnv) triggerAsync(itemID string) (jetstream.PubAckFuture, error) {
	body, err := webhookBody(itemID)
	if err != nil {
		return nil, err
	}
	env := events.WebhookEnvelope{WebhookType: "TRANSACTIONS", WebhookCode: "SYNC_UPDATES_AVAILABLE", ItemID: itemID, Environment: "sandbox"}
	token := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "bench-%s-%d", itemID, time.Now().UnixNano()))
	msgID := events.WebhookMsgID(token)
	msg := &nats.Msg{Subject: events.WebhookSubject(env.WebhookType, env.WebhookCode), Data: body,
		Header: nats.Header(events.WebhookHeaders(env, msgID, "bench", time.Now()))}
	return e.js.PublishMsgAsync(msg, jetstream.WithMsgID(msgID))
}

// waitIdle waits until the fetcher's consumer has nothing pending or
// unacknowledged.
func (e *fetchEnv) waitIdle(ctx context.Context) error {
	for {
		c, err := e.js.Consumer(ctx, events.WebhookStream, "fetcher")
		if err == nil {
			info, err := c.Info(ctx)
			if err == nil && info.NumPending == 0 && info.NumAckPending == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond): // poll interval
		}
	}
}

// completions subscribes to every plaid.sync.completed event and sends each
// owner id to the returned channel (buffered for n).
func (e *fetchEnv) completions(n int) (<-chan string, func(), error) {
	ch := make(chan string, n)
	sub, err := e.nc.Subscribe(events.EventSubjectPrefix+".*.sync.completed", func(m *nats.Msg) {
		owner := strings.Split(m.Subject, ".")[2]
		select {
		case ch <- owner:
		default:
		}
	})
	if err != nil {
		return nil, nil, err
	}
	return ch, func() { _ = sub.Unsubscribe() }, nil
}

// latencyHandler adds a fixed delay to every Plaid API call (not to the
// simulator's /sim/ control API) and records each call.
type latencyHandler struct {
	next http.Handler

	mu      sync.Mutex
	latency time.Duration
	calls   []plaidCall
}

// plaidCall is one Plaid API call as the server saw it, delay included.
type plaidCall struct {
	Path   string
	Token  string // access_token of the request, "" if none
	Start  time.Time
	Took   time.Duration
	Status int
}

func (h *latencyHandler) setLatency(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.latency = d
}

func (h *latencyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/sim/") {
		h.next.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	token := accessToken(r)
	h.mu.Lock()
	d := h.latency
	h.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	h.next.ServeHTTP(rec, r)
	h.mu.Lock()
	h.calls = append(h.calls, plaidCall{Path: r.URL.Path, Token: token, Start: start, Took: time.Since(start), Status: rec.status})
	h.mu.Unlock()
}

// accessToken reads the request's access_token and restores its body.
func accessToken(r *http.Request) string {
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return ""
	}
	var req struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(body, &req) // not every call has one
	return req.AccessToken
}

// since returns the calls that started at or after t.
func (h *latencyHandler) since(t time.Time) []plaidCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []plaidCall
	for _, c := range h.calls {
		if !c.Start.Before(t) {
			out = append(out, c)
		}
	}
	return out
}

// sumCalls adds up the durations of calls and counts them by status.
func sumCalls(calls []plaidCall) (time.Duration, map[int]int) {
	var total time.Duration
	status := map[int]int{}
	for _, c := range calls {
		total += c.Took
		status[c.Status]++
	}
	return total, status
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) {
	w.status = s
	w.ResponseWriter.WriteHeader(s)
}

// proc is a binary under test, run as its own process.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan error
}

// startProc starts bin with env added to ours, logging to dir/name.log.
func startProc(dir, name, bin string, env map[string]string, args ...string) (*proc, error) {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan error, 1)}
	go func() {
		p.done <- cmd.Wait()
		_ = logf.Close()
	}()
	return p, nil
}

// stop sends SIGTERM and waits; after 15 s it kills the process.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// memory returns the process's VmRSS and VmHWM (peak RSS) in bytes.
func (p *proc) memory() (rss, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, err
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	return rss, peak, sc.Err()
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitReady polls url until it answers 200 or p exits.
func waitReady(ctx context.Context, p *proc, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("%s exited before it was ready: %v (see its log)", p.name, err)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w", p.name, ctx.Err())
		case <-time.After(10 * time.Millisecond): // poll interval
		}
	}
}

// startFetcher runs the fetcher binary against e with the given Plaid rate
// (0: its default) and waits until it is ready.
func (e *fetchEnv) startFetcher(ctx context.Context, bin string, plaidRate float64) (*proc, error) {
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	env := map[string]string{
		"NATS_URL":              e.ns.ClientURL(),
		"PLAID_BASE_URL":        e.simURL,
		"PLAID_CLIENT_ID":       plaidsim.DefaultClientID,
		"PLAID_SECRET":          plaidsim.DefaultSecret,
		"PLAIDSTREAM_TOKEN_KEY": base64.StdEncoding.EncodeToString(e.tokenKey),
		"FETCHER_ADMIN_LISTEN":  admin,
		"FETCHER_REPLICA_NAME":  "bench",
	}
	if plaidRate > 0 {
		env["FETCHER_PLAID_RATE"] = strconv.FormatFloat(plaidRate, 'f', -1, 64)
	}
	p, err := startProc(e.dir, "fetcher", bin, env)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, p, "http://"+admin+"/readyz"); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// startWebhookd runs the webhookd binary against e and returns its webhook
// URL once it is ready.
func (e *fetchEnv) startWebhookd(ctx context.Context, bin string) (*proc, string, error) {
	public, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := startProc(e.dir, "webhookd", bin, map[string]string{"PLAID_SECRET": plaidsim.DefaultSecret},
		"--listen", public, "--admin-listen", admin, "--nats-url", e.ns.ClientURL(),
		"--plaid-base-url", e.simURL, "--plaid-client-id", plaidsim.DefaultClientID)
	if err != nil {
		return nil, "", err
	}
	if err := waitReady(ctx, p, "http://"+admin+"/readyz"); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, "http://" + public + "/plaid/webhook", nil
}

// decodeEvent reads the fields the scenarios need from an event body.
func decodeEvent(data []byte) (typ, updateID, txnID string, err error) {
	var e struct {
		Type     string `json:"type"`
		UpdateID string `json:"updateid"`
		Data     struct {
			TransactionID string `json:"transaction_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return "", "", "", errors.New("undecodable event")
	}
	return e.Type, e.UpdateID, e.Data.TransactionID, nil
}
