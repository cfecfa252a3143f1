package plaid

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name, header string
		want         time.Duration
	}{
		{name: "absent", header: "", want: 0},
		{name: "seconds", header: "3", want: 3 * time.Second},
		{name: "seconds with space", header: " 2 ", want: 2 * time.Second},
		{name: "zero", header: "0", want: 0},
		{name: "negative", header: "-5", want: 0},
		{name: "huge is capped at a day", header: "99999999999", want: 24 * time.Hour},
		{name: "HTTP date", header: "Sat, 07 Mar 2026 12:00:10 GMT", want: 10 * time.Second},
		{name: "HTTP date in the past", header: "Sat, 07 Mar 2026 11:00:00 GMT", want: 0},
		{name: "garbage", header: "soon", want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseRetryAfter(tc.header, now); got != tc.want {
				t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.header, got, tc.want)
			}
		})
	}
}

// TestRetryPolicy checks which failures are retried for which endpoint, and
// how Retry-After and ctx bound the pause.
func TestRetryPolicy(t *testing.T) {
	c, err := NewClient(Config{BaseURL: SandboxURL, ClientID: "id", Secret: "s", MaxAttempts: 4, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	read, billed := epTransactionsSync, epTransactionsRefresh
	lost := fmt.Errorf("plaid x: %w: %w", ErrTransport, &url.Error{Op: "Post", URL: "u", Err: context.DeadlineExceeded})
	refused := fmt.Errorf("plaid x: %w: %w", ErrTransport, &url.Error{Op: "Post", URL: "u", Err: &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("connection refused")}})
	rateLimited := &Error{HTTPStatus: 429, ErrorType: "RATE_LIMIT_EXCEEDED", ErrorCode: "TRANSACTIONS_SYNC_LIMIT"}
	tests := []struct {
		name      string
		ep        endpoint
		err       error
		attempt   int
		ctxBudget time.Duration // 0: no deadline
		wantRetry bool
		wantMin   time.Duration
	}{
		{name: "429 read", ep: read, err: rateLimited, attempt: 1, wantRetry: true, wantMin: 50 * time.Millisecond},
		{name: "429 billed: Plaid did not process it", ep: billed, err: rateLimited, attempt: 1, wantRetry: true},
		{name: "CREDITS_EXHAUSTED is a 429 that waiting does not fix", ep: read, err: &Error{HTTPStatus: 429, ErrorType: "RATE_LIMIT_EXCEEDED", ErrorCode: "CREDITS_EXHAUSTED"}, attempt: 1},
		{name: "500 read", ep: read, err: &Error{HTTPStatus: 500, ErrorType: "API_ERROR", ErrorCode: "INTERNAL_SERVER_ERROR"}, attempt: 1, wantRetry: true},
		{name: "500 billed", ep: billed, err: &Error{HTTPStatus: 500, ErrorType: "API_ERROR", ErrorCode: "INTERNAL_SERVER_ERROR"}, attempt: 1},
		{name: "503 non-Plaid body, read", ep: read, err: &Error{HTTPStatus: 503, ErrorCode: ErrorCodeUnexpectedResponse}, attempt: 1, wantRetry: true},
		{name: "400", ep: read, err: &Error{HTTPStatus: 400, ErrorType: "ITEM_ERROR", ErrorCode: "ITEM_LOGIN_REQUIRED"}, attempt: 1},
		{name: "institution down is retried later, not now", ep: read, err: &Error{HTTPStatus: 400, ErrorType: "INSTITUTION_ERROR", ErrorCode: "INSTITUTION_DOWN"}, attempt: 1},
		{name: "lost answer, read", ep: read, err: lost, attempt: 1, wantRetry: true},
		{name: "lost answer, billed", ep: billed, err: lost, attempt: 1},
		{name: "connection refused, billed: never sent", ep: billed, err: refused, attempt: 1, wantRetry: true},
		{name: "not sendable", ep: read, err: fmt.Errorf("plaid x: encode request: boom"), attempt: 1},
		{name: "attempts used up", ep: read, err: rateLimited, attempt: 4},
		{name: "Retry-After within MaxBackoff", ep: read, err: &Error{HTTPStatus: 429, ErrorCode: "RATE_LIMIT", RetryAfter: 3 * time.Second}, attempt: 1, wantRetry: true, wantMin: 3 * time.Second},
		{name: "Retry-After beyond MaxBackoff", ep: read, err: &Error{HTTPStatus: 429, ErrorCode: "RATE_LIMIT", RetryAfter: 6 * time.Second}, attempt: 1},
		{name: "deadline before the pause ends", ep: read, err: &Error{HTTPStatus: 429, ErrorCode: "RATE_LIMIT", RetryAfter: 3 * time.Second}, attempt: 1, ctxBudget: time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.ctxBudget > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxBudget)
				defer cancel()
			}
			bo := &backoff.ExponentialBackOff{InitialInterval: c.initialBackoff, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: c.maxBackoff}
			bo.Reset()
			wait, retry := c.retryDelay(ctx, tc.ep, tc.err, bo, tc.attempt)
			if retry != tc.wantRetry {
				t.Fatalf("retry = %v, want %v", retry, tc.wantRetry)
			}
			if retry && (wait < tc.wantMin || wait > c.maxBackoff) {
				t.Errorf("wait = %v, want between %v and %v", wait, tc.wantMin, c.maxBackoff)
			}
		})
	}
}

func TestRetryPauseIsCappedAndGrows(t *testing.T) {
	c, err := NewClient(Config{BaseURL: SandboxURL, ClientID: "id", Secret: "s", MaxAttempts: 100, InitialBackoff: 250 * time.Millisecond, MaxBackoff: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	bo := &backoff.ExponentialBackOff{InitialInterval: c.initialBackoff, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: c.maxBackoff}
	bo.Reset()
	err = &Error{HTTPStatus: 503, ErrorType: "API_ERROR", ErrorCode: "PLANNED_MAINTENANCE"}
	var waits []time.Duration
	for attempt := 1; attempt < 20; attempt++ {
		wait, ok := c.retryDelay(context.Background(), epItemGet, err, bo, attempt)
		if !ok {
			t.Fatalf("attempt %d not retried", attempt)
		}
		if wait > 5*time.Second {
			t.Fatalf("attempt %d: wait %v beyond MaxBackoff 5s", attempt, wait)
		}
		waits = append(waits, wait)
	}
	if first := waits[0]; first < 125*time.Millisecond || first > 375*time.Millisecond {
		t.Errorf("first wait = %v, want 250ms ± 50%%", first)
	}
	if last := waits[len(waits)-1]; last < 2500*time.Millisecond {
		t.Errorf("wait after 19 attempts = %v, want near the 5s cap", last)
	}
}

func TestNewClientRejectsBadRetryConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "negative attempts", cfg: Config{MaxAttempts: -1}},
		{name: "negative backoff", cfg: Config{InitialBackoff: -time.Second}},
		{name: "unknown timeout path", cfg: Config{Timeouts: map[string]time.Duration{"/transactions/synk": time.Second}}},
		{name: "zero timeout", cfg: Config{Timeouts: map[string]time.Duration{"/transactions/sync": 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.BaseURL, cfg.ClientID, cfg.Secret = SandboxURL, "id", "s"
			if _, err := NewClient(cfg); err == nil {
				t.Error("NewClient succeeded, want error")
			}
		})
	}
}

// TestEndpointTimeouts pins the attempt timeouts: refresh calls allow at
// least 30 s (Plaid: "occasionally up to 30 seconds or more"), the others
// 15–30 s, and Config.Timeouts overrides.
func TestEndpointTimeouts(t *testing.T) {
	c, err := NewClient(Config{BaseURL: SandboxURL, ClientID: "id", Secret: "s", Timeouts: map[string]time.Duration{"/item/get": 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want time.Duration
	}{
		{"/transactions/sync", 30 * time.Second},
		{"/processor/transactions/sync", 30 * time.Second},
		{"/transactions/get", 30 * time.Second},
		{"/transactions/recurring/get", 30 * time.Second},
		{"/processor/transactions/recurring/get", 30 * time.Second},
		{"/transactions/refresh", 60 * time.Second},
		{"/processor/transactions/refresh", 60 * time.Second},
		{"/user/transactions/refresh", 60 * time.Second},
		{"/webhook_verification_key/get", 15 * time.Second},
		{"/item/get", 2 * time.Second}, // overridden
		{"/item/remove", 15 * time.Second},
		{"/item/public_token/exchange", 15 * time.Second},
		{"/processor/token/create", 15 * time.Second},
		{"/sandbox/public_token/create", 30 * time.Second},
		{"/sandbox/item/fire_webhook", 15 * time.Second},
		{"/sandbox/transactions/create", 30 * time.Second},
	}
	if len(tests) != len(endpoints) {
		t.Errorf("table has %d endpoints, the client %d", len(tests), len(endpoints))
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			if got := c.timeouts[tc.path]; got != tc.want {
				t.Errorf("timeout = %v, want %v", got, tc.want)
			}
		})
	}
}
