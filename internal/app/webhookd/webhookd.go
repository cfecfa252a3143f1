// Package webhookd is the webhookd program (cmd/webhookd) as a library, so
// devstack and tests can run it in-process. webhookd is the endpoint Plaid
// calls: it verifies every webhook's Plaid-Verification JWT over the raw
// body, stores the exact bytes in the JetStream stream PLAID_WEBHOOKS and
// answers 200 only after JetStream acknowledged the write.
//
// Usage:
//
//	webhookd [flags]            serve (see --help)
//	webhookd verify [flags]     check a captured webhook offline
package webhookd

import (
	"context"
	"io"

	"github.com/plaidstream/plaidstream/internal/cli"
)

// Run is the whole program: cmd/webhookd passes the process's arguments
// (without the program name), environment and output; ExitCode maps its
// error to the exit status.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return run(ctx, args, getenv, stdout, stderr)
}

// ExitCode is the process exit status for Run's error (0, 1, or 2 for a
// usage error), after printing it to stderr.
func ExitCode(err error, stderr io.Writer) int { return exitCode(err, stderr) }

// run is the whole program.
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
