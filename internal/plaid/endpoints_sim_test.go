package plaid_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
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

// webhookSink is the URL an Item's webhooks go to in these tests; it
// records their codes.
type webhookSink struct {
	*httptest.Server
	mu    sync.Mutex
	codes []string
}

func newWebhookSink(t *testing.T) *webhookSink {
	t.Helper()
	s := &webhookSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body struct {
			WebhookCode string `json:"webhook_code"`
		}
		if err := json.Unmarshal(b, &body); err == nil {
			s.mu.Lock()
			s.codes = append(s.codes, body.WebhookCode)
			s.mu.Unlock()
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// waitFor waits up to 5 s for a webhook with code.
func (s *webhookSink) waitFor(t *testing.T, code string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		for _, c := range s.codes {
			if c == code {
				s.mu.Unlock()
				return
			}
		}
		s.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("no %s webhook arrived", code)
}

// TestEndpointsAgainstSim calls every endpoint of the client against the
// simulator, in the order an integration would, every exchange checked
// against Plaid's OpenAPI document by the test transport.
func TestEndpointsAgainstSim(t *testing.T) {
	sim, client := setup(t, plaidsim.DefaultSecret)
	sink := newWebhookSink(t)
	ctx := context.Background()
	const userID = "usr_8c3ZbDBYjaqUXZ"

	var tokens []plaid.AccessToken
	var itemIDs []string
	for range 2 {
		pt, err := client.SandboxPublicTokenCreate(ctx, plaid.SandboxPublicTokenCreateRequest{
			InstitutionID:   "ins_109508",
			InitialProducts: []string{"transactions"},
			Options:         &plaid.SandboxPublicTokenCreateRequestOptions{Webhook: sink.URL, OverrideUsername: plaid.SandboxUserTransactionsDynamic},
			UserID:          userID,
		})
		if err != nil {
			t.Fatalf("SandboxPublicTokenCreate: %v", err)
		}
		ex, err := client.ItemPublicTokenExchange(ctx, plaid.ItemPublicTokenExchangeRequest{PublicToken: pt.PublicToken})
		if err != nil {
			t.Fatalf("ItemPublicTokenExchange: %v", err)
		}
		tokens, itemIDs = append(tokens, ex.AccessToken), append(itemIDs, ex.ItemID)
	}
	if _, err := client.ItemPublicTokenExchange(ctx, plaid.ItemPublicTokenExchangeRequest{PublicToken: testPublicToken}); plaid.Classify(err) != plaid.ClassUnknown {
		t.Errorf("exchanging an unknown public token: %v (class %v), want a 400 Plaid error", err, plaid.Classify(err))
	}

	item, err := client.ItemGet(ctx, plaid.ItemGetRequest{AccessToken: tokens[0]})
	if err != nil {
		t.Fatalf("ItemGet: %v", err)
	}
	if item.Item.ItemID != itemIDs[0] || deref(item.Item.Webhook) != sink.URL || item.Item.Error != nil {
		t.Errorf("item = %+v, want id %s, webhook %s, no error", item.Item, itemIDs[0], sink.URL)
	}

	u, err := client.SyncTransactions(ctx, tokens[0], "", plaid.SyncOptions{})
	if err != nil {
		t.Fatalf("SyncTransactions: %v", err)
	}
	if len(u.Added) == 0 || len(u.Accounts) == 0 {
		t.Fatalf("first sync: %d added, %d accounts", len(u.Added), len(u.Accounts))
	}

	recurring, err := client.TransactionsRecurringGet(ctx, plaid.TransactionsRecurringGetRequest{AccessToken: tokens[0]})
	if err != nil {
		t.Fatalf("TransactionsRecurringGet: %v", err)
	}
	if recurring.UpdatedDatetime == "" {
		t.Error("recurring: no updated_datetime")
	}
	for _, st := range append(append([]plaid.TransactionStream(nil), recurring.InflowStreams...), recurring.OutflowStreams...) {
		if len(st.Raw) == 0 || st.StreamID == "" {
			t.Errorf("stream %+v lacks Raw or an id", st)
		}
	}

	account := u.Added[0].AccountID
	pt, err := client.ProcessorTokenCreate(ctx, plaid.ProcessorTokenCreateRequest{AccessToken: tokens[0], AccountID: account, Processor: "dwolla"})
	if err != nil {
		t.Fatalf("ProcessorTokenCreate: %v", err)
	}
	if !strings.HasPrefix(string(pt.ProcessorToken), "processor-") {
		t.Errorf("processor token %q", string(pt.ProcessorToken))
	}
	if _, err := client.ProcessorTransactionsRecurringGet(ctx, plaid.ProcessorTransactionsRecurringGetRequest{ProcessorToken: pt.ProcessorToken}); err != nil {
		t.Errorf("ProcessorTransactionsRecurringGet: %v", err)
	}
	if _, err := client.ProcessorTransactionsRefresh(ctx, plaid.ProcessorTransactionsRefreshRequest{ProcessorToken: pt.ProcessorToken}); err != nil {
		t.Errorf("ProcessorTransactionsRefresh: %v", err)
	}
	if _, err := client.TransactionsRefresh(ctx, plaid.TransactionsRefreshRequest{AccessToken: tokens[0]}); err != nil {
		t.Errorf("TransactionsRefresh: %v", err)
	}

	fired, err := client.SandboxItemFireWebhook(ctx, plaid.SandboxItemFireWebhookRequest{AccessToken: tokens[0], WebhookCode: "DEFAULT_UPDATE"})
	if err != nil || !fired.WebhookFired {
		t.Errorf("SandboxItemFireWebhook = %+v, %v; want fired", fired, err)
	}
	sink.waitFor(t, "DEFAULT_UPDATE")

	// /user/transactions/refresh: per-Item outcomes.
	if err := sim.SetItemError(itemIDs[1], "ITEM_LOGIN_REQUIRED"); err != nil {
		t.Fatal(err)
	}
	refresh, err := client.UserTransactionsRefresh(ctx, plaid.UserTransactionsRefreshRequest{UserID: userID})
	if err != nil {
		t.Fatalf("UserTransactionsRefresh: %v", err)
	}
	got := map[string]plaid.Class{}
	for _, r := range refresh.Results {
		got[r.ItemID] = plaid.ClassNone
		if r.Error != nil {
			got[r.ItemID] = r.Error.Class()
		}
	}
	if want := map[string]plaid.Class{itemIDs[0]: plaid.ClassNone, itemIDs[1]: plaid.ClassNeedsUser}; !reflect.DeepEqual(got, want) {
		t.Errorf("refresh results by item = %v, want %v", got, want)
	}
	broken, err := client.ItemGet(ctx, plaid.ItemGetRequest{AccessToken: tokens[1]})
	if err != nil {
		t.Fatalf("ItemGet of the broken Item: %v", err)
	}
	if broken.Item.Error == nil || broken.Item.Error.Class() != plaid.ClassNeedsUser {
		t.Errorf("item.error = %+v, want ITEM_LOGIN_REQUIRED", broken.Item.Error)
	}
	if _, err := client.SyncTransactions(ctx, tokens[1], "", plaid.SyncOptions{}); plaid.Classify(err) != plaid.ClassNeedsUser {
		t.Errorf("sync of the broken Item: %v, want class needs_user", err)
	}

	// /item/remove: the token is gone afterwards.
	if _, err := client.ItemRemove(ctx, plaid.ItemRemoveRequest{AccessToken: tokens[0], ReasonCode: "OTHER", ReasonNote: "test"}); err != nil {
		t.Fatalf("ItemRemove: %v", err)
	}
	for name, call := range map[string]func() error{
		"ItemGet": func() error { _, err := client.ItemGet(ctx, plaid.ItemGetRequest{AccessToken: tokens[0]}); return err },
		"SyncTransactions": func() error {
			_, err := client.SyncTransactions(ctx, tokens[0], u.NextCursor, plaid.SyncOptions{})
			return err
		},
	} {
		if err := call(); plaid.Classify(err) != plaid.ClassGone {
			t.Errorf("%s after /item/remove: %v (class %v), want gone", name, err, plaid.Classify(err))
		}
	}
}

// TestNotReadyItem: before Plaid's first pull, sync answers empty with
// NOT_READY and an empty cursor, and /transactions/get answers
// PRODUCT_NOT_READY, to retry later.
func TestNotReadyItem(t *testing.T) {
	sim, client := setup(t, plaidsim.DefaultSecret)
	item, err := sim.CreateItem(plaidsim.ItemOptions{NotReady: true, ReadinessDelays: &plaidsim.ReadinessDelays{Initial: plaidsim.Duration(time.Hour), Historical: plaidsim.Duration(2 * time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	token := plaid.AccessToken(item.AccessToken)
	ctx := context.Background()
	u, err := client.SyncTransactions(ctx, token, "", plaid.SyncOptions{})
	if err != nil {
		t.Fatalf("SyncTransactions: %v", err)
	}
	if u.UpdateStatus != plaid.UpdateStatusNotReady || u.NextCursor != "" || u.Pages != 1 || len(u.Added) != 0 {
		t.Errorf("got status %s, cursor %q, %d pages, %d added; want NOT_READY, \"\", 1, 0", u.UpdateStatus, u.NextCursor, u.Pages, len(u.Added))
	}
	_, err = client.TransactionsGet(ctx, plaid.TransactionsGetRequest{AccessToken: token, StartDate: "2026-01-01", EndDate: "2026-03-07"})
	var perr *plaid.Error
	if !errors.As(err, &perr) || perr.ErrorCode != "PRODUCT_NOT_READY" || plaid.Classify(err) != plaid.ClassRetry {
		t.Errorf("TransactionsGet: %v, want PRODUCT_NOT_READY, class retry", err)
	}
	if status, err := sim.AdvanceReadiness(item.ItemID); err != nil || status != string(plaid.UpdateStatusInitialComplete) {
		t.Fatalf("AdvanceReadiness = %s, %v", status, err)
	}
	u, err = client.SyncTransactions(ctx, token, "", plaid.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if u.UpdateStatus != plaid.UpdateStatusInitialComplete || u.NextCursor == "" || len(u.Added) == 0 {
		t.Errorf("after the initial pull: status %s, cursor %q, %d added", u.UpdateStatus, u.NextCursor, len(u.Added))
	}
}

// TestClassifyAgainstSim: Plaid's errors, as the simulator sends them
// (type, HTTP status and body), come out of the client in the right class.
func TestClassifyAgainstSim(t *testing.T) {
	tests := []struct {
		code string
		want plaid.Class
	}{
		{"TRANSACTIONS_SYNC_LIMIT", plaid.ClassRetry},
		{"RATE_LIMIT", plaid.ClassRetry},
		{"INSTITUTION_DOWN", plaid.ClassRetry},
		{"INSTITUTION_NOT_RESPONDING", plaid.ClassRetry},
		{"INSTITUTION_NOT_AVAILABLE", plaid.ClassRetry},
		{"INTERNAL_SERVER_ERROR", plaid.ClassRetry},
		{"PLANNED_MAINTENANCE", plaid.ClassRetry},
		{"TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION", plaid.ClassRestartSync},
		{"ITEM_LOGIN_REQUIRED", plaid.ClassNeedsUser},
		{"ADDITIONAL_CONSENT_REQUIRED", plaid.ClassNeedsUser},
		{"ACCESS_NOT_GRANTED", plaid.ClassNeedsUser},
		{"NO_ACCOUNTS", plaid.ClassNeedsUser},
		{"ITEM_NOT_FOUND", plaid.ClassGone},
		{"INVALID_ACCESS_TOKEN", plaid.ClassGone},
		{"ITEM_CONCURRENTLY_DELETED", plaid.ClassGone},
		{"USER_PERMISSION_REVOKED", plaid.ClassGone},
		{"INVALID_API_KEYS", plaid.ClassBug},
		{"INVALID_ACCOUNT_ID", plaid.ClassGone},
	}
	sim, client := setup(t, plaidsim.DefaultSecret, noRetries)
	token, itemID := linkItem(t, client, plaid.SandboxUserGood)
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			inject(t, sim, "/transactions/sync", plaidsim.Fault{ErrorCode: tc.code, ItemID: itemID})
			_, err := client.SyncTransactions(context.Background(), token, "", plaid.SyncOptions{MaxRestarts: -1})
			var perr *plaid.Error
			if !errors.As(err, &perr) || perr.ErrorCode != tc.code {
				t.Fatalf("error = %v, want Plaid's %s", err, tc.code)
			}
			if got := plaid.Classify(err); got != tc.want {
				t.Errorf("Classify(HTTP %d %s/%s) = %v, want %v", perr.HTTPStatus, perr.ErrorType, perr.ErrorCode, got, tc.want)
			}
		})
	}
}

// TestBilledCallsAgainstSim: billed and state-changing calls are retried
// after a 429 (Plaid did not process them) but not after a 5xx or a lost
// answer (Plaid may have).
func TestBilledCallsAgainstSim(t *testing.T) {
	ctx := context.Background()
	refresh := func(c *plaid.Client, tok plaid.AccessToken) error {
		_, err := c.TransactionsRefresh(ctx, plaid.TransactionsRefreshRequest{AccessToken: tok})
		return err
	}
	remove := func(c *plaid.Client, tok plaid.AccessToken) error {
		_, err := c.ItemRemove(ctx, plaid.ItemRemoveRequest{AccessToken: tok})
		return err
	}
	get := func(c *plaid.Client, tok plaid.AccessToken) error {
		_, err := c.ItemGet(ctx, plaid.ItemGetRequest{AccessToken: tok})
		return err
	}
	tests := []struct {
		name         string
		path         string
		call         func(*plaid.Client, plaid.AccessToken) error
		fault        plaidsim.Fault
		wantStatuses []int
		wantErr      bool
	}{
		{name: "refresh 429 is retried", path: "/transactions/refresh", call: refresh, fault: plaidsim.Fault{ErrorCode: "TRANSACTIONS_REFRESH_LIMIT"}, wantStatuses: []int{429, 200}},
		{name: "refresh 500 is not", path: "/transactions/refresh", call: refresh, fault: plaidsim.Fault{Status: 500}, wantStatuses: []int{500}, wantErr: true},
		{name: "refresh lost answer is not", path: "/transactions/refresh", call: refresh, fault: plaidsim.Fault{Delay: time.Minute}, wantStatuses: []int{0}, wantErr: true},
		{name: "item remove 503 is not", path: "/item/remove", call: remove, fault: plaidsim.Fault{ErrorCode: "PLANNED_MAINTENANCE"}, wantStatuses: []int{503}, wantErr: true},
		{name: "item get 503 is", path: "/item/get", call: get, fault: plaidsim.Fault{ErrorCode: "PLANNED_MAINTENANCE"}, wantStatuses: []int{503, 200}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rec attempts
			sim, client := setup(t, plaidsim.DefaultSecret, rec.record, func(c *plaid.Config) {
				c.Timeouts = map[string]time.Duration{"/transactions/refresh": 200 * time.Millisecond}
			})
			token, _ := linkItem(t, client, plaid.SandboxUserTransactionsDynamic)
			rec.reset()
			inject(t, sim, tc.path, tc.fault)
			if err := tc.call(client, token); (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %v", err, tc.wantErr)
			}
			if got := rec.statuses(); !reflect.DeepEqual(got, tc.wantStatuses) {
				t.Errorf("attempt statuses = %v, want %v", got, tc.wantStatuses)
			}
		})
	}
}
