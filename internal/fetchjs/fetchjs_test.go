package fetchjs_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/fetch"
	"github.com/plaidstream/plaidstream/internal/fetchjs"
	"github.com/plaidstream/plaidstream/internal/natstest"
	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
	"github.com/plaidstream/plaidstream/internal/tokens"
)

// pipeline is the fetcher's core on real parts: an embedded JetStream
// server, the Plaid simulator over loopback HTTP, the real client, stores
// and consume loop.
type pipeline struct {
	t        *testing.T
	js       jetstream.JetStream
	sim      *plaidsim.Sim
	tokens   *bus.TokenStore
	webhooks jetstream.Stream
	kv       map[string]jetstream.KeyValue
	leases   *bus.Leases
	consumer jetstream.Consumer
	client   *plaid.Client
	items    *bus.ItemStore
	natsURL  string
	// stopFirst stops the replica newPipeline started.
	stopFirst func()
	mu        sync.Mutex
	outcomes  map[string]int
}

func newPipeline(t *testing.T, workers int) *pipeline {
	t.Helper()
	ctx := context.Background()
	natsURL, js := natstest.Start(t)
	p := &pipeline{t: t, js: js, natsURL: natsURL, outcomes: map[string]int{}}
	for _, spec := range []events.StreamSpec{events.WebhookStreamSpec(), events.EventStreamSpec(), events.DLQStreamSpec()} {
		st, err := bus.EnsureStream(ctx, js, spec, bus.StreamSettings{})
		if err != nil {
			t.Fatal(err)
		}
		if spec.Name == events.WebhookStream {
			p.webhooks = st
		}
	}
	kv := map[string]jetstream.KeyValue{}
	var err error
	for _, spec := range []events.BucketSpec{events.TokensBucketSpec(), events.ItemsBucketSpec(), events.LeasesBucketSpec(), events.RecurringBucketSpec()} {
		if kv[spec.Name], err = bus.EnsureBucket(ctx, js, spec, 1); err != nil {
			t.Fatal(err)
		}
	}
	key := make([]byte, tokens.KeySize)
	ring, err := tokens.NewKeyring(tokens.Key{ID: "0", Bytes: key})
	if err != nil {
		t.Fatal(err)
	}
	p.tokens = bus.NewTokenStore(kv[events.TokensBucket], ring)
	leases, err := bus.NewLeases(ctx, js, kv[events.LeasesBucket], 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := bus.EnsureConsumer(ctx, js, events.WebhookStream, bus.ConsumerSettings{Durable: "fetcher", MaxDeliver: 8})
	if err != nil {
		t.Fatal(err)
	}

	p.sim, err = plaidsim.New(plaidsim.Options{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.sim.Close() })
	srv := httptest.NewServer(p.sim)
	t.Cleanup(srv.Close)
	client, err := plaid.NewClient(plaid.Config{BaseURL: srv.URL, ClientID: plaidsim.DefaultClientID, Secret: plaidsim.DefaultSecret, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}

	p.kv, p.leases, p.consumer, p.client = kv, leases, cons, client
	p.items = bus.NewItemStore(kv[events.ItemsBucket])
	p.stopFirst = p.startReplica("test-replica", workers, 20*time.Second)
	return p
}

// startReplica runs one fetcher replica (its own worker, lease holder and
// consume loop) on the shared infrastructure and returns a function that
// stops it; grace bounds how long in-flight work may take when stopped.
func (p *pipeline) startReplica(name string, workers int, grace time.Duration) (stop func()) {
	return p.startReplicaWith(name, workers, grace, fetch.WorkerOptions{RetryDelay: 20 * time.Millisecond, MaxRetryDelay: 2 * time.Second, LeaseRetryDelay: 250 * time.Millisecond, SyncCount: 100})
}

// startReplicaWith is startReplica with the worker's options.
func (p *pipeline) startReplicaWith(name string, workers int, grace time.Duration, opts fetch.WorkerOptions) (stop func()) {
	worker := fetch.NewWorker(p.client,
		fetchjs.Credentials{Store: p.tokens},
		fetchjs.States{Store: p.items},
		fetchjs.Recurring{KV: p.kv[events.RecurringBucket]},
		fetchjs.Leases{Leases: p.leases, Holder: name},
		fetchjs.Publisher{JS: p.js},
		fetchjs.WebhookHead{Stream: p.webhooks},
		nil, opts)
	consumer := fetchjs.NewConsumer(p.consumer, p.js, worker, fetchjs.ConsumerOptions{
		Workers: workers, MaxDeliver: 8, Grace: grace,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		Observe: func(_ fetch.Trigger, d fetch.Decision) {
			p.mu.Lock()
			p.outcomes[d.Outcome]++
			p.mu.Unlock()
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- consumer.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				p.t.Errorf("replica %s: Run: %v", name, err)
			}
		})
	}
	p.t.Cleanup(stop)
	return stop
}

// register creates an item in the simulator and stores its token.
func (p *pipeline) register(n int) string {
	p.t.Helper()
	item, err := p.sim.CreateItem(plaidsim.ItemOptions{Transactions: &n})
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.tokens.PutItem(context.Background(), item.ItemID, item.AccessToken, "", "sandbox"); err != nil {
		p.t.Fatal(err)
	}
	return item.ItemID
}

// webhook stores a webhook message as webhookd would and returns its
// stream sequence.
func (p *pipeline) webhook(typ, code, itemID string) uint64 {
	p.t.Helper()
	body, _ := json.Marshal(map[string]any{"webhook_type": typ, "webhook_code": code, "item_id": itemID, "environment": "sandbox"})
	env := events.WebhookEnvelope{WebhookType: typ, WebhookCode: code, ItemID: itemID, Environment: "sandbox"}
	token := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s-%d", itemID, time.Now().UnixNano()))
	msg := &nats.Msg{Subject: events.WebhookSubject(typ, code), Data: body, Header: nats.Header(events.WebhookHeaders(env, events.WebhookMsgID(token), "kid", time.Now()))}
	ack, err := p.js.PublishMsg(context.Background(), msg)
	if err != nil {
		p.t.Fatal(err)
	}
	return ack.Sequence
}

// ledger is a reference consumer following docs/events.md: it dedupes by
// id, buffers transaction events by updateid and applies an update only
// when its plaid.sync.completed arrives, drops buffers of interrupted runs,
// and counts gaps (an update not starting where the previous one ended).
type ledger struct {
	seen        map[string]bool
	txns        map[string]json.RawMessage
	pending     map[string][]events.Event
	completions int
	lastEnd     string
	gaps        int
}

func (l *ledger) apply(e events.Event) {
	if l.seen[e.ID] {
		return
	}
	l.seen[e.ID] = true
	switch e.Type {
	case events.ItemEventType(events.ItemStatusResyncStarted):
		// docs/events.md: drop the owner's state; the replay rebuilds it.
		clear(l.txns)
		clear(l.pending)
		l.completions, l.lastEnd = 0, ""
	case events.TypeTransactionAdded, events.TypeTransactionModified, events.TypeTransactionPosted, events.TypeTransactionRemoved:
		l.pending[e.UpdateID] = append(l.pending[e.UpdateID], e)
	case events.TypeSyncCompleted:
		var c events.SyncCompleted
		_ = json.Unmarshal(e.Data, &c)
		if l.completions > 0 && c.StartCursor != l.lastEnd {
			l.gaps++
		}
		for _, te := range l.pending[e.UpdateID] {
			l.applyTransaction(te)
		}
		// Updates of one owner never overlap: any other buffered update was
		// an interrupted run and is superseded.
		clear(l.pending)
		l.lastEnd = c.EndCursor
		l.completions++
	}
}

func (l *ledger) applyTransaction(e events.Event) {
	if e.Type == events.TypeTransactionRemoved {
		var r events.RemovedTransaction
		_ = json.Unmarshal(e.Data, &r)
		delete(l.txns, r.TransactionID)
		return
	}
	var tx events.Transaction
	_ = json.Unmarshal(e.Data, &tx)
	if tx.PendingTransactionID != nil && e.Type == events.TypeTransactionPosted {
		delete(l.txns, *tx.PendingTransactionID)
	}
	l.txns[tx.TransactionID] = e.Data
}

// ledger reads every event in PLAID_EVENTS about owner into a fresh ledger.
func (p *pipeline) ledger(owner string) *ledger {
	p.t.Helper()
	l := &ledger{seen: map[string]bool{}, txns: map[string]json.RawMessage{}, pending: map[string][]events.Event{}}
	for _, e := range p.eventsOf(owner) {
		l.apply(e)
	}
	return l
}

// truth is the simulator's current transactions of itemID, normalized as
// the fetcher normalizes them.
func (p *pipeline) truth(itemID string) map[string]json.RawMessage {
	p.t.Helper()
	st, err := p.sim.Item(itemID)
	if err != nil {
		p.t.Fatal(err)
	}
	out := map[string]json.RawMessage{}
	owner := events.Owner{Kind: events.OwnerItem, ID: itemID}
	for _, st := range st.Transactions {
		b, _ := json.Marshal(st)
		var tx plaid.Transaction
		if err := json.Unmarshal(b, &tx); err != nil {
			p.t.Fatal(err)
		}
		n := fetch.NormalizeTransaction(tx, owner, false)
		out[tx.TransactionID], _ = json.Marshal(n)
	}
	return out
}

// waitFor polls cond until it holds (a condition, not a sleep).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitWithin(t, 20*time.Second, what, cond)
}

// waitWithin is waitFor with its own limit.
func waitWithin(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *pipeline) outcome(o string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.outcomes[o]
}

func (p *pipeline) handled() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, v := range p.outcomes {
		n += v
	}
	return n
}

func equalLedger(t *testing.T, got *ledger, want map[string]json.RawMessage) {
	t.Helper()
	if got.gaps != 0 {
		t.Errorf("the event stream has %d gaps between updates", got.gaps)
	}
	if len(got.txns) != len(want) {
		t.Fatalf("ledger holds %d transactions, ground truth %d", len(got.txns), len(want))
	}
	var diffs []string
	for id, w := range want {
		var a, b any
		_ = json.Unmarshal(got.txns[id], &a)
		_ = json.Unmarshal(w, &b)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			diffs = append(diffs, id)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Fatalf("%d transactions differ from the ground truth, e.g. %s:\n got  %s\n want %s", len(diffs), diffs[0], got.txns[diffs[0]], want[diffs[0]])
	}
}

func TestSyncsReproduceTheGroundTruth(t *testing.T) {
	p := newPipeline(t, 2)
	itemID := p.register(300)
	p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", itemID)
	waitFor(t, "the first sync", func() bool { return p.outcome(fetch.OutcomeSynced) == 1 })
	equalLedger(t, p.ledger(itemID), p.truth(itemID))

	for i := range 3 {
		if _, err := p.sim.Mutate(itemID, plaidsim.MutateOptions{Seed: int64(i + 1), Add: 7, Modify: 5, Remove: 3, Post: 2}); err != nil {
			t.Fatal(err)
		}
		p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", itemID)
		waitFor(t, "a follow-up sync", func() bool { return p.outcome(fetch.OutcomeSynced) == i+2 })
		equalLedger(t, p.ledger(itemID), p.truth(itemID))
	}
	if got := p.ledger(itemID).completions; got != 4 {
		t.Errorf("sync.completed events: got %d, want 4", got)
	}
}

func TestUnknownItemIsAcked(t *testing.T) {
	p := newPipeline(t, 1)
	p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", "never-registered")
	waitFor(t, "the webhook to be handled", func() bool { return p.outcome(fetch.OutcomeUnknownOwner) == 1 })
}

// TestBurstOfWebhooksCoalesces: 100 webhooks for one item during a slow sync
// cost at most two syncs (the running one and one follow-up), and none is
// lost.
func TestBurstOfWebhooksCoalesces(t *testing.T) {
	p := newPipeline(t, 4)
	itemID := p.register(50)
	// Hold every sync page long enough for the whole burst to land while
	// the first sync runs.
	if err := p.sim.InjectFault("/transactions/sync", plaidsim.Fault{Count: 1000, Delay: time.Second}); err != nil {
		t.Fatal(err)
	}
	p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", itemID)
	key, _ := events.OwnerKey(events.OwnerItem, itemID)
	waitFor(t, "the first sync to start", func() bool {
		_, err := p.leases.Holder(context.Background(), key)
		return err == nil
	})
	for range 99 {
		p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", itemID)
	}
	// Messages that waited for the lease come back; count the final verdicts.
	waitFor(t, "all 100 webhooks", func() bool {
		return p.outcome(fetch.OutcomeSynced)+p.outcome(fetch.OutcomeCoalesced) == 100
	})
	if got := p.outcome(fetch.OutcomeSynced); got > 2 || got < 1 {
		t.Errorf("syncs for a burst of 100 webhooks: got %d, want 1 or 2", got)
	}
	equalLedger(t, p.ledger(itemID), p.truth(itemID))
}
