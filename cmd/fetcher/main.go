// Command fetcher runs internal/app/fetcher; see its documentation, or
// run `fetcher --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/plaidstream/plaidstream/internal/app/fetcher"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := fetcher.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(fetcher.ExitCode(err, os.Stderr))
}
