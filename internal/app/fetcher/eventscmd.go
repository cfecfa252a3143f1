package fetcher

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/envflag"
	"github.com/plaidstream/plaidstream/internal/eventfmt"
	"github.com/plaidstream/plaidstream/internal/events"
)

const eventsUsage = `Usage: fetcher events tail [--item ID] [--type TYPE] [--all | --since DURATION] [--json] [flags]

Print PLAID_EVENTS as events arrive, one readable line each (or the
CloudEvents JSON, one per line, with --json), until interrupted. It reads
with an ephemeral ordered consumer: nothing is acknowledged or changed.

  --item ID      only this item (or processor account) id
  --type TYPE    only this event type; a trailing * matches a prefix
                 (plaid.transaction.*, plaid.item.*)
  --all          start from the first stored event (default: new events only)
  --since D      start with events stored in the last D (e.g. 10m)

Examples:
  fetcher events tail
  fetcher events tail --item "$ITEM_ID" --all
  fetcher events tail --type 'plaid.transaction.*' --json | jq .data.amount
`

// runEvents runs `fetcher events ...`.
func runEvents(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "tail" {
		fmt.Fprint(stderr, eventsUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return flag.ErrHelp
		}
		return usageError(errors.New("events: want tail"))
	}
	fs := flag.NewFlagSet("fetcher events tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := envflag.New(fs, getenv)
	var natsCfg NATSConfig
	bindNATS(e, &natsCfg)
	var o tailOptions
	fs.StringVar(&o.item, "item", "", "only this item or processor account id")
	fs.StringVar(&o.typ, "type", "", "only this event type (a trailing * matches a prefix)")
	fs.BoolVar(&o.all, "all", false, "start from the first stored event")
	fs.DurationVar(&o.since, "since", 0, "start with events stored in the last this long")
	fs.BoolVar(&o.json, "json", false, "print each event's CloudEvents JSON on one line")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), eventsUsage+"\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := e.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError(err)
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Errorf("events tail: unexpected argument %q", fs.Arg(0)))
	}
	filter, err := o.subjectFilter()
	if err != nil {
		return usageError(err)
	}
	if o.all && o.since > 0 {
		return usageError(errors.New("events tail: give --all or --since, not both"))
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	nc, js, err := connect(natsCfg, "fetcher-events-tail", logger)
	if err != nil {
		return err
	}
	defer nc.Close()
	return tailEvents(ctx, js, filter, o, stdout)
}

type tailOptions struct {
	item, typ string
	all       bool
	since     time.Duration
	json      bool
}

// subjectFilter narrows the consumer by subject as far as the options
// allow; matchType finishes the job for prefix patterns.
func (o tailOptions) subjectFilter() (string, error) {
	owner := "*"
	if o.item != "" {
		if !events.SafeName(o.item) {
			return "", fmt.Errorf("events tail: item id %q", o.item)
		}
		owner = o.item
	}
	if o.typ == "" || strings.HasSuffix(o.typ, "*") {
		return events.EventSubjectPrefix + "." + owner + ".>", nil
	}
	return events.SubjectForType(owner, o.typ)
}

func (o tailOptions) matchType(t string) bool {
	if prefix, ok := strings.CutSuffix(o.typ, "*"); ok {
		return strings.HasPrefix(t, prefix)
	}
	return o.typ == "" || o.typ == t
}

// tailEvents prints events matching filter and o until ctx ends.
func tailEvents(ctx context.Context, js jetstream.JetStream, filter string, o tailOptions, out io.Writer) error {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverNewPolicy}
	switch {
	case o.all:
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	case o.since > 0:
		start := time.Now().Add(-o.since)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	}
	if _, err := js.Stream(ctx, events.EventStream); err != nil {
		return fmt.Errorf("events tail: stream %s: %w (the fetcher creates it when it starts)", events.EventStream, err)
	}
	cons, err := js.OrderedConsumer(ctx, events.EventStream, cfg)
	if err != nil {
		return fmt.Errorf("events tail: %w", err)
	}
	iter, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("events tail: %w", err)
	}
	go func() {
		<-ctx.Done()
		iter.Stop()
	}()
	for {
		msg, err := iter.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("events tail: %w", err)
		}
		e, err := events.DecodeEvent(msg.Data())
		if err != nil {
			fmt.Fprintf(out, "# %s: %v\n", msg.Subject(), err)
			continue
		}
		if !o.matchType(e.Type) {
			continue
		}
		if o.json {
			fmt.Fprintf(out, "%s\n", msg.Data())
		} else {
			fmt.Fprintln(out, eventfmt.Line(e))
		}
	}
}
