package webhookd

import (
	"context"
	"errors"
	"fmt"
	"github.com/plaidstream/plaidstream/internal/adminhttp"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/embednats"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
	"github.com/plaidstream/plaidstream/internal/verify"
)

// hooks let tests reach inside the wiring without changing behaviour.
type hooks struct {
	// now replaces time.Now for verification and timestamps.
	now func() time.Time
	// wrapPublisher wraps the JetStream publisher (e.g. to hold a publish
	// in flight during a shutdown test).
	wrapPublisher func(Publisher) Publisher
}

// app is a wired webhookd: listeners bound, NATS connected, stream ensured.
type app struct {
	cfg      Config
	logger   *slog.Logger
	public   *http.Server
	admin    *http.Server
	publicLn net.Listener
	adminLn  net.Listener
	ready    *readiness
	nc       *nats.Conn
	embedded *embednats.Server
	dev      *http.Server // serves devSim in --dev mode
	devLn    net.Listener
	devSim   *plaidsim.Sim
	verifier *verify.Verifier
}

func newApp(ctx context.Context, cfg Config, logOut io.Writer) (*app, error) {
	return newAppWithHooks(ctx, cfg, logOut, hooks{})
}

// newAppWithHooks builds every dependency in order. On error, whatever was
// already started is stopped again.
func newAppWithHooks(ctx context.Context, cfg Config, logOut io.Writer, h hooks) (_ *app, err error) {
	if h.now == nil {
		h.now = time.Now
	}
	logger := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: cfg.LogLevel}))
	// a is not the named result: "return nil, err" would set that to nil
	// before the deferred cleanup below reads it.
	a := &app{cfg: cfg, logger: logger}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = a.closeAll(cctx) // the construction error is the one to report
		}
	}()

	if cfg.Dev.Enabled {
		if err := a.startDevPlaid(h.now); err != nil {
			return nil, err
		}
	}
	natsURL := cfg.NATS.URL
	if cfg.Embedded.Enabled {
		host, port, err := splitHostPort(cfg.Embedded.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats listen address: %w", err)
		}
		a.embedded, err = embednats.Start(embednats.Options{Host: host, Port: port, StoreDir: cfg.Embedded.StoreDir, Logger: logger})
		if err != nil {
			return nil, err
		}
		natsURL = a.embedded.ClientURL()
		logger.Info("embedded NATS JetStream server started", "url", natsURL, "store_dir", cfg.Embedded.StoreDir)
	}

	a.nc, err = bus.Connect(natsURL, bus.ConnectOptions{
		Name:          "webhookd",
		CredsFile:     cfg.NATS.CredsFile,
		NkeySeedFile:  cfg.NATS.NkeySeedFile,
		TLSCAFile:     cfg.NATS.TLSCAFile,
		TLSCertFile:   cfg.NATS.TLSCertFile,
		TLSKeyFile:    cfg.NATS.TLSKeyFile,
		ReconnectWait: cfg.NATS.ReconnectWait,
		Logger:        logger.With("component", "nats"),
	})
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(a.nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	// A token is accepted for MaxTokenAge plus skew; the duplicate window
	// must cover that so an exact re-delivery always collapses.
	if _, err := bus.EnsureStream(ctx, js, events.WebhookStreamSpec(), bus.StreamSettings{
		Replicas:   cfg.Stream.Replicas,
		MaxAge:     cfg.Stream.MaxAge,
		MaxBytes:   cfg.Stream.MaxBytes,
		Duplicates: cfg.Verify.MaxTokenAge + cfg.Verify.MaxFutureSkew + time.Minute,
	}); err != nil {
		return nil, err
	}

	reg := newRegistry()
	plaidClient, err := plaid.NewClient(plaid.Config{
		BaseURL:  cfg.Plaid.BaseURL,
		ClientID: cfg.Plaid.ClientID,
		Secret:   cfg.Plaid.Secret.Reveal(),
	})
	if err != nil {
		return nil, err
	}
	// The verifier reports key fetches to the metrics, and the metrics read
	// the verifier's cache size: m is set right below, before any request
	// can trigger a fetch.
	var m *metrics
	a.verifier = verify.New(&plaidKeys{client: plaidClient, timeout: cfg.Plaid.KeyFetchTimeout, logger: logger.With("component", "keys")}, verify.Options{
		MaxAge:          cfg.Verify.MaxTokenAge,
		MaxFutureSkew:   verifySkew(cfg.Verify.MaxFutureSkew),
		Now:             h.now,
		RecheckInterval: cfg.Verify.KeyRecheckInterval,
		NegativeTTL:     cfg.Verify.UnknownKeyTTL,
		FetchRate:       cfg.Verify.KeyFetchRate,
		FetchBurst:      max(1, int(cfg.Verify.KeyFetchRate)),
		FetchTimeout:    cfg.Plaid.KeyFetchTimeout,
		OnKeyFetch:      func(result string) { m.keyFetched(result) },
	})
	m = newMetrics(reg, a.verifier.CachedKeys)

	var pub Publisher = js
	if h.wrapPublisher != nil {
		pub = h.wrapPublisher(pub)
	}
	handler := &webhookHandler{
		verifier:       a.verifier,
		publisher:      pub,
		metrics:        m,
		logger:         logger.With("component", "webhook"),
		now:            h.now,
		maxBodyBytes:   cfg.HTTP.MaxBodyBytes,
		publishTimeout: cfg.HTTP.PublishTimeout,
	}
	a.ready = &readiness{nc: a.nc, streamInfo: func(ctx context.Context) error {
		_, err := js.Stream(ctx, events.WebhookStream)
		return err
	}}

	if a.publicLn, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
		return nil, fmt.Errorf("public listener: %w", err)
	}
	if a.adminLn, err = net.Listen("tcp", cfg.HTTP.AdminListen); err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	a.public = &http.Server{
		Handler: newPublicHandler(handler, func(err error) {
			logger.Error("panic in webhook handler", "err", err)
		}),
		// Plaid waits 10 s for an answer. Slow or stuck clients must not
		// hold connections and goroutines for longer than that.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      cfg.Plaid.KeyFetchTimeout + cfg.HTTP.PublishTimeout + 5*time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	a.admin = adminhttp.NewServer(reg, a.ready.check, logger)
	logger.Info("webhookd ready",
		"webhook_url", "http://"+a.publicLn.Addr().String()+"/plaid/webhook",
		"admin_addr", a.adminLn.Addr().String(),
		"plaid_base_url", cfg.Plaid.BaseURL,
		"plaid_client_id", cfg.Plaid.ClientID,
		"stream", events.WebhookStream)
	return a, nil
}

// Run serves until ctx ends or a listener fails, then shuts down in order:
// /readyz fails, in-flight requests finish publishing, NATS drains.
func (a *app) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	serve := func(name string, srv *http.Server, ln net.Listener) {
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("%s listener: %w", name, err)
			}
			return nil
		})
	}
	serve("public", a.public, a.publicLn)
	serve("admin", a.admin, a.adminLn)
	if a.dev != nil {
		serve("plaid simulator", a.dev, a.devLn)
	}
	g.Go(func() error {
		<-gctx.Done()
		a.logger.Info("shutting down", "delay", a.cfg.HTTP.ShutdownDelay.String(), "budget", a.cfg.HTTP.ShutdownTimeout.String())
		// Fail /readyz first and keep serving for the delay, so load
		// balancers stop sending before the listener closes.
		a.ready.draining.Store(true)
		if d := a.cfg.HTTP.ShutdownDelay; d > 0 && ctx.Err() != nil {
			t := time.NewTimer(d)
			<-t.C
		}
		// A fresh deadline: ctx is already cancelled.
		sctx, cancel := context.WithTimeout(context.Background(), a.cfg.HTTP.ShutdownTimeout)
		defer cancel()
		return a.closeAll(sctx)
	})
	err := g.Wait()
	a.logger.Info("stopped", "err", err)
	return err
}

// closeAll stops everything that was started, in dependency order.
func (a *app) closeAll(ctx context.Context) error {
	var errs []error
	if a.ready != nil {
		a.ready.draining.Store(true)
	}
	shutdown := func(srv *http.Server, ln net.Listener) {
		switch {
		case srv != nil:
			if err := srv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("http shutdown: %w", err))
			}
			// Shutdown closes only the listeners Serve was called with; a
			// server that never served (newApp failed) still holds ln.
			if ln != nil {
				_ = ln.Close() // already closed if it was served
			}
		case ln != nil:
			_ = ln.Close() // never served; nothing in flight
		}
	}
	shutdown(a.public, a.publicLn)
	shutdown(a.admin, a.adminLn)
	if a.nc != nil {
		if err := bus.Drain(ctx, a.nc); err != nil {
			errs = append(errs, err)
		}
	}
	if a.embedded != nil {
		a.embedded.Shutdown()
	}
	shutdown(a.dev, a.devLn)
	if a.devSim != nil {
		if err := a.devSim.Close(); err != nil {
			errs = append(errs, fmt.Errorf("plaid simulator: %w", err))
		}
	}
	return errors.Join(errs...)
}

// startDevPlaid serves the Plaid simulator on cfg.Dev.PlaidListen so the
// local try-out can fetch verification keys and fire signed webhooks.
func (a *app) startDevPlaid(now func() time.Time) error {
	sim, err := plaidsim.New(plaidsim.Options{ClientID: devClientID, Secret: devSecret, Now: now, Logger: a.logger.With("component", "plaidsim")})
	if err != nil {
		return err
	}
	a.devSim = sim
	if a.devLn, err = net.Listen("tcp", a.cfg.Dev.PlaidListen); err != nil {
		return fmt.Errorf("plaid simulator listener: %w", err)
	}
	a.dev = &http.Server{Handler: sim, ReadHeaderTimeout: 5 * time.Second}
	a.logger.Info("dev mode: Plaid simulator serving verification keys", "url", "http://"+a.devLn.Addr().String(),
		"try", fmt.Sprintf(`curl -s -X POST http://%s/sim/webhooks/send -d '{"url":"http://%s/plaid/webhook","body":{"webhook_type":"TRANSACTIONS","webhook_code":"SYNC_UPDATES_AVAILABLE","item_id":"item-demo","environment":"sandbox","initial_update_complete":true,"historical_update_complete":true}}'`,
			a.devLn.Addr(), loopbackAddr(a.cfg.HTTP.Listen)))
	return nil
}

// verifySkew maps the configured future skew to verify.Options, where zero
// means "the default (5s)": a configured zero means no future iat at all.
func verifySkew(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func splitHostPort(addr string) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := net.LookupPort("tcp", portText)
	return host, port, err
}

// loopbackAddr turns ":8080" into "127.0.0.1:8080" for printed examples.
func loopbackAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || host != "" {
		return listen
	}
	return net.JoinHostPort("127.0.0.1", port)
}
