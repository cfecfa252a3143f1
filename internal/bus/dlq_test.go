package bus_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
)

func TestPublishDeadLetter(t *testing.T) {
	t.Parallel()
	js := startJetStream(t)
	ctx := testContext(t, 10*time.Second)
	if _, err := bus.EnsureStream(ctx, js, events.WebhookStreamSpec(), bus.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	dlq, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TEST_DLQ", Subjects: []string{"plaid.dlq.>"}, Duplicates: time.Minute})
	if err != nil {
		t.Fatal(err)
	}

	// An original as webhookd stores it, with a Nats-Msg-Id and a stray
	// Nats-Expected-* header that must not follow it into the DLQ.
	body := []byte(`{"webhook_type":"TRANSACTIONS","webhook_code":"SYNC_UPDATES_AVAILABLE","item_id":"i1"}`)
	orig := nats.NewMsg("plaid.webhooks.TRANSACTIONS.SYNC_UPDATES_AVAILABLE")
	orig.Data = body
	orig.Header.Set(nats.MsgIdHdr, "abc123")
	orig.Header.Set(events.HeaderItemID, "i1")
	orig.Header.Add("X-Multi", "one")
	orig.Header.Add("X-Multi", "two")
	orig.Header.Set(nats.ExpectedStreamHdr, events.WebhookStream)
	if _, err := js.PublishMsg(ctx, orig); err != nil {
		t.Fatal(err)
	}
	cons, err := bus.EnsureConsumer(ctx, js, events.WebhookStream, bus.ConsumerSettings{Durable: "dlq-test", MaxAckPending: 1})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var msg jetstream.Msg
	for m := range batch.Messages() {
		msg = m
	}
	if msg == nil {
		t.Fatalf("no message: %v", batch.Error())
	}

	reason := "permanent: INVALID_ACCESS_TOKEN\r\nInjected: header"
	ack, err := bus.PublishDeadLetter(ctx, js, "plaid.dlq.webhooks", msg, reason, map[string]string{"Plaidstream-Error-Code": "INVALID_ACCESS_TOKEN"})
	if err != nil {
		t.Fatal(err)
	}
	if ack.Stream != "TEST_DLQ" || ack.Duplicate {
		t.Fatalf("ack: %+v", ack)
	}
	// Dead-lettering the same message again (a crash before the Term) is
	// stored once.
	again, err := bus.PublishDeadLetter(ctx, js, "plaid.dlq.webhooks", msg, "again", nil)
	if err != nil || !again.Duplicate || again.Sequence != ack.Sequence {
		t.Fatalf("second dead letter: %+v %v", again, err)
	}
	if err := msg.Term(); err != nil {
		t.Fatal(err)
	}

	got, err := dlq.GetMsg(ctx, ack.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Data) != string(body) || got.Subject != "plaid.dlq.webhooks" {
		t.Errorf("data or subject changed: %s %s", got.Subject, got.Data)
	}
	h := got.Header
	want := map[string]string{
		nats.MsgIdHdr:            "dlq-" + events.WebhookStream + "-1",
		bus.HeaderDLQStream:      events.WebhookStream,
		bus.HeaderDLQSequence:    "1",
		bus.HeaderDLQDeliveries:  "1",
		bus.HeaderDLQSubject:     "plaid.webhooks.TRANSACTIONS.SYNC_UPDATES_AVAILABLE",
		bus.HeaderDLQMsgID:       "abc123",
		bus.HeaderDLQReason:      "permanent: INVALID_ACCESS_TOKEN  Injected: header",
		events.HeaderItemID:      "i1",
		"Plaidstream-Error-Code": "INVALID_ACCESS_TOKEN",
		nats.ExpectedStreamHdr:   "",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("header %s: got %q, want %q", k, got, v)
		}
	}
	if vs := h.Values("X-Multi"); len(vs) != 2 {
		t.Errorf("multi-valued header: %v", vs)
	}
	if h.Get("Injected") != "" {
		t.Error("a reason injected a header")
	}
	if at, err := time.Parse(time.RFC3339Nano, h.Get(bus.HeaderDLQAt)); err != nil || time.Since(at) > time.Minute {
		t.Errorf("dlq at: %q %v", h.Get(bus.HeaderDLQAt), err)
	}
}

func TestPublishDeadLetterValidates(t *testing.T) {
	t.Parallel()
	js := startJetStream(t)
	ctx := testContext(t, 5*time.Second)
	src := bus.DeadLetterSource{Stream: "S", Sequence: 1, Data: []byte("x")}
	for name, tc := range map[string]struct {
		src    bus.DeadLetterSource
		reason string
		extra  map[string]string
	}{
		"no reason":          {src, " \n", nil},
		"no sequence":        {bus.DeadLetterSource{Stream: "S"}, "r", nil},
		"nats header":        {src, "r", map[string]string{"Nats-Msg-Id": "x"}},
		"dlq header":         {src, "r", map[string]string{"plaidstream-dlq-reason": "x"}},
		"invalid header key": {src, "r", map[string]string{"A B": "x"}},
	} {
		if _, err := bus.PublishDeadLetterFrom(ctx, js, "plaid.dlq.x", tc.src, tc.reason, tc.extra); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A subject no stream captures fails.
	if _, err := bus.PublishDeadLetterFrom(ctx, js, "plaid.dlq.nowhere", src, "r", nil); err == nil {
		t.Error("publish to a subject without a stream succeeded")
	}
	// A huge reason is cut to 1 KiB of valid UTF-8.
	dlq, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TEST_DLQ", Subjects: []string{"plaid.dlq.>"}})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := bus.PublishDeadLetterFrom(ctx, js, "plaid.dlq.x", src, strings.Repeat("é", 5000), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := dlq.GetMsg(ctx, ack.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	if r := m.Header.Get(bus.HeaderDLQReason); len(r) > 1024 || len(r) < 1000 || !utf8.ValidString(r) {
		t.Errorf("reason of %d bytes, valid UTF-8 %v", len(r), utf8.ValidString(r))
	}
}
