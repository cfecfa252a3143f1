// Package bus is plaidstream's JetStream adapter: it connects to NATS with
// the options every binary shares and provisions the streams defined in
// internal/events.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/events"
)

// ConnectOptions configure a NATS connection.
type ConnectOptions struct {
	// Name identifies the client in NATS monitoring (e.g. "webhookd").
	Name string
	// CredsFile is a NATS credentials (JWT + nkey seed) file.
	CredsFile string
	// NkeySeedFile is an nkey seed file, for nkey authentication.
	NkeySeedFile string
	// TLSCAFile, TLSCertFile and TLSKeyFile configure TLS; the cert and key
	// together enable mutual TLS.
	TLSCAFile, TLSCertFile, TLSKeyFile string
	// ReconnectWait is the pause between reconnect attempts; default 1s.
	ReconnectWait time.Duration
	// Logger receives connection state changes.
	Logger *slog.Logger
}

// Connect dials NATS. The connection reconnects forever, but it does not
// buffer publishes while disconnected: a publish then fails at once, so a
// caller that reported failure (webhookd's 503) never has the message stored
// later behind its back.
func Connect(url string, o ConnectOptions) (*nats.Conn, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	wait := o.ReconnectWait
	if wait <= 0 {
		wait = time.Second
	}
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(wait),
		nats.ReconnectJitter(wait/10, wait/10),
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: we closed or drained it ourselves
				logger.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			logger.Info("nats reconnected", "server", c.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			logger.Error("nats async error", "err", err)
		}),
	}
	if o.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if o.NkeySeedFile != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NkeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("nats nkey seed: %w", err)
		}
		opts = append(opts, opt)
	}
	if o.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(o.TLSCAFile))
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		return nil, errors.New("nats tls: certificate and key must be given together")
	}
	if o.TLSCertFile != "" {
		opts = append(opts, nats.ClientCert(o.TLSCertFile, o.TLSKeyFile))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	return nc, nil
}

// StreamSettings are the per-deployment knobs of a stream.
type StreamSettings struct {
	// Replicas is the number of stream replicas (1, or 3 on a cluster).
	Replicas int
	// MaxAge drops messages older than this; 0 keeps them forever.
	MaxAge time.Duration
	// MaxBytes caps the stream's size; 0 or negative means unlimited.
	MaxBytes int64
	// Duplicates overrides the spec's de-duplication window when larger.
	Duplicates time.Duration
}

// EnsureStream creates the stream described by spec, or updates it to match,
// with file storage. It is safe to call from many replicas at once.
func EnsureStream(ctx context.Context, js jetstream.JetStream, spec events.StreamSpec, s StreamSettings) (jetstream.Stream, error) {
	cfg := StreamConfig(spec, s)
	st, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create or update stream %s: %w", spec.Name, err)
	}
	return st, nil
}

// StreamConfig maps a spec and settings to nats.go's stream configuration.
func StreamConfig(spec events.StreamSpec, s StreamSettings) jetstream.StreamConfig {
	replicas := s.Replicas
	if replicas < 1 {
		replicas = 1
	}
	maxBytes := s.MaxBytes
	if maxBytes <= 0 {
		maxBytes = -1
	}
	dup := spec.Duplicates
	if s.Duplicates > dup {
		dup = s.Duplicates
	}
	discard := jetstream.DiscardOld
	if spec.RejectWhenFull {
		discard = jetstream.DiscardNew
	}
	return jetstream.StreamConfig{
		Name:        spec.Name,
		Description: spec.Description,
		Subjects:    spec.Subjects,
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     discard,
		Replicas:    replicas,
		MaxAge:      s.MaxAge,
		MaxBytes:    maxBytes,
		Duplicates:  dup,
	}
}

// Drain lets in-flight requests and subscriptions finish, then closes nc. It
// waits until the connection is closed or ctx ends, whichever comes first,
// and then closes it regardless.
func Drain(ctx context.Context, nc *nats.Conn) error {
	if nc.IsClosed() {
		return nil
	}
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		return fmt.Errorf("drain nats: %w", err)
	}
	select {
	case <-closed:
		return nil
	case <-ctx.Done():
		nc.Close()
		return fmt.Errorf("drain nats: %w", ctx.Err())
	}
}
