// Command fetcher consumes PLAID_WEBHOOKS, syncs each item's transactions
// from Plaid and publishes normalized CloudEvents to PLAID_EVENTS. It also
// manages the item credentials it syncs with.
//
// Usage:
//
//	fetcher [serve] [flags]              consume webhooks and sync (see --help)
//	fetcher items add|get|rm|list ...    manage item and processor credentials
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/plaidstream/plaidstream/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// run is the whole program; main only supplies the process environment.
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
