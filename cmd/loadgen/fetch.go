package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// fetchConfig is the fetch subcommand's flags.
type fetchConfig struct {
	fetcherBin, webhookdBin, workDir, scenarios string
	transactions, rounds                        int
	latency, idleSettle                         time.Duration
	syncRate                                    float64
	items, itemTxns                             int
	manyRate                                    float64
	updates                                     int
}

func parseFetch(args []string, stderr io.Writer) (fetchConfig, error) {
	var c fetchConfig
	fs := flag.NewFlagSet("loadgen fetch", flag.ContinueOnError)
	fs.StringVar(&c.fetcherBin, "fetcher-bin", "bin/fetcher", "fetcher binary under test")
	fs.StringVar(&c.webhookdBin, "webhookd-bin", "bin/webhookd", "webhookd binary (end-to-end scenario)")
	fs.StringVar(&c.workDir, "work-dir", "", "directory for JetStream storage and process logs (default: a temporary one)")
	fs.StringVar(&c.scenarios, "scenarios", "sync,many,e2e", "comma-separated: sync (50k sync, events/s, RSS), many (items under rate limits), e2e")
	fs.IntVar(&c.transactions, "transactions", 50000, "sync: transactions of the item")
	fs.IntVar(&c.rounds, "rounds", 2, "sync: rounds")
	fs.DurationVar(&c.latency, "latency", 20*time.Millisecond, "simulated Plaid latency per call")
	fs.DurationVar(&c.idleSettle, "idle-settle", 2*time.Second, "sync: how long the fetcher idles after start before its idle RSS is read")
	fs.Float64Var(&c.syncRate, "sync-plaid-rate", 0, "sync: FETCHER_PLAID_RATE (0: the fetcher's default)")
	fs.IntVar(&c.items, "items", 1000, "many: items")
	fs.IntVar(&c.itemTxns, "item-transactions", 20, "many: new transactions per item")
	fs.Float64Var(&c.manyRate, "many-plaid-rate", 100, "many: FETCHER_PLAID_RATE")
	fs.IntVar(&c.updates, "updates", 200, "e2e: measured updates")
	if err := parseFlags(fs, args, stderr); err != nil {
		return c, err
	}
	if c.rounds < 1 || c.transactions < 1 || c.items < 1 || c.updates < 1 {
		return c, usagef("--rounds, --transactions, --items and --updates must be positive")
	}
	return c, nil
}

func runFetch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFetch(args, stderr)
	if err != nil {
		return err
	}
	if cfg.workDir == "" {
		if cfg.workDir, err = os.MkdirTemp("", "loadgen-fetch-"); err != nil {
			return err
		}
		defer os.RemoveAll(cfg.workDir)
	} else if err := os.RemoveAll(cfg.workDir); err != nil {
		return err
	}
	var errs []error
	for _, s := range strings.Split(cfg.scenarios, ",") {
		var err error
		switch strings.TrimSpace(s) {
		case "sync":
			err = scenarioSync(ctx, cfg, stdout)
		case "many":
			err = scenarioMany(ctx, cfg, stdout)
		case "e2e":
			err = scenarioE2E(ctx, cfg, stdout)
		default:
			err = usagef("unknown scenario %q", s)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s, err))
			fmt.Fprintf(stdout, "scenario %s FAILED: %v\n", s, err)
		}
	}
	return errors.Join(errs...)
}

// waitFor reads owners from ch until want has been seen, or the timeout.
func waitFor(ctx context.Context, ch <-chan string, want string, timeout time.Duration) (time.Time, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case o := <-ch:
			if o == want {
				return time.Now(), nil
			}
		case <-t.C:
			return time.Time{}, fmt.Errorf("no plaid.sync.completed for %s within %s", want, timeout)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// waitAll reads owners from ch until every one of ids has been seen.
func waitAll(ctx context.Context, ch <-chan string, ids []string, timeout time.Duration) error {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for len(want) > 0 {
		select {
		case o := <-ch:
			delete(want, o)
		case <-t.C:
			return fmt.Errorf("%d of %d owners not synced within %s", len(want), len(ids), timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// mib formats bytes in MiB.
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// scenarioSync is item 4: one item's initial sync of cfg.transactions, at
// cfg.latency against the Plaid calls alone, at zero latency against raw
// JetStream async publishing of the same event bytes, and the fetcher
// process's idle and peak RSS.
func scenarioSync(ctx context.Context, cfg fetchConfig, out io.Writer) error {
	env, err := newFetchEnv(filepath.Join(cfg.workDir, "sync"), envOptions{Latency: cfg.latency})
	if err != nil {
		return err
	}
	defer env.close()
	fmt.Fprintf(out, "# fetch sync: %d transactions, %d rounds, fetcher FETCHER_PLAID_RATE=%s\n", cfg.transactions, cfg.rounds, rateText(cfg.syncRate))
	var wallRatios, rateRatios []float64
	for r := range cfg.rounds {
		wr, rr, err := syncRound(ctx, env, cfg, r, out)
		if err != nil {
			return err
		}
		wallRatios, rateRatios = append(wallRatios, wr), append(rateRatios, rr)
	}
	fmt.Fprintf(out, "ratio fetcher wall / Plaid calls alone at %s: %s\n", cfg.latency, ratioText(wallRatios))
	fmt.Fprintf(out, "ratio fetcher events/s / raw JetStream async at 0 ms: %s\n", ratioText(rateRatios))
	return nil
}

func rateText(r float64) string {
	if r == 0 {
		return "default"
	}
	return fmt.Sprint(r)
}

// syncRound runs one round of scenarioSync with a fresh fetcher process.
func syncRound(ctx context.Context, env *fetchEnv, cfg fetchConfig, round int, out io.Writer) (wallRatio, rateRatio float64, err error) {
	env.plaid.setLatency(cfg.latency)
	p, err := env.startFetcher(ctx, cfg.fetcherBin, cfg.syncRate)
	if err != nil {
		return 0, 0, err
	}
	defer p.stop()
	// Let start-up garbage be collected before reading the idle footprint.
	time.Sleep(cfg.idleSettle)
	idle, _, err := p.memory()
	if err != nil {
		return 0, 0, err
	}
	ch, unsub, err := env.completions(16)
	if err != nil {
		return 0, 0, err
	}
	defer unsub()

	// At cfg.latency: the fetcher's wall time, then the same calls alone.
	item, err := env.createItem(ctx, cfg.transactions, "")
	if err != nil {
		return 0, 0, err
	}
	wall, calls, err := timedSync(ctx, env, ch, item.ItemID)
	if err != nil {
		return 0, 0, err
	}
	callSum, _ := sumCalls(calls)
	rss, peak, err := p.memory()
	if err != nil {
		return 0, 0, err
	}
	alone, pages, err := bareSync(ctx, env.simURL, item.AccessToken)
	if err != nil {
		return 0, 0, err
	}
	fmt.Fprintf(out, "round %d  %s latency: fetcher %s (%d Plaid calls, server-side sum %s) | calls alone %s (%d pages) | ratio %.2f×\n",
		round+1, cfg.latency, wall.Round(time.Millisecond), len(calls), callSum.Round(time.Millisecond), alone.Round(time.Millisecond), pages, wall.Seconds()/alone.Seconds())
	fmt.Fprintf(out, "round %d  fetcher RSS: idle %s, peak (VmHWM) after the sync %s, after the sync %s\n", round+1, mib(idle), mib(peak), mib(rss))

	// At zero latency: events per second against raw async publishing.
	env.plaid.setLatency(0)
	item2, err := env.createItem(ctx, cfg.transactions, "")
	if err != nil {
		return 0, 0, err
	}
	st, err := env.js.Stream(ctx, events.EventStream)
	if err != nil {
		return 0, 0, err
	}
	before, err := st.Info(ctx)
	if err != nil {
		return 0, 0, err
	}
	wall0, _, err := timedSync(ctx, env, ch, item2.ItemID)
	if err != nil {
		return 0, 0, err
	}
	after, err := st.Info(ctx)
	if err != nil {
		return 0, 0, err
	}
	n := int(after.State.LastSeq - before.State.LastSeq)
	msgs, err := readEvents(ctx, env.js, before.State.LastSeq+1, n)
	if err != nil {
		return 0, 0, err
	}
	raw, err := publishRaw(ctx, env.js, msgs)
	if err != nil {
		return 0, 0, err
	}
	fetcherRate, rawRate := float64(n)/wall0.Seconds(), float64(n)/raw.Seconds()
	_, peak2, _ := p.memory()
	fmt.Fprintf(out, "round %d  0 ms latency: fetcher %d events in %s = %.0f events/s | raw JetStream async %s = %.0f events/s | ratio %.2f× | VmHWM now %s\n",
		round+1, n, wall0.Round(time.Millisecond), fetcherRate, raw.Round(time.Millisecond), rawRate, fetcherRate/rawRate, mib(peak2))
	return wall.Seconds() / alone.Seconds(), fetcherRate / rawRate, nil
}

// timedSync triggers itemID's sync and returns the time until its
// plaid.sync.completed was stored, and the Plaid calls made meanwhile.
func timedSync(ctx context.Context, env *fetchEnv, ch <-chan string, itemID string) (time.Duration, []plaidCall, error) {
	t0 := time.Now()
	if err := env.trigger(ctx, itemID); err != nil {
		return 0, nil, err
	}
	t1, err := waitFor(ctx, ch, itemID, 5*time.Minute)
	if err != nil {
		return 0, nil, err
	}
	return t1.Sub(t0), env.plaid.since(t0), env.waitIdle(ctx)
}

// bareSync is the Plaid calls alone: our client paging through the item's
// whole history, as the fetcher does (500 per page), and nothing else.
func bareSync(ctx context.Context, baseURL, token string) (time.Duration, int, error) {
	c, err := plaid.NewClient(plaid.Config{BaseURL: baseURL, ClientID: plaidsim.DefaultClientID, Secret: plaidsim.DefaultSecret})
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	u, err := c.SyncTransactions(ctx, plaid.AccessToken(token), "", plaid.SyncOptions{Count: plaid.MaxSyncCount})
	if err != nil {
		return 0, 0, err
	}
	return time.Since(t0), u.Pages, nil
}

// rawMsg is a stored event: subject, id and bytes.
type rawMsg struct {
	subject, id string
	data        []byte
}

// readEvents reads n events of PLAID_EVENTS from sequence start on.
func readEvents(ctx context.Context, js jetstream.JetStream, start uint64, n int) ([]rawMsg, error) {
	c, err := js.OrderedConsumer(ctx, events.EventStream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start})
	if err != nil {
		return nil, err
	}
	out := make([]rawMsg, 0, n)
	for len(out) < n {
		batch, err := c.Fetch(min(n-len(out), 1000), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, err
		}
		got := 0
		for m := range batch.Messages() {
			out = append(out, rawMsg{subject: m.Subject(), id: m.Headers().Get(jetstream.MsgIDHeader), data: m.Data()})
			got++
		}
		if err := batch.Error(); err != nil {
			return nil, err
		}
		if got == 0 {
			return nil, fmt.Errorf("read %d of %d events", len(out), n)
		}
	}
	return out, nil
}

// publishRaw publishes msgs with PublishMsgAsync to a fresh stream
// configured like PLAID_EVENTS, waits for every PubAck and returns the time
// taken: the floor for storing the fetcher's events. Its stall wait is
// longer than nats.go's 200 ms default, so a busy shared machine slows the
// floor down instead of failing it.
func publishRaw(ctx context.Context, js jetstream.JetStream, msgs []rawMsg) (time.Duration, error) {
	const name = "BENCH_RAW_EVENTS"
	_ = js.DeleteStream(ctx, name) // absent on the first round
	cfg := bus.StreamConfig(events.EventStreamSpec(), bus.StreamSettings{})
	cfg.Name, cfg.Subjects = name, []string{"bench.raw.>"}
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		return 0, err
	}
	subjects := make([]string, len(msgs))
	for i, m := range msgs {
		subjects[i] = "bench.raw." + m.subject
	}
	t0 := time.Now()
	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, m := range msgs {
		msg := &nats.Msg{Subject: subjects[i], Data: m.data, Header: nats.Header{"Content-Type": {"application/cloudevents+json"}}}
		f, err := js.PublishMsgAsync(msg, jetstream.WithMsgID(m.id), jetstream.WithExpectStream(name), jetstream.WithStallWait(10*time.Second))
		if err != nil {
			return 0, err
		}
		futures[i] = f
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return 0, err
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return time.Since(t0), nil
}

// scenarioMany is item 5: many items, each with new transactions, drained
// under plaidsim's Sandbox rate limits and the fetcher's own client-wide
// limiter.
func scenarioMany(ctx context.Context, cfg fetchConfig, out io.Writer) error {
	env, err := newFetchEnv(filepath.Join(cfg.workDir, "many"), envOptions{Latency: cfg.latency, RateLimits: true})
	if err != nil {
		return err
	}
	defer env.close()
	p, err := env.startFetcher(ctx, cfg.fetcherBin, cfg.manyRate)
	if err != nil {
		return err
	}
	defer p.stop()
	ids := make([]string, cfg.items)
	for i := range ids {
		it, err := env.createItem(ctx, cfg.itemTxns, "")
		if err != nil {
			return err
		}
		ids[i] = it.ItemID
	}
	ch, unsub, err := env.completions(cfg.items)
	if err != nil {
		return err
	}
	defer unsub()
	t0 := time.Now()
	for _, id := range ids {
		if _, err := env.triggerAsync(id); err != nil {
			return err
		}
	}
	select {
	case <-env.js.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	}
	published := time.Since(t0)
	if err := waitAll(ctx, ch, ids, 10*time.Minute); err != nil {
		return err
	}
	drain := time.Since(t0)
	calls := env.plaid.since(t0)
	_, status := sumCalls(calls)
	floor := manyFloor(len(ids), cfg.manyRate, cfg.latency)
	fmt.Fprintf(out, "# fetch many: %d items × %d new transactions, plaidsim Sandbox rate limits on, %s latency, FETCHER_PLAID_RATE=%g, 4 workers\n",
		cfg.items, cfg.itemTxns, cfg.latency, cfg.manyRate)
	fmt.Fprintf(out, "webhooks stored in %s; drained in %s; Plaid calls %d [%s]\n", published.Round(time.Millisecond), drain.Round(time.Millisecond), len(calls), statusText(status))
	fmt.Fprintf(out, "limit-imposed minimum %s (%s) | ratio %.2f×\n", floor.total.Round(time.Millisecond), floor.text, drain.Seconds()/floor.total.Seconds())
	return nil
}

// floor is the least time a drain can take, and why.
type floor struct {
	total time.Duration
	text  string
}

// manyFloor computes the limit-imposed minimum for n single-page syncs: the
// fetcher's token bucket (burst = rate) and Plaid's per-client Sandbox
// window of 1,000 /transactions/sync per minute (n ≤ 1,000 fits in one
// window: no wait). The per-Item limit (50/min) is not reached with one
// call per item. The calls' own latency with 4 workers is shown for
// reference.
func manyFloor(n int, rate float64, latency time.Duration) floor {
	limiter := time.Duration(float64(max(0, n-max(1, int(rate)))) / rate * float64(time.Second))
	window := time.Duration(math.Max(0, math.Ceil(float64(n)/1000)-1)) * time.Minute
	latencyFloor := time.Duration(n) * latency / 4
	total := max(limiter, window)
	return floor{total: total, text: fmt.Sprintf("fetcher limiter %s, Plaid per-client window %s; latency alone with 4 workers %s",
		limiter.Round(time.Millisecond), window, latencyFloor.Round(time.Millisecond))}
}
