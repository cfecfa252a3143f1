//go:build unix

package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/events"
)

// TestPipelineEndToEnd runs the scenario of the package documentation
// once: 15 to 40 s, plus the first build of the binaries (about 40 s cold
// on 2 cores).
func TestPipelineEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test across processes; skipped with -short")
	}
	sc := newScenario(t, pickSeed(t))
	sc.setup()
	sc.cycle(true)
	sc.verify()
}

// TestSoak repeats the scenario's chaos and its checks until -soak (or
// PLAIDSTREAM_E2E_SOAK, a Go duration) is over. Off by default.
func TestSoak(t *testing.T) {
	d := *soakFlag
	if v := os.Getenv("PLAIDSTREAM_E2E_SOAK"); d == 0 && v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("PLAIDSTREAM_E2E_SOAK=%q: %v", v, err)
		}
	}
	if d <= 0 || testing.Short() {
		t.Skip("soak mode: go test ./e2e -run Soak -soak=5m")
	}
	sc := newScenario(t, pickSeed(t))
	sc.setup()
	end := time.Now().Add(d)
	for i := 1; i == 1 || time.Now().Before(end); i++ {
		start := time.Now()
		sc.cycle(i == 1)
		sc.verify()
		t.Logf("cycle %d verified in %v", i, time.Since(start).Round(100*time.Millisecond))
	}
}

// pickSeed returns -seed, or a new seed; either way it is logged. The seed
// fixes the items, changes, faults and chaos targets; the interleaving of
// the processes still varies from run to run.
func pickSeed(t *testing.T) int64 {
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano()%1_000_000 + 1
	}
	t.Logf("seed %d", seed)
	return seed
}

// scenario drives a stack with seeded changes and chaos.
type scenario struct {
	t       *testing.T
	s       *stack
	r       *rand.Rand
	owners  []*owner
	byLabel map[string]*owner
	// evidence that the chaos happened, checked by verify
	outage503s int // webhook attempts answered 503 while NATS was down
	resynced   map[string]uint64
	cStream    string // C's live stream that changeStreams tombstones next
}

func newScenario(t *testing.T, seed int64) *scenario {
	return &scenario{
		t: t, s: newStack(t, seed), r: rand.New(rand.NewPCG(uint64(seed), 0xe2e)),
		byLabel: map[string]*owner{}, resynced: map[string]uint64{},
	}
}

func (sc *scenario) logf(format string, args ...any) {
	sc.t.Helper()
	sc.t.Logf("%s  "+format, append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

// setup creates the items in plaidsim, registers them and waits for their
// first syncs to reach the consumer:
//
//	A  large: its first sync (and its resync) takes several pages, and
//	   plaidsim changes its data between pages
//	B  with a processor token P on its first account
//	C  its webhooks go through the replaying proxy (every signed request
//	   reaches webhookd twice)
//	D  removed later
func (sc *scenario) setup() {
	s, r := sc.s, sc.r
	a := sc.createItem("A", 1100+r.IntN(200), s.webhookURL)
	b := sc.createItem("B", 150+r.IntN(150), s.webhookURL)
	c := sc.createItem("C", 100+r.IntN(150), s.replayURL)
	d := sc.createItem("D", 40+r.IntN(40), s.webhookURL)

	// P: a processor token on B's first account (the one /sim/ adds
	// transactions to).
	var pt struct {
		ProcessorToken string `json:"processor_token"`
	}
	s.plaid("/processor/token/create", map[string]any{"access_token": b.accessToken, "account_id": b.accounts[0], "processor": "dwolla"}, &pt)
	s.sim(http.MethodPost, "/sim/processor_tokens/"+pt.ProcessorToken+"/webhook", map[string]any{"webhook": s.webhookURL}, nil)
	p := sc.addOwner(&owner{label: "P", kind: events.OwnerProcessor, id: b.accounts[0], itemID: b.itemID})

	// A's first sync meets a change between its pages.
	sc.syncFault(a, map[string]any{"mutate_at_page": 2})
	for _, o := range []*owner{a, b, c, d} {
		s.admin(http.MethodPut, "/v1/items/"+o.id, map[string]any{"access_token": o.accessToken, "user_id": "e2e-user"}, http.StatusCreated)
	}
	s.admin(http.MethodPut, "/v1/processor-tokens/"+p.id, map[string]any{"processor_token": pt.ProcessorToken}, http.StatusCreated)
	// Announce B's and C's recurring streams (P sees B's on its account).
	sc.putStream(b, p.id, "e2e-gym-b")
	sc.cStream = "e2e-gym-c"
	sc.putStream(c, "", sc.cStream)
	sc.logf("registered A=%s, B=%s, C=%s, D=%s, P=%s", a.id, b.id, c.id, d.id, p.id)
	sc.converge("the first syncs", time.Minute)
}

// createItem creates a user_transactions_dynamic item with n transactions
// whose webhooks go to hook.
func (sc *scenario) createItem(label string, n int, hook string) *owner {
	var it struct {
		ItemID      string `json:"item_id"`
		AccessToken string `json:"access_token"`
		Accounts    []struct {
			AccountID string `json:"account_id"`
		} `json:"accounts"`
	}
	sc.s.sim(http.MethodPost, "/sim/items", map[string]any{"username": "user_transactions_dynamic", "transactions": n,
		"webhook": hook, "user_id": "e2e-user"}, &it)
	o := &owner{label: label, kind: events.OwnerItem, id: it.ItemID, itemID: it.ItemID, accessToken: it.AccessToken}
	for _, a := range it.Accounts {
		o.accounts = append(o.accounts, a.AccountID)
	}
	if len(o.accounts) == 0 {
		sc.t.Fatalf("item %s has no accounts", label)
	}
	return sc.addOwner(o)
}

func (sc *scenario) addOwner(o *owner) *owner {
	o.source = events.Owner{Kind: o.kind, ID: o.id}.Source("sandbox")
	sc.owners = append(sc.owners, o)
	sc.byLabel[o.label] = o
	return o
}

// cycle is one pass of changes and chaos; the first one also removes D.
func (sc *scenario) cycle(first bool) {
	sc.rounds(4)
	sc.killFetcherMidSync()
	sc.rounds(2)
	sc.restartNATS()
	sc.resync(sc.byLabel["A"])
	sc.killConsumer() // while A's replay streams in, if it can
	if first {
		sc.remove(sc.byLabel["D"])
	}
	sc.changeStreams()
	sc.rounds(4)
}

// items are the live items changes are made to.
func (sc *scenario) items() []*owner {
	var out []*owner
	for _, o := range sc.owners {
		if o.kind == events.OwnerItem && !o.removed {
			out = append(out, o)
		}
	}
	return out
}

// rounds makes n seeded rounds of changes, each with its webhooks, some
// with faults.
func (sc *scenario) rounds(n int) {
	for range n {
		items := sc.items()
		o := items[sc.r.IntN(len(items))]
		if o.label == "C" && sc.r.IntN(2) == 0 {
			// C is the item killFetcherMidSync holds a sync of: no other
			// fault may be queued before that one, so C gets none.
			sc.singleChanges(o)
			continue
		}
		if o.label == "C" {
			o = sc.byLabel["A"]
		}
		switch sc.r.IntN(6) {
		case 0:
			sc.mutate(o)
		case 1: // rate limited: more 429s than one call's retries absorb
			sc.syncFault(o, map[string]any{"status": http.StatusTooManyRequests, "count": 2 + sc.r.IntN(6)})
			sc.mutate(o)
		case 2: // Plaid's 500s
			sc.syncFault(o, map[string]any{"status": http.StatusInternalServerError, "count": 2 + sc.r.IntN(6)})
			sc.mutate(o)
		case 3:
			sc.singleChanges(o)
		case 4: // the same notification twice (distinct signatures)
			sc.mutate(o)
			sc.fireWebhook(o, "SYNC_UPDATES_AVAILABLE")
			sc.fireWebhook(o, "SYNC_UPDATES_AVAILABLE")
		case 5: // the processor token's syncs fail too
			b := sc.byLabel["B"]
			sc.s.sim(http.MethodPost, "/sim/faults", map[string]any{"path": "/processor/transactions/sync", "item_id": b.itemID,
				"status": http.StatusInternalServerError, "count": 2 + sc.r.IntN(6)}, nil)
			sc.mutate(b)
		}
	}
}

// mutate makes a seeded storm of changes to o's item.
func (sc *scenario) mutate(o *owner) {
	var res struct {
		Added, Modified, Removed []string
		Posted                   []json.RawMessage
	}
	sc.s.sim(http.MethodPost, "/sim/items/"+o.itemID+"/mutate", map[string]any{"seed": sc.r.Int64N(1 << 40),
		"add": 1 + sc.r.IntN(6), "modify": sc.r.IntN(5), "remove": sc.r.IntN(3), "post": sc.r.IntN(3)}, &res)
	sc.logf("%s: mutate +%d ~%d -%d posted %d", o.label, len(res.Added), len(res.Modified), len(res.Removed), len(res.Posted))
}

// singleChanges makes one change per call: a new pending transaction, a
// new amount, a pending one posted, one removed. Amounts carry trailing
// zeros and many decimals, which must arrive exactly as Plaid sends them.
func (sc *scenario) singleChanges(o *owner) {
	s := sc.s
	base := "/sim/items/" + o.itemID + "/transactions"
	s.sim(http.MethodPost, base, map[string]any{"amount": fmt.Sprintf("-%d.%03d0", sc.r.IntN(5000), sc.r.IntN(1000)), "name": "E2E REFUND", "pending": true}, nil)
	var truth simItem
	s.sim(http.MethodGet, "/sim/items/"+o.itemID, nil, &truth)
	var posted, pending []string
	for _, raw := range truth.Transactions {
		var tx struct {
			ID      string `json:"transaction_id"`
			Pending bool   `json:"pending"`
		}
		if err := json.Unmarshal(raw, &tx); err != nil {
			sc.t.Fatal(err)
		}
		if tx.Pending {
			pending = append(pending, tx.ID)
		} else {
			posted = append(posted, tx.ID)
		}
	}
	if len(posted) >= 2 {
		i := sc.r.IntN(len(posted))
		s.sim(http.MethodPatch, base+"/"+posted[i], map[string]any{"amount": fmt.Sprintf("%d.%02d", sc.r.IntN(300), sc.r.IntN(100))}, nil)
		posted = append(posted[:i], posted[i+1:]...)
		s.sim(http.MethodDelete, base+"/"+posted[sc.r.IntN(len(posted))], nil, nil)
	}
	if len(pending) > 0 {
		s.sim(http.MethodPost, base+"/"+pending[sc.r.IntN(len(pending))]+"/post", map[string]any{"amount": fmt.Sprintf("%d.5", sc.r.IntN(90))}, nil)
	}
	sc.logf("%s: single changes (add pending, modify, remove, post)", o.label)
}

// syncFault queues a /transactions/sync fault for o's item.
func (sc *scenario) syncFault(o *owner, f map[string]any) {
	f["path"] = "/transactions/sync"
	f["item_id"] = o.itemID
	sc.s.sim(http.MethodPost, "/sim/faults", f, nil)
	sc.logf("%s: fault %v", o.label, f)
}

// fireWebhook has plaidsim send o's item a webhook that changes nothing.
func (sc *scenario) fireWebhook(o *owner, code string) {
	sc.s.plaid("/sandbox/item/fire_webhook", map[string]any{"access_token": o.accessToken, "webhook_code": code}, nil)
}

// putStream creates a recurring stream on o's item (on account, or its
// first account) and marks the owners that see it for comparison.
func (sc *scenario) putStream(o *owner, account, streamID string) {
	if account == "" {
		account = o.accounts[0]
	}
	amount := fmt.Sprintf("%d.99", 10+sc.r.IntN(40))
	sc.s.sim(http.MethodPut, "/sim/items/"+o.itemID+"/recurring_streams/"+streamID, map[string]any{
		"account_id": account, "description": "E2E GYM " + streamID, "merchant_name": "E2E Gym", "frequency": "MONTHLY",
		"first_date": "2026-01-05", "last_date": "2026-10-05", "predicted_next_date": "2026-11-05",
		"average_amount": map[string]any{"amount": amount, "iso_currency_code": "USD"},
		"last_amount":    map[string]any{"amount": amount, "iso_currency_code": "USD"},
		"is_active":      true, "transaction_ids": []string{}, "direction": "outflow",
	}, nil)
	for _, other := range sc.owners {
		if other.itemID == o.itemID && (other.kind == events.OwnerItem || other.id == account) {
			other.streams = true
		}
	}
}

// changeStreams changes B's and C's recurring streams: a new amount, a
// stream tombstoned, a stream added.
func (sc *scenario) changeStreams() {
	b, c := sc.byLabel["B"], sc.byLabel["C"]
	sc.putStream(b, sc.byLabel["P"].id, "e2e-gym-b")
	sc.s.sim(http.MethodDelete, "/sim/items/"+c.itemID+"/recurring_streams/"+sc.cStream, map[string]any{"tombstone": true}, nil)
	sc.cStream = fmt.Sprintf("e2e-pool-%d", sc.r.IntN(1_000_000))
	sc.putStream(c, "", sc.cStream)
	sc.logf("recurring streams changed (B modified, C tombstoned one and added one)")
}

// killFetcherMidSync holds the next Plaid sync call of item C open, makes
// a change, and once a fetcher is stuck in that call (it has held C's
// lease for two seconds) kills it with SIGKILL and starts it again.
func (sc *scenario) killFetcherMidSync() {
	o := sc.byLabel["C"]
	sc.syncFault(o, map[string]any{"delay": "20s"})
	sc.mutate(o)
	holder := sc.stuckLeaseHolder(o, 30*time.Second)
	sc.logf("%s: kill -9 %s, which is stuck in a sync of it", o.label, holder)
	sc.s.fetchers[holder].kill()
	sc.s.startFetcher(holder)
	sc.logf("%s restarted", holder)
}

// stuckLeaseHolder waits until a fetcher has held o's sync lease for over
// two seconds and returns its name. A sync of a small item takes
// milliseconds, and o gets no other fault, so that fetcher is in the held
// Plaid call.
func (sc *scenario) stuckLeaseHolder(o *owner, within time.Duration) string {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	kv, err := sc.s.js.KeyValue(ctx, events.LeasesBucket)
	if err != nil {
		sc.t.Fatal(err)
	}
	key, err := events.OwnerKey(o.kind, o.id)
	if err != nil {
		sc.t.Fatal(err)
	}
	var holder string
	err = pollUntil(ctx, 50*time.Millisecond, func() bool {
		e, err := kv.Get(ctx, key)
		if err != nil {
			return false
		}
		var lease struct {
			Holder     string    `json:"holder"`
			AcquiredAt time.Time `json:"acquired_at"`
		}
		if json.Unmarshal(e.Value(), &lease) != nil || sc.s.fetchers[lease.Holder] == nil {
			return false
		}
		holder = lease.Holder
		return time.Since(lease.AcquiredAt) > 2*time.Second
	})
	if err != nil {
		sc.t.Fatalf("%v: no fetcher got stuck in its held sync within %v (last holder %q)", o, within, holder)
	}
	return holder
}

// killConsumer kills the example consumer with SIGKILL, if it can while
// it holds messages it has not acked (mid-batch), and starts it again on
// the same store and durable consumer.
func (sc *scenario) killConsumer() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	midBatch := pollUntil(ctx, 2*time.Millisecond, func() bool {
		info := sc.s.consumerInfo(events.EventStream, "e2e")
		return info != nil && info.NumAckPending > 0
	}) == nil
	sc.s.consumer.kill()
	sc.logf("consumer killed (-9; mid-batch: %t); restarting", midBatch)
	sc.s.startConsumer()
}

// restartNATS stops nats-server while changes keep coming: webhookd must
// answer 503 (plaidsim retries later). Then nats-server starts again on the
// same port and store directory and every client reconnects.
func (sc *scenario) restartNATS() {
	before := attemptsWithStatus(sc.s.deliveries(), http.StatusServiceUnavailable)
	sc.s.restartNATS(func() {
		sc.logf("nats-server stopped")
		items := sc.items()
		for range 2 {
			sc.mutate(items[sc.r.IntN(len(items))])
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var now int
		err := pollUntil(ctx, 50*time.Millisecond, func() bool {
			now = attemptsWithStatus(sc.s.deliveries(), http.StatusServiceUnavailable)
			return now > before
		})
		if err != nil {
			sc.t.Fatal("no webhook was answered 503 while nats-server was down")
		}
		sc.outage503s += now - before
	})
	sc.logf("nats-server restarted on port %d with the same store", sc.s.natsPort)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pollUntil(ctx, 50*time.Millisecond, func() bool { return sc.s.ready(sc.s.webhookdAdmin) }); err != nil {
		sc.t.Fatal("webhookd did not report ready again after nats-server restarted")
	}
}

// resync replays o's whole history; its replay meets a change between
// pages.
func (sc *scenario) resync(o *owner) {
	sc.syncFault(o, map[string]any{"mutate_at_page": 2})
	sc.s.admin(http.MethodPost, "/v1/items/"+o.id+"/resync", nil, http.StatusAccepted)
	sc.resynced[o.label]++
	sc.logf("%s: resync requested", o.label)
}

// remove unregisters o.
func (sc *scenario) remove(o *owner) {
	sc.s.admin(http.MethodDelete, "/v1/items/"+o.id, nil, http.StatusNoContent)
	o.removed = true
	sc.logf("%s: removed", o.label)
}

// ready reports whether the admin listener at base answers /readyz 200.
func (s *stack) ready(base string) bool {
	resp, err := s.http.Get(base + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// differences compares the consumer's store with plaidsim's ground truth
// for every owner; none means they are equal.
func (sc *scenario) differences() ([]string, *storeDump) {
	d, err := sc.s.dumpStore()
	if err != nil {
		return []string{err.Error()}, nil
	}
	items := map[string]*simItem{}
	var diffs []string
	for _, o := range sc.owners {
		got := d.Owners[o.source]
		if o.removed {
			if got == nil || !got.Removed || len(got.Transactions) > 0 || len(got.RecurringStreams) > 0 {
				diffs = append(diffs, fmt.Sprintf("%v: removed, but the consumer still holds it", o))
			}
			continue
		}
		it := items[o.itemID]
		if it == nil {
			it = &simItem{}
			sc.s.sim(http.MethodGet, "/sim/items/"+o.itemID, nil, it)
			items[o.itemID] = it
		}
		want, err := expect(o, it)
		if err != nil {
			sc.t.Fatal(err)
		}
		diffs = append(diffs, diffOwner(o, got, want)...)
	}
	return diffs, d
}

// converge waits until the consumer's store equals the ground truth and
// nothing is left in flight: no webhook waiting for a retry, no message
// waiting in the fetchers' or the consumer's JetStream consumer.
func (sc *scenario) converge(what string, within time.Duration) *storeDump {
	sc.t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var diffs []string
	var d *storeDump
	var waiting string
	err := pollUntil(ctx, 300*time.Millisecond, func() bool {
		for _, dl := range sc.s.deliveries() {
			if !dl.Delivered {
				waiting = fmt.Sprintf("a webhook to %s not delivered yet (%d attempts)", dl.URL, len(dl.Attempts))
				return false
			}
		}
		for _, c := range []struct{ stream, durable string }{{events.WebhookStream, "fetcher"}, {events.EventStream, "e2e"}} {
			info := sc.s.consumerInfo(c.stream, c.durable)
			if info == nil || info.NumPending > 0 || info.NumAckPending > 0 {
				waiting = fmt.Sprintf("consumer %s on %s not drained (%+v)", c.durable, c.stream, info)
				return false
			}
		}
		diffs, d = sc.differences()
		waiting = "the consumer's store to equal the ground truth"
		return len(diffs) == 0
	})
	if err != nil {
		if len(diffs) > 10 {
			diffs = append(diffs[:10], fmt.Sprintf("... and %d more", len(diffs)-10))
		}
		sc.t.Fatalf("%s: still waiting after %v for %s; differences:\n  %s", what, within, waiting, strings.Join(diffs, "\n  "))
	}
	sc.logf("converged (%s) in %v", what, time.Since(start).Round(10*time.Millisecond))
	return d
}

// verify waits for the pipeline to settle and checks the end state.
func (sc *scenario) verify() {
	t := sc.t
	// Faults still queued are consumed by the syncs the last changes cause.
	d := sc.converge("the end of the run", 2*time.Minute)

	// The consumer applied whole updates, in a chain, for every owner.
	if d.Stats.Gaps != 0 || d.Stats.Incomplete != 0 || d.Stats.Malformed != 0 {
		t.Errorf("consumer stats %+v: want no gaps, incomplete updates or malformed events", d.Stats)
	}
	for _, o := range sc.owners {
		got := d.Owners[o.source]
		if got == nil || o.removed {
			continue
		}
		if got.Gaps != 0 {
			t.Errorf("%v: %d gaps", o, got.Gaps)
		}
		if n := sc.resynced[o.label]; got.ResyncEpoch != n {
			t.Errorf("%v: resync epoch %d, want %d", o, got.ResyncEpoch, n)
		}
	}

	// webhookd answered 200 only for webhooks it stored.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stored, total, err := sc.s.storedWebhooks(ctx)
	if err != nil {
		t.Fatalf("read %s: %v", events.WebhookStream, err)
	}
	answered := map[string]int{}
	deliveries := sc.s.deliveries()
	for _, dl := range deliveries {
		c, err := canonicalJSON(dl.Body)
		if err != nil {
			t.Fatalf("plaidsim delivery body: %v", err)
		}
		for _, a := range dl.Attempts {
			if a.Status == http.StatusOK {
				answered[c]++
			}
		}
		if !dl.Delivered || dl.GaveUp {
			t.Errorf("a webhook was never delivered: %s", dl.Body)
		}
	}
	missing := 0
	for body, n := range answered {
		if stored[body] < n {
			missing++
			if missing <= 5 {
				t.Errorf("webhookd answered 200 %d times to %s, but %s holds it %d times", n, body, events.WebhookStream, stored[body])
			}
		}
	}
	if missing > 5 {
		t.Errorf("... %d webhook bodies in all answered 200 more often than stored", missing)
	}

	// The chaos really happened.
	var restarts, duplicates int
	for _, p := range sc.s.allProcs() {
		for _, l := range p.logs.all() {
			m, ok := jsonLine(l)
			if !ok {
				continue
			}
			if m["msg"] == "webhook.handled" {
				if r, _ := m["restarts"].(float64); r > 0 {
					restarts++
				}
			}
			if m["msg"] == "webhook.received" && m["outcome"] == "duplicate" {
				duplicates++
			}
		}
	}
	if restarts == 0 {
		t.Error("no sync restarted after a mutation during pagination")
	}
	if sc.outage503s == 0 {
		t.Error("webhookd never answered 503 during the nats-server outage")
	}
	if replays := sc.s.replays.count(); duplicates == 0 || replays == 0 {
		t.Errorf("replayed requests answered 200: %d; webhookd duplicates: %d; want both > 0", replays, duplicates)
	}
	// Dead letters are not an error in themselves (the sweep catches their
	// owners up), but this scenario should not need any.
	dlq := sc.s.streamMsgs(ctx, events.DLQStream)
	sc.logf("checked: %d owners, %d webhook deliveries (%d attempts answered 503 during the outage), %d messages in %s, "+
		"%d syncs restarted by mutations, %d exact replays deduplicated, %d dead letters (-1: unknown); consumer stats %+v",
		len(sc.owners), len(deliveries), sc.outage503s, total, events.WebhookStream, restarts, duplicates, dlq, d.Stats)
}

// streamMsgs returns how many messages a stream holds, -1 if unknown.
func (s *stack) streamMsgs(ctx context.Context, name string) int {
	st, err := s.js.Stream(ctx, name)
	if err != nil {
		return -1
	}
	info, err := st.Info(ctx)
	if err != nil {
		return -1
	}
	return int(info.State.Msgs)
}
