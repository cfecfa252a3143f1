// Command consumer is an example subscriber of plaidstream's PLAID_EVENTS:
// it keeps an exact copy of every item's transactions and recurring streams
// in a local store, the way docs/events.md tells consumers to. Copy it as a
// starting point for your own service.
//
// What it shows:
//
//   - a durable pull consumer (nats.go's jetstream package) that a restart
//     resumes;
//   - idempotence: duplicates are recognised by CloudEvents source and id,
//     and redeliveries by stream sequence;
//   - transaction events buffered per updateid and applied atomically when
//     that update's plaid.sync.completed arrives; other buffered updates of
//     the owner are dropped then (interrupted runs);
//   - gap detection: an update whose start_cursor is not the previous
//     update's end_cursor is logged and counted;
//   - plaid.item.resync_started and plaid.item.removed reset or forget an
//     owner; recurring-stream events upsert and delete as they arrive;
//   - ack only after the store write that holds the message's effect is
//     durable (store.go), so a crash loses nothing and repeats nothing;
//   - the store, not JetStream, owns the position: it records the stream
//     sequence it has applied, and the durable consumer is re-created to
//     deliver from the next one whenever the two disagree, so
//     events are always applied in stream order (reader.go).
//
// The store is one JSON file, rewritten atomically after each batch: fine
// for an example and for tests, not for millions of transactions. The
// logic (apply.go) does not care where the state lives.
//
// Usage:
//
//	consumer [--nats-url URL] [--durable NAME] [--store FILE] [--item ITEM_ID]
//	consumer --dump --store FILE      print the store as JSON and exit
//
// NATS_URL sets the default of --nats-url. Logs are JSON lines on stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// eventStream is the stream the fetcher publishes to.
const eventStream = "PLAID_EVENTS"

// config is every setting of the consumer.
type config struct {
	natsURL  string
	durable  string
	store    string
	item     string
	batch    int
	ackWait  time.Duration
	dump     bool
	logLevel slog.Level
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("consumer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: consumer [flags]
       consumer --dump --store FILE

consumer keeps a copy of every item's transactions and recurring streams
from plaidstream's PLAID_EVENTS in a JSON file, applying events as
docs/events.md describes. --dump prints that file. Logs are JSON lines on
stdout.

Flags:
`)
		fs.PrintDefaults()
	}
	defURL := getenv("NATS_URL")
	if defURL == "" {
		defURL = nats.DefaultURL
	}
	fs.StringVar(&c.natsURL, "nats-url", defURL, "NATS server URL(s), comma-separated; NATS_URL sets the default")
	fs.StringVar(&c.durable, "durable", "example-consumer", "durable consumer name on "+eventStream+": one per store")
	fs.StringVar(&c.store, "store", "consumer-store.json", "the store file (JSON, rewritten atomically)")
	fs.StringVar(&c.item, "item", "", "only this owner's events (an item id, or a processor token's account id)")
	fs.IntVar(&c.batch, "batch", 256, "most messages applied per store write")
	fs.DurationVar(&c.ackWait, "ack-wait", 30*time.Second, "redelivery delay of a message whose ack was lost")
	fs.BoolVar(&c.dump, "dump", false, "print the store as JSON and exit")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if err := c.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return c, fmt.Errorf("%w: log level %q", errUsage, *level)
	}
	if c.batch < 1 || c.ackWait < time.Second || c.durable == "" || c.store == "" {
		return c, fmt.Errorf("%w: want --batch ≥ 1, --ack-wait ≥ 1s, a --durable and a --store", errUsage)
	}
	return c, nil
}

// run is the whole program.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.dump {
		return dump(cfg.store, stdout)
	}
	logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.logLevel}))
	if err := os.MkdirAll(filepath.Dir(cfg.store), 0o755); err != nil {
		return fmt.Errorf("store directory: %w", err)
	}
	store, err := LoadStore(cfg.store)
	if err != nil {
		return err
	}

	nc, err := nats.Connect(cfg.natsURL,
		nats.Name("plaidstream-example-consumer"),
		// Keep trying, at start and after a disconnect: the consumer waits
		// for NATS rather than exiting.
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { logger.Info("nats reconnected") }),
	)
	if err != nil {
		return fmt.Errorf("connect to nats: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	rd := &reader{js: js, cfg: cfg, logger: logger}
	if err := rd.open(ctx, store.StreamSeq); err != nil {
		return nil // stopped while waiting for NATS
	}
	logger.Info("consumer ready", "durable", cfg.durable, "stream", eventStream, "filter", filterSubject(cfg.item),
		"store", cfg.store, "stream_seq", store.StreamSeq, "owners", len(store.Owners))

	for {
		if rd.stale {
			if err := rd.open(ctx, store.StreamSeq); err != nil {
				return nil // stopped while waiting for NATS
			}
		}
		msgs, err := rd.next(ctx, cfg.batch)
		if ctx.Err() != nil {
			// Fetched but not applied: the next run re-reads them.
			logger.Info("stopped", "stream_seq", store.StreamSeq)
			return nil
		}
		if err != nil {
			logger.Warn("fetch", "err", err) // NATS down or restarting: try again
			pause(ctx, time.Second)
			continue
		}
		if len(msgs) == 0 {
			continue
		}
		start := time.Now()
		for _, m := range msgs {
			handle(store, m, logger)
		}
		if err := saveRetrying(ctx, cfg.store, store, logger); err != nil {
			// Nothing of this batch was acked; the next run starts from the
			// store on disk and reads it again.
			return err
		}
		// Only now is it safe to ack: the store on disk holds every effect
		// of these messages. A lost ack means a redelivery, which
		// Store.Apply recognises by stream sequence.
		for _, m := range msgs {
			if err := m.Ack(); err != nil {
				logger.Debug("ack", "err", err)
			}
		}
		logger.Debug("batch stored and acked", "messages", len(msgs), "stream_seq", store.StreamSeq,
			"duration_ms", time.Since(start).Milliseconds())
	}
}

// handle applies one message to the store and logs what matters.
func handle(store *Store, m jetstream.Msg, logger *slog.Logger) {
	var seq uint64
	if md, err := m.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	var e Event
	if err := json.Unmarshal(m.Data(), &e); err != nil || e.SpecVersion != "1.0" {
		// Not a CloudEvent: nothing to apply, and retrying will not help.
		// It is acked with the batch; the log says which message it was.
		store.Stats.Events++
		store.Stats.Malformed++
		store.StreamSeq = max(store.StreamSeq, seq)
		logger.Error("not a CloudEvent; skipped", "subject", m.Subject(), "stream_seq", seq, "err", err)
		return
	}
	r := store.Apply(seq, e)
	switch {
	case e.Type == TypeSyncCompleted && r.Outcome == Applied:
		level := slog.LevelInfo
		if r.Gap || r.Incomplete {
			level = slog.LevelWarn
		}
		o := store.Owners[e.Source]
		logger.Log(context.Background(), level, "update applied",
			"source", e.Source, "updateid", e.UpdateID, "epoch", e.ResyncEpoch, "changes", r.Changes,
			"transactions", len(o.Transactions), "gap", r.Gap, "incomplete", r.Incomplete,
			"dropped_interrupted", r.Dropped, "stream_seq", seq)
		if r.Gap {
			// What to do about a gap is the service's call: a resync of the
			// owner (POST /v1/items/{id}/resync) rebuilds it from scratch.
			logger.Warn("gap: the update did not start where the previous one ended",
				"source", e.Source, "updateid", e.UpdateID, "gaps", o.Gaps)
		}
	case r.Outcome == Applied && e.Type != TypeRecurringStreamAdded && e.Type != TypeRecurringStreamModified && e.Type != TypeRecurringStreamRemoved:
		logger.Info("item event applied", "source", e.Source, "type", e.Type, "epoch", e.ResyncEpoch, "stream_seq", seq)
	case r.Outcome == Malformed:
		logger.Error("unreadable event payload; skipped", "source", e.Source, "id", e.ID, "type", e.Type, "stream_seq", seq)
	default:
		logger.Debug("event", "source", e.Source, "type", e.Type, "outcome", string(r.Outcome), "stream_seq", seq)
	}
}

// shutdownGrace is how long a shutdown waits for the batch in hand to be
// written: its effects are in memory and a write is quick, unless the disk
// is failing.
const shutdownGrace = 10 * time.Second

// saveRetrying writes the store until it succeeds, retrying with backoff;
// after ctx ends it keeps trying for shutdownGrace at most. Nothing is
// acked meanwhile.
func saveRetrying(ctx context.Context, path string, s *Store, logger *slog.Logger) error {
	wait := 100 * time.Millisecond
	var giveUp time.Time
	for {
		err := SaveStore(path, s)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			if giveUp.IsZero() {
				giveUp = time.Now().Add(shutdownGrace)
			} else if time.Now().After(giveUp) {
				return err
			}
		}
		logger.Error("store write failed; retrying", "err", err)
		pause(context.WithoutCancel(ctx), wait)
		wait = min(2*wait, 5*time.Second)
	}
}

// pause waits d, or less if ctx ends; it reports whether ctx is still live.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// dump prints the store at path, indented.
func dump(path string, out io.Writer) error {
	s, err := LoadStore(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}
