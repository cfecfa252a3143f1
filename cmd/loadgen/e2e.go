package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// e2eItems is how many items the end-to-end updates rotate over: enough
// that an item's previous update has settled (its second webhook comes back
// after the fetcher's 2 s lease retry) before its next one, most of the time.
const e2eItems = 100

// e2eWarmup updates run first and are not measured (key fetch, connections).
const e2eWarmup = 5

// scenarioE2E is item 6: from the simulator's webhook POST to the last
// event of that update stored in PLAID_EVENTS, through the real webhookd and
// fetcher binaries, against the time of the Plaid calls alone.
func scenarioE2E(ctx context.Context, cfg fetchConfig, out io.Writer) error {
	hooks := &hookRecorder{next: http.DefaultTransport, first: map[string]time.Time{}}
	env, err := newFetchEnv(filepath.Join(cfg.workDir, "e2e"), envOptions{Latency: cfg.latency, WebhookClient: &http.Client{Transport: hooks, Timeout: 10 * time.Second}})
	if err != nil {
		return err
	}
	defer env.close()
	f, err := env.startFetcher(ctx, cfg.fetcherBin, 0)
	if err != nil {
		return err
	}
	defer f.stop()
	w, url, err := env.startWebhookd(ctx, cfg.webhookdBin)
	if err != nil {
		return err
	}
	defer w.stop()
	items, err := e2eSetup(ctx, env, url)
	if err != nil {
		return err
	}
	watch := &updateWatcher{}
	sub, err := env.nc.Subscribe(events.EventSubjectPrefix+".>", watch.onEvent)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()

	var lat, plaidTime, over []time.Duration
	for u := range e2eWarmup + cfg.updates {
		l, pt, err := e2eUpdate(ctx, env, hooks, watch, items[u%len(items)])
		if err != nil {
			return fmt.Errorf("update %d: %w", u, err)
		}
		if u >= e2eWarmup {
			lat, plaidTime, over = append(lat, l), append(plaidTime, pt), append(over, l-pt)
		}
	}
	fmt.Fprintf(out, "# fetch e2e: %d updates (one new transaction each, over %d items, one at a time), %s Plaid latency, webhookd and fetcher binaries\n", cfg.updates, len(items), cfg.latency)
	for _, s := range []struct {
		name string
		v    []time.Duration
	}{{"webhook POST → last event stored", lat}, {"Plaid calls in that window", plaidTime}, {"overhead beyond the Plaid calls", over}} {
		fmt.Fprintf(out, "%-34s p50=%s p90=%s p99=%s max=%s ms\n", s.name, ms(pct(s.v, 50)), ms(pct(s.v, 90)), ms(pct(s.v, 99)), ms(pct(s.v, 100)))
	}
	return nil
}

// e2eSetup creates the items with webhookd as their webhook URL and runs
// their initial syncs (which also turns on SYNC_UPDATES_AVAILABLE).
func e2eSetup(ctx context.Context, env *fetchEnv, url string) ([]*plaidsim.CreatedItem, error) {
	ch, unsub, err := env.completions(e2eItems)
	if err != nil {
		return nil, err
	}
	defer unsub()
	items := make([]*plaidsim.CreatedItem, e2eItems)
	ids := make([]string, e2eItems)
	for i := range ids {
		it, err := env.createItem(ctx, 10, url)
		if err != nil {
			return nil, err
		}
		items[i], ids[i] = it, it.ItemID
		if err := env.trigger(ctx, it.ItemID); err != nil {
			return nil, err
		}
	}
	if err := waitAll(ctx, ch, ids, time.Minute); err != nil {
		return nil, err
	}
	return items, env.waitIdle(ctx)
}

// e2eUpdate adds one transaction to item and returns the time from the
// first webhook POST about it to the stored plaid.sync.completed of the
// update carrying it, and the time of the Plaid calls made for it in that
// window (its item's calls, and calls without a token such as a key fetch).
func e2eUpdate(ctx context.Context, env *fetchEnv, hooks *hookRecorder, watch *updateWatcher, item *plaidsim.CreatedItem) (latency, plaidTime time.Duration, err error) {
	itemID := item.ItemID
	mark := time.Now()
	hooks.reset()
	done := make(chan time.Time, 1)
	watch.expect(done)
	added, err := env.sim.AddTransactions(itemID, map[string]any{"amount": "12.34", "name": "BENCH E2E"})
	if err != nil {
		return 0, 0, err
	}
	watch.setTxn(added[0].TransactionID)
	var t1 time.Time
	select {
	case t1 = <-done:
	case <-time.After(30 * time.Second):
		return 0, 0, fmt.Errorf("transaction %s never reached PLAID_EVENTS", added[0].TransactionID)
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	t0, ok := hooks.firstFor(itemID)
	if !ok || t0.Before(mark) {
		return 0, 0, fmt.Errorf("no webhook POST recorded for %s", itemID)
	}
	var calls []plaidCall
	for _, c := range env.plaid.since(t0) {
		if c.Start.Before(t1) && (c.Token == item.AccessToken || c.Token == "") {
			calls = append(calls, c)
		}
	}
	plaidTime, _ = sumCalls(calls)
	return t1.Sub(t0), plaidTime, nil
}

// hookRecorder notes when the simulator first POSTs a webhook about each
// item.
type hookRecorder struct {
	next  http.RoundTripper
	mu    sync.Mutex
	first map[string]time.Time
}

func (h *hookRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	now := time.Now()
	if r.GetBody != nil {
		if b, err := r.GetBody(); err == nil {
			var env struct {
				ItemID string `json:"item_id"`
			}
			if json.NewDecoder(b).Decode(&env) == nil && env.ItemID != "" {
				h.mu.Lock()
				if _, ok := h.first[env.ItemID]; !ok {
					h.first[env.ItemID] = now
				}
				h.mu.Unlock()
			}
			_ = b.Close()
		}
	}
	return h.next.RoundTrip(r)
}

func (h *hookRecorder) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.first)
}

func (h *hookRecorder) firstFor(itemID string) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.first[itemID]
	return t, ok
}

// updateWatcher follows PLAID_EVENTS for the update that carries one
// transaction and reports when that update's plaid.sync.completed arrives.
type updateWatcher struct {
	mu       sync.Mutex
	txnID    string
	updateID string
	seen     map[string]string // transaction id → update id, before setTxn
	done     chan<- time.Time
}

func (w *updateWatcher) expect(done chan<- time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.txnID, w.updateID, w.done, w.seen = "", "", done, map[string]string{}
}

// setTxn names the transaction to follow (its event may already be in).
func (w *updateWatcher) setTxn(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.txnID = id
	if u, ok := w.seen[id]; ok {
		w.updateID = u
	}
}

func (w *updateWatcher) onEvent(m *nats.Msg) {
	now := time.Now()
	typ, updateID, txnID, err := decodeEvent(m.Data)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case typ == events.TypeTransactionAdded && w.txnID == "":
		w.seen[txnID] = updateID
	case typ == events.TypeTransactionAdded && txnID == w.txnID:
		w.updateID = updateID
	case typ == events.TypeSyncCompleted && w.updateID != "" && updateID == w.updateID && w.done != nil:
		w.done <- now
		w.done = nil
	}
}

// pct returns the p-th percentile (nearest rank) of v.
func pct(v []time.Duration, p float64) time.Duration {
	if len(v) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}
