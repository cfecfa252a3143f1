package plaid_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// attempts records Config.OnRequest calls.
type attempts struct {
	mu    sync.Mutex
	infos []plaid.RequestInfo
}

func (a *attempts) record(c *plaid.Config) {
	c.OnRequest = func(i plaid.RequestInfo) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.infos = append(a.infos, i)
	}
}

// statuses returns the HTTP status of every attempt so far.
func (a *attempts) statuses() []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []int
	for _, i := range a.infos {
		out = append(out, i.Status)
	}
	return out
}

func (a *attempts) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.infos = nil
}

func (a *attempts) all() []plaid.RequestInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]plaid.RequestInfo(nil), a.infos...)
}

// TestRetriesAgainstSim injects Plaid's own failures into the simulator and
// checks what the client retries, through /webhook_verification_key/get (a
// read: 429, 5xx and lost answers are all retried).
func TestRetriesAgainstSim(t *testing.T) {
	const keyPath = "/webhook_verification_key/get"
	creditsExhausted := &plaidsim.PlaidError{ErrorType: "RATE_LIMIT_EXCEEDED", ErrorCode: "CREDITS_EXHAUSTED", ErrorMessage: "credits exhausted"}
	tests := []struct {
		name         string
		faults       []plaidsim.Fault
		maxAttempts  int
		wantStatuses []int
		wantErr      bool
		wantClass    plaid.Class
	}{
		{
			name:         "three 500s then success",
			faults:       []plaidsim.Fault{{Count: 3, Status: 500}},
			wantStatuses: []int{500, 500, 500, 200},
		},
		{
			name:         "429 then 503 then success",
			faults:       []plaidsim.Fault{{Status: 429}, {Status: 503}},
			wantStatuses: []int{429, 503, 200},
		},
		{
			name:         "attempts run out",
			faults:       []plaidsim.Fault{{Count: 4, Status: 429}},
			wantStatuses: []int{429, 429, 429, 429},
			wantErr:      true, wantClass: plaid.ClassRetry,
		},
		{
			name:         "MaxAttempts 2",
			faults:       []plaidsim.Fault{{Count: 4, Status: 500}},
			maxAttempts:  2,
			wantStatuses: []int{500, 500},
			wantErr:      true, wantClass: plaid.ClassRetry,
		},
		{
			name:         "CREDITS_EXHAUSTED is not retried",
			faults:       []plaidsim.Fault{{Status: 429, Error: creditsExhausted}},
			wantStatuses: []int{429},
			wantErr:      true, wantClass: plaid.ClassBug,
		},
		{
			name:         "a lost answer is retried",
			faults:       []plaidsim.Fault{{Delay: time.Minute}},
			wantStatuses: []int{0, 200},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rec attempts
			sim, client := setup(t, plaidsim.DefaultSecret, rec.record, func(c *plaid.Config) {
				c.MaxAttempts = tc.maxAttempts
				c.Timeouts = map[string]time.Duration{keyPath: 200 * time.Millisecond}
			})
			for _, f := range tc.faults {
				sim.InjectFault(keyPath, f)
			}
			_, err := client.GetWebhookVerificationKey(context.Background(), sim.CurrentKeyID())
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %v", err, tc.wantErr)
			}
			if got := rec.statuses(); !reflect.DeepEqual(got, tc.wantStatuses) {
				t.Errorf("attempt statuses = %v, want %v", got, tc.wantStatuses)
			}
			if got := plaid.Classify(err); tc.wantErr && got != tc.wantClass {
				t.Errorf("Classify = %v, want %v", got, tc.wantClass)
			}
			var perr *plaid.Error
			if tc.wantErr && (!errors.As(err, &perr) || perr.RequestID == "" || !strings.Contains(err.Error(), perr.RequestID)) {
				t.Errorf("error %v does not carry Plaid's request_id", err)
			}
		})
	}
}

// TestOnRequestReportsEveryAttempt checks the hook's fields: endpoint label,
// attempt numbers, status classes, errors and durations.
func TestOnRequestReportsEveryAttempt(t *testing.T) {
	var rec attempts
	sim, client := setup(t, plaidsim.DefaultSecret, rec.record)
	sim.InjectFault("/webhook_verification_key/get", plaidsim.Fault{Status: 500})
	if _, err := client.GetWebhookVerificationKey(context.Background(), sim.CurrentKeyID()); err != nil {
		t.Fatal(err)
	}
	got := rec.all()
	if len(got) != 2 {
		t.Fatalf("got %d attempts, want 2", len(got))
	}
	tests := []struct {
		attempt    int
		class      string
		wantErr    bool
		statusCode int
	}{
		{attempt: 1, class: "5xx", wantErr: true, statusCode: 500},
		{attempt: 2, class: "2xx", statusCode: 200},
	}
	for i, tc := range tests {
		info := got[i]
		if info.Endpoint != "/webhook_verification_key/get" || info.Attempt != tc.attempt || info.Status != tc.statusCode ||
			info.StatusClass() != tc.class || (info.Err != nil) != tc.wantErr || info.Duration <= 0 {
			t.Errorf("attempt %d: got %+v (class %s), want endpoint /webhook_verification_key/get, attempt %d, status %d, class %s, error %v",
				i+1, info, info.StatusClass(), tc.attempt, tc.statusCode, tc.class, tc.wantErr)
		}
	}
}

// TestNoRetryWhenDeadlineTooNear: a retry that could not finish before ctx's
// deadline is not started; the caller gets Plaid's error at once instead of
// a context error later.
func TestNoRetryWhenDeadlineTooNear(t *testing.T) {
	var rec attempts
	sim, client := setup(t, plaidsim.DefaultSecret, rec.record, func(c *plaid.Config) {
		c.InitialBackoff, c.MaxBackoff = 2*time.Second, 4*time.Second
	})
	sim.InjectFault("/webhook_verification_key/get", plaidsim.Fault{Count: 4, Status: 500})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := client.GetWebhookVerificationKey(ctx, sim.CurrentKeyID())
	var perr *plaid.Error
	if !errors.As(err, &perr) || perr.HTTPStatus != 500 {
		t.Fatalf("error = %v, want Plaid's 500", err)
	}
	if n := len(rec.all()); n != 1 {
		t.Errorf("attempts = %d, want 1", n)
	}
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("returned after %v, want at once", d)
	}
}

// TestRetryPauseStopsOnCancel: cancelling ctx during a pause ends the call
// with the last attempt's error, still classifiable.
func TestRetryPauseStopsOnCancel(t *testing.T) {
	sim, client := setup(t, plaidsim.DefaultSecret, func(c *plaid.Config) {
		c.InitialBackoff, c.MaxBackoff = time.Minute, time.Minute
	})
	sim.InjectFault("/webhook_verification_key/get", plaidsim.Fault{Count: 4, Status: 503})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := client.GetWebhookVerificationKey(ctx, sim.CurrentKeyID())
	var perr *plaid.Error
	if !errors.As(err, &perr) || perr.HTTPStatus != 503 || !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want Plaid's 503 and context.Canceled", err)
	}
	if got := plaid.Classify(err); got != plaid.ClassRetry {
		t.Errorf("Classify = %v, want retry", got)
	}
}

// TestBilledCallsRetryOnlyWhenNeverSent: a refresh to a port nobody listens
// on is retried (the request never left), up to MaxAttempts. What a billed
// call does after a 5xx or a lost answer is tested against the simulator's
// refresh endpoint.
func TestBilledCallsRetryOnlyWhenNeverSent(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	var rec attempts
	cfg := plaid.Config{BaseURL: closed.URL, ClientID: "id", Secret: "s", InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond}
	rec.record(&cfg)
	client, err := plaid.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.TransactionsRefresh(context.Background(), plaid.TransactionsRefreshRequest{AccessToken: testAccessToken})
	if !errors.Is(err, plaid.ErrTransport) {
		t.Fatalf("error = %v, want a transport failure", err)
	}
	if got := rec.statuses(); !reflect.DeepEqual(got, []int{0, 0, 0, 0}) {
		t.Errorf("attempt statuses = %v, want four attempts without answer", got)
	}
}
