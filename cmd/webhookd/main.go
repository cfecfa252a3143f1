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

// exitError carries a specific exit status out of run.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks bad command-line input (exit status 2).
func usageError(err error) error { return &exitError{code: 2, err: err} }

// exitCode maps run's result to a process exit status, printing the error.
func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	fmt.Fprintln(stderr, "webhookd:", err)
	return code
}
