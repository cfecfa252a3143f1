package plaid_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// callPaths returns the API path each of clientCalls' calls first sends to.
func callPaths(t *testing.T) map[string]string {
	t.Helper()
	capture := &captureTransport{}
	c, err := plaid.NewClient(plaid.Config{BaseURL: "https://sandbox.plaid.com", ClientID: "id", Secret: "s", HTTPClient: &http.Client{Transport: capture}, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	paths := make(map[string]string)
	for name, call := range clientCalls(c) {
		call(context.Background())
		reqs := capture.take()
		if len(reqs) == 0 {
			t.Fatalf("%s sent nothing", name)
		}
		paths[name] = reqs[0].req.URL.Path
	}
	return paths
}

// TestErrorsNeverContainTokens fails every method three ways — a Plaid
// error whose texts quote the request's token and our secret (Plaid does not
// do that, but nothing stops a proxy or a future message), Plaid's own
// answer to our wrong secret, and no answer at all — and requires that no
// error string contains a token or the secret, while the Plaid errors still
// carry Plaid's request_id.
func TestErrorsNeverContainTokens(t *testing.T) {
	secrets := []string{testAccessToken, testProcessorToken, testPublicToken, plaidsim.DefaultSecret, "wrong-secret-value"}
	echo := "token " + testAccessToken + " processor " + testProcessorToken + " public " + testPublicToken + " secret " + plaidsim.DefaultSecret
	paths := callPaths(t)

	check := func(t *testing.T, err error, wantPlaid bool) {
		t.Helper()
		if err == nil {
			t.Fatal("call succeeded, want an error")
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %q contains %q", err, s)
			}
		}
		var perr *plaid.Error
		if errors.As(err, &perr) != wantPlaid {
			t.Fatalf("error %v: *plaid.Error %v, want %v", err, !wantPlaid, wantPlaid)
		}
		if wantPlaid && (perr.RequestID == "" || !strings.Contains(err.Error(), perr.RequestID)) {
			t.Errorf("error %q lacks Plaid's request_id", err)
		}
	}

	t.Run("Plaid error quoting them", func(t *testing.T) {
		sim, client := setup(t, plaidsim.DefaultSecret, noRetries)
		for name, call := range clientCalls(client) {
			t.Run(name, func(t *testing.T) {
				inject(t, sim, paths[name], plaidsim.Fault{Status: 400, Error: &plaidsim.PlaidError{
					ErrorType: "INVALID_INPUT", ErrorCode: "INVALID_ACCESS_TOKEN", ErrorMessage: echo,
					DisplayMessage: &echo, SuggestedAction: &echo,
				}})
				err := call(context.Background())
				check(t, err, true)
				var perr *plaid.Error
				if errors.As(err, &perr) && (!strings.Contains(perr.ErrorMessage, "[redacted]") ||
					strings.Contains(*perr.DisplayMessage, plaidsim.DefaultSecret) || strings.Contains(*perr.SuggestedAction, testAccessToken)) {
					t.Errorf("got message %q, display %q, suggested %q; want the injected texts, redacted",
						perr.ErrorMessage, *perr.DisplayMessage, *perr.SuggestedAction)
				}
			})
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		_, client := setup(t, "wrong-secret-value", noRetries)
		for name, call := range clientCalls(client) {
			t.Run(name, func(t *testing.T) {
				err := call(context.Background())
				check(t, err, true)
				if !plaid.IsInvalidAPIKeys(err) {
					t.Errorf("error = %v, want INVALID_API_KEYS", err)
				}
			})
		}
	})
	t.Run("no answer", func(t *testing.T) {
		closed := httptest.NewServer(http.NotFoundHandler())
		closed.Close()
		client, err := plaid.NewClient(plaid.Config{BaseURL: closed.URL, ClientID: "id", Secret: plaidsim.DefaultSecret, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		for name, call := range clientCalls(client) {
			t.Run(name, func(t *testing.T) {
				err := call(context.Background())
				check(t, err, false)
				if !errors.Is(err, plaid.ErrTransport) {
					t.Errorf("error = %v, want a transport failure", err)
				}
			})
		}
	})
}
