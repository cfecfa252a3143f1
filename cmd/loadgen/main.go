// Command loadgen measures plaidstream against its ceiling and its
// alternatives (issue #8; method and results in BENCHMARKS.md).
//
// Usage:
//
//	loadgen ingest --target NAME=URL ... [flags]   signed webhooks at max rate or a fixed rate, side by side
//	loadgen serve --mode ceiling|ideal [flags]     a bare echo handler publishing to PLAID_WEBHOOKS
//	loadgen nats [flags]                           a standalone JetStream server (file storage)
//	loadgen burst --url URL [flags]                concurrent webhooks with a kid never seen before
//	loadgen fetch [flags]                          fetcher scenarios: 50k sync, RSS, many items, end to end
//
// Every subcommand prints a human-readable report; --help lists its flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// errUsage marks command-line mistakes (exit status 2).
var errUsage = errors.New("usage")

func usagef(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}

// run dispatches to a subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("want a subcommand: ingest, serve, nats, burst or fetch")
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "ingest":
		return runIngest(ctx, rest, stdout, stderr)
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "nats":
		return runNATS(ctx, rest, stdout, stderr)
	case "burst":
		return runBurst(ctx, rest, stdout, stderr)
	case "fetch":
		return runFetch(ctx, rest, stdout, stderr)
	}
	return usagef("unknown subcommand %q: want ingest, serve, nats, burst or fetch", sub)
}

// parseFlags parses args into fs, mapping flag errors to usage errors.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	return nil
}
