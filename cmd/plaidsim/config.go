package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"

	"github.com/plaidstream/plaidstream/internal/envflag"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// Config is every plaidsim setting. Each field is a flag whose default comes
// from the environment variable named in its comment.
type Config struct {
	Listen     string     // PLAIDSIM_LISTEN: address to serve Plaid's API and /sim/ on
	Seed       int64      // PLAIDSIM_SEED: makes generated items reproducible
	TimeFactor float64    // PLAIDSIM_TIME_FACTOR: divides every simulated delay
	RateLimits bool       // PLAIDSIM_RATE_LIMITS: enforce Plaid's Sandbox rate limits
	ClientID   string     // PLAIDSIM_CLIENT_ID: the client_id the simulator accepts
	Secret     string     // PLAIDSIM_SECRET: the secret it accepts; never logged
	LogLevel   slog.Level // PLAIDSIM_LOG_LEVEL: debug, info, warn, error
}

const usageText = `Usage: plaidsim [flags]

plaidsim is a faithful, stateful, in-memory Plaid for tests and demos. Code
written against Plaid's Sandbox works against it unchanged: it serves the
Sandbox flow (/sandbox/public_token/create with user_good and
user_transactions_dynamic, /item/public_token/exchange,
/processor/token/create, /sandbox/item/fire_webhook,
/sandbox/transactions/create, /item/remove), the transactions endpoints
(/transactions/sync, /transactions/get, /transactions/recurring/get,
/transactions/refresh and their processor and user variants), /item/get and
/webhook_verification_key/get, with Plaid's authentication, error bodies and
(optionally) rate limits.

Webhooks go out like Plaid's: a 2-space-indented JSON body with an ES256
Plaid-Verification JWT, retried on anything but a 200 after 30 s, 2 m, 8 m,
32 m, 2 h 8 m and 8 h 32 m (divided by --time-factor), each retry freshly
signed.

Beyond Plaid's API, a control API under /sim/ creates users and items of any
size, adds, changes, posts and removes transactions, defines recurring
streams, reads an item's ground truth, rotates and expires signing keys,
injects faults and lists every webhook delivery (GET /sim/webhooks). It is
documented, with examples, in docs/plaidsim.md. It needs no credentials and
makes plaidsim POST to any URL it is given: keep --listen on loopback or a
private network.

All state is in memory and is lost when plaidsim stops. Logs are JSON lines
on stdout. Every flag can also be set by the environment variable named
beside it.

Flags:
`

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet("plaidsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	e := envflag.New(fs, getenv)

	e.String(&cfg.Listen, "listen", "PLAIDSIM_LISTEN", "127.0.0.1:8600", "address to serve Plaid's API and /sim/ on (port 0: any free port)")
	e.Int64(&cfg.Seed, "seed", "PLAIDSIM_SEED", 1, "seed of generated item content: the same seed gives the same items")
	e.Float64(&cfg.TimeFactor, "time-factor", "PLAIDSIM_TIME_FACTOR", 1, "divide every simulated delay (webhook retries, item readiness) by this; 60 makes a minute a second")
	e.Bool(&cfg.RateLimits, "rate-limits", "PLAIDSIM_RATE_LIMITS", false, "enforce Plaid's Sandbox rate limits per item and per client (429 with Plaid's RATE_LIMIT_EXCEEDED errors)")
	e.String(&cfg.ClientID, "client-id", "PLAIDSIM_CLIENT_ID", plaidsim.DefaultClientID, "the client_id plaidsim accepts")
	e.String(&cfg.Secret, "secret", "PLAIDSIM_SECRET", plaidsim.DefaultSecret, "the secret plaidsim accepts")
	var level string
	e.String(&level, "log-level", "PLAIDSIM_LOG_LEVEL", "info", "log level: debug (one line per request), info, warn or error")

	if err := e.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, usageError(err)
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return cfg, usageError(fmt.Errorf("log level %q: want debug, info, warn or error", level))
	}
	if err := cfg.validate(); err != nil {
		return cfg, usageError(err)
	}
	return cfg, nil
}

func (c *Config) validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("listen address must not be empty"))
	}
	// NaN fails the comparison too.
	if !(c.TimeFactor > 0) || math.IsInf(c.TimeFactor, 0) {
		errs = append(errs, fmt.Errorf("time factor %v: want a positive finite number", c.TimeFactor))
	}
	if c.ClientID == "" || c.Secret == "" {
		errs = append(errs, errors.New("client id and secret must not be empty"))
	}
	return errors.Join(errs...)
}
