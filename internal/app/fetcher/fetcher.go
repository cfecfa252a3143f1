// Package fetcher is the fetcher program (cmd/fetcher) as a library, so
// devstack and tests can run it in-process. The fetcher consumes
// PLAID_WEBHOOKS, syncs each item's transactions from Plaid and publishes
// normalized CloudEvents to PLAID_EVENTS; it serves the admin API and runs
// the reconciliation sweep. It also manages the credentials it syncs with.
//
// Usage:
//
//	fetcher [serve] [flags]              consume webhooks and sync (see --help)
//	fetcher items <verb> ...             manage items and processor tokens
//	fetcher events tail [flags]          print PLAID_EVENTS as they arrive
package fetcher

import (
	"context"
	"io"
	"os"

	"github.com/plaidstream/plaidstream/internal/cli"
)

// Run is the whole program: cmd/fetcher passes the process's arguments
// (without the program name), environment and output; ExitCode maps its
// error to the exit status.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return run(ctx, args, getenv, stdout, stderr)
}

// ExitCode is the process exit status for Run's error (0, 1, or 2 for a
// usage error), after printing it to stderr.
func ExitCode(err error, stderr io.Writer) int { return exitCode(err, stderr) }

// run is the whole program.
// Only `items add --access-token -` reads standard input.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runWithInput(ctx, args, getenv, os.Stdin, stdout, stderr)
}

// runWithInput is run with standard input injected (tests pass a reader).
func runWithInput(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "items":
			return runItems(ctx, args[1:], getenv, stdin, stdout, stderr)
		case "events":
			return runEvents(ctx, args[1:], getenv, stdout, stderr)
		case "serve":
			args = args[1:]
		}
	}
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	app, err := newApp(ctx, cfg, stdout)
	if err != nil {
		return err
	}
	return app.Run(ctx)
}

// usageError and exitCode follow the conventions all our binaries share
// (internal/cli).
func usageError(err error) error { return cli.UsageError(err) }

func exitCode(err error, stderr io.Writer) int { return cli.ExitCode("fetcher", err, stderr) }
