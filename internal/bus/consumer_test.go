package bus_test

import (
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
)

func TestConsumerConfig(t *testing.T) {
	cfg, err := bus.ConsumerConfig(bus.ConsumerSettings{Durable: "fetcher", FilterSubjects: []string{"plaid.webhooks.TRANSACTIONS.>"}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Durable != "fetcher" || cfg.AckPolicy != jetstream.AckExplicitPolicy || cfg.DeliverPolicy != jetstream.DeliverAllPolicy ||
		cfg.AckWait != bus.DefaultAckWait || cfg.MaxDeliver != bus.DefaultMaxDeliver || cfg.MaxAckPending != bus.DefaultMaxAckPending ||
		cfg.FilterSubject != "plaid.webhooks.TRANSACTIONS.>" || cfg.FilterSubjects != nil || cfg.InactiveThreshold != 0 || cfg.BackOff != nil {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg, err = bus.ConsumerConfig(bus.ConsumerSettings{Durable: "f", MaxAckPending: 1, AckWait: time.Minute, BackOff: []time.Duration{time.Minute, 2 * time.Minute}, FilterSubjects: []string{"a", "b"}})
	if err != nil || cfg.AckWait != time.Minute || len(cfg.BackOff) != 2 || len(cfg.FilterSubjects) != 2 || cfg.FilterSubject != "" {
		t.Errorf("backoff: %+v %v", cfg, err)
	}
	for name, s := range map[string]bus.ConsumerSettings{
		"no durable":               {MaxAckPending: 1},
		"dotted durable":           {Durable: "a.b", MaxAckPending: 1},
		"negative max ack pending": {Durable: "f", MaxAckPending: -1},
		"backoff under ack wait":   {Durable: "f", MaxAckPending: 1, AckWait: time.Minute, BackOff: []time.Duration{time.Second}},
		"backoff over maxdeliver":  {Durable: "f", MaxAckPending: 1, AckWait: time.Second, MaxDeliver: 1, BackOff: []time.Duration{time.Second, time.Second}},
	} {
		if _, err := bus.ConsumerConfig(s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestEnsureConsumerIsIdempotentAndUpdates(t *testing.T) {
	t.Parallel()
	js := startJetStream(t)
	ctx := testContext(t, 10*time.Second)
	if _, err := bus.EnsureStream(ctx, js, events.WebhookStreamSpec(), bus.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	s := bus.ConsumerSettings{Durable: "fetcher", MaxAckPending: 4, FilterSubjects: []string{"plaid.webhooks.TRANSACTIONS.>", "plaid.webhooks.ITEM.>"}}
	for range 2 {
		c, err := bus.EnsureConsumer(ctx, js, events.WebhookStream, s)
		if err != nil {
			t.Fatal(err)
		}
		got := c.CachedInfo().Config
		if got.Durable != "fetcher" || got.AckWait != bus.DefaultAckWait || got.MaxAckPending != 4 || got.MaxDeliver != bus.DefaultMaxDeliver ||
			!slices.Equal(got.FilterSubjects, s.FilterSubjects) || got.AckPolicy != jetstream.AckExplicitPolicy {
			t.Errorf("config: %+v", got)
		}
	}
	s.MaxAckPending, s.AckWait, s.MaxDeliver = 8, 2*time.Minute, 5
	s.BackOff = []time.Duration{2 * time.Minute, 5 * time.Minute}
	c, err := bus.EnsureConsumer(ctx, js, events.WebhookStream, s)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Config; got.MaxAckPending != 8 || got.AckWait != 2*time.Minute || got.MaxDeliver != 5 || !slices.Equal(got.BackOff, s.BackOff) {
		t.Errorf("updated config: %+v", got)
	}
	stream, err := js.Stream(ctx, events.WebhookStream)
	if err != nil {
		t.Fatal(err)
	}
	names := stream.ConsumerNames(ctx)
	n := 0
	for range names.Name() {
		n++
	}
	if n != 1 {
		t.Errorf("%d consumers, want 1", n)
	}
	if _, err := bus.EnsureConsumer(ctx, js, "NO_SUCH_STREAM", s); err == nil {
		t.Error("consumer on a missing stream")
	}
}
