package embednats_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/embednats"
)

// TestRestartKeepsStreams: the embedded server is a real JetStream server
// with file storage, so a restart on the same directory keeps the data.
func TestRestartKeepsStreams(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	ns, err := embednats.Start(embednats.Options{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	port := ns.Port()
	publish := func(ns *embednats.Server) jetstream.JetStream {
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	js := publish(ns)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "s.x", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	ns.Shutdown()

	ns2, err := embednats.Start(embednats.Options{StoreDir: dir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer ns2.Shutdown()
	if ns2.Port() != port {
		t.Errorf("port: got %d, want %d", ns2.Port(), port)
	}
	st, err := publish(ns2).Stream(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != "kept" {
		t.Errorf("got %q, want kept", m.Data)
	}
}

func TestStartRequiresStoreDir(t *testing.T) {
	if _, err := embednats.Start(embednats.Options{}); err == nil {
		t.Error("got nil error without a store directory")
	}
}
