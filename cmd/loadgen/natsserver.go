package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/plaidstream/plaidstream/internal/embednats"
)

// runNATS runs a JetStream server with file storage until ctx ends, so every
// server under test talks to one NATS process of its own, as in production.
func runNATS(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadgen nats", flag.ContinueOnError)
	host := fs.String("host", "127.0.0.1", "listen host")
	port := fs.Int("port", 7600, "listen port (-1: any free port)")
	dir := fs.String("store-dir", "", "JetStream file storage directory (required)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *dir == "" {
		return usagef("--store-dir is required")
	}
	srv, err := embednats.Start(embednats.Options{Host: *host, Port: *port, StoreDir: *dir})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "loadgen nats: %s (JetStream file storage in %s)\n", srv.ClientURL(), *dir)
	<-ctx.Done()
	srv.Shutdown()
	return nil
}
