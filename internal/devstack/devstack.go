// Package devstack runs the whole plaidstream pipeline on one machine, in
// one process, wired as in production: an embedded NATS JetStream server,
// plaidsim (a stateful Plaid simulator that signs its webhooks), webhookd
// and fetcher (the real programs, in-process), and the admin API to
// register items. It then drives a short story through plaidsim, prints
// every downstream event, checks the events against plaidsim's ground
// truth, and keeps running until interrupted. cmd/devstack is its main.
package devstack

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/app/fetcher"
	"github.com/plaidstream/plaidstream/internal/app/webhookd"
	"github.com/plaidstream/plaidstream/internal/cli"
	"github.com/plaidstream/plaidstream/internal/embednats"
	"github.com/plaidstream/plaidstream/internal/eventfmt"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/ledger"
	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

const usage = `Usage: devstack [flags]

Runs the whole plaidstream pipeline locally, in this one process, wired as in
production: embedded NATS JetStream, plaidsim (a Plaid simulator that signs
its webhooks), webhookd, fetcher. It registers three items through the
fetcher's admin API, drives a short story through plaidsim (initial sync, new
transactions, a pending transaction posting, a removal, a recurring-stream
change, an item error), prints each downstream event as it arrives, checks the
result against plaidsim's ground truth, then keeps running until Ctrl-C so you
can poke at it. Nothing keeps running after it stops; the data directory is
temporary unless --data-dir is given.

Flags:
`

// Config is devstack's settings; ports 0 pick free ones.
type Config struct {
	NATSPort, PlaidPort, WebhookPort, WebhookdAdminPort, FetcherAdminPort int
	// DataDir holds JetStream's files and the programs' logs; "" makes a
	// temporary directory that is removed at exit.
	DataDir string
	// ExitAfterStory stops after the summary instead of waiting for Ctrl-C.
	ExitAfterStory bool
	// StepTimeout bounds each story step.
	StepTimeout time.Duration
	Seed        int64
}

// Run parses args and runs devstack until ctx ends (or the story ends, with
// --exit-after-story). It returns an error if the pipeline did not start or
// the consistency check failed.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.NATSPort, "nats-port", 4222, "port of the embedded NATS server (nats://127.0.0.1:PORT)")
	fs.IntVar(&cfg.PlaidPort, "plaid-port", 8600, "port of plaidsim")
	fs.IntVar(&cfg.WebhookPort, "webhook-port", 8080, "port of webhookd's public listener (POST /plaid/webhook)")
	fs.IntVar(&cfg.WebhookdAdminPort, "webhookd-admin-port", 9090, "port of webhookd's admin listener (/metrics)")
	fs.IntVar(&cfg.FetcherAdminPort, "fetcher-admin-port", 9091, "port of the fetcher's admin listener (/metrics, /v1/ admin API)")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "keep JetStream data and logs here (default: a temporary directory, removed at exit)")
	fs.BoolVar(&cfg.ExitAfterStory, "exit-after-story", false, "stop after the story's summary instead of waiting for Ctrl-C")
	fs.DurationVar(&cfg.StepTimeout, "step-timeout", 30*time.Second, "how long one story step may take")
	fs.Int64Var(&cfg.Seed, "seed", 1, "plaidsim's seed (item contents)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return cli.UsageError(err)
	}
	if fs.NArg() > 0 {
		return cli.UsageError(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	return run(ctx, cfg, stdout)
}

// stack is the running pipeline.
type stack struct {
	cfg        Config
	out        io.Writer
	dataDir    string
	nats       *embednats.Server
	sim        *plaidsim.Sim
	plaidURL   string
	plaid      *plaid.Client
	webhookURL string
	webhookd   string // admin base URL
	fetcher    string // admin base URL
	adminToken string
	watch      *watcher
	owners     []owner
	stop       []func() // in reverse order of start
}

func run(ctx context.Context, cfg Config, out io.Writer) (err error) {
	out = &syncWriter{w: out} // the story and the event watcher both print
	s := &stack{cfg: cfg, out: out}
	defer func() {
		for i := len(s.stop) - 1; i >= 0; i-- {
			s.stop[i]()
		}
	}()
	if err := s.start(ctx); err != nil {
		return err
	}
	s.printBanner()
	story := s.story(ctx)
	ok := s.summary()
	if story != nil {
		return story
	}
	if !ok {
		return errors.New("the events do not match plaidsim's ground truth")
	}
	if cfg.ExitAfterStory {
		return nil
	}
	s.printNextSteps()
	<-ctx.Done()
	fmt.Fprintln(out, "\nstopping…")
	return nil
}

// start brings up NATS, plaidsim, webhookd, fetcher and the event watcher.
func (s *stack) start(ctx context.Context) error {
	s.dataDir = s.cfg.DataDir
	if s.dataDir == "" {
		dir, err := os.MkdirTemp("", "plaidstream-devstack-")
		if err != nil {
			return err
		}
		s.dataDir = dir
		s.stop = append(s.stop, func() { _ = os.RemoveAll(dir) })
	}
	logDir := filepath.Join(s.dataDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}

	ns, err := embednats.Start(embednats.Options{Host: "127.0.0.1", Port: s.cfg.NATSPort, StoreDir: filepath.Join(s.dataDir, "jetstream")})
	if err != nil {
		return fmt.Errorf("start NATS on port %d: %w", s.cfg.NATSPort, err)
	}
	s.nats = ns
	s.stop = append(s.stop, ns.Shutdown)

	if s.sim, err = plaidsim.New(plaidsim.Options{Seed: s.cfg.Seed, TimeFactor: 60}); err != nil {
		return err
	}
	s.stop = append(s.stop, func() { _ = s.sim.Close() })
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", s.cfg.PlaidPort))
	if err != nil {
		return fmt.Errorf("plaidsim listener: %w", err)
	}
	srv := &http.Server{Handler: s.sim, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	s.stop = append(s.stop, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	s.plaidURL = "http://" + ln.Addr().String()
	if s.plaid, err = plaid.NewClient(plaid.Config{BaseURL: s.plaidURL, ClientID: plaidsim.DefaultClientID, Secret: plaidsim.DefaultSecret}); err != nil {
		return err
	}

	s.adminToken = randomHex(16)
	common := map[string]string{
		"NATS_URL": ns.ClientURL(), "PLAID_ENV": "sandbox", "PLAID_BASE_URL": s.plaidURL,
		"PLAID_CLIENT_ID": plaidsim.DefaultClientID, "PLAID_SECRET": plaidsim.DefaultSecret,
	}
	whEnv := with(common, map[string]string{
		"WEBHOOKD_LISTEN":       fmt.Sprintf("127.0.0.1:%d", s.cfg.WebhookPort),
		"WEBHOOKD_ADMIN_LISTEN": fmt.Sprintf("127.0.0.1:%d", s.cfg.WebhookdAdminPort),
	})
	ready, err := s.startProgram(ctx, "webhookd", logDir, whEnv, webhookd.Run, "webhookd ready")
	if err != nil {
		return err
	}
	s.webhookURL, s.webhookd = ready["webhook_url"], "http://"+ready["admin_addr"]

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	fEnv := with(common, map[string]string{
		"FETCHER_ADMIN_LISTEN":  fmt.Sprintf("127.0.0.1:%d", s.cfg.FetcherAdminPort),
		"FETCHER_ADMIN_TOKEN":   s.adminToken,
		"PLAIDSTREAM_TOKEN_KEY": base64.StdEncoding.EncodeToString(key),
		"FETCHER_REPLICA_NAME":  "devstack",
	})
	ready, err = s.startProgram(ctx, "fetcher", logDir, fEnv, fetcher.Run, "fetcher ready")
	if err != nil {
		return err
	}
	s.fetcher = "http://" + ready["admin_addr"]

	nc, err := nats.Connect(ns.ClientURL(), nats.Name("devstack"))
	if err != nil {
		return err
	}
	s.stop = append(s.stop, nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	s.watch, err = watch(ctx, js, s.out)
	if err != nil {
		return err
	}
	s.stop = append(s.stop, s.watch.close)
	return nil
}

// startProgram runs one of our programs in-process with env, its log in
// logDir/name.log, and waits for its readiness line; it returns that line's
// fields.
func (s *stack) startProgram(ctx context.Context, name, logDir string, env map[string]string,
	run func(context.Context, []string, func(string) string, io.Writer, io.Writer) error, readyMsg string) (map[string]string, error) {
	logFile, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() {
		done <- run(pctx, nil, func(k string) string { return env[k] }, pw, logFile)
		pw.Close()
	}()
	s.stop = append(s.stop, func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintf(s.out, "%s: %v\n", name, err)
		}
		logFile.Close()
	})
	lines := bufio.NewScanner(pr)
	fields := map[string]string{}
	for lines.Scan() {
		fmt.Fprintf(logFile, "%s\n", lines.Bytes())
		var line map[string]any
		if json.Unmarshal(lines.Bytes(), &line) == nil && line["msg"] == readyMsg {
			for k, v := range line {
				if str, ok := v.(string); ok {
					fields[k] = str
				}
			}
			go func() { _, _ = io.Copy(logFile, pr) }()
			return fields, nil
		}
	}
	return nil, fmt.Errorf("%s did not start (see %s)", name, logFile.Name())
}

// watcher prints every PLAID_EVENTS event and applies it to a ledger; the
// story waits on it.
type watcher struct {
	mu      sync.Mutex
	ledger  *ledger.Ledger
	byType  map[string]int
	changed chan struct{} // closed and replaced on every event
	cancel  context.CancelFunc
	done    chan struct{}
}

func watch(ctx context.Context, js jetstream.JetStream, out io.Writer) (*watcher, error) {
	cons, err := js.OrderedConsumer(ctx, events.EventStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.EventSubjects}})
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	w := &watcher{ledger: ledger.New(), byType: map[string]int{}, changed: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	iter, err := cons.Messages()
	if err != nil {
		cancel()
		return nil, err
	}
	go func() {
		<-wctx.Done()
		iter.Stop()
	}()
	go func() {
		defer close(w.done)
		for {
			msg, err := iter.Next()
			if err != nil {
				return
			}
			e, err := events.DecodeEvent(msg.Data())
			if err != nil {
				continue
			}
			fmt.Fprintln(out, "  "+eventfmt.Line(e))
			w.mu.Lock()
			if w.ledger.Apply(e) {
				w.byType[e.Type]++
			}
			close(w.changed)
			w.changed = make(chan struct{})
			w.mu.Unlock()
		}
	}()
	return w, nil
}

func (w *watcher) close() {
	w.cancel()
	<-w.done
}

// until waits until cond (called with the watcher locked) holds.
func (w *watcher) until(ctx context.Context, timeout time.Duration, what string, cond func(l *ledger.Ledger, byType map[string]int) bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		ok := cond(w.ledger, w.byType)
		changed := w.changed
		w.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return fmt.Errorf("timed out after %v waiting for %s", timeout, what)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func with(base, extra map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(extra))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// syncWriter serializes writes from several goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
