package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// filterSubject is the consumer's subject filter: every owner, or one.
func filterSubject(item string) string {
	if item == "" {
		return "plaid.events.>"
	}
	return "plaid.events." + item + ".>"
}

// reader reads PLAID_EVENTS through the durable consumer, in stream order,
// starting right after the store's position.
//
// Why not simply trust redelivery: JetStream redelivers a message that was
// delivered but not acknowledged only after AckWait, and meanwhile it
// delivers newer messages. A consumer that crashed mid-batch, or lost a
// delivery in a reconnect, would then apply newer events before older ones
// (an update before the one it follows) or, worse, skip the older ones as
// already seen. So the store records the last stream sequence it applied,
// and the durable consumer must deliver exactly what follows it:
//
//   - at start, an existing durable is kept only if it is in step with the
//     store (everything delivered was acknowledged, up to the store's
//     position); otherwise it is deleted and created again to deliver from
//     the store's position on;
//   - while running, every delivery carries the consumer's delivery
//     sequence; a missing one means a message was delivered to us and lost
//     on the way. The messages before the hole are applied, and the
//     consumer is re-created from the store's position.
//
// One process per durable and store: the durable's position belongs to the
// store.
type reader struct {
	js     jetstream.JetStream
	cfg    config
	logger *slog.Logger
	cons   jetstream.Consumer
	// expect is the delivery sequence the next message must carry.
	expect uint64
	// stale says a delivery went missing: open must run again.
	stale bool
}

// open makes the durable consumer deliver the messages after stream
// sequence pos, waiting for NATS and for the stream (the fetcher creates
// it) as long as ctx allows.
func (r *reader) open(ctx context.Context, pos uint64) error {
	want := jetstream.ConsumerConfig{
		Durable:       r.cfg.durable,
		Description:   "plaidstream example consumer",
		FilterSubject: filterSubject(r.cfg.item),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		// Redelivery matters only for acks lost on the way (the store
		// already holds those messages' effects), so AckWait need not be
		// long; a batch is applied and written well within it.
		AckWait: r.cfg.ackWait,
		// Never give up on a message: a message skipped would be a silent
		// hole in the store.
		MaxDeliver:    -1,
		MaxAckPending: 4 * r.cfg.batch,
	}
	if pos > 0 {
		want.DeliverPolicy, want.OptStartSeq = jetstream.DeliverByStartSequencePolicy, pos+1
	}
	for {
		cons, err := r.reopen(ctx, want, pos)
		if err == nil {
			r.cons, r.stale = cons, false
			return nil
		}
		r.logger.Info("waiting for NATS and the stream", "stream", eventStream, "err", err)
		if !pause(ctx, time.Second) {
			return ctx.Err()
		}
	}
}

// reopen keeps the durable if it is in step with pos, else re-creates it.
func (r *reader) reopen(ctx context.Context, want jetstream.ConsumerConfig, pos uint64) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cons, err := r.js.Consumer(ctx, eventStream, want.Durable)
	switch {
	case err == nil:
		info := cons.CachedInfo()
		if info.NumAckPending == 0 && info.AckFloor.Stream == pos && info.Config.FilterSubject == want.FilterSubject {
			r.expect = info.Delivered.Consumer + 1
			return cons, nil
		}
		r.logger.Info("durable consumer out of step with the store: re-creating it", "durable", want.Durable,
			"store_seq", pos, "ack_floor", info.AckFloor.Stream, "ack_pending", info.NumAckPending)
		if err := r.js.DeleteConsumer(ctx, eventStream, want.Durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, err
		}
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, err
	}
	cons, err = r.js.CreateConsumer(ctx, eventStream, want)
	if err != nil {
		return nil, err
	}
	r.expect = 1
	return cons, nil
}

// next waits for a message (a few seconds at most), then takes what else
// is already waiting, up to size in all, and returns them in order. If a
// delivery is missing, it returns the messages before it and marks the
// reader stale.
func (r *reader) next(ctx context.Context, size int) ([]jetstream.Msg, error) {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	first, err := r.cons.Fetch(1, jetstream.FetchContext(wctx))
	if err != nil {
		return nil, err
	}
	var msgs []jetstream.Msg
	for m := range first.Messages() {
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		if err := first.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		return nil, nil
	}
	if size > 1 {
		if rest, err := r.cons.FetchNoWait(size - 1); err == nil {
			for m := range rest.Messages() {
				msgs = append(msgs, m)
			}
		} // else: apply what we have; the rest comes next time
	}
	for i, m := range msgs {
		md, err := m.Metadata()
		if err != nil || md.Sequence.Consumer != r.expect {
			got := uint64(0)
			if err == nil {
				got = md.Sequence.Consumer
			}
			r.logger.Warn("a delivery went missing: re-reading from the store's position",
				"want_delivery_seq", r.expect, "got", got)
			r.stale = true
			return msgs[:i], nil
		}
		r.expect++
	}
	return msgs, nil
}
