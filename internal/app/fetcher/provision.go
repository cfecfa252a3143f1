package fetcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
)

// Defaults webhookd gives PLAID_WEBHOOKS, used only when the fetcher has to
// create the stream because webhookd has not run yet.
const webhookStreamMaxAge = 7 * 24 * time.Hour

func connect(cfg NATSConfig, name string, logger *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := bus.Connect(cfg.URL, bus.ConnectOptions{
		Name:          name,
		CredsFile:     cfg.CredsFile,
		NkeySeedFile:  cfg.NkeySeedFile,
		TLSCAFile:     cfg.TLSCAFile,
		TLSCertFile:   cfg.TLSCertFile,
		TLSKeyFile:    cfg.TLSKeyFile,
		ReconnectWait: cfg.ReconnectWait,
		Logger:        logger.With("component", "nats"),
	})
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// ensureWebhookStream creates PLAID_WEBHOOKS if it does not exist, so the
// fetcher (and `items add`) work before webhookd ever started. An existing
// stream is left alone: its limits are webhookd's settings, and updating it
// from here would overwrite them.
func ensureWebhookStream(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.Stream, error) {
	st, err := js.Stream(ctx, events.WebhookStream)
	if err == nil {
		return st, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("stream %s: %w", events.WebhookStream, err)
	}
	cfg := bus.StreamConfig(events.WebhookStreamSpec(), bus.StreamSettings{Replicas: replicas, MaxAge: webhookStreamMaxAge})
	st, err = js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return js.Stream(ctx, events.WebhookStream) // webhookd created it meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("create stream %s: %w", events.WebhookStream, err)
	}
	return st, nil
}

// openBucket binds to a bucket, creating it from its spec if it does not
// exist. Unlike bus.EnsureBucket it never updates an existing bucket: the
// items CLI must not change replicas an operator chose for the fleet.
func openBucket(ctx context.Context, js jetstream.JetStream, spec events.BucketSpec, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, spec.Name)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("bucket %s: %w", spec.Name, err)
	}
	kv, err = js.CreateKeyValue(ctx, bus.KeyValueConfig(spec, replicas))
	if errors.Is(err, jetstream.ErrBucketExists) {
		return js.KeyValue(ctx, spec.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", spec.Name, err)
	}
	return kv, nil
}
