// Command webhookd is the endpoint Plaid calls. It verifies every webhook's
// Plaid-Verification JWT over the raw body, stores the exact bytes in the
// JetStream stream PLAID_WEBHOOKS and answers 200 only after JetStream
// acknowledged the write.
//
// Usage:
//
//	webhookd [flags]            serve (see --help)
//	webhookd verify [flags]     check a captured webhook offline
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
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "verify" {
		return runVerify(ctx, args[1:], getenv, stdout, stderr)
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

// exitError, usageError and exitCode follow the conventions all our
// binaries share (internal/cli).
type exitError = cli.ExitError

func usageError(err error) error { return cli.UsageError(err) }

func exitCode(err error, stderr io.Writer) int { return cli.ExitCode("webhookd", err, stderr) }
