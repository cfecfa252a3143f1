package plaid_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/plaidstream/plaidstream/internal/plaid"
)

// captureTransport records each request the client builds and answers with
// a transport error: nothing plays Plaid, the requests are only inspected.
type captureTransport struct {
	mu   sync.Mutex
	reqs []captured
}

type captured struct {
	req  *http.Request
	body []byte
}

var errCaptured = errors.New("captured, not sent")

func (c *captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.reqs = append(c.reqs, captured{req: r.Clone(context.Background()), body: body})
	c.mu.Unlock()
	return nil, errCaptured
}

func (c *captureTransport) take() []captured {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.reqs
	c.reqs = nil
	return out
}

const (
	testAccessToken    = "access-sandbox-8ab976e6-64bc-4b38-98f7-731e7a349970"
	testProcessorToken = "processor-sandbox-0asd1-a92nc"
	testPublicToken    = "public-sandbox-b0e2c4ee-a763-4df5-bfe9-46a46bce993d"
)

// clientCalls returns one invocation of every request-sending method of c,
// by name, with the tokens above. Those with "full" in the name set every
// optional field the client models, the others only the required ones.
func clientCalls(c *plaid.Client) map[string]func(context.Context) error {
	yes := true
	at := plaid.AccessToken(testAccessToken)
	pt := plaid.ProcessorToken(testProcessorToken)
	syncOpts := &plaid.TransactionsSyncRequestOptions{
		IncludeOriginalDescription:     &yes,
		PersonalFinanceCategoryVersion: "v2",
		DaysRequested:                  730,
		AccountID:                      "BxBXxLj1m4HMXBm9WZZmCWVbPjX16EHwv99vp",
	}
	return map[string]func(context.Context) error{
		"TransactionsSync": func(ctx context.Context) error {
			_, err := c.TransactionsSync(ctx, plaid.TransactionsSyncRequest{AccessToken: at})
			return err
		},
		"TransactionsSync full": func(ctx context.Context) error {
			_, err := c.TransactionsSync(ctx, plaid.TransactionsSyncRequest{AccessToken: at, Cursor: "tVUUL15lYQN5rBnfDIc1I8xudpGdIlw9nsgeXWvhOfkECvUeR663i3Dt1uf/94S8ASkitgLcIiOSqNwzzp+bh89kirazha5vuZHBb2ZA5NtCDkkV", Count: 500, Options: syncOpts})
			return err
		},
		"ProcessorTransactionsSync": func(ctx context.Context) error {
			_, err := c.ProcessorTransactionsSync(ctx, plaid.ProcessorTransactionsSyncRequest{ProcessorToken: pt})
			return err
		},
		"ProcessorTransactionsSync full": func(ctx context.Context) error {
			_, err := c.ProcessorTransactionsSync(ctx, plaid.ProcessorTransactionsSyncRequest{ProcessorToken: pt, Cursor: "c1", Count: 1, Options: syncOpts})
			return err
		},
		"SyncTransactions": func(ctx context.Context) error {
			_, err := c.SyncTransactions(ctx, at, "", plaid.SyncOptions{})
			return err
		},
		"SyncProcessorTransactions full": func(ctx context.Context) error {
			_, err := c.SyncProcessorTransactions(ctx, pt, "c1", plaid.SyncOptions{Count: 250, Options: syncOpts})
			return err
		},
		"TransactionsGet": func(ctx context.Context) error {
			_, err := c.TransactionsGet(ctx, plaid.TransactionsGetRequest{AccessToken: at, StartDate: "2026-01-01", EndDate: "2026-03-01"})
			return err
		},
		"TransactionsGet full": func(ctx context.Context) error {
			_, err := c.TransactionsGet(ctx, plaid.TransactionsGetRequest{AccessToken: at, StartDate: "2026-01-01", EndDate: "2026-03-01",
				Options: &plaid.TransactionsGetRequestOptions{AccountIDs: []string{"a1", "a2"}, Count: 500, Offset: 1000, IncludeOriginalDescription: &yes, PersonalFinanceCategoryVersion: "v1", DaysRequested: 30}})
			return err
		},
		"TransactionsGetAll": func(ctx context.Context) error {
			_, err := c.TransactionsGetAll(ctx, plaid.TransactionsGetRequest{AccessToken: at, StartDate: "2026-01-01", EndDate: "2026-03-01"})
			return err
		},
		"TransactionsRecurringGet": func(ctx context.Context) error {
			_, err := c.TransactionsRecurringGet(ctx, plaid.TransactionsRecurringGetRequest{AccessToken: at})
			return err
		},
		"TransactionsRecurringGet full": func(ctx context.Context) error {
			_, err := c.TransactionsRecurringGet(ctx, plaid.TransactionsRecurringGetRequest{AccessToken: at, AccountIDs: []string{"a1"},
				Options: &plaid.TransactionsRecurringGetRequestOptions{PersonalFinanceCategoryVersion: "v2"}})
			return err
		},
		"ProcessorTransactionsRecurringGet": func(ctx context.Context) error {
			_, err := c.ProcessorTransactionsRecurringGet(ctx, plaid.ProcessorTransactionsRecurringGetRequest{ProcessorToken: pt})
			return err
		},
		"ProcessorTransactionsRecurringGet full": func(ctx context.Context) error {
			_, err := c.ProcessorTransactionsRecurringGet(ctx, plaid.ProcessorTransactionsRecurringGetRequest{ProcessorToken: pt,
				Options: &plaid.TransactionsRecurringGetRequestOptions{PersonalFinanceCategoryVersion: "v1"}})
			return err
		},
		"TransactionsRefresh": func(ctx context.Context) error {
			_, err := c.TransactionsRefresh(ctx, plaid.TransactionsRefreshRequest{AccessToken: at})
			return err
		},
		"ProcessorTransactionsRefresh": func(ctx context.Context) error {
			_, err := c.ProcessorTransactionsRefresh(ctx, plaid.ProcessorTransactionsRefreshRequest{ProcessorToken: pt})
			return err
		},
		"UserTransactionsRefresh": func(ctx context.Context) error {
			_, err := c.UserTransactionsRefresh(ctx, plaid.UserTransactionsRefreshRequest{UserID: "usr_8c3ZbDBYjaqUXZ"})
			return err
		},
		"GetWebhookVerificationKey": func(ctx context.Context) error {
			_, err := c.GetWebhookVerificationKey(ctx, "bfbd5111-8e33-4643-8ced-b2e642a72f3c")
			return err
		},
		"ItemGet": func(ctx context.Context) error {
			_, err := c.ItemGet(ctx, plaid.ItemGetRequest{AccessToken: at})
			return err
		},
		"ItemRemove": func(ctx context.Context) error {
			_, err := c.ItemRemove(ctx, plaid.ItemRemoveRequest{AccessToken: at})
			return err
		},
		"ItemRemove full": func(ctx context.Context) error {
			_, err := c.ItemRemove(ctx, plaid.ItemRemoveRequest{AccessToken: at, ReasonCode: "CONNECTION_IS_NON_FUNCTIONAL", ReasonNote: "user closed the account"})
			return err
		},
		"ItemPublicTokenExchange": func(ctx context.Context) error {
			_, err := c.ItemPublicTokenExchange(ctx, plaid.ItemPublicTokenExchangeRequest{PublicToken: testPublicToken})
			return err
		},
		"ProcessorTokenCreate": func(ctx context.Context) error {
			_, err := c.ProcessorTokenCreate(ctx, plaid.ProcessorTokenCreateRequest{AccessToken: at, AccountID: "a1", Processor: "dwolla"})
			return err
		},
		"SandboxPublicTokenCreate": func(ctx context.Context) error {
			_, err := c.SandboxPublicTokenCreate(ctx, plaid.SandboxPublicTokenCreateRequest{InstitutionID: "ins_109508", InitialProducts: []string{"transactions"}})
			return err
		},
		"SandboxPublicTokenCreate full": func(ctx context.Context) error {
			_, err := c.SandboxPublicTokenCreate(ctx, plaid.SandboxPublicTokenCreateRequest{
				InstitutionID:   "ins_109508",
				InitialProducts: []string{"transactions", "transactions_refresh", "recurring_transactions"},
				Options: &plaid.SandboxPublicTokenCreateRequestOptions{
					Webhook:          "https://example.com/plaid/webhook",
					OverrideUsername: plaid.SandboxUserTransactionsDynamic,
					OverridePassword: "pass_good",
					Transactions:     &plaid.SandboxPublicTokenCreateRequestOptionsTransactions{StartDate: "2025-01-01", EndDate: "2026-03-01", DaysRequested: 730},
				},
				UserID: "usr_8c3ZbDBYjaqUXZ",
			})
			return err
		},
		"SandboxItemFireWebhook": func(ctx context.Context) error {
			_, err := c.SandboxItemFireWebhook(ctx, plaid.SandboxItemFireWebhookRequest{AccessToken: at, WebhookCode: "SYNC_UPDATES_AVAILABLE"})
			return err
		},
		"SandboxItemFireWebhook full": func(ctx context.Context) error {
			_, err := c.SandboxItemFireWebhook(ctx, plaid.SandboxItemFireWebhookRequest{AccessToken: at, WebhookType: "TRANSACTIONS", WebhookCode: "DEFAULT_UPDATE"})
			return err
		},
		"SandboxTransactionsCreate": func(ctx context.Context) error {
			_, err := c.SandboxTransactionsCreate(ctx, plaid.SandboxTransactionsCreateRequest{AccessToken: at, Transactions: []plaid.CustomSandboxTransaction{
				{DateTransacted: "2026-03-01", DatePosted: "2026-03-02", Amount: plaid.MustParseDecimal("-0.10"), Description: "refund"},
				{DateTransacted: "2026-03-01", DatePosted: "2026-03-01", Amount: plaid.MustParseDecimal("1e2"), Description: "groceries", ISOCurrencyCode: "USD"},
				{DateTransacted: "2026-03-01", DatePosted: "2026-03-01", Amount: plaid.MustParseDecimal("12.345678901234567"), Description: "fx"},
			}})
			return err
		},
	}
}

// TestRequestsMatchSpec builds every request the client can send and checks
// it against Plaid's OpenAPI document: path, method and body schema
// (required fields, types, enums, limits, no null where null is not
// allowed), plus the headers Plaid requires and no credentials in the body.
func TestRequestsMatchSpec(t *testing.T) {
	spec := testSpec(t)
	capture := &captureTransport{}
	c, err := plaid.NewClient(plaid.Config{
		BaseURL:     "https://sandbox.plaid.com",
		ClientID:    "client-1",
		Secret:      "secret-1",
		HTTPClient:  &http.Client{Transport: capture},
		MaxAttempts: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range clientCalls(c) {
		t.Run(name, func(t *testing.T) {
			if err := call(context.Background()); !errors.Is(err, errCaptured) {
				t.Fatalf("call error = %v, want the capture error", err)
			}
			reqs := capture.take()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if err := spec.ValidateRequest(context.Background(), r.req, r.body); err != nil {
				t.Errorf("%v\nbody: %s", err, r.body)
			}
			for h, want := range map[string]string{
				"Content-Type":    "application/json",
				"PLAID-CLIENT-ID": "client-1",
				"PLAID-SECRET":    "secret-1",
				"Plaid-Version":   plaid.APIVersion,
			} {
				if got := r.req.Header.Get(h); got != want {
					t.Errorf("header %s = %q, want %q", h, got, want)
				}
			}
			body := string(r.body)
			for _, bad := range []string{"null", "client_id", "secret-1"} {
				if strings.Contains(body, bad) {
					t.Errorf("body %s contains %q", body, bad)
				}
			}
		})
	}
}

// TestRequestArgumentsChecked covers requests refused before sending: a
// missing token or required field, a count out of range.
func TestRequestArgumentsChecked(t *testing.T) {
	capture := &captureTransport{}
	c, err := plaid.NewClient(plaid.Config{BaseURL: "https://sandbox.plaid.com", ClientID: "id", Secret: "s", HTTPClient: &http.Client{Transport: capture}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
	}{
		{"sync without token", func() error { _, err := c.TransactionsSync(ctx, plaid.TransactionsSyncRequest{}); return err }},
		{"sync count 501", func() error {
			_, err := c.TransactionsSync(ctx, plaid.TransactionsSyncRequest{AccessToken: "a", Count: 501})
			return err
		}},
		{"pager count -1", func() error { _, err := c.SyncTransactions(ctx, "a", "", plaid.SyncOptions{Count: -1}); return err }},
		{"processor pager without token", func() error {
			_, err := c.SyncProcessorTransactions(ctx, "", "", plaid.SyncOptions{})
			return err
		}},
		{"get without dates", func() error {
			_, err := c.TransactionsGet(ctx, plaid.TransactionsGetRequest{AccessToken: "a"})
			return err
		}},
		{"user refresh without user", func() error {
			_, err := c.UserTransactionsRefresh(ctx, plaid.UserTransactionsRefreshRequest{})
			return err
		}},
		{"processor token without processor", func() error {
			_, err := c.ProcessorTokenCreate(ctx, plaid.ProcessorTokenCreateRequest{AccessToken: "a", AccountID: "x"})
			return err
		}},
		{"sandbox create without transactions", func() error {
			_, err := c.SandboxTransactionsCreate(ctx, plaid.SandboxTransactionsCreateRequest{AccessToken: "a"})
			return err
		}},
		{"public token without products", func() error {
			_, err := c.SandboxPublicTokenCreate(ctx, plaid.SandboxPublicTokenCreateRequest{InstitutionID: "ins_1"})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || errors.Is(err, errCaptured) {
				t.Fatalf("error = %v, want a refusal before sending", err)
			}
			if got := plaid.Classify(err); got != plaid.ClassBug {
				t.Errorf("Classify = %v, want bug", got)
			}
			if n := len(capture.take()); n != 0 {
				t.Errorf("%d requests sent, want 0", n)
			}
		})
	}
}

// TestSpecCatchesBadRequests is the negative control of TestRequestsMatchSpec:
// the oracle rejects the mistakes the client's types are built to avoid.
func TestSpecCatchesBadRequests(t *testing.T) {
	spec := testSpec(t)
	tests := []struct{ name, body string }{
		{name: "options null", body: `{"access_token":"a","options":null}`},
		{name: "count over 500", body: `{"access_token":"a","count":501}`},
		{name: "count zero", body: `{"access_token":"a","count":0}`},
		{name: "no access token", body: `{"cursor":"c"}`},
		{name: "cursor null", body: `{"access_token":"a","cursor":null}`},
		{name: "bad personal_finance_category_version", body: `{"access_token":"a","options":{"personal_finance_category_version":"v3"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, "https://sandbox.plaid.com/transactions/sync", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if err := spec.ValidateRequest(context.Background(), req, []byte(tc.body)); err == nil {
				t.Errorf("ValidateRequest(%s) = nil, want an error", tc.body)
			}
		})
	}
}
