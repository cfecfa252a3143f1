// Command devstack runs the whole plaidstream pipeline locally, in one
// process, and shows it at work: go run ./cmd/devstack (see --help and
// internal/devstack).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/plaidstream/plaidstream/internal/cli"
	"github.com/plaidstream/plaidstream/internal/devstack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := devstack.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.ExitCode("devstack", err, os.Stderr))
}
