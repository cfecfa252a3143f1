package fetchjs_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/fetch"
	"github.com/plaidstream/plaidstream/internal/fetchjs"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// crashAfterPublish stores the events and then fails, as a replica that
// died right after publishing would.
type crashAfterPublish struct {
	fetchjs.Publisher
	crashes int
}

func (c *crashAfterPublish) Publish(ctx context.Context, msgs []fetch.Message) error {
	if err := c.Publisher.Publish(ctx, msgs); err != nil {
		return err
	}
	if c.crashes > 0 {
		c.crashes--
		return errors.New("crashed after publishing")
	}
	return nil
}

// TestRecurringCrashAfterPublishLeavesNoPhantom: a stream changes A→B, the
// run publishes "modified B" and dies before saving its snapshot, and the
// stream goes back to A. The next run must tell consumers about A again.
func TestRecurringCrashAfterPublishLeavesNoPhantom(t *testing.T) {
	p := newPipeline(t, 1)
	p.stopFirst()
	itemID := p.register(10)
	st, err := p.sim.Item(itemID)
	if err != nil {
		t.Fatal(err)
	}
	in := plaidsim.StreamInput{TransactionStream: plaidsim.TransactionStream{AccountID: st.Accounts[0].AccountID, Description: "gym A", Frequency: "MONTHLY", FirstDate: "2026-01-01", LastDate: "2026-11-01"}}
	put := func(desc string) {
		in.Description = desc
		if _, err := p.sim.PutRecurringStream(itemID, "stream-gym", in); err != nil {
			t.Fatal(err)
		}
	}
	pub := &crashAfterPublish{Publisher: fetchjs.Publisher{JS: p.js}}
	worker := fetch.NewWorker(p.client, fetchjs.Credentials{Store: p.tokens}, fetchjs.States{Store: p.items},
		fetchjs.Recurring{KV: p.kv[events.RecurringBucket]}, fetchjs.Leases{Leases: p.leases, Holder: "direct"},
		pub, fetchjs.WebhookHead{Stream: p.webhooks}, nil, fetch.WorkerOptions{})
	trigger := func(seq uint64) fetch.Decision {
		return worker.Handle(context.Background(), fetch.Trigger{Seq: seq, Deliveries: 1, Webhook: events.WebhookMessage{
			WebhookEnvelope: events.WebhookEnvelope{WebhookType: "TRANSACTIONS", WebhookCode: "RECURRING_TRANSACTIONS_UPDATE", ItemID: itemID, Environment: "sandbox"},
			MsgID:           "m", ReceivedAt: time.Now(),
		}}, nil)
	}
	put("gym A")
	if d := trigger(1); d.Verdict != fetch.Ack {
		t.Fatalf("first diff: %+v", d)
	}
	put("gym B")
	pub.crashes = 1
	if d := trigger(2); d.Verdict != fetch.Retry {
		t.Fatalf("crashed diff: got verdict %v, want a retry", d.Verdict)
	}
	put("gym A")
	if d := trigger(3); d.Verdict != fetch.Ack {
		t.Fatalf("diff after the crash: %+v", d)
	}
	// A consumer applying stream events in order ends with the truth.
	var last events.RecurringStream
	for _, e := range p.eventsOf(itemID) {
		if e.Type == events.TypeRecurringStreamAdded || e.Type == events.TypeRecurringStreamModified {
			_ = json.Unmarshal(e.Data, &last)
		}
	}
	if last.Description != "gym A" {
		t.Errorf("consumer's stream: got %q, want %q (a phantom change survived the crash)", last.Description, "gym A")
	}
}
