package fetchjs_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/fetch"
	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// eventsOf returns the types of every event about itemID, in stream order.
func (p *pipeline) eventsOf(itemID string) []events.Event {
	p.t.Helper()
	ctx := context.Background()
	cons, err := p.js.OrderedConsumer(ctx, events.EventStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.EventSubjectPrefix + "." + itemID + ".>"}})
	if err != nil {
		p.t.Fatal(err)
	}
	var out []events.Event
	for {
		batch, err := cons.FetchNoWait(500)
		if err != nil {
			p.t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			e, err := events.DecodeEvent(m.Data())
			if err != nil {
				p.t.Fatal(err)
			}
			out = append(out, e)
		}
		if n == 0 {
			return out
		}
	}
}

func hasType(es []events.Event, typ string) int {
	n := 0
	for _, e := range es {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func TestRegistrationSyncRequestSyncsOnce(t *testing.T) {
	p := newPipeline(t, 2)
	itemID := p.register(40)
	owner := events.Owner{Kind: events.OwnerItem, ID: itemID}
	for range 2 { // a repeated registration collapses
		if _, err := bus.RequestSync(context.Background(), p.js, owner, bus.SyncRequestOptions{Environment: "sandbox", Reason: "registered", RequestID: "registered-" + itemID}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the registration sync", func() bool { return p.outcome(fetch.OutcomeSynced) == 1 })
	equalLedger(t, p.ledger(itemID), p.truth(itemID))
	if n := p.handled(); n != 1 {
		t.Errorf("handled %d messages, want the duplicate request dropped", n)
	}
}

func TestLoginRequiredParksUntilRepaired(t *testing.T) {
	p := newPipeline(t, 1)
	itemID := p.register(30)
	if err := p.sim.SetItemError(itemID, "ITEM_LOGIN_REQUIRED"); err != nil {
		t.Fatal(err)
	}
	p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", itemID)
	waitFor(t, "the item to be parked", func() bool { return p.outcome(fetch.OutcomeNeedsUser) == 1 })
	es := p.eventsOf(itemID)
	if hasType(es, events.ItemEventType("error")) != 1 {
		t.Fatalf("want one plaid.item.error event, got %d events", len(es))
	}
	var st events.ItemStatus
	_ = json.Unmarshal(es[len(es)-1].Data, &st)
	if !st.Parked || !strings.Contains(string(st.Error), "ITEM_LOGIN_REQUIRED") {
		t.Errorf("item event: got %+v, want parked with Plaid's error", st)
	}

	// While parked, webhooks cause no Plaid calls and no retry storm.
	p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", itemID)
	waitFor(t, "the parked webhook", func() bool { return p.outcome(fetch.OutcomeParked) == 1 })

	// LOGIN_REPAIRED un-parks and catches up at once.
	if err := p.sim.ClearItemError(itemID); err != nil {
		t.Fatal(err)
	}
	p.webhook("ITEM", "LOGIN_REPAIRED", itemID)
	waitFor(t, "the repair sync", func() bool { return p.outcome(fetch.OutcomeSynced) == 1 })
	if hasType(p.eventsOf(itemID), events.ItemEventType("LOGIN_REPAIRED")) != 1 {
		t.Error("no plaid.item.login_repaired event")
	}
	equalLedger(t, p.ledger(itemID), p.truth(itemID))
}

func TestForcedSyncUnparks(t *testing.T) {
	p := newPipeline(t, 1)
	itemID := p.register(20)
	if err := p.sim.SetItemError(itemID, "ITEM_LOGIN_REQUIRED"); err != nil {
		t.Fatal(err)
	}
	p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", itemID)
	waitFor(t, "the item to be parked", func() bool { return p.outcome(fetch.OutcomeNeedsUser) == 1 })
	if err := p.sim.ClearItemError(itemID); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.RequestSync(context.Background(), p.js, events.Owner{Kind: events.OwnerItem, ID: itemID}, bus.SyncRequestOptions{Environment: "sandbox", Reason: "forced", Unpark: true, RequestID: "forced-1"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the forced sync", func() bool { return p.outcome(fetch.OutcomeSynced) == 1 })
	equalLedger(t, p.ledger(itemID), p.truth(itemID))
}

func TestTransientPlaidErrorsAreRetried(t *testing.T) {
	p := newPipeline(t, 1)
	itemID := p.register(60)
	// More 500s than the client retries in one call, fewer than deliveries.
	if err := p.sim.InjectFault("/transactions/sync", plaidsim.Fault{Count: 6, Status: http.StatusInternalServerError}); err != nil {
		t.Fatal(err)
	}
	p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", itemID)
	waitFor(t, "the sync after retries", func() bool { return p.outcome(fetch.OutcomeSynced) == 1 })
	if p.outcome(fetch.OutcomeRetry) == 0 {
		t.Error("no retry recorded")
	}
	equalLedger(t, p.ledger(itemID), p.truth(itemID))
}

func TestOurBugIsDeadLettered(t *testing.T) {
	p := newPipeline(t, 1)
	itemID := p.register(10)
	if err := p.sim.InjectFault("/transactions/sync", plaidsim.Fault{Count: 1, ErrorCode: "INVALID_API_KEYS"}); err != nil {
		t.Fatal(err)
	}
	seq := p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", itemID)
	waitFor(t, "the dead letter", func() bool { return p.outcome(fetch.OutcomeDeadLetter) == 1 })
	st, err := p.js.Stream(context.Background(), events.DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("PLAID_DLQ holds %d messages, want 1", info.State.Msgs)
	}
	m, err := st.GetMsg(context.Background(), info.State.FirstSeq)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get(events.HeaderItemID) != itemID || m.Header.Get("Plaidstream-Dlq-Reason") == "" {
		t.Errorf("dead letter lacks the original headers or the reason: %v", m.Header)
	}
	if got := m.Header.Get("Plaidstream-Dlq-Sequence"); got != jsonNumber(seq) {
		t.Errorf("dead letter sequence: got %q, want %d", got, seq)
	}
}

func jsonNumber(n uint64) string { b, _ := json.Marshal(n); return string(b) }

func TestRecurringStreamChanges(t *testing.T) {
	p := newPipeline(t, 1)
	itemID := p.register(10)
	st, err := p.sim.Item(itemID)
	if err != nil {
		t.Fatal(err)
	}
	account := st.Accounts[0].AccountID
	for _, id := range []string{"stream-netflix", "stream-gym", "stream-old"} {
		in := plaidsim.StreamInput{TransactionStream: plaidsim.TransactionStream{AccountID: account, Description: id, Frequency: "MONTHLY", FirstDate: "2026-01-01", LastDate: "2026-11-01"}}
		if id == "stream-old" {
			in.Status = "TOMBSTONED" // already tombstoned when first seen: no event
		}
		if _, err := p.sim.PutRecurringStream(itemID, id, in); err != nil {
			t.Fatal(err)
		}
	}
	p.webhook("TRANSACTIONS", "RECURRING_TRANSACTIONS_UPDATE", itemID)
	waitFor(t, "the first recurring diff", func() bool { return p.outcome(fetch.OutcomeRecurring) == 1 })
	if got := hasType(p.eventsOf(itemID), events.TypeRecurringStreamAdded); got != 2 {
		t.Fatalf("stream added events: got %d, want 2", got)
	}
	if err := p.sim.RemoveRecurringStream(itemID, "stream-gym", true); err != nil {
		t.Fatal(err)
	}
	p.webhook("TRANSACTIONS", "RECURRING_TRANSACTIONS_UPDATE", itemID)
	waitFor(t, "the second recurring diff", func() bool { return p.outcome(fetch.OutcomeRecurring) == 2 })
	es := p.eventsOf(itemID)
	if hasType(es, events.TypeRecurringStreamRemoved) != 1 || es[len(es)-1].Subject != "stream-gym" {
		t.Errorf("want one removed event for the tombstoned stream")
	}
	if hasType(es, events.TypeRecurringStreamAdded) != 2 {
		t.Errorf("the unchanged stream was reported again")
	}
}

func TestProcessorTokenSyncs(t *testing.T) {
	p := newPipeline(t, 1)
	n := 80
	item, err := p.sim.CreateItem(plaidsim.ItemOptions{Transactions: &n})
	if err != nil {
		t.Fatal(err)
	}
	account := item.Accounts[0].AccountID
	ctx := context.Background()
	created, err := p.client.ProcessorTokenCreate(ctx, plaid.ProcessorTokenCreateRequest{AccessToken: plaid.AccessToken(item.AccessToken), AccountID: account, Processor: "dwolla"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.tokens.PutProcessor(ctx, account, string(created.ProcessorToken), "sandbox"); err != nil {
		t.Fatal(err)
	}
	p.processorWebhook(account)
	waitFor(t, "the processor sync", func() bool { return p.outcome(fetch.OutcomeSynced) == 1 })

	st, err := p.sim.Item(item.ItemID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]json.RawMessage{}
	owner := events.Owner{Kind: events.OwnerProcessor, ID: account}
	for _, tx := range st.Transactions {
		if tx.AccountID != account {
			continue
		}
		b, _ := json.Marshal(tx)
		var ptx plaid.Transaction
		if err := json.Unmarshal(b, &ptx); err != nil {
			t.Fatal(err)
		}
		want[ptx.TransactionID], _ = json.Marshal(fetch.NormalizeTransaction(ptx, owner, false))
	}
	got := p.ledger(account)
	equalLedger(t, got, want)
	for _, e := range p.eventsOf(account) {
		if e.Source != "plaid/sandbox/processor/"+account {
			t.Fatalf("processor event source: got %q", e.Source)
		}
	}
}

// processorWebhook stores a processor SYNC_UPDATES_AVAILABLE (account_id,
// no item_id).
func (p *pipeline) processorWebhook(accountID string) {
	p.t.Helper()
	body, _ := json.Marshal(map[string]any{"webhook_type": "TRANSACTIONS", "webhook_code": "SYNC_UPDATES_AVAILABLE", "account_id": accountID, "environment": "sandbox"})
	env := events.WebhookEnvelope{WebhookType: "TRANSACTIONS", WebhookCode: "SYNC_UPDATES_AVAILABLE", AccountID: accountID, Environment: "sandbox"}
	msg := &nats.Msg{Subject: events.WebhookSubject(env.WebhookType, env.WebhookCode), Data: body, Header: nats.Header(events.WebhookHeaders(env, events.WebhookMsgID(accountID), "kid", time.Now()))}
	if _, err := p.js.PublishMsg(context.Background(), msg); err != nil {
		p.t.Fatal(err)
	}
}

func TestExhaustedRetriesDeadLetterAndMarkOverdue(t *testing.T) {
	p := newPipeline(t, 1)
	itemID := p.register(10)
	if err := p.sim.InjectFault("/transactions/sync", plaidsim.Fault{ItemID: itemID, Count: 1000, Status: http.StatusInternalServerError}); err != nil {
		t.Fatal(err)
	}
	p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", itemID)
	waitFor(t, "the dead letter", func() bool { return p.outcome(fetch.OutcomeDeadLetter) == 1 })
	if got := p.outcome(fetch.OutcomeRetry); got != 7 {
		t.Errorf("retries before giving up: got %d, want 7 (MaxDeliver 8)", got)
	}
	key, _ := events.OwnerKey(events.OwnerItem, itemID)
	st, _, err := p.items.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Overdue {
		t.Error("item not marked overdue for the reconciliation sweep")
	}
	if st.Cursor != "" {
		t.Errorf("cursor moved without a sync: %q", st.Cursor)
	}
}

func TestProcessorRecurringStreams(t *testing.T) {
	p := newPipeline(t, 1)
	n := 10
	item, err := p.sim.CreateItem(plaidsim.ItemOptions{Transactions: &n})
	if err != nil {
		t.Fatal(err)
	}
	account := item.Accounts[0].AccountID
	ctx := context.Background()
	created, err := p.client.ProcessorTokenCreate(ctx, plaid.ProcessorTokenCreateRequest{AccessToken: plaid.AccessToken(item.AccessToken), AccountID: account, Processor: "dwolla"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.tokens.PutProcessor(ctx, account, string(created.ProcessorToken), "sandbox"); err != nil {
		t.Fatal(err)
	}
	in := plaidsim.StreamInput{TransactionStream: plaidsim.TransactionStream{AccountID: account, Description: "payroll", Frequency: "SEMI_MONTHLY", FirstDate: "2026-01-15", LastDate: "2026-11-15"}}
	if _, err := p.sim.PutRecurringStream(item.ItemID, "stream-payroll", in); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"webhook_type": "TRANSACTIONS", "webhook_code": "RECURRING_TRANSACTIONS_UPDATE", "account_id": account, "environment": "sandbox"})
	env := events.WebhookEnvelope{WebhookType: "TRANSACTIONS", WebhookCode: "RECURRING_TRANSACTIONS_UPDATE", AccountID: account, Environment: "sandbox"}
	msg := &nats.Msg{Subject: events.WebhookSubject(env.WebhookType, env.WebhookCode), Data: body, Header: nats.Header(events.WebhookHeaders(env, events.WebhookMsgID("rec-"+account), "kid", time.Now()))}
	if _, err := p.js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the processor recurring diff", func() bool { return p.outcome(fetch.OutcomeRecurring) == 1 })
	es := p.eventsOf(account)
	if hasType(es, events.TypeRecurringStreamAdded) != 1 || es[0].Subject != "stream-payroll" || es[0].Source != "plaid/sandbox/processor/"+account {
		t.Fatalf("want one stream added event from the processor source, got %d events", len(es))
	}
	var rs events.RecurringStream
	_ = json.Unmarshal(es[0].Data, &rs)
	if rs.ItemID != "" || rs.AccountID != account {
		t.Errorf("processor stream payload: got item %q account %q", rs.ItemID, rs.AccountID)
	}
}

// TestBusyItemDoesNotHoldBackOthers: while one item's sync hangs in Plaid
// and its later webhooks wait (delayed, unacknowledged) for that sync, other
// items' webhooks are still delivered and synced. With MaxAckPending equal
// to the workers, the waiting messages filled the consumer's pending limit
// and stopped every other item (found by the e2e test).
func TestBusyItemDoesNotHoldBackOthers(t *testing.T) {
	p := newPipeline(t, 2)
	p.stopFirst()
	p.startReplica("test-replica", 2, 100*time.Millisecond) // do not wait for the hung sync at the end
	busy, other := p.register(20), p.register(20)
	if err := p.sim.InjectFault("/transactions/sync", plaidsim.Fault{ItemID: busy, Count: 1, Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", busy)
	key, _ := events.OwnerKey(events.OwnerItem, busy)
	waitFor(t, "the busy item's sync to start", func() bool {
		info, err := p.leases.Holder(context.Background(), key)
		return err == nil && info.Holder == "test-replica"
	})
	for range 3 { // they wait for the busy sync: follow-ups, redelivered later
		p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", busy)
	}
	waitFor(t, "the waiting webhooks to be put back", func() bool { return p.outcome(fetch.OutcomeFollowUp) >= 2 })
	p.webhook("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", other)
	waitFor(t, "the other item's sync while the busy one hangs", func() bool { return p.outcome(fetch.OutcomeSynced) == 1 })
	equalLedger(t, p.ledger(other), p.truth(other))
}
