package fetcher

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/envflag"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/reconcile"
	"github.com/plaidstream/plaidstream/internal/secret"
	"github.com/plaidstream/plaidstream/internal/tokens"
)

// Config is every fetcher setting. Each field is a flag whose default comes
// from the environment variable named in its comment.
type Config struct {
	Admin struct {
		Listen string // FETCHER_ADMIN_LISTEN: /metrics, /healthz, /readyz, /v1/
		Token  Secret // FETCHER_ADMIN_TOKEN, or the file named by FETCHER_ADMIN_TOKEN_FILE; empty disables /v1/
	}
	Sweep struct {
		Interval   time.Duration // FETCHER_SWEEP_INTERVAL: 0 disables the reconciliation sweep
		StaleAfter time.Duration // FETCHER_SWEEP_STALE_AFTER
		Rate       float64       // FETCHER_SWEEP_RATE: sync requests per second
	}
	NATS NATSConfig
	// Common holds what `fetcher` and `fetcher items` share beyond NATS.
	Common CommonConfig
	Plaid  struct {
		BaseURL  string  // PLAID_BASE_URL: overrides the environment's host
		ClientID string  // PLAID_CLIENT_ID
		Secret   Secret  // PLAID_SECRET, or the file named by PLAID_SECRET_FILE
		Rate     float64 // FETCHER_PLAID_RATE: client-wide Plaid requests per second
	}
	Consumer struct {
		Workers         int           // FETCHER_WORKERS: messages handled at once by this replica
		MaxAckPending   int           // FETCHER_MAX_ACK_PENDING: messages out unacknowledged fleet-wide, delayed retries included
		AckWait         time.Duration // FETCHER_ACK_WAIT
		MaxDeliver      int           // FETCHER_MAX_DELIVER
		LeaseTTL        time.Duration // FETCHER_LEASE_TTL
		ShutdownTimeout time.Duration // FETCHER_SHUTDOWN_TIMEOUT: grace for in-flight syncs
	}
	KeepRaw     bool   // FETCHER_KEEP_RAW: copy Plaid's whole objects into events
	ReplicaName string // FETCHER_REPLICA_NAME: lease holder name (default hostname-random)
}

// NATSConfig is how to reach NATS.
type NATSConfig struct {
	URL           string        // NATS_URL
	CredsFile     string        // NATS_CREDS
	NkeySeedFile  string        // NATS_NKEY_SEED_FILE
	TLSCAFile     string        // NATS_TLS_CA
	TLSCertFile   string        // NATS_TLS_CERT
	TLSKeyFile    string        // NATS_TLS_KEY
	ReconnectWait time.Duration // NATS_RECONNECT_WAIT
}

// CommonConfig are the settings `fetcher` and `fetcher items` share.
type CommonConfig struct {
	Env      string          // PLAID_ENV: sandbox or production
	Keyring  *tokens.Keyring // PLAIDSTREAM_TOKEN_KEY, PLAIDSTREAM_TOKEN_KEY_FILE or PLAIDSTREAM_TOKEN_KEYS (nil if none is set)
	Replicas int             // FETCHER_STREAM_REPLICAS: PLAID_EVENTS, PLAID_DLQ, the buckets (and PLAID_WEBHOOKS if it is missing)
	LogLevel slog.Level      // LOG_LEVEL
}

// Secret is a string that never prints (internal/secret).
type Secret = secret.Secret

// defaultPlaidRate is Plaid's documented production client-wide limit of
// /transactions/sync, 2,500 requests per minute, rounded down to a per
// second rate with some headroom.
const defaultPlaidRate = 40

// secretEnvHelp names the settings that exist only as environment
// variables (secrets do not belong on a command line).
const secretEnvHelp = `Secrets come only from the environment or files:
  PLAID_SECRET                 Plaid secret (or --plaid-secret-file / PLAID_SECRET_FILE)
  PLAIDSTREAM_TOKEN_KEY        base64 of 32 random bytes sealing tokens at rest (key id "0"),
                               or --token-key-file / PLAIDSTREAM_TOKEN_KEY_FILE
  PLAIDSTREAM_TOKEN_KEYS       for rotation instead: "id1:base64,id2:base64", newest last
  FETCHER_ADMIN_TOKEN          bearer token of the /v1/ admin API (or --admin-token-file /
                               FETCHER_ADMIN_TOKEN_FILE); unset, the API answers 403
`

// commonFlags binds the settings shared by every verb. finish must be called
// after Parse to load files and validate.
type commonFlags struct {
	keyFile string
	level   string
}

func bindNATS(e *envflag.Set, n *NATSConfig) {
	e.String(&n.URL, "nats-url", "NATS_URL", "nats://127.0.0.1:4222", "NATS server URL(s), comma-separated")
	e.String(&n.CredsFile, "nats-creds", "NATS_CREDS", "", "NATS credentials file (JWT and nkey seed)")
	e.String(&n.NkeySeedFile, "nats-nkey-seed-file", "NATS_NKEY_SEED_FILE", "", "NATS nkey seed file")
	e.String(&n.TLSCAFile, "nats-tls-ca", "NATS_TLS_CA", "", "CA certificate file to verify the NATS server")
	e.String(&n.TLSCertFile, "nats-tls-cert", "NATS_TLS_CERT", "", "client certificate file for mutual TLS")
	e.String(&n.TLSKeyFile, "nats-tls-key", "NATS_TLS_KEY", "", "client key file for mutual TLS")
	e.Duration(&n.ReconnectWait, "nats-reconnect-wait", "NATS_RECONNECT_WAIT", time.Second, "pause between NATS reconnect attempts")
}

func bindCommon(e *envflag.Set, c *CommonConfig, envFlag string) *commonFlags {
	f := &commonFlags{}
	e.String(&c.Env, envFlag, "PLAID_ENV", "sandbox", "Plaid environment: sandbox or production")
	e.String(&f.keyFile, "token-key-file", "PLAIDSTREAM_TOKEN_KEY_FILE", "", "file holding the token key (PLAIDSTREAM_TOKEN_KEY's value); else env PLAIDSTREAM_TOKEN_KEY or PLAIDSTREAM_TOKEN_KEYS")
	e.Int(&c.Replicas, "stream-replicas", "FETCHER_STREAM_REPLICAS", 1, "replicas of PLAID_EVENTS, PLAID_DLQ and the PLAID_* buckets (3 on a NATS cluster); also of PLAID_WEBHOOKS when the fetcher has to create it")
	e.String(&f.level, "log-level", "LOG_LEVEL", "info", "log level: debug, info, warn or error")
	return f
}

// finish loads the keyring (if configured) and checks the shared settings.
func (f *commonFlags) finish(c *CommonConfig, getenv func(string) string) error {
	var errs []error
	if err := c.LogLevel.UnmarshalText([]byte(f.level)); err != nil {
		errs = append(errs, fmt.Errorf("log level %q: want debug, info, warn or error", f.level))
	}
	if c.Env != "sandbox" && c.Env != "production" {
		errs = append(errs, fmt.Errorf("PLAID_ENV %q: want sandbox or production", c.Env))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, errors.New("stream replicas must be between 1 and 5"))
	}
	single, keys := getenv("PLAIDSTREAM_TOKEN_KEY"), getenv("PLAIDSTREAM_TOKEN_KEYS")
	if f.keyFile != "" {
		if strings.TrimSpace(single) != "" {
			errs = append(errs, errors.New("set PLAIDSTREAM_TOKEN_KEY or PLAIDSTREAM_TOKEN_KEY_FILE, not both"))
		}
		v, err := tokens.ReadKeyFile(f.keyFile)
		if err != nil {
			errs = append(errs, err)
		}
		single = v
	}
	if strings.TrimSpace(single) != "" || strings.TrimSpace(keys) != "" {
		ring, err := tokens.ParseKeyring(single, keys)
		if err != nil {
			errs = append(errs, err)
		}
		c.Keyring = ring
	}
	return errors.Join(errs...)
}

// requireKeyring is the error for a verb that seals or opens tokens.
func requireKeyring(c CommonConfig) error {
	if c.Keyring != nil {
		return nil
	}
	_, err := tokens.ParseKeyring("", "") // its message says what to set
	return err
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet("fetcher", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: fetcher [serve] [flags]
       fetcher items add|get|list|rm|sync|refresh|resync|rekey --help
       fetcher events tail --help

fetcher consumes PLAID_WEBHOOKS with the durable consumer "fetcher", syncs
each item from Plaid (/transactions/sync, /transactions/recurring/get) and
publishes normalized CloudEvents to PLAID_EVENTS; what it cannot process goes
to PLAID_DLQ. Access and processor tokens are read from PLAID_TOKENS, sealed
with the token key. Every flag can also be set by the environment variable
named beside it.

`+secretEnvHelp+`
Flags:
`)
		fs.PrintDefaults()
	}
	e := envflag.New(fs, getenv)

	e.String(&cfg.Admin.Listen, "admin-listen", "FETCHER_ADMIN_LISTEN", ":9091", "admin listener address for /metrics, /healthz, /readyz and the /v1/ admin API")
	var adminTokenFile string
	e.String(&adminTokenFile, "admin-token-file", "FETCHER_ADMIN_TOKEN_FILE", "", "file holding the admin API's bearer token (else env FETCHER_ADMIN_TOKEN; neither: /v1/ answers 403)")
	e.Duration(&cfg.Sweep.Interval, "sweep-interval", "FETCHER_SWEEP_INTERVAL", reconcile.DefaultInterval, "mean time between reconciliation sweeps (jittered ±20%); 0 disables the sweep")
	e.Duration(&cfg.Sweep.StaleAfter, "sweep-stale-after", "FETCHER_SWEEP_STALE_AFTER", reconcile.DefaultStaleAfter, "the sweep syncs items whose last successful sync is older than this (and those never synced or overdue)")
	e.Float64(&cfg.Sweep.Rate, "sweep-rate", "FETCHER_SWEEP_RATE", reconcile.DefaultRate, "most sync requests per second a sweep stores")
	bindNATS(e, &cfg.NATS)
	common := bindCommon(e, &cfg.Common, "plaid-env")

	var secretFile string
	e.String(&cfg.Plaid.BaseURL, "plaid-base-url", "PLAID_BASE_URL", "", "Plaid API base URL; overrides the environment's host (e.g. the simulator)")
	e.String(&cfg.Plaid.ClientID, "plaid-client-id", "PLAID_CLIENT_ID", "", "Plaid client id")
	e.String(&secretFile, "plaid-secret-file", "PLAID_SECRET_FILE", "", "file holding the Plaid secret (else env PLAID_SECRET)")
	e.Float64(&cfg.Plaid.Rate, "plaid-rate", "FETCHER_PLAID_RATE", defaultPlaidRate, "most Plaid requests per second from this replica (Plaid allows 2,500 /transactions/sync per minute per client in production; divide by the replicas)")

	e.Int(&cfg.Consumer.Workers, "workers", "FETCHER_WORKERS", 4, "messages (syncs) handled at once by this replica")
	e.Int(&cfg.Consumer.MaxAckPending, "max-ack-pending", "FETCHER_MAX_ACK_PENDING", bus.DefaultMaxAckPending, "the consumer's MaxAckPending: messages out unacknowledged across all replicas, including those waiting for a delayed retry; keep it well above the workers of all replicas together")
	e.Duration(&cfg.Consumer.AckWait, "ack-wait", "FETCHER_ACK_WAIT", bus.DefaultAckWait, "redeliver a message not acknowledged or extended within this long (syncs extend it per page)")
	e.Int(&cfg.Consumer.MaxDeliver, "max-deliver", "FETCHER_MAX_DELIVER", bus.DefaultMaxDeliver, "deliveries of a message at most; a failure on the last one dead-letters it to PLAID_DLQ")
	e.Duration(&cfg.Consumer.LeaseTTL, "lease-ttl", "FETCHER_LEASE_TTL", bus.DefaultLeaseTTL, "an item's sync lease expires this long after its holder stopped renewing it")
	e.Duration(&cfg.Consumer.ShutdownTimeout, "shutdown-timeout", "FETCHER_SHUTDOWN_TIMEOUT", 20*time.Second, "on SIGTERM, how long in-flight syncs may take before they are handed back")
	e.Bool(&cfg.KeepRaw, "keep-raw", "FETCHER_KEEP_RAW", false, "copy Plaid's whole objects into event payloads (raw)")
	e.String(&cfg.ReplicaName, "replica-name", "FETCHER_REPLICA_NAME", "", "this replica's name as lease holder (default: hostname plus a random suffix)")

	if err := e.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, usageError(err)
	}
	if fs.NArg() > 0 {
		return cfg, usageError(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	var errs []error
	if err := common.finish(&cfg.Common, getenv); err != nil {
		errs = append(errs, err)
	}
	plaidSecret, err := secret.FromFileOrEnv(secretFile, "PLAID_SECRET", getenv)
	if err != nil {
		errs = append(errs, err)
	}
	cfg.Plaid.Secret = plaidSecret
	adminToken, err := secret.FromFileOrEnv(adminTokenFile, "FETCHER_ADMIN_TOKEN", getenv)
	if err != nil {
		errs = append(errs, err)
	}
	cfg.Admin.Token = adminToken
	if cfg.ReplicaName == "" {
		cfg.ReplicaName = defaultReplicaName()
	}
	if err := cfg.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, usageError(err)
	}
	return cfg, nil
}

func (c *Config) validate() error {
	var errs []error
	if c.Plaid.BaseURL == "" {
		u, err := plaid.BaseURLFor(c.Common.Env)
		if err == nil {
			c.Plaid.BaseURL = u
		}
	}
	if c.Plaid.ClientID == "" || c.Plaid.Secret == "" {
		errs = append(errs, errors.New("PLAID_CLIENT_ID and PLAID_SECRET (or PLAID_SECRET_FILE) are required"))
	}
	if err := requireKeyring(c.Common); err != nil {
		errs = append(errs, err)
	}
	if c.Plaid.Rate <= 0 {
		errs = append(errs, errors.New("plaid rate must be positive"))
	}
	if c.Sweep.Interval < 0 || c.Sweep.StaleAfter <= 0 || c.Sweep.Rate <= 0 {
		errs = append(errs, errors.New("sweep interval must be 0 (off) or positive; stale-after and rate positive"))
	}
	if c.Consumer.Workers < 1 {
		errs = append(errs, errors.New("workers must be at least 1"))
	}
	if c.Consumer.MaxAckPending < c.Consumer.Workers {
		errs = append(errs, errors.New("max ack pending must be at least the workers"))
	}
	if c.Consumer.MaxDeliver < 1 {
		errs = append(errs, errors.New("max deliver must be at least 1"))
	}
	for name, d := range map[string]time.Duration{
		"ack wait":         c.Consumer.AckWait,
		"lease ttl":        c.Consumer.LeaseTTL,
		"shutdown timeout": c.Consumer.ShutdownTimeout,
	} {
		if d < time.Second {
			errs = append(errs, fmt.Errorf("%s must be at least 1s", name))
		}
	}
	if c.ReplicaName == "" || len(c.ReplicaName) > events.MaxNameLength || strings.ContainsFunc(c.ReplicaName, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		errs = append(errs, fmt.Errorf("replica name must be 1 to %d printable characters", events.MaxNameLength))
	}
	return errors.Join(errs...)
}

// defaultReplicaName is the hostname plus a random suffix, so two processes
// on one host (or a restarted pod) never share a lease holder name.
func defaultReplicaName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "fetcher"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	name := host + "-" + hex.EncodeToString(b)
	if len(name) > events.MaxNameLength {
		name = name[len(name)-events.MaxNameLength:]
	}
	return name
}
