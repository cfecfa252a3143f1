// Command webhookd runs internal/app/webhookd; see its documentation, or
// run `webhookd --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/plaidstream/plaidstream/internal/app/webhookd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := webhookd.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(webhookd.ExitCode(err, os.Stderr))
}
