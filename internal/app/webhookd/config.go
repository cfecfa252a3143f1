package webhookd

import (
	"errors"
	"flag"
	"fmt"
	"github.com/plaidstream/plaidstream/internal/secret"
	"io"
	"log/slog"
	"time"

	"github.com/plaidstream/plaidstream/internal/envflag"
	"github.com/plaidstream/plaidstream/internal/plaid"
)

// Config is every webhookd setting. Each field is a flag whose default comes
// from the environment variable named in its comment.
type Config struct {
	HTTP struct {
		Listen          string        // WEBHOOKD_LISTEN: public listener, POST /plaid/webhook only
		AdminListen     string        // WEBHOOKD_ADMIN_LISTEN: /metrics, /healthz, /readyz
		MaxBodyBytes    int64         // WEBHOOKD_MAX_BODY_BYTES: larger bodies get 413
		PublishTimeout  time.Duration // WEBHOOKD_PUBLISH_TIMEOUT: wait this long for JetStream's PubAck
		ShutdownTimeout time.Duration // WEBHOOKD_SHUTDOWN_TIMEOUT: budget for finishing in-flight requests
		ShutdownDelay   time.Duration // WEBHOOKD_SHUTDOWN_DELAY: keep serving this long after /readyz fails
	}
	NATS struct {
		URL           string        // NATS_URL
		CredsFile     string        // NATS_CREDS
		NkeySeedFile  string        // NATS_NKEY_SEED_FILE
		TLSCAFile     string        // NATS_TLS_CA
		TLSCertFile   string        // NATS_TLS_CERT
		TLSKeyFile    string        // NATS_TLS_KEY
		ReconnectWait time.Duration // NATS_RECONNECT_WAIT
	}
	Stream struct {
		Replicas int           // WEBHOOKD_STREAM_REPLICAS
		MaxAge   time.Duration // WEBHOOKD_STREAM_MAX_AGE
		MaxBytes int64         // WEBHOOKD_STREAM_MAX_BYTES (0: unlimited)
	}
	Embedded struct {
		Enabled  bool   // WEBHOOKD_EMBEDDED_NATS: run a JetStream server in-process
		Listen   string // WEBHOOKD_EMBEDDED_NATS_LISTEN
		StoreDir string // WEBHOOKD_EMBEDDED_NATS_DIR
	}
	Plaid struct {
		Env             string        // PLAID_ENV: sandbox or production
		BaseURL         string        // PLAID_BASE_URL: overrides the environment's host
		ClientID        string        // PLAID_CLIENT_ID
		Secret          Secret        // PLAID_SECRET, or the file named by PLAID_SECRET_FILE
		KeyFetchTimeout time.Duration // WEBHOOKD_KEY_FETCH_TIMEOUT
	}
	Verify struct {
		MaxTokenAge        time.Duration // WEBHOOKD_MAX_TOKEN_AGE
		MaxFutureSkew      time.Duration // WEBHOOKD_MAX_FUTURE_SKEW
		KeyRecheckInterval time.Duration // WEBHOOKD_KEY_RECHECK_INTERVAL
		UnknownKeyTTL      time.Duration // WEBHOOKD_UNKNOWN_KEY_TTL
		KeyFetchRate       float64       // WEBHOOKD_KEY_FETCH_RATE: new-kid fetches per second
	}
	Dev struct {
		Enabled     bool   // WEBHOOKD_DEV: embedded NATS plus an in-process Plaid simulator
		PlaidListen string // WEBHOOKD_DEV_PLAID_LISTEN
	}
	LogLevel slog.Level // LOG_LEVEL: debug, info, warn, error
}

// Secret is a string that never prints (internal/secret).
type Secret = secret.Secret

// Simulator credentials used by --dev (plaidsim's defaults).
const (
	devClientID = "test_client_id"
	devSecret   = "test_secret"
)

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet("webhookd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: webhookd [flags]
       webhookd verify --help

webhookd receives Plaid webhooks on POST /plaid/webhook, verifies each
Plaid-Verification JWT over the raw body, stores the exact bytes in the
JetStream stream PLAID_WEBHOOKS and answers 200 only after the store was
acknowledged. Every flag can also be set by the environment variable named
beside it.

Flags:
`)
		fs.PrintDefaults()
	}
	e := envflag.New(fs, getenv)

	e.String(&cfg.HTTP.Listen, "listen", "WEBHOOKD_LISTEN", ":8080", "public listener address for POST /plaid/webhook")
	e.String(&cfg.HTTP.AdminListen, "admin-listen", "WEBHOOKD_ADMIN_LISTEN", ":9090", "admin listener address for /metrics, /healthz, /readyz")
	e.Int64(&cfg.HTTP.MaxBodyBytes, "max-body-bytes", "WEBHOOKD_MAX_BODY_BYTES", 64<<10, "largest accepted webhook body in bytes; larger ones get 413")
	e.Duration(&cfg.HTTP.PublishTimeout, "publish-timeout", "WEBHOOKD_PUBLISH_TIMEOUT", 3*time.Second, "how long to wait for JetStream to acknowledge a webhook before answering 503")
	e.Duration(&cfg.HTTP.ShutdownDelay, "shutdown-delay", "WEBHOOKD_SHUTDOWN_DELAY", 0, "on SIGTERM, fail /readyz and keep serving this long before closing the listener, so load balancers stop sending first")
	e.Duration(&cfg.HTTP.ShutdownTimeout, "shutdown-timeout", "WEBHOOKD_SHUTDOWN_TIMEOUT", 20*time.Second, "on SIGTERM, how long in-flight requests may take to finish")

	e.String(&cfg.NATS.URL, "nats-url", "NATS_URL", "nats://127.0.0.1:4222", "NATS server URL(s), comma-separated")
	e.String(&cfg.NATS.CredsFile, "nats-creds", "NATS_CREDS", "", "NATS credentials file (JWT and nkey seed)")
	e.String(&cfg.NATS.NkeySeedFile, "nats-nkey-seed-file", "NATS_NKEY_SEED_FILE", "", "NATS nkey seed file")
	e.String(&cfg.NATS.TLSCAFile, "nats-tls-ca", "NATS_TLS_CA", "", "CA certificate file to verify the NATS server")
	e.String(&cfg.NATS.TLSCertFile, "nats-tls-cert", "NATS_TLS_CERT", "", "client certificate file for mutual TLS")
	e.String(&cfg.NATS.TLSKeyFile, "nats-tls-key", "NATS_TLS_KEY", "", "client key file for mutual TLS")
	e.Duration(&cfg.NATS.ReconnectWait, "nats-reconnect-wait", "NATS_RECONNECT_WAIT", time.Second, "pause between NATS reconnect attempts")

	e.Int(&cfg.Stream.Replicas, "stream-replicas", "WEBHOOKD_STREAM_REPLICAS", 1, "replicas of the PLAID_WEBHOOKS stream (3 on a NATS cluster)")
	e.Duration(&cfg.Stream.MaxAge, "stream-max-age", "WEBHOOKD_STREAM_MAX_AGE", 7*24*time.Hour, "how long PLAID_WEBHOOKS keeps messages")
	e.Int64(&cfg.Stream.MaxBytes, "stream-max-bytes", "WEBHOOKD_STREAM_MAX_BYTES", 0, "size limit of PLAID_WEBHOOKS in bytes; when full, new webhooks get 503 (0: unlimited)")

	e.Bool(&cfg.Embedded.Enabled, "embedded-nats", "WEBHOOKD_EMBEDDED_NATS", false, "run an embedded NATS JetStream server instead of connecting to NATS_URL")
	e.String(&cfg.Embedded.Listen, "embedded-nats-listen", "WEBHOOKD_EMBEDDED_NATS_LISTEN", "127.0.0.1:4222", "address the embedded NATS server listens on, for fetchers and the nats CLI")
	e.String(&cfg.Embedded.StoreDir, "embedded-nats-dir", "WEBHOOKD_EMBEDDED_NATS_DIR", ".data/nats", "JetStream storage directory of the embedded server")

	var secretFile string
	e.String(&cfg.Plaid.Env, "plaid-env", "PLAID_ENV", "sandbox", "Plaid environment: sandbox or production")
	e.String(&cfg.Plaid.BaseURL, "plaid-base-url", "PLAID_BASE_URL", "", "Plaid API base URL; overrides the environment's host (e.g. the simulator)")
	e.String(&cfg.Plaid.ClientID, "plaid-client-id", "PLAID_CLIENT_ID", "", "Plaid client id")
	e.String(&secretFile, "plaid-secret-file", "PLAID_SECRET_FILE", "", "file holding the Plaid secret (else env PLAID_SECRET)")
	e.Duration(&cfg.Plaid.KeyFetchTimeout, "key-fetch-timeout", "WEBHOOKD_KEY_FETCH_TIMEOUT", 3*time.Second, "timeout of one /webhook_verification_key/get call")

	e.Duration(&cfg.Verify.MaxTokenAge, "max-token-age", "WEBHOOKD_MAX_TOKEN_AGE", 5*time.Minute, "reject webhooks whose JWT iat is older than this")
	e.Duration(&cfg.Verify.MaxFutureSkew, "max-future-skew", "WEBHOOKD_MAX_FUTURE_SKEW", 5*time.Second, "reject webhooks whose JWT iat is further than this in the future")
	e.Duration(&cfg.Verify.KeyRecheckInterval, "key-recheck-interval", "WEBHOOKD_KEY_RECHECK_INTERVAL", time.Hour, "re-fetch a cached verification key after this long, to notice its expiry")
	e.Duration(&cfg.Verify.UnknownKeyTTL, "unknown-key-ttl", "WEBHOOKD_UNKNOWN_KEY_TTL", time.Minute, "remember a kid Plaid does not know for this long")
	e.Float64(&cfg.Verify.KeyFetchRate, "key-fetch-rate", "WEBHOOKD_KEY_FETCH_RATE", 5, "most fetches per second of keys not in the cache")

	e.Bool(&cfg.Dev.Enabled, "dev", "WEBHOOKD_DEV", false, "local try-out: embedded NATS plus an in-process Plaid simulator serving verification keys")
	e.String(&cfg.Dev.PlaidListen, "dev-plaid-listen", "WEBHOOKD_DEV_PLAID_LISTEN", "127.0.0.1:8600", "with --dev, where the Plaid simulator listens")

	var level string
	e.String(&level, "log-level", "LOG_LEVEL", "info", "log level: debug, info, warn or error")

	if err := e.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, usageError(err)
	}
	plaidSecret, err := secret.FromFileOrEnv(secretFile, "PLAID_SECRET", getenv)
	if err != nil {
		return cfg, usageError(err)
	}
	cfg.Plaid.Secret = plaidSecret
	if err := cfg.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return cfg, usageError(fmt.Errorf("log level %q: want debug, info, warn or error", level))
	}
	if cfg.Dev.Enabled {
		cfg.Embedded.Enabled = true
		cfg.Plaid.Env = "sandbox"
		cfg.Plaid.ClientID = devClientID
		cfg.Plaid.Secret = devSecret
		cfg.Plaid.BaseURL = "http://" + cfg.Dev.PlaidListen
	}
	if err := cfg.validate(); err != nil {
		return cfg, usageError(err)
	}
	return cfg, nil
}

func (c *Config) validate() error {
	var errs []error
	if c.Plaid.BaseURL == "" {
		u, err := plaid.BaseURLFor(c.Plaid.Env)
		if err != nil {
			errs = append(errs, err)
		}
		c.Plaid.BaseURL = u
	} else if c.Plaid.Env != "sandbox" && c.Plaid.Env != "production" {
		errs = append(errs, fmt.Errorf("PLAID_ENV %q: want sandbox or production", c.Plaid.Env))
	}
	if c.Plaid.ClientID == "" || c.Plaid.Secret == "" {
		errs = append(errs, errors.New("PLAID_CLIENT_ID and PLAID_SECRET (or PLAID_SECRET_FILE) are required to fetch verification keys (or use --dev for the local simulator)"))
	}
	if c.HTTP.MaxBodyBytes <= 0 {
		errs = append(errs, errors.New("max body bytes must be positive"))
	}
	for name, d := range map[string]time.Duration{
		"publish timeout":   c.HTTP.PublishTimeout,
		"shutdown timeout":  c.HTTP.ShutdownTimeout,
		"key fetch timeout": c.Plaid.KeyFetchTimeout,
		"max token age":     c.Verify.MaxTokenAge,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		}
	}
	if c.HTTP.ShutdownDelay < 0 {
		errs = append(errs, errors.New("shutdown delay must not be negative"))
	}
	if c.Verify.MaxFutureSkew < 0 {
		errs = append(errs, errors.New("max future skew must not be negative"))
	}
	if c.Verify.KeyFetchRate <= 0 {
		errs = append(errs, errors.New("key fetch rate must be positive"))
	}
	if c.Stream.Replicas < 1 || c.Stream.Replicas > 5 {
		errs = append(errs, errors.New("stream replicas must be between 1 and 5"))
	}
	return errors.Join(errs...)
}
