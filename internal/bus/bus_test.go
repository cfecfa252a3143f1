package bus_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/embednats"
	"github.com/plaidstream/plaidstream/internal/events"
)

func TestStreamConfig(t *testing.T) {
	spec := events.WebhookStreamSpec()
	cfg := bus.StreamConfig(spec, bus.StreamSettings{Replicas: 0, MaxAge: time.Hour, MaxBytes: 0, Duplicates: time.Minute})
	if cfg.Name != events.WebhookStream || cfg.Subjects[0] != events.WebhookSubjects {
		t.Errorf("name/subjects: got %s %v", cfg.Name, cfg.Subjects)
	}
	if cfg.Storage != jetstream.FileStorage {
		t.Errorf("storage: got %v, want file", cfg.Storage)
	}
	if cfg.Replicas != 1 || cfg.MaxBytes != -1 || cfg.MaxAge != time.Hour {
		t.Errorf("limits: got replicas %d, max bytes %d, max age %v", cfg.Replicas, cfg.MaxBytes, cfg.MaxAge)
	}
	if cfg.Duplicates != events.WebhookDuplicateWindow {
		t.Errorf("a smaller duplicates setting must not shrink the spec's window: got %v", cfg.Duplicates)
	}
	if cfg.Discard != jetstream.DiscardNew {
		t.Errorf("webhook stream must refuse new messages when full, got %v", cfg.Discard)
	}
	if got := bus.StreamConfig(spec, bus.StreamSettings{Duplicates: time.Hour}).Duplicates; got != time.Hour {
		t.Errorf("a larger duplicates setting: got %v, want 1h", got)
	}
}

func TestEnsureStreamIsIdempotentAndUpdates(t *testing.T) {
	ns, err := embednats.Start(embednats.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	nc, err := bus.Connect(ns.ClientURL(), bus.ConnectOptions{Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, age := range []time.Duration{time.Hour, time.Hour, 2 * time.Hour} {
		st, err := bus.EnsureStream(ctx, js, events.WebhookStreamSpec(), bus.StreamSettings{MaxAge: age})
		if err != nil {
			t.Fatal(err)
		}
		if got := st.CachedInfo().Config.MaxAge; got != age {
			t.Errorf("max age: got %v, want %v", got, age)
		}
	}
}

func TestConnectRejectsHalfATLSPair(t *testing.T) {
	// Any Connect to an unused URL fails; the error must be the pairing
	// check's, given before dialling, or the test proves nothing.
	_, err := bus.Connect(nats.DefaultURL, bus.ConnectOptions{TLSCertFile: "cert.pem"})
	if err == nil || !strings.Contains(err.Error(), "certificate and key must be given together") {
		t.Errorf("got %v, want the certificate-without-key error", err)
	}
}

func TestDrainClosesTheConnection(t *testing.T) {
	ns, err := embednats.Start(embednats.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	nc, err := bus.Connect(ns.ClientURL(), bus.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := bus.Drain(ctx, nc); err != nil {
		t.Fatal(err)
	}
	if !nc.IsClosed() {
		t.Error("connection still open after Drain")
	}
	if err := bus.Drain(ctx, nc); err != nil {
		t.Errorf("second Drain: got %v, want nil", err)
	}
}
