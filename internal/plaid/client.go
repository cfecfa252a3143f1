package plaid

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// APIVersion is the Plaid API version every request asks for in the
// Plaid-Version header. Without it Plaid would use the version set in the
// Dashboard, so pinning it keeps responses stable across Dashboard changes.
const APIVersion = "2020-09-14"

// Plaid's two environments. Items, access tokens and webhook verification keys
// are specific to one environment.
const (
	SandboxURL    = "https://sandbox.plaid.com"
	ProductionURL = "https://production.plaid.com"
)

// maxResponseBytes caps how much of a response body is read. A
// /transactions/sync page of 500 transactions is a few hundred KiB; the cap
// only stops a broken or hostile server from exhausting memory.
const maxResponseBytes = 10 << 20

// BaseURLFor returns the API base URL of a Plaid environment, "sandbox" or
// "production". Any other name is an error.
func BaseURLFor(env string) (string, error) {
	switch env {
	case "sandbox":
		return SandboxURL, nil
	case "production":
		return ProductionURL, nil
	default:
		return "", fmt.Errorf("plaid: unknown environment %q (want sandbox or production)", env)
	}
}

// Config configures a Client.
type Config struct {
	// BaseURL is the API root, e.g. SandboxURL, or a simulator's URL.
	// Required; http or https, without credentials, query or fragment.
	BaseURL string
	// ClientID is the Plaid client_id. Required.
	ClientID string
	// Secret is the Plaid secret of BaseURL's environment. Required. It is
	// sent only in the PLAID-SECRET header and never logged or put in errors.
	Secret string
	// HTTPClient sends the requests. Nil means a client with its own copy of
	// http.DefaultTransport and no overall timeout (every attempt has one,
	// see Timeouts). The Client uses a copy whose redirect policy is "never
	// follow": Plaid does not redirect, and following one would forward
	// PLAID-SECRET to wherever it points.
	HTTPClient *http.Client

	// Timeouts overrides, per API path (e.g. "/transactions/refresh"), how
	// long one attempt may take. The defaults: 60 s for the three refresh
	// endpoints (Plaid: "typically less than 10 seconds, but occasionally up
	// to 30 seconds or more"), 30 s for sync, get, recurring and the sandbox
	// calls that create data, 15 s for the rest. A ctx with an earlier
	// deadline wins; ctx also bounds the whole call, retries included.
	Timeouts map[string]time.Duration

	// MaxAttempts bounds the attempts per call, the first included; 0 means
	// 4, and 1 turns retries off. Which failures are retried is described on
	// Client.
	MaxAttempts int
	// InitialBackoff is the pause before the first retry; 0 means 250 ms.
	// Each later pause doubles, randomized by ±50 %, and is capped by
	// MaxBackoff.
	InitialBackoff time.Duration
	// MaxBackoff caps every pause between attempts; 0 means 5 s. A
	// Retry-After longer than this ends the retries at once (the *Error
	// carries it in RetryAfter, for the caller to schedule its own retry).
	MaxBackoff time.Duration

	// OnRequest, if set, is called after every HTTP attempt, from the
	// calling goroutine, e.g. to count requests by endpoint and status
	// class. It must be safe for concurrent use and quick.
	OnRequest func(RequestInfo)
}

// RequestInfo describes one HTTP attempt, for Config.OnRequest.
type RequestInfo struct {
	// Endpoint is the API path, e.g. "/transactions/sync": a small fixed
	// set, fit for a metric label.
	Endpoint string
	// Attempt is 1 for the first attempt of a call, 2 for its first retry.
	Attempt int
	// Status is the HTTP status, 0 if no answer arrived.
	Status int
	// Err is nil for a 200 that decoded; otherwise the attempt's error
	// (an *Error, or one wrapping ErrTransport, …).
	Err error
	// Duration is the attempt's time, from sending to decoding the body.
	Duration time.Duration
}

// StatusClass returns "2xx", "3xx", "4xx" or "5xx" for Status, or "error"
// when no answer arrived: a bounded label value.
func (r RequestInfo) StatusClass() string {
	switch {
	case r.Status >= 200 && r.Status < 600:
		return strconv.Itoa(r.Status/100) + "xx"
	default:
		return "error"
	}
}

// Retry defaults; see Config.
const (
	defaultMaxAttempts    = 4
	defaultInitialBackoff = 250 * time.Millisecond
	defaultMaxBackoff     = 5 * time.Second
)

// String describes c without its secret, so that printing a Config with %v
// cannot leak it.
func (c Config) String() string {
	return fmt.Sprintf("plaid.Config{BaseURL: %q, ClientID: %q, Secret: [redacted]}", c.BaseURL, c.ClientID)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

// LogValue logs c without its secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", c.BaseURL),
		slog.String("client_id", c.ClientID),
		slog.String("secret", "[redacted]"),
	)
}

// Client calls the Plaid API. It is safe for concurrent use.
//
// Each method makes one API call: up to Config.MaxAttempts HTTP attempts,
// each bounded by the endpoint's timeout, all bounded by ctx. Failures are
// retried after a capped, jittered exponential pause when they are
// transient and a retry cannot do harm:
//
//   - HTTP 429 (rate limited: Plaid did not process the request) is retried
//     for every endpoint, honouring Retry-After if Plaid sends one.
//     CREDITS_EXHAUSTED, also a 429, is not: waiting does not refill it.
//   - HTTP 5xx and lost answers (network errors, attempt timeouts, truncated
//     bodies) are retried only for calls that read or are otherwise safe to
//     repeat: sync, get, recurring get, /item/get,
//     /webhook_verification_key/get and /sandbox/item/fire_webhook.
//   - Calls that are billed or change state — the three refresh endpoints,
//     /item/remove, /item/public_token/exchange, /processor/token/create,
//     /sandbox/public_token/create and /sandbox/transactions/create — are not
//     retried after a 5xx or a lost answer, since Plaid may have acted on
//     them; only 429s and connections that could not be opened at all (the
//     request never left) are retried.
//   - Every other error (4xx) is returned at once.
//
// A retry never starts if ctx is done or its deadline would pass during the
// pause. The error returned is the last attempt's; Classify says what to do
// with it.
type Client struct {
	baseURL        string
	clientID       string
	secret         string
	http           *http.Client
	timeouts       map[string]time.Duration
	maxAttempts    int
	initialBackoff time.Duration
	maxBackoff     time.Duration
	onRequest      func(RequestInfo)
}

// NewClient validates cfg and returns a Client. It does not contact Plaid.
func NewClient(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	switch {
	case cfg.BaseURL == "":
		return nil, errors.New("plaid: base URL is required")
	case err != nil:
		return nil, fmt.Errorf("plaid: base URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("plaid: base URL %q: scheme must be http or https", cfg.BaseURL)
	case u.Host == "":
		return nil, fmt.Errorf("plaid: base URL %q has no host", cfg.BaseURL)
	case u.User != nil:
		return nil, errors.New("plaid: base URL must not contain credentials")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("plaid: base URL %q must not have a query or fragment", cfg.BaseURL)
	}
	if cfg.ClientID == "" {
		return nil, errors.New("plaid: client ID is required")
	}
	if cfg.Secret == "" {
		return nil, errors.New("plaid: secret is required")
	}
	if cfg.MaxAttempts < 0 || cfg.InitialBackoff < 0 || cfg.MaxBackoff < 0 {
		return nil, errors.New("plaid: MaxAttempts, InitialBackoff and MaxBackoff must not be negative")
	}
	for path, d := range cfg.Timeouts {
		if _, ok := endpoints[path]; !ok {
			return nil, fmt.Errorf("plaid: Timeouts: unknown endpoint %q", path)
		}
		if d <= 0 {
			return nil, fmt.Errorf("plaid: Timeouts: %s: timeout must be positive", path)
		}
	}

	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else if t, ok := http.DefaultTransport.(*http.Transport); ok {
		hc.Transport = t.Clone()
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	c := &Client{
		baseURL:        strings.TrimRight(cfg.BaseURL, "/"),
		clientID:       cfg.ClientID,
		secret:         cfg.Secret,
		http:           &hc,
		timeouts:       make(map[string]time.Duration, len(endpoints)),
		maxAttempts:    cmp.Or(cfg.MaxAttempts, defaultMaxAttempts),
		initialBackoff: cmp.Or(cfg.InitialBackoff, defaultInitialBackoff),
		maxBackoff:     cmp.Or(cfg.MaxBackoff, defaultMaxBackoff),
		onRequest:      cfg.OnRequest,
	}
	for path, ep := range endpoints {
		c.timeouts[path] = cmp.Or(cfg.Timeouts[path], ep.timeout)
	}
	return c, nil
}

// call POSTs in as JSON to ep and decodes a 200 answer into out, retrying as
// described on Client. sensitive lists the credentials in the body (tokens);
// they and the secret are scrubbed from any text the server sends back.
//
// Errors: *Error for a non-200 answer; an error wrapping ErrTransport when no
// complete answer arrived; other errors for bugs on either side (request not
// encodable, 200 body not decodable or over the size cap). When more than one
// attempt was made, the last attempt's error is wrapped with the count.
func (c *Client) call(ctx context.Context, ep endpoint, in, out any, sensitive ...string) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("plaid %s: encode request: %w", ep.path, err)
	}
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     c.initialBackoff,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         c.maxBackoff,
	}
	bo.Reset()
	for attempt := 1; ; attempt++ {
		start := time.Now()
		status, err := c.attempt(ctx, ep, body, out, sensitive)
		if c.onRequest != nil {
			c.onRequest(RequestInfo{Endpoint: ep.path, Attempt: attempt, Status: status, Err: err, Duration: time.Since(start)})
		}
		if err == nil {
			return nil
		}
		wait, retry := c.retryDelay(ctx, ep, err, bo, attempt)
		if !retry {
			if attempt > 1 {
				return fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
			}
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up after %d attempts: %w)", err, attempt, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// retryDelay decides whether attempt's failure err is retried and after how
// long; see Client for the policy.
func (c *Client) retryDelay(ctx context.Context, ep endpoint, err error, bo backoff.BackOff, attempt int) (time.Duration, bool) {
	if attempt >= c.maxAttempts || ctx.Err() != nil || !retryable(ep, err) {
		return 0, false
	}
	wait := min(bo.NextBackOff(), c.maxBackoff)
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		if e.RetryAfter > c.maxBackoff {
			return 0, false
		}
		wait = max(wait, e.RetryAfter)
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= wait {
		return 0, false // the retry could not finish in time; report the real failure
	}
	return wait, true
}

// retryable reports whether err, one attempt's failure at ep, may be retried.
func retryable(ep endpoint, err error) bool {
	var e *Error
	if errors.As(err, &e) {
		switch {
		case e.HTTPStatus == http.StatusTooManyRequests:
			return e.Class() == ClassRetry
		case e.HTTPStatus >= 500:
			return ep.idempotent
		default:
			return false
		}
	}
	if errors.Is(err, ErrTransport) {
		return ep.idempotent || neverSent(err)
	}
	return false
}

// neverSent reports whether err means the connection could not be opened,
// so the request cannot have reached Plaid.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// attempt makes one HTTP request and returns its status (0 without answer).
func (c *Client) attempt(ctx context.Context, ep endpoint, body []byte, out any, sensitive []string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeouts[ep.path])
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+ep.path, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("plaid %s: build request: %w", ep.path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("PLAID-CLIENT-ID", c.clientID)
	req.Header.Set("PLAID-SECRET", c.secret)
	req.Header.Set("Plaid-Version", APIVersion)
	req.Header.Set("User-Agent", "plaidstream")

	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("plaid %s: %w: %w", ep.path, ErrTransport, err)
	}
	defer resp.Body.Close()

	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("plaid %s: read response: %w: %w", ep.path, ErrTransport, err)
	}
	if len(raw) > maxResponseBytes {
		return resp.StatusCode, fmt.Errorf("plaid %s: response body exceeds %d bytes", ep.path, maxResponseBytes)
	}

	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, c.newError(ep.path, resp, raw, sensitive)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return resp.StatusCode, fmt.Errorf("plaid %s: decode response: %w", ep.path, err)
	}
	return resp.StatusCode, nil
}

// newError turns a non-200 response into an *Error. A body that is not a
// PlaidError still yields an *Error, carrying the status and
// ErrorCodeUnexpectedResponse; its content is not quoted, since it could be
// anything (an HTML page from a proxy, an echo of the request).
func (c *Client) newError(path string, resp *http.Response, raw []byte, sensitive []string) *Error {
	e := &Error{}
	if err := json.Unmarshal(raw, e); err != nil || e.ErrorCode == "" {
		e = &Error{
			ErrorCode: ErrorCodeUnexpectedResponse,
			ErrorMessage: fmt.Sprintf("response is not a Plaid error (Content-Type %q, %d bytes)",
				resp.Header.Get("Content-Type"), len(raw)),
		}
	}
	e.HTTPStatus = resp.StatusCode
	e.Endpoint = path
	e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	redact := c.redactor(sensitive)
	for _, s := range []*string{&e.ErrorType, &e.ErrorCode, &e.ErrorMessage, &e.RequestID, e.DisplayMessage, e.SuggestedAction, e.ErrorCodeReason} {
		if s != nil {
			*s = redact(*s)
		}
	}
	return e
}

// tokenPattern matches anything shaped like a Plaid token
// ("access-sandbox-…", "processor-production-…", "public-…", "link-…").
var tokenPattern = regexp.MustCompile(`\b(?:access|processor|public|link)-(?:sandbox|development|production)-[0-9A-Za-z-]+`)

// redactor removes the secret, the request's tokens and anything shaped like
// a Plaid token from text that came from the server. Plaid does not echo
// them, but error text ends up in logs, so this costs nothing to guarantee.
func (c *Client) redactor(sensitive []string) func(string) string {
	pairs := []string{c.secret, redacted}
	for _, s := range sensitive {
		if s != "" {
			pairs = append(pairs, s, redacted)
		}
	}
	r := strings.NewReplacer(pairs...)
	return func(s string) string { return tokenPattern.ReplaceAllLiteralString(r.Replace(s), redacted) }
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date
// (RFC 9110 §10.2.3). Missing, malformed or past values give 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
