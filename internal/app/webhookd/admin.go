package webhookd

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// readiness answers /readyz: ready only while webhookd can store webhooks.
type readiness struct {
	draining atomic.Bool
	nc       *nats.Conn
	// streamInfo checks that PLAID_WEBHOOKS exists.
	streamInfo func(ctx context.Context) error
}

func (r *readiness) check(ctx context.Context) error {
	if r.draining.Load() {
		return errors.New("shutting down")
	}
	if !r.nc.IsConnected() {
		return errors.New("nats not connected")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := r.streamInfo(ctx); err != nil {
		return errors.New("stream PLAID_WEBHOOKS unavailable")
	}
	return nil
}
