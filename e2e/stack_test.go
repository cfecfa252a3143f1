//go:build unix

package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// Timing of the run. The fetchers' lease TTL and AckWait are short so a
// killed replica's work moves on within seconds (the 60 s production
// defaults are proven in internal/fetchjs.TestKilledReplicaIsReplaced);
// plaidsim's time factor turns Plaid's webhook retry schedule (30 s, 2 m,
// 8 m, ...) into 0.25 s, 1 s, 4 s, ...
const (
	fetcherLeaseTTL = "3s"
	fetcherAckWait  = "3s"
	consumerAckWait = "3s"
	simTimeFactor   = "120"
	// readyWithin bounds a program's start, from exec to its ready line.
	readyWithin = 30 * time.Second
)

// stack is every process of the pipeline, plus the test's own clients.
type stack struct {
	t    *testing.T
	bins string
	dir  string
	seed int64

	mu    sync.Mutex
	procs []*proc // every process started, live or not, for the report

	natsDir  string
	natsPort int
	natsURL  string
	nats     *proc

	simProc *proc
	simURL  string

	webhookd      *proc
	webhookURL    string
	webhookdAdmin string
	// replayURL is a proxy to webhookd that sends every request twice.
	replayURL string
	replays   *replayProxy

	fetcherEnv []string
	fetchers   map[string]*proc  // by replica name
	admins     map[string]string // admin base URL by replica name
	adminToken string

	consumer  *proc
	storePath string

	http *http.Client
	nc   *nats.Conn
	js   jetstream.JetStream
}

// newStack builds the binaries and starts every process; everything is
// stopped when the test ends.
func newStack(t *testing.T, seed int64) *stack {
	t.Helper()
	s := &stack{
		t: t, bins: binaries(t), dir: t.TempDir(), seed: seed,
		fetchers: map[string]*proc{}, admins: map[string]string{},
		http: &http.Client{Timeout: 30 * time.Second},
	}
	t.Cleanup(s.report)
	t.Cleanup(s.stopAll)

	s.natsDir = filepath.Join(s.dir, "nats")
	s.startNATS(-1) // the first start picks a free port; restarts reuse it
	var err error
	s.nc, err = nats.Connect(s.natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.Name("e2e-test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.nc.Close)
	if s.js, err = jetstream.New(s.nc); err != nil {
		t.Fatal(err)
	}

	s.simProc = s.start("plaidsim", "plaidsim", []string{"--listen", "127.0.0.1:0", "--seed", strconv.FormatInt(seed, 10),
		"--time-factor", simTimeFactor, "--client-id", plaidsim.DefaultClientID}, []string{"PLAIDSIM_SECRET=" + plaidsim.DefaultSecret})
	s.simURL = s.readyField(s.simProc, "plaidsim listening", "url")

	s.webhookd = s.start("webhookd", "webhookd", nil, []string{
		"WEBHOOKD_LISTEN=127.0.0.1:0", "WEBHOOKD_ADMIN_LISTEN=127.0.0.1:0", "NATS_URL=" + s.natsURL,
		"NATS_RECONNECT_WAIT=100ms", "PLAID_BASE_URL=" + s.simURL,
		"PLAID_CLIENT_ID=" + plaidsim.DefaultClientID, "PLAID_SECRET=" + plaidsim.DefaultSecret,
	})
	line := s.webhookd.waitLine(t, `"webhookd ready"`, readyWithin, func(l string) bool { _, ok := msgField(l, "webhookd ready", "webhook_url"); return ok })
	s.webhookURL, _ = msgField(line, "webhookd ready", "webhook_url")
	addr, _ := msgField(line, "webhookd ready", "admin_addr")
	s.webhookdAdmin = "http://" + addr
	s.replays = &replayProxy{target: s.webhookURL, client: &http.Client{Timeout: 15 * time.Second}}
	proxy := httptest.NewServer(s.replays)
	t.Cleanup(proxy.Close)
	s.replayURL = proxy.URL + "/plaid/webhook"

	s.adminToken = randomHex(16)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s.fetcherEnv = []string{
		"NATS_URL=" + s.natsURL, "NATS_RECONNECT_WAIT=100ms",
		"PLAID_BASE_URL=" + s.simURL, "PLAID_CLIENT_ID=" + plaidsim.DefaultClientID, "PLAID_SECRET=" + plaidsim.DefaultSecret,
		"PLAIDSTREAM_TOKEN_KEY=" + base64.StdEncoding.EncodeToString(key),
		"FETCHER_ADMIN_LISTEN=127.0.0.1:0", "FETCHER_ADMIN_TOKEN=" + s.adminToken,
		"FETCHER_WORKERS=2", // FETCHER_MAX_ACK_PENDING stays at its default
		"FETCHER_LEASE_TTL=" + fetcherLeaseTTL, "FETCHER_ACK_WAIT=" + fetcherAckWait,
		"FETCHER_SHUTDOWN_TIMEOUT=5s",
		// The sweep only picks up owners that never synced or whose
		// message was dead-lettered (the stale-after stays at 24 h), so it
		// cannot hide a lost webhook; it is the designed backstop for
		// dead letters.
		"FETCHER_SWEEP_INTERVAL=5s",
	}
	for _, name := range []string{"fetcher-a", "fetcher-b"} {
		s.startFetcher(name)
	}

	s.storePath = filepath.Join(s.dir, "consumer", "store.json")
	s.startConsumer()
	return s
}

// start runs one of the built binaries.
func (s *stack) start(name, bin string, args, env []string) *proc {
	s.t.Helper()
	p := startProc(s.t, name, filepath.Join(s.bins, bin), args, env)
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p
}

// readyField waits for p's JSON log line msg and returns its field k.
func (s *stack) readyField(p *proc, msg, k string) string {
	s.t.Helper()
	line := p.waitLine(s.t, fmt.Sprintf("%q log line", msg), readyWithin, func(l string) bool { _, ok := msgField(l, msg, k); return ok })
	v, _ := msgField(line, msg, k)
	return v
}

// startNATS starts nats-server with JetStream on the stack's file store,
// on port (-1: any free one; then the port is remembered).
func (s *stack) startNATS(port int) {
	s.t.Helper()
	s.nats = s.start("nats-server", "nats-server", []string{"-js", "-sd", s.natsDir, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-n", "e2e"}, nil)
	const listening = "Listening for client connections on "
	line := s.nats.waitLine(s.t, "nats-server listening", readyWithin, func(l string) bool { return strings.Contains(l, listening) })
	hostPort := strings.TrimSpace(line[strings.Index(line, listening)+len(listening):])
	s.nats.waitLine(s.t, "nats-server ready", readyWithin, func(l string) bool { return strings.Contains(l, "Server is ready") })
	if s.natsPort == 0 {
		_, p, err := net.SplitHostPort(hostPort)
		if err != nil {
			s.t.Fatalf("nats-server address %q: %v", hostPort, err)
		}
		s.natsPort, _ = strconv.Atoi(p)
		s.natsURL = "nats://" + hostPort
	}
}

// restartNATS stops nats-server with SIGTERM (it flushes its store) and,
// once during calls while it is down, starts it again on the same port and
// store directory.
func (s *stack) restartNATS(during func()) {
	s.t.Helper()
	if err := s.nats.stop(20 * time.Second); err != nil {
		s.t.Fatalf("nats-server: %v", err)
	}
	during()
	s.startNATS(s.natsPort)
}

// startFetcher starts (or restarts) the fetcher replica name.
func (s *stack) startFetcher(name string) {
	s.t.Helper()
	p := s.start(name, "fetcher", nil, append(s.fetcherEnv, "FETCHER_REPLICA_NAME="+name))
	s.fetchers[name] = p
	s.admins[name] = "http://" + s.readyField(p, "fetcher ready", "admin_addr")
}

// startConsumer starts (or restarts) the example consumer.
func (s *stack) startConsumer() {
	s.t.Helper()
	// Small batches: more of them, so a kill lands mid-batch more often.
	s.consumer = s.start("consumer", "consumer", []string{"--durable", "e2e", "--store", s.storePath, "--ack-wait", consumerAckWait, "--batch", "64"},
		[]string{"NATS_URL=" + s.natsURL})
	s.readyField(s.consumer, "consumer ready", "durable")
}

// allProcs returns every process started so far.
func (s *stack) allProcs() []*proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*proc(nil), s.procs...)
}

// stopAll stops every live process with SIGTERM: the clients of NATS at
// once, then nats-server, so they can drain.
func (s *stack) stopAll() {
	procs := s.allProcs()
	var wg sync.WaitGroup
	for _, p := range procs {
		if p.name == "nats-server" {
			continue
		}
		wg.Go(func() {
			if err := p.stop(15 * time.Second); err != nil {
				s.t.Errorf("%v", err)
			}
		})
	}
	wg.Wait()
	for _, p := range procs {
		if err := p.stop(15 * time.Second); err != nil {
			s.t.Errorf("%v", err)
		}
	}
}

// report prints the seed and every process's last lines if the test
// failed, and writes the whole logs to -logs if set.
func (s *stack) report() {
	procs := s.allProcs()
	if dir := *logsFlag; dir != "" {
		for i, p := range procs {
			name := filepath.Join(dir, fmt.Sprintf("%02d-%s.log", i, p.name))
			if err := os.WriteFile(name, []byte(strings.Join(p.logs.all(), "\n")+"\n"), 0o644); err != nil {
				s.t.Errorf("write log: %v", err)
			}
		}
	}
	if !s.t.Failed() {
		return
	}
	for _, p := range procs {
		state := "running"
		if !p.alive() {
			state = fmt.Sprintf("exited: %v", p.err)
		}
		s.t.Logf("──── %s (pid %d, %s), last lines:\n%s", p.name, p.cmd.Process.Pid, state, p.logs.tail(40))
	}
	s.t.Logf("seed %d: go test ./e2e -run '%s' -seed=%d -v", s.seed, s.t.Name(), s.seed)
}

// anyAdmin returns the admin URL of a live fetcher.
func (s *stack) anyAdmin() string {
	s.t.Helper()
	for _, name := range []string{"fetcher-a", "fetcher-b"} {
		if p := s.fetchers[name]; p != nil && p.alive() {
			return s.admins[name]
		}
	}
	s.t.Fatal("no live fetcher")
	return ""
}

// call sends a JSON request and decodes a JSON answer into out (if not
// nil); any status but want fails the test.
func (s *stack) call(method, url string, header http.Header, body any, want int, out any) {
	s.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		s.t.Fatalf("%s %s: status %d, want %d: %s", method, url, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
}

// sim calls plaidsim's /sim/ control API.
func (s *stack) sim(method, path string, body, out any) {
	s.t.Helper()
	s.call(method, s.simURL+path, nil, body, http.StatusOK, out)
}

// plaid calls one of plaidsim's Plaid endpoints with our credentials.
func (s *stack) plaid(path string, body map[string]any, out any) {
	s.t.Helper()
	h := http.Header{"Plaid-Client-Id": {plaidsim.DefaultClientID}, "Plaid-Secret": {plaidsim.DefaultSecret}}
	s.call(http.MethodPost, s.simURL+path, h, body, http.StatusOK, out)
}

// admin calls the fetcher admin API of any live replica.
func (s *stack) admin(method, path string, body any, want int) {
	s.t.Helper()
	h := http.Header{"Authorization": {"Bearer " + s.adminToken}}
	s.call(method, s.anyAdmin()+path, h, body, want, nil)
}

// replayProxy forwards each webhook to webhookd twice, byte for byte and
// with the same Plaid-Verification token, as a load balancer that retries
// would; plaidsim gets the first answer. webhookd must store it once.
type replayProxy struct {
	target string
	client *http.Client

	mu      sync.Mutex
	replays int // second copies webhookd answered 200
}

func (p *replayProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	send := func() (int, []byte, error) {
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, p.target, bytes.NewReader(body))
		if err != nil {
			return 0, nil, err
		}
		req.Header = r.Header.Clone()
		resp, err := p.client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b, nil
	}
	code, b, err := send()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if again, _, err := send(); err == nil && again == http.StatusOK {
		p.mu.Lock()
		p.replays++
		p.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func (p *replayProxy) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.replays
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// dumpStore reads the consumer's store through its --dump mode.
func (s *stack) dumpStore() (*storeDump, error) {
	out, err := exec.Command(filepath.Join(s.bins, "consumer"), "--dump", "--store", s.storePath).Output()
	if err != nil {
		return nil, fmt.Errorf("consumer --dump: %w", err)
	}
	var d storeDump
	if err := json.Unmarshal(out, &d); err != nil {
		return nil, fmt.Errorf("consumer --dump: %w", err)
	}
	return &d, nil
}

// storeDump is the consumer's store as --dump prints it
// (examples/consumer/apply.go, Store).
type storeDump struct {
	StreamSeq uint64                `json:"stream_seq"`
	Owners    map[string]*ownerDump `json:"owners"`
	Stats     struct {
		Events, Applied, Duplicates, Stale, Updates, Gaps, Incomplete, Dropped, Malformed, Ignored int
	} `json:"stats"`
}

type ownerDump struct {
	ResyncEpoch      uint64                     `json:"resync_epoch"`
	Removed          bool                       `json:"removed"`
	Status           string                     `json:"status"`
	Updates          int                        `json:"updates"`
	Gaps             int                        `json:"gaps"`
	Transactions     map[string]json.RawMessage `json:"transactions"`
	RecurringStreams map[string]json.RawMessage `json:"recurring_streams"`
	Pending          map[string]json.RawMessage `json:"pending"`
}

// consumerInfo returns a durable consumer's state, or nil if NATS cannot
// tell now.
func (s *stack) consumerInfo(stream, durable string) *jetstream.ConsumerInfo {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := s.js.Consumer(ctx, stream, durable)
	if err != nil {
		return nil
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil
	}
	return info
}
