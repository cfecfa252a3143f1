package fetcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/plaidstream/plaidstream/internal/adminapi"
	"github.com/plaidstream/plaidstream/internal/adminhttp"
	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/fetch"
	"github.com/plaidstream/plaidstream/internal/fetchjs"
	"github.com/plaidstream/plaidstream/internal/items"
	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/reconcile"
)

// consumerName is the durable consumer every fetcher replica shares.
const consumerName = "fetcher"

// drainTimeout bounds the last shutdown step (admin listener, NATS drain),
// after the consumer's own grace (FETCHER_SHUTDOWN_TIMEOUT).
const drainTimeout = 10 * time.Second

// parkedRefreshInterval is how often fetcher_parked_items is recomputed.
// A background refresh (rather than a List on every scrape) keeps the cost
// of reading PLAID_ITEMS independent of how often and by how many it is
// scraped, and a slow bucket never slows /metrics; a minute of staleness is
// fine for a gauge that alerts on items needing their users.
const parkedRefreshInterval = time.Minute

// hooks let tests reach inside the wiring without changing behaviour.
type hooks struct {
	// plaidOptions adjusts the Plaid client configuration (e.g. short backoffs).
	plaidOptions func(*plaid.Config)
	// workerOptions adjusts the worker's options (e.g. short retry delays).
	workerOptions func(*fetch.WorkerOptions)
}

// app is a wired fetcher: NATS connected, streams, buckets and consumer
// ensured, admin listener bound.
type app struct {
	cfg      Config
	logger   *slog.Logger
	nc       *nats.Conn
	admin    *http.Server
	adminLn  net.Listener
	ready    *readiness
	consumer *fetchjs.Consumer
	items    *bus.ItemStore
	tokens   *bus.TokenStore
	sweeper  *reconcile.Sweeper // nil when the sweep is off
	metrics  *metrics
}

// adminRemoveWait bounds how long DELETE waits for a running sync of the
// owner: longer than a dead replica's lease (FETCHER_LEASE_TTL default 30s).
const adminRemoveWait = 45 * time.Second

func newApp(ctx context.Context, cfg Config, logOut io.Writer) (*app, error) {
	return newAppWithHooks(ctx, cfg, logOut, hooks{})
}

// newAppWithHooks builds every dependency in order. On error, whatever was
// already started is stopped again.
func newAppWithHooks(ctx context.Context, cfg Config, logOut io.Writer, h hooks) (_ *app, err error) {
	logger := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: cfg.Common.LogLevel}))
	a := &app{cfg: cfg, logger: logger}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = a.closeAll(cctx) // the construction error is the one to report
		}
	}()

	var js jetstream.JetStream
	a.nc, js, err = connect(cfg.NATS, "fetcher", logger)
	if err != nil {
		return nil, err
	}
	replicas := cfg.Common.Replicas
	webhooks, err := ensureWebhookStream(ctx, js, replicas)
	if err != nil {
		return nil, err
	}
	for _, spec := range []events.StreamSpec{events.EventStreamSpec(), events.DLQStreamSpec()} {
		if _, err := bus.EnsureStream(ctx, js, spec, bus.StreamSettings{Replicas: replicas}); err != nil {
			return nil, err
		}
	}
	bucketSpecs := []events.BucketSpec{events.TokensBucketSpec(), events.ItemsBucketSpec(), events.LeasesBucketSpec(), events.RecurringBucketSpec(), events.RefreshLimitsBucketSpec()}
	kv := make(map[string]jetstream.KeyValue, len(bucketSpecs))
	for _, spec := range bucketSpecs {
		if kv[spec.Name], err = bus.EnsureBucket(ctx, js, spec, replicas); err != nil {
			return nil, err
		}
	}
	cons, err := bus.EnsureConsumer(ctx, js, events.WebhookStream, bus.ConsumerSettings{
		Durable:       consumerName,
		Description:   "plaidstream fetcher: syncs items on webhooks",
		MaxAckPending: cfg.Consumer.MaxAckPending,
		AckWait:       cfg.Consumer.AckWait,
		MaxDeliver:    cfg.Consumer.MaxDeliver,
		Replicas:      replicas,
	})
	if err != nil {
		return nil, err
	}
	leases, err := bus.NewLeases(ctx, js, kv[events.LeasesBucket], cfg.Consumer.LeaseTTL)
	if err != nil {
		return nil, err
	}
	a.tokens = bus.NewTokenStore(kv[events.TokensBucket], cfg.Common.Keyring)
	tokenStore := a.tokens
	a.items = bus.NewItemStore(kv[events.ItemsBucket])

	reg := newRegistry()
	a.metrics = newMetrics(reg, func() float64 {
		ictx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		info, err := cons.Info(ictx)
		if err != nil {
			return math.NaN()
		}
		return float64(info.NumPending)
	})

	transport := http.DefaultTransport.(*http.Transport).Clone()
	plaidCfg := plaid.Config{
		BaseURL:  cfg.Plaid.BaseURL,
		ClientID: cfg.Plaid.ClientID,
		Secret:   cfg.Plaid.Secret.Reveal(),
		HTTPClient: &http.Client{Transport: &limitedTransport{
			next:    transport,
			limiter: rate.NewLimiter(rate.Limit(cfg.Plaid.Rate), max(1, int(cfg.Plaid.Rate))),
		}},
		OnRequest: a.metrics.plaidRequest,
	}
	if h.plaidOptions != nil {
		h.plaidOptions(&plaidCfg)
	}
	plaidClient, err := plaid.NewClient(plaidCfg)
	if err != nil {
		return nil, err
	}
	// Renew the lease and extend the message well within both deadlines.
	keepAlive := min(5*time.Second, min(cfg.Consumer.AckWait, cfg.Consumer.LeaseTTL)/3)
	workerOpts := fetch.WorkerOptions{KeepRaw: cfg.KeepRaw, KeepAlive: keepAlive}
	if h.workerOptions != nil {
		h.workerOptions(&workerOpts)
	}
	worker := fetch.NewWorker(plaidClient,
		fetchjs.Credentials{Store: tokenStore},
		fetchjs.States{Store: a.items},
		fetchjs.Recurring{KV: kv[events.RecurringBucket]},
		fetchjs.Leases{Leases: leases, Holder: cfg.ReplicaName},
		fetchjs.Publisher{JS: js},
		fetchjs.WebhookHead{Stream: webhooks},
		logger.With("component", "worker"),
		workerOpts)
	a.consumer = fetchjs.NewConsumer(cons, js, worker, fetchjs.ConsumerOptions{
		Workers:    cfg.Consumer.Workers,
		MaxDeliver: cfg.Consumer.MaxDeliver,
		Grace:      cfg.Consumer.ShutdownTimeout,
		Observe:    a.metrics.handled,
		Logger:     logger.With("component", "consumer"),
	})

	svc := items.New(items.Deps{
		JS: js, Tokens: tokenStore, States: a.items, Recurring: kv[events.RecurringBucket], Leases: leases,
		Guard: bus.NewRefreshGuard(kv[events.RefreshLimitsBucket], 0, 0), Plaid: plaidClient,
		Environment: cfg.Common.Env, Holder: "admin@" + cfg.ReplicaName, RemoveWait: adminRemoveWait,
		Logger: logger.With("component", "admin"),
	})
	api := adminapi.New(svc, adminapi.Options{
		Token:          cfg.Admin.Token,
		Logger:         logger.With("component", "admin_api"),
		ObserveRequest: func(code int) { a.metrics.adminRequests.WithLabelValues(strconv.Itoa(code)).Inc() },
		ObserveRefresh: func(kind, outcome string) { a.metrics.refreshes.WithLabelValues(kind, outcome).Inc() },
	})
	if cfg.Sweep.Interval > 0 {
		a.sweeper = reconcile.New(js, tokenStore, a.items, leases, reconcile.Options{
			Interval: cfg.Sweep.Interval, StaleAfter: cfg.Sweep.StaleAfter, Rate: cfg.Sweep.Rate,
			Holder: cfg.ReplicaName, Logger: logger.With("component", "reconcile"),
			OnSweep: func(r reconcile.Result) { a.metrics.sweepSyncs.Add(float64(r.Requested)) },
		})
	}

	a.ready = &readiness{nc: a.nc}
	for _, name := range []string{events.WebhookStream, events.EventStream, events.DLQStream} {
		a.ready.checks = append(a.ready.checks, func(ctx context.Context) error {
			if _, err := js.Stream(ctx, name); err != nil {
				return fmt.Errorf("stream %s unavailable", name)
			}
			return nil
		})
	}
	for _, spec := range bucketSpecs {
		a.ready.checks = append(a.ready.checks, func(ctx context.Context) error {
			if _, err := js.KeyValue(ctx, spec.Name); err != nil {
				return fmt.Errorf("bucket %s unavailable", spec.Name)
			}
			return nil
		})
	}
	a.ready.checks = append(a.ready.checks, func(ctx context.Context) error {
		if _, err := js.Consumer(ctx, events.WebhookStream, consumerName); err != nil {
			return fmt.Errorf("consumer %s unavailable", consumerName)
		}
		return nil
	})

	if a.adminLn, err = net.Listen("tcp", cfg.Admin.Listen); err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	a.admin = adminhttp.NewServer(reg, a.ready.check, logger)
	mux := http.NewServeMux()
	mux.Handle("/v1/", api)
	mux.Handle("/", a.admin.Handler)
	a.admin.Handler = mux
	a.admin.WriteTimeout = adminRemoveWait + 15*time.Second // a DELETE waits for a running sync
	logger.Info("fetcher ready",
		"admin_addr", a.adminLn.Addr().String(),
		"replica", cfg.ReplicaName,
		"workers", cfg.Consumer.Workers,
		"plaid_base_url", cfg.Plaid.BaseURL,
		"plaid_client_id", cfg.Plaid.ClientID,
		"token_key_id", cfg.Common.Keyring.NewestKeyID(),
		"consumer", consumerName)
	return a, nil
}

// Run consumes until ctx ends or a part fails, then shuts down in order:
// /readyz fails, the consumer stops pulling and finishes (or hands back)
// in-flight work within FETCHER_SHUTDOWN_TIMEOUT, the admin listener closes,
// NATS drains.
func (a *app) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := a.admin.Serve(a.adminLn); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("admin listener: %w", err)
		}
		return nil
	})
	consumerDone := make(chan struct{})
	g.Go(func() error {
		defer close(consumerDone)
		return a.consumer.Run(gctx)
	})
	g.Go(func() error {
		a.refreshParked(gctx)
		return nil
	})
	if a.sweeper != nil {
		g.Go(func() error {
			a.sweeper.Run(gctx)
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		a.logger.Info("shutting down", "grace", a.cfg.Consumer.ShutdownTimeout.String())
		a.ready.draining.Store(true)
		<-consumerDone // Run bounds itself by the grace period
		// A fresh deadline: ctx is already cancelled.
		sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		defer cancel()
		return a.closeAll(sctx)
	})
	err := g.Wait()
	a.logger.Info("stopped", "err", err)
	return err
}

// refreshParked recomputes fetcher_parked_items and fetcher_items_overdue
// now and every parkedRefreshInterval until ctx ends.
func (a *app) refreshParked(ctx context.Context) {
	t := time.NewTicker(parkedRefreshInterval)
	defer t.Stop()
	for {
		parked, overdue, err := a.countItems(ctx)
		if err != nil {
			if ctx.Err() == nil {
				a.logger.Warn("count parked and overdue items", "err", err)
			}
		} else {
			a.metrics.parkedItems.Set(float64(parked))
			a.metrics.itemsOverdue.Set(float64(overdue))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// countItems counts the registered owners that are parked, and those the
// reconciliation sweep considers due (reconcile.Due).
func (a *app) countItems(ctx context.Context) (parked, overdue int, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	creds, err := a.tokens.List(ctx)
	if err != nil {
		return 0, 0, err
	}
	entries, err := a.items.List(ctx)
	if err != nil {
		return 0, 0, err
	}
	states := make(map[string]bus.ItemState, len(entries))
	for _, e := range entries {
		states[e.State.Owner] = e.State
	}
	now := time.Now()
	for _, c := range creds {
		st := states[c.Owner]
		if st.Parked {
			parked++
		}
		if reconcile.Due(st, now, a.cfg.Sweep.StaleAfter) {
			overdue++
		}
	}
	return parked, overdue, nil
}

// closeAll stops everything that was started, in dependency order.
func (a *app) closeAll(ctx context.Context) error {
	var errs []error
	if a.ready != nil {
		a.ready.draining.Store(true)
	}
	switch {
	case a.admin != nil:
		if err := a.admin.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("admin shutdown: %w", err))
		}
		_ = a.adminLn.Close() // already closed if it was served
	case a.adminLn != nil:
		_ = a.adminLn.Close()
	}
	if a.nc != nil {
		if err := bus.Drain(ctx, a.nc); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// limitedTransport makes every Plaid request wait for the client-wide rate
// limiter first, so bursts of syncs stay under Plaid's per-client limits
// instead of collecting 429s.
type limitedTransport struct {
	next    http.RoundTripper
	limiter *rate.Limiter
}

// RoundTrip implements http.RoundTripper.
func (t *limitedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := t.limiter.Wait(r.Context()); err != nil {
		if r.Body != nil {
			_ = r.Body.Close() // RoundTrip must close the body, errors included
		}
		return nil, fmt.Errorf("plaid rate limiter: %w", err)
	}
	return t.next.RoundTrip(r)
}
