package fetcher

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// readiness answers /readyz: ready only while the fetcher can work: NATS
// connected, its streams, buckets and consumer present, not shutting down.
type readiness struct {
	draining atomic.Bool
	nc       *nats.Conn
	// checks each confirm one resource exists; the error names it.
	checks []func(ctx context.Context) error
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
	for _, c := range r.checks {
		if err := c(ctx); err != nil {
			return err
		}
	}
	return nil
}
