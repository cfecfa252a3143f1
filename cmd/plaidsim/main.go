// Command plaidsim serves the Plaid simulator (internal/plaid/plaidsim) over
// HTTP: a faithful, stateful, in-memory Plaid for tests and demos, with
// Plaid's Sandbox flow and transactions endpoints, signed webhooks with
// Plaid's retries, and a /sim/ control API documented in docs/plaidsim.md.
//
// Usage:
//
//	plaidsim [flags]    serve (see --help)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/plaidstream/plaidstream/internal/cli"

	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// shutdownTimeout is how long requests in flight may take to finish after
// SIGINT or SIGTERM. Only an injected latency fault makes a request slow.
const shutdownTimeout = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// run is the whole program; main only supplies the process environment. It
// serves until ctx ends, then shuts down: requests in flight finish (within
// shutdownTimeout), then the simulator stops its timers and webhook
// deliveries.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))

	sim, err := plaidsim.New(plaidsim.Options{
		ClientID:   cfg.ClientID,
		Secret:     cfg.Secret,
		Logger:     logger.With("component", "plaidsim"),
		Seed:       cfg.Seed,
		TimeFactor: cfg.TimeFactor,
		RateLimits: cfg.RateLimits,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		sim.Close()
		return fmt.Errorf("listener: %w", err)
	}
	srv := &http.Server{
		Handler: sim,
		// Callers are tests and demos, but a stuck client still must not
		// hold a connection forever. Requests are small; the write budget
		// covers an injected latency fault and a full sync of a large item.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("plaidsim listening",
		"url", "http://"+ln.Addr().String(),
		"client_id", cfg.ClientID,
		"seed", cfg.Seed,
		"time_factor", cfg.TimeFactor,
		"rate_limits", cfg.RateLimits)

	var errs []error
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "budget", shutdownTimeout.String())
	case err := <-served:
		// Serve only returns on its own when the listener fails.
		served <- err
		errs = append(errs, fmt.Errorf("serve: %w", err))
	}
	// A fresh deadline: ctx is already cancelled.
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close() // cut off what did not finish in time
		errs = append(errs, fmt.Errorf("shutdown: %w", err))
	}
	<-served // Serve has returned
	// Last, once no request can start a delivery any more.
	if err := sim.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close simulator: %w", err))
	}
	err = errors.Join(errs...)
	logger.Info("stopped", "err", err)
	return err
}

// usageError and exitCode follow the conventions all our binaries share
// (internal/cli).
func usageError(err error) error { return cli.UsageError(err) }

func exitCode(err error, stderr io.Writer) int { return cli.ExitCode("plaidsim", err, stderr) }
