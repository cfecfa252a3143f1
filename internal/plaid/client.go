package plaid

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
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

const (
	// defaultTimeout bounds one request when the caller supplies no
	// http.Client. Plaid says /transactions/refresh "typically" answers in
	// under 10 s but "occasionally up to 30 seconds or more", so the bound
	// is well above that; callers bound individual calls with ctx.
	defaultTimeout = 60 * time.Second

	// maxResponseBytes caps how much of a response body is read. A
	// /transactions/sync page of 500 transactions is a few hundred KiB; the
	// cap only stops a broken or hostile server from exhausting memory.
	maxResponseBytes = 10 << 20
)

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
	// HTTPClient sends the requests. Nil means a client with a 60 s timeout.
	// The Client uses a copy whose redirect policy is "never follow": Plaid
	// does not redirect, and following one would forward PLAID-SECRET to
	// wherever it points.
	HTTPClient *http.Client
}

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
type Client struct {
	baseURL  string
	clientID string
	secret   string
	http     *http.Client
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

	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		hc = http.Client{Timeout: defaultTimeout}
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			hc.Transport = t.Clone()
		}
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	return &Client{
		baseURL:  strings.TrimRight(cfg.BaseURL, "/"),
		clientID: cfg.ClientID,
		secret:   cfg.Secret,
		http:     &hc,
	}, nil
}

// call POSTs in as JSON to path and decodes a 200 answer into out.
//
// It makes exactly one attempt. It is the single place requests are built, so
// retries, metrics and logging of request ids can wrap it later.
//
// Errors: *Error for any non-200 answer; an error wrapping ErrTransport when
// no complete answer arrived; other errors for bugs on either side (request
// not encodable, 200 body not decodable or over the size cap).
func (c *Client) call(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("plaid %s: encode request: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("plaid %s: build request: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("PLAID-CLIENT-ID", c.clientID)
	req.Header.Set("PLAID-SECRET", c.secret)
	req.Header.Set("Plaid-Version", APIVersion)
	req.Header.Set("User-Agent", "plaidstream")

	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("plaid %s: %w: %w", path, ErrTransport, err)
	}
	defer resp.Body.Close()

	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("plaid %s: read response: %w: %w", path, ErrTransport, err)
	}
	if len(raw) > maxResponseBytes {
		return fmt.Errorf("plaid %s: response body exceeds %d bytes", path, maxResponseBytes)
	}

	if resp.StatusCode != http.StatusOK {
		return c.newError(path, resp, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("plaid %s: decode response: %w", path, err)
	}
	return nil
}

// newError turns a non-200 response into an *Error. A body that is not a
// PlaidError still yields an *Error, carrying the status and
// ErrorCodeUnexpectedResponse; its content is not quoted, since it could be
// anything (an HTML page from a proxy, an echo of the request).
func (c *Client) newError(path string, resp *http.Response, raw []byte) *Error {
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
	e.ErrorMessage = c.redact(e.ErrorMessage)
	if e.DisplayMessage != nil {
		dm := c.redact(*e.DisplayMessage)
		e.DisplayMessage = &dm
	}
	return e
}

// redact removes the secret from text that came from the server. Plaid does
// not echo secrets, but error text ends up in logs, so this costs nothing to
// guarantee.
func (c *Client) redact(s string) string {
	if c.secret == "" {
		return s
	}
	return strings.ReplaceAll(s, c.secret, "[redacted]")
}
