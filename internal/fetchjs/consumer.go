package fetchjs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/fetch"
)

// Consumer feeds PLAID_WEBHOOKS messages from a durable pull consumer to a
// fetch.Worker with a bounded number of workers and acts on each decision:
// Ack (double-acked, so the server confirmed it), Nak with the delay, or
// dead-letter to PLAID_DLQ and Term.
type Consumer struct {
	consumer   jetstream.Consumer
	js         jetstream.JetStream
	worker     *fetch.Worker
	workers    int
	maxDeliver int
	grace      time.Duration
	logger     *slog.Logger
	observe    func(fetch.Trigger, fetch.Decision)
}

// ConsumerOptions configure a Consumer.
type ConsumerOptions struct {
	// Workers is how many messages are handled at once (default 4).
	Workers int
	// MaxDeliver must equal the consumer's MaxDeliver: the delivery with
	// this number is the last, and a failure on it dead-letters.
	MaxDeliver int
	// Grace bounds how long in-flight messages may take after shutdown
	// begins; then their context is cancelled and they are handed back
	// (not acked) for another replica. Default 20s.
	Grace time.Duration
	// Observe, if set, is called after each message (for metrics).
	Observe func(fetch.Trigger, fetch.Decision)
	Logger  *slog.Logger
}

// NewConsumer returns a Consumer; Run starts it.
func NewConsumer(c jetstream.Consumer, js jetstream.JetStream, w *fetch.Worker, o ConsumerOptions) *Consumer {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Grace <= 0 {
		o.Grace = 20 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Observe == nil {
		o.Observe = func(fetch.Trigger, fetch.Decision) {}
	}
	return &Consumer{consumer: c, js: js, worker: w, workers: o.Workers, maxDeliver: o.MaxDeliver, grace: o.Grace, logger: o.Logger, observe: o.Observe}
}

// fetchWait is how long an idle worker's pull waits for a message; it also
// bounds how long an idle worker takes to notice shutdown.
const fetchWait = time.Second

// Run consumes until ctx ends, then stops pulling, lets the workers finish
// what they hold within the grace period, and returns.
//
// Each worker pulls one message only when it is idle, so no message waits in
// a client buffer behind busy workers while its AckWait runs (it would be
// redelivered elsewhere for nothing); the consumer's MaxAckPending then only
// bounds messages in work or waiting for a delayed redelivery.
func (c *Consumer) Run(ctx context.Context) error {
	// Work gets its own context: shutdown must not cut a sync short at once,
	// only after the grace period.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	var wg sync.WaitGroup
	for range c.workers {
		wg.Go(func() { c.pullLoop(ctx, work) })
	}
	<-ctx.Done()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(c.grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		c.logger.Warn("shutdown grace period over: handing back in-flight messages")
		cancelWork()
		<-done
	}
	return nil
}

// pullLoop is one worker: fetch a message when idle, handle it, repeat
// until ctx ends. work is the context the handling runs under.
func (c *Consumer) pullLoop(ctx, work context.Context) {
	failures := 0
	for ctx.Err() == nil {
		batch, err := c.consumer.Fetch(1, jetstream.FetchMaxWait(fetchWait))
		if err == nil {
			for msg := range batch.Messages() {
				if ctx.Err() != nil {
					// Pulled but not started before shutdown: hand it back
					// now rather than after its AckWait.
					c.handBack(msg)
					continue
				}
				c.handle(work, msg)
			}
			err = batch.Error()
		}
		if err == nil || errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			failures = 0
			continue
		}
		// NATS unreachable or the consumer gone: back off, keep trying.
		failures++
		if ctx.Err() == nil && failures == 1 {
			c.logger.Error("pull from "+events.WebhookStream, "err", err)
		}
		pause := time.NewTimer(min(time.Duration(failures)*200*time.Millisecond, 5*time.Second))
		select {
		case <-ctx.Done():
			pause.Stop()
		case <-pause.C:
		}
	}
}

// handle processes one message and acknowledges it according to the
// worker's decision. It never acks before the effects are stored.
func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg) {
	start := time.Now()
	md, err := msg.Metadata()
	if err != nil {
		c.logger.Error("message without JetStream metadata", "err", err)
		_ = msg.Term()
		return
	}
	t := fetch.Trigger{Seq: md.Sequence.Stream, Deliveries: md.NumDelivered, LastDelivery: c.maxDeliver > 0 && md.NumDelivered >= uint64(c.maxDeliver)}
	var d fetch.Decision
	wm, err := events.DecodeWebhookMessage(msg.Headers(), msg.Data())
	if err != nil {
		d = fetch.Decision{Verdict: fetch.DeadLetter, Outcome: fetch.OutcomeDeadLetter, Reason: "undecodable webhook message: " + err.Error(), Err: err}
	} else {
		t.Webhook = wm
		d = c.worker.Handle(ctx, t, func() { _ = msg.InProgress() })
	}
	if ctx.Err() != nil && d.Verdict != fetch.Ack {
		// Shutdown cut the work short: hand the message back.
		c.handBack(msg)
		return
	}
	ackErr := c.settle(ctx, msg, d)
	c.observe(t, d)
	attrs := []slog.Attr{
		slog.String("outcome", d.Outcome), slog.Uint64("stream_seq", t.Seq), slog.Uint64("deliveries", t.Deliveries),
		slog.String("webhook_type", wm.WebhookType), slog.String("webhook_code", wm.WebhookCode),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
	}
	if wm.ItemID != "" {
		attrs = append(attrs, slog.String("item_id", wm.ItemID))
	}
	if wm.AccountID != "" {
		attrs = append(attrs, slog.String("account_id", wm.AccountID))
	}
	if d.Sync != nil {
		attrs = append(attrs, slog.Int("pages", d.Sync.Pages), slog.Int("restarts", d.Sync.Restarts))
	}
	level := slog.LevelInfo
	if d.Err != nil {
		attrs = append(attrs, slog.String("err", d.Err.Error()))
		level = slog.LevelWarn
	}
	if ackErr != nil {
		attrs = append(attrs, slog.String("ack_err", ackErr.Error()))
		level = slog.LevelError
	}
	c.logger.LogAttrs(ctx, level, "webhook.handled", attrs...)
}

// handBackDelay keeps a handed-back message from going straight back into
// this (draining) replica's buffer, where each bounce would use up one of
// its deliveries.
const handBackDelay = 2 * time.Second

// handBack returns a message this replica will not finish because it is
// shutting down. On its last delivery a hand-back would make JetStream drop
// it silently, so it is dead-lettered instead (the reconciliation sweep or an
// operator replays it).
func (c *Consumer) handBack(msg jetstream.Msg) {
	var t fetch.Trigger
	md, err := msg.Metadata()
	if err == nil {
		t.Seq, t.Deliveries = md.Sequence.Stream, md.NumDelivered
		t.LastDelivery = c.maxDeliver > 0 && md.NumDelivered >= uint64(c.maxDeliver)
	}
	if wm, err := events.DecodeWebhookMessage(msg.Headers(), msg.Data()); err == nil {
		t.Webhook = wm
	}
	if t.LastDelivery {
		d := fetch.Decision{Verdict: fetch.DeadLetter, Outcome: fetch.OutcomeDeadLetter, Reason: "fetcher shut down during the message's last delivery"}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.settle(ctx, msg, d); err != nil {
			c.logger.Error("dead-letter on shutdown", "stream_seq", t.Seq, "err", err)
		}
		c.observe(t, d)
		return
	}
	if err := msg.NakWithDelay(handBackDelay); err != nil {
		c.logger.Warn("hand back on shutdown", "stream_seq", t.Seq, "err", err)
	}
	c.observe(t, fetch.Decision{Verdict: fetch.Retry, Delay: handBackDelay, Outcome: fetch.OutcomeHandedBack})
}

// settle acks, naks or dead-letters msg as d says.
func (c *Consumer) settle(ctx context.Context, msg jetstream.Msg, d fetch.Decision) error {
	switch d.Verdict {
	case fetch.Ack:
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return msg.DoubleAck(actx)
	case fetch.Retry:
		return msg.NakWithDelay(d.Delay)
	default:
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := bus.PublishDeadLetter(pctx, c.js, events.DLQSubject(events.WebhookStream), msg, d.Reason, map[string]string{"Plaidstream-Outcome": d.Outcome}); err != nil {
			// Not dead-lettered: keep the message and try again later
			// rather than terminate it unrecorded.
			_ = msg.NakWithDelay(5 * time.Second)
			return fmt.Errorf("dead-letter: %w", err)
		}
		return msg.TermWithReason(truncate(d.Reason, 200))
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
