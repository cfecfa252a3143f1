package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// target is a named webhook endpoint.
type target struct{ name, url string }

// targetList is a repeatable NAME=URL flag.
type targetList []target

func (l *targetList) String() string {
	parts := make([]string, len(*l))
	for i, t := range *l {
		parts[i] = t.name + "=" + t.url
	}
	return strings.Join(parts, ",")
}

func (l *targetList) Set(v string) error {
	name, url, ok := strings.Cut(v, "=")
	if !ok || name == "" || url == "" {
		return fmt.Errorf("want NAME=URL, got %q", v)
	}
	*l = append(*l, target{name, url})
	return nil
}

// ingestConfig is the ingest subcommand's flags.
type ingestConfig struct {
	targets     targetList
	natsURL     string
	stream      string
	keyServer   string
	clientID    string
	secret      string
	conns       int
	requests    int
	rounds      int
	warmup      int
	rate        float64
	halfOf      string
	halfTargets string
	halfSeconds float64
	compare     string
	purge       bool
}

func parseIngest(args []string, stderr io.Writer) (ingestConfig, error) {
	var c ingestConfig
	fs := flag.NewFlagSet("loadgen ingest", flag.ContinueOnError)
	fs.Var(&c.targets, "target", "NAME=URL of a webhook endpoint (repeatable); runs go round-robin over targets")
	fs.StringVar(&c.natsURL, "nats-url", "", "NATS server to check the stream against after each run (empty: no check)")
	fs.StringVar(&c.stream, "stream", events.WebhookStream, "stream the targets store webhooks in")
	fs.StringVar(&c.keyServer, "key-server", "127.0.0.1:7610", "address where the Plaid simulator that signs the webhooks serves /webhook_verification_key/get for the targets")
	fs.StringVar(&c.clientID, "plaid-client-id", plaidsim.DefaultClientID, "client id the key server accepts")
	fs.StringVar(&c.secret, "plaid-secret", plaidsim.DefaultSecret, "secret the key server accepts")
	fs.IntVar(&c.conns, "conns", 32, "connections (requests in flight at maximum rate)")
	fs.IntVar(&c.requests, "requests", 20000, "requests per maximum-rate run (each with its own pre-signed token)")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds; each round runs every target once, the order rotating")
	fs.IntVar(&c.warmup, "warmup", 500, "unmeasured requests before each run (connections, key cache)")
	fs.Float64Var(&c.rate, "rate", 0, "fixed rate in requests per second instead of maximum rate (0: maximum)")
	fs.StringVar(&c.halfOf, "half-load-of", "", "after the maximum-rate rounds, run at half of this target's median throughput")
	fs.StringVar(&c.halfTargets, "half-load-targets", "", "comma-separated targets for the half-load runs (default: all)")
	fs.Float64Var(&c.halfSeconds, "half-load-seconds", 5, "length of each half-load run")
	fs.StringVar(&c.compare, "compare", "", "comma-separated A/B pairs to print ratios for, e.g. webhookd/ideal")
	fs.BoolVar(&c.purge, "purge", true, "purge the stream before each run (needs --nats-url)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return c, err
	}
	if len(c.targets) == 0 {
		return c, usagef("at least one --target is required")
	}
	if c.conns < 1 || c.requests < 1 || c.rounds < 1 || c.warmup < 0 || c.rate < 0 {
		return c, usagef("--conns, --requests, --rounds must be positive, --warmup and --rate not negative")
	}
	return c, nil
}

// ingest is one ingest session: the key server, the stream checker and the
// results so far.
type ingest struct {
	cfg     ingestConfig
	sim     *plaidsim.Sim
	stream  jetstream.Stream
	out     io.Writer
	clients map[string]*http.Client
}

func runIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseIngest(args, stderr)
	if err != nil {
		return err
	}
	sim, stopKeys, err := serveKeys(cfg.keyServer, cfg.clientID, cfg.secret)
	if err != nil {
		return err
	}
	defer stopKeys()
	in := &ingest{cfg: cfg, sim: sim, out: stdout, clients: map[string]*http.Client{}}
	if cfg.natsURL != "" {
		nc, st, err := openStream(ctx, cfg.natsURL, cfg.stream)
		if err != nil {
			return err
		}
		defer nc.Close()
		in.stream = st
	}
	for _, t := range cfg.targets {
		in.clients[t.name] = newClient(cfg.conns)
	}
	fmt.Fprintf(stdout, "# loadgen ingest: %d targets, %d rounds, %d conns, key server http://%s (kid %s)\n",
		len(cfg.targets), cfg.rounds, cfg.conns, cfg.keyServer, sim.CurrentKeyID())
	maxRuns, err := in.rounds(ctx, cfg.targets, cfg.rate, func(float64) int { return cfg.requests })
	if err != nil {
		return err
	}
	var halfRuns map[string][]loadResult
	if cfg.halfOf != "" && cfg.rate == 0 {
		ref, ok := maxRuns[cfg.halfOf]
		if !ok {
			return usagef("--half-load-of %q is not a target", cfg.halfOf)
		}
		rate := median(throughputs(ref)) / 2
		fmt.Fprintf(stdout, "# half load: %.0f requests/s (half of %s's median %.0f/s)\n", rate, cfg.halfOf, 2*rate)
		halfRuns, err = in.rounds(ctx, in.halfTargets(), rate, func(r float64) int { return max(100, int(r*cfg.halfSeconds)) })
		if err != nil {
			return err
		}
	}
	in.summary(maxRuns, halfRuns)
	return in.failures(maxRuns, halfRuns)
}

// halfTargets returns the targets named by --half-load-targets, or all.
func (in *ingest) halfTargets() []target {
	if in.cfg.halfTargets == "" {
		return in.cfg.targets
	}
	var out []target
	for _, name := range strings.Split(in.cfg.halfTargets, ",") {
		for _, t := range in.cfg.targets {
			if t.name == strings.TrimSpace(name) {
				out = append(out, t)
			}
		}
	}
	return out
}

// rounds runs every target once per round at rate (0: max), rotating the
// order so that no target always follows the same neighbour, and returns
// the results by target name in round order.
func (in *ingest) rounds(ctx context.Context, targets []target, rate float64, requests func(rate float64) int) (map[string][]loadResult, error) {
	res := map[string][]loadResult{}
	for r := range in.cfg.rounds {
		for k := range targets {
			t := targets[(r+k)%len(targets)]
			lr, err := in.measure(ctx, t, rate, requests(rate))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.name, err)
			}
			printResult(in.out, lr)
			res[t.name] = append(res[t.name], lr)
		}
	}
	return res, ctx.Err()
}

// measure runs one target: purge, warm up, then the measured requests, and
// checks the stream gained exactly one message per 200.
func (in *ingest) measure(ctx context.Context, t target, rate float64, n int) (loadResult, error) {
	if in.stream != nil && in.cfg.purge {
		if err := in.stream.Purge(ctx); err != nil {
			return loadResult{}, fmt.Errorf("purge: %w", err)
		}
	}
	client := in.clients[t.name]
	reqs, err := presign(in.cfg.warmup+n, in.sim.SignWebhook)
	if err != nil {
		return loadResult{}, err
	}
	if in.cfg.warmup > 0 {
		w := runLoad(ctx, client, loadSpec{Name: t.name, URL: t.url, Conns: in.cfg.conns, Requests: reqs[:in.cfg.warmup]})
		if w.OK() != in.cfg.warmup {
			return loadResult{}, fmt.Errorf("warm-up: %s (is the target using key server http://%s?)", statusText(w.Status), in.cfg.keyServer)
		}
	}
	before, err := in.stored(ctx)
	if err != nil {
		return loadResult{}, err
	}
	res := runLoad(ctx, client, loadSpec{Name: t.name, URL: t.url, Conns: in.cfg.conns, Rate: rate, Requests: reqs[in.cfg.warmup:]})
	after, err := in.stored(ctx)
	if err != nil {
		return loadResult{}, err
	}
	if before >= 0 {
		res.Stored = after - before
	}
	client.CloseIdleConnections()
	return res, nil
}

// stored returns the stream's message count, or -1 without a stream.
func (in *ingest) stored(ctx context.Context) (int64, error) {
	if in.stream == nil {
		return -1, nil
	}
	info, err := in.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream info: %w", err)
	}
	return int64(info.State.Msgs), nil
}

// summary prints medians per target and the requested ratios.
func (in *ingest) summary(maxRuns, halfRuns map[string][]loadResult) {
	fmt.Fprintf(in.out, "\n# summary (median over rounds; ratios are per round, adjacent runs, then the median and range)\n")
	for _, t := range in.cfg.targets {
		runs := maxRuns[t.name]
		fmt.Fprintf(in.out, "%-9s max: %8.0f ok/s  p50=%s p99=%s ms", t.name, median(throughputs(runs)), ms(medianQ(runs, 50)), ms(medianQ(runs, 99)))
		if h := halfRuns[t.name]; len(h) > 0 {
			fmt.Fprintf(in.out, "   half load %.0f/s: p50=%s p99=%s p99.9=%s ms", h[0].Rate, ms(medianQ(h, 50)), ms(medianQ(h, 99)), ms(medianQ(h, 99.9)))
		}
		fmt.Fprintln(in.out)
	}
	for _, pair := range splitPairs(in.cfg.compare) {
		a, b := maxRuns[pair[0]], maxRuns[pair[1]]
		if len(a) == 0 || len(b) == 0 {
			continue
		}
		fmt.Fprintf(in.out, "ratio %s/%s throughput: %s\n", pair[0], pair[1], ratioText(perRound(a, b, func(r loadResult) float64 { return r.Throughput() })))
		ha, hb := halfRuns[pair[0]], halfRuns[pair[1]]
		if len(ha) > 0 && len(hb) > 0 {
			fmt.Fprintf(in.out, "ratio %s/%s p99 at half load: %s\n", pair[0], pair[1], ratioText(perRound(ha, hb, func(r loadResult) float64 { return float64(r.Quantile(99)) })))
		}
	}
}

// failures reports runs with non-200 answers or a stream mismatch.
func (in *ingest) failures(runs ...map[string][]loadResult) error {
	var errs []error
	for _, m := range runs {
		for name, rs := range m {
			for _, r := range rs {
				if r.OK() != r.Sent {
					errs = append(errs, fmt.Errorf("%s: %d of %d requests not answered 200 (%s)", name, r.Sent-r.OK(), r.Sent, statusText(r.Status)))
				}
				if r.Stored >= 0 && r.Stored != int64(r.OK()) {
					errs = append(errs, fmt.Errorf("%s: stream %s", name, r.StreamCheck()))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// splitPairs parses "a/b,c/d".
func splitPairs(s string) [][2]string {
	var out [][2]string
	for _, p := range strings.Split(s, ",") {
		a, b, ok := strings.Cut(strings.TrimSpace(p), "/")
		if ok {
			out = append(out, [2]string{a, b})
		}
	}
	return out
}

// perRound returns f(a[i])/f(b[i]) for each round both have.
func perRound(a, b []loadResult, f func(loadResult) float64) []float64 {
	var out []float64
	for i := range min(len(a), len(b)) {
		if d := f(b[i]); d > 0 {
			out = append(out, f(a[i])/d)
		}
	}
	return out
}

// ratioText renders ratios as "median× (min–max, rounds: …)".
func ratioText(rs []float64) string {
	if len(rs) == 0 {
		return "n/a"
	}
	s := append([]float64(nil), rs...)
	sort.Float64s(s)
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%.2f", r)
	}
	return fmt.Sprintf("%.2f× (range %.2f–%.2f; rounds %s)", median(rs), s[0], s[len(s)-1], strings.Join(parts, " "))
}

func throughputs(rs []loadResult) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = r.Throughput()
	}
	return out
}

// medianQ is the median over runs of the q-th percentile.
func medianQ(rs []loadResult, q float64) time.Duration {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = float64(r.Quantile(q))
	}
	return time.Duration(median(v))
}

// median of v (mean of the middle two for an even count); 0 when empty.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// serveKeys starts a Plaid simulator on addr: it signs the webhooks and
// serves /webhook_verification_key/get to the targets. stop shuts it down.
func serveKeys(addr, clientID, secret string) (*plaidsim.Sim, func(), error) {
	sim, _, stop, err := serveKeysAt(addr, clientID, secret)
	return sim, stop, err
}

// serveKeysAt is serveKeys that also returns the base URL it serves on.
func serveKeysAt(addr, clientID, secret string) (*plaidsim.Sim, string, func(), error) {
	sim, err := plaidsim.New(plaidsim.Options{ClientID: clientID, Secret: secret})
	if err != nil {
		return nil, "", nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = sim.Close()
		return nil, "", nil, fmt.Errorf("key server: %w", err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }() // ends when stop closes srv
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = sim.Close()
	}
	return sim, "http://" + ln.Addr().String(), stop, nil
}

// openStream connects to NATS and looks up stream.
func openStream(ctx context.Context, url, stream string) (*nats.Conn, jetstream.Stream, error) {
	nc, err := nats.Connect(url, nats.Name("loadgen"))
	if err != nil {
		return nil, nil, fmt.Errorf("nats: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	st, err := js.Stream(ctx, stream)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	return nc, st, nil
}
