package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/events"
)

// Consumer defaults.
const (
	// DefaultAckWait is how long a delivered message may go without an Ack
	// or an InProgress heartbeat before JetStream redelivers it. With
	// DefaultLeaseTTL it bounds how soon another replica resumes the work of
	// one that died: about both, well within a minute.
	DefaultAckWait = 30 * time.Second
	// DefaultMaxDeliver is how many times a message is delivered at most.
	DefaultMaxDeliver = 8
	// DefaultMaxAckPending is how many messages may be out unacknowledged
	// across the whole consumer (JetStream's own default).
	DefaultMaxAckPending = 1000
)

// ConsumerSettings are the contract of a durable pull consumer that a pool
// of workers, spread over any number of replicas, shares. Each field's
// reason is on it; ConsumerConfig maps them to JetStream.
type ConsumerSettings struct {
	// Durable names the consumer; every replica binds to the same one, so
	// the stream is consumed once in total, not once per replica. Required,
	// an events.SafeName.
	Durable string
	// Description shows in `nats consumer info`.
	Description string
	// FilterSubjects restricts the consumer to these subjects (wildcards
	// allowed); empty means all of the stream.
	FilterSubjects []string
	// MaxAckPending (default DefaultMaxAckPending) bounds the messages out
	// unacknowledged across the whole consumer: those being worked on and
	// those waiting for a delayed redelivery (a retry with backoff, a
	// trigger left for the replica syncing its item). Keep it well above
	// the workers of all replicas together, or a few delayed messages of
	// one busy item hold back every other item's webhooks. It does not make
	// replicas buffer messages: each worker fetches one message only when
	// it is idle (internal/fetchjs), so nothing waits in a client buffer
	// while its AckWait runs.
	MaxAckPending int
	// AckWait (default 30s) is how long a delivered message may go without
	// an Ack, Nak, Term or InProgress before it is redelivered elsewhere: it
	// bounds how long a crashed replica's message stays stuck. It must be
	// longer than a normal sync; long syncs call InProgress (every AckWait/3,
	// e.g. per page) to keep their message.
	AckWait time.Duration
	// MaxDeliver (default 8) bounds deliveries: a message failing on every
	// delivery stops coming back. The worker checks NumDelivered and, at the
	// last delivery, dead-letters and Terms the message instead of failing
	// once more, so nothing silently runs out of deliveries.
	MaxDeliver int
	// BackOff, if set, replaces AckWait per delivery: delivery n waits
	// BackOff[n-1] (the last entry repeats) for its ack before redelivery,
	// and a Nak without a delay waits as long. Every entry must therefore be
	// at least AckWait (a heartbeat rhythm tuned for AckWait must keep
	// working), and there may be at most MaxDeliver entries. Prefer nil and
	// NakWithDelay from the worker, which knows the error (a Plaid 429's
	// Retry-After, say); BackOff then only spaces out crash redeliveries.
	BackOff []time.Duration
	// Replicas of the consumer's state; 0 follows the stream.
	Replicas int
}

// ConsumerConfig maps settings to a durable pull consumer configuration:
// explicit acks (every message is acknowledged on its own, after its effects),
// delivery from the start of the stream (webhooks stored before the first
// fetcher started are handled too) at full speed, and no inactivity expiry
// (a durable outlives a fleet restart).
func ConsumerConfig(s ConsumerSettings) (jetstream.ConsumerConfig, error) {
	if !events.SafeName(s.Durable) {
		return jetstream.ConsumerConfig{}, fmt.Errorf("consumer: durable name %q must be a safe name", s.Durable)
	}
	maxAckPending := s.MaxAckPending
	if maxAckPending == 0 {
		maxAckPending = DefaultMaxAckPending
	}
	if maxAckPending < 1 {
		return jetstream.ConsumerConfig{}, fmt.Errorf("consumer %s: max ack pending must be at least 1", s.Durable)
	}
	ackWait := s.AckWait
	if ackWait <= 0 {
		ackWait = DefaultAckWait
	}
	maxDeliver := s.MaxDeliver
	if maxDeliver <= 0 {
		maxDeliver = DefaultMaxDeliver
	}
	var backOff []time.Duration
	if len(s.BackOff) > 0 {
		if len(s.BackOff) > maxDeliver {
			return jetstream.ConsumerConfig{}, fmt.Errorf("consumer %s: %d backoff entries for %d deliveries", s.Durable, len(s.BackOff), maxDeliver)
		}
		for _, b := range s.BackOff {
			if b < ackWait {
				return jetstream.ConsumerConfig{}, fmt.Errorf("consumer %s: backoff %v is shorter than the ack wait %v", s.Durable, b, ackWait)
			}
		}
		backOff = slices.Clone(s.BackOff)
		// JetStream sets AckWait to the first backoff; say so ourselves so
		// the stored configuration equals what we send.
		ackWait = backOff[0]
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       s.Durable,
		Description:   s.Description,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    maxDeliver,
		BackOff:       backOff,
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
		MaxAckPending: maxAckPending,
		Replicas:      s.Replicas,
	}
	// One filter goes in FilterSubject, the form every tool shows.
	if len(s.FilterSubjects) == 1 {
		cfg.FilterSubject = s.FilterSubjects[0]
	} else if len(s.FilterSubjects) > 1 {
		cfg.FilterSubjects = slices.Clone(s.FilterSubjects)
	}
	return cfg, nil
}

// EnsureConsumer creates the durable pull consumer on stream, or updates it
// to match s. It is safe to call from many replicas at once; settings that
// JetStream cannot change on an existing consumer (the deliver policy, say)
// return an error rather than being silently ignored.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, stream string, s ConsumerSettings) (jetstream.Consumer, error) {
	cfg, err := ConsumerConfig(s)
	if err != nil {
		return nil, err
	}
	c, err := js.CreateOrUpdateConsumer(ctx, stream, cfg)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("create or update consumer %s: stream %s does not exist: %w", s.Durable, stream, err)
		}
		return nil, fmt.Errorf("create or update consumer %s on %s: %w", s.Durable, stream, err)
	}
	return c, nil
}
