// Package natstest starts a real NATS JetStream server for tests: embedded,
// on a free loopback port, storing in the test's temporary directory, shut
// down when the test ends.
package natstest

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/embednats"
)

// Start runs a JetStream server for t and returns its client URL and a
// JetStream context on a connection of its own; both end with the test.
func Start(t testing.TB) (url string, js jetstream.JetStream) {
	t.Helper()
	ns, err := embednats.Start(embednats.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL(), nats.Name(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	return ns.ClientURL(), js
}
