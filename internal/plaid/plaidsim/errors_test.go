package plaidsim

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPlaidErrors covers every error the Plaid endpoints answer on their
// own (faults and rate limits have their tests), with Plaid's status, type,
// code and, where Plaid documents it, message.
func TestPlaidErrors(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.newItem(ItemOptions{}.with(5))
	notReady := e.newItem(ItemOptions{NotReady: true}.with(5))
	removed := e.newItem(ItemOptions{}.with(5))
	e.ok("/item/remove", map[string]any{"access_token": removed.AccessToken}, nil)
	var pt struct {
		ProcessorToken string `json:"processor_token"`
	}
	e.ok("/processor/token/create", map[string]any{"access_token": c.AccessToken,
		"account_id": c.Accounts[0].AccountID, "processor": "dwolla"}, &pt)
	tok := c.AccessToken

	tests := []struct {
		name, path, body string
		status           int
		errorType, code  string
		message          string // "" = not checked
	}{
		{"wrong secret", "/transactions/sync", `{"client_id":"test_client_id","secret":"nope","access_token":"` + tok + `"}`,
			400, "INVALID_INPUT", "INVALID_API_KEYS", "invalid client_id or secret provided"},
		{"unknown field", "/transactions/sync", `{"access_token":"` + tok + `","zeta":1}`,
			400, "INVALID_REQUEST", "UNKNOWN_FIELDS", "the following fields are not recognized by this endpoint: zeta"},
		{"unknown option", "/transactions/sync", `{"access_token":"` + tok + `","options":{"account_idz":"x"}}`,
			400, "INVALID_REQUEST", "UNKNOWN_FIELDS", "the following fields are not recognized by this endpoint: options.account_idz"},
		{"missing access_token", "/transactions/sync", `{"cursor":""}`,
			400, "INVALID_REQUEST", "MISSING_FIELDS", "the following required fields are missing: access_token"},
		{"missing several", "/transactions/get", `{"access_token":"` + tok + `"}`,
			400, "INVALID_REQUEST", "MISSING_FIELDS", "the following required fields are missing: start_date, end_date"},
		{"count not an integer", "/transactions/sync", `{"access_token":"` + tok + `","count":"10"}`,
			400, "INVALID_REQUEST", "INVALID_FIELD", "count must be an integer"},
		{"options not an object", "/transactions/sync", `{"access_token":"` + tok + `","options":[]}`,
			400, "INVALID_REQUEST", "INVALID_FIELD", "options must be an object"},
		{"bad pfc version", "/transactions/sync", `{"access_token":"` + tok + `","options":{"personal_finance_category_version":"v9"}}`,
			400, "INVALID_REQUEST", "INVALID_FIELD", ""},
		{"bad days_requested", "/transactions/sync", `{"access_token":"` + tok + `","options":{"days_requested":731}}`,
			400, "INVALID_REQUEST", "INVALID_FIELD", ""},
		{"unknown access token", "/transactions/sync", `{"access_token":"access-sandbox-00000000-0000-4000-8000-000000000000"}`,
			400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN", "could not find matching access token"},
		{"malformed access token", "/item/get", `{"access_token":"public-sandbox-1"}`,
			400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN", "provided access token is in an invalid format. expected format: access-<environment>-<identifier>"},
		{"unknown processor token", "/processor/transactions/sync", `{"processor_token":"processor-sandbox-00000000-0000-4000-8000-000000000000"}`,
			400, "INVALID_INPUT", "INVALID_PROCESSOR_TOKEN", "could not find matching processor token"},
		{"malformed processor token", "/processor/transactions/refresh", `{"processor_token":"` + tok + `"}`,
			400, "INVALID_INPUT", "INVALID_PROCESSOR_TOKEN", ""},
		{"unknown public token", "/item/public_token/exchange", `{"public_token":"public-sandbox-x"}`,
			400, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN", "could not find matching public token"},
		{"processor token for another account", "/processor/token/create", `{"access_token":"` + tok + `","account_id":"nope","processor":"dwolla"}`,
			400, "INVALID_INPUT", "INVALID_ACCOUNT_ID", "failed to find requested account ID for requested item"},
		{"unknown processor", "/processor/token/create", `{"access_token":"` + tok + `","account_id":"` + c.Accounts[0].AccountID + `","processor":"acme"}`,
			400, "INVALID_REQUEST", "INVALID_FIELD", ""},
		{"processor account_id mismatch", "/processor/transactions/sync", `{"processor_token":"` + pt.ProcessorToken + `","options":{"account_id":"other"}}`,
			400, "INVALID_INPUT", "INVALID_ACCOUNT_ID", ""},
		{"invalid institution", "/sandbox/public_token/create", `{"institution_id":"chase","initial_products":["transactions"]}`,
			400, "INVALID_INPUT", "INVALID_INSTITUTION", "invalid institution_id provided"},
		{"unknown product", "/sandbox/public_token/create", `{"institution_id":"ins_109508","initial_products":["teleportation"]}`,
			400, "INVALID_REQUEST", "INVALID_FIELD", ""},
		{"unknown test user", "/sandbox/public_token/create", `{"institution_id":"ins_109508","initial_products":["transactions"],"options":{"override_username":"user_custom"}}`,
			400, "INVALID_REQUEST", "INVALID_FIELD", ""},
		{"bad webhook url", "/sandbox/public_token/create", `{"institution_id":"ins_109508","initial_products":["transactions"],"options":{"webhook":"not a url"}}`,
			400, "INVALID_REQUEST", "INVALID_FIELD", ""},
		{"unknown user", "/user/transactions/refresh", `{"user_id":"usr_nobody"}`,
			400, "INVALID_INPUT", "INVALID_USER_ID", ""},
		{"removed item", "/transactions/refresh", `{"access_token":"` + removed.AccessToken + `"}`,
			400, "ITEM_ERROR", "ITEM_NOT_FOUND", "The Item you requested cannot be found. This Item does not exist, has been previously removed via /item/remove, or has had access removed by the user."},
		{"not ready", "/transactions/get", `{"access_token":"` + notReady.AccessToken + `","start_date":"2026-01-01","end_date":"2026-03-01"}`,
			400, "ITEM_ERROR", "PRODUCT_NOT_READY", "the requested product is not yet ready. please provide a webhook or try the request again later"},
		{"unknown webhook code", "/sandbox/item/fire_webhook", `{"access_token":"` + tok + `","webhook_code":"BOOM"}`,
			400, "INVALID_REQUEST", "INVALID_FIELD", ""},
		{"amount not a number", "/sandbox/transactions/create", `{"access_token":"` + tok + `","transactions":[{"date_transacted":"2026-03-01","date_posted":"2026-03-01","amount":"x","description":"d"}]}`,
			400, "INVALID_REQUEST", "INVALID_FIELD", "transactions[0].amount must be a number"},
		{"unknown endpoint", "/transactions/nope", `{}`, 404, "INVALID_REQUEST", "NOT_FOUND", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			headers := goodCreds
			if strings.Contains(tc.body, `"secret"`) {
				headers = nil // credentials in the body
			}
			msg := checkPlaidError(t, post(t, e.srv, tc.path, headers, tc.body), tc.status, tc.errorType, tc.code)
			if tc.message != "" && msg != tc.message {
				t.Errorf("error_message = %q, want %q", msg, tc.message)
			}
		})
	}

	// INVALID_CREDENTIALS has Plaid's display message.
	a := post(t, e.srv, "/sandbox/public_token/create", goodCreds,
		`{"institution_id":"ins_109508","initial_products":["transactions"],"options":{"override_username":"user_good","override_password":"wrong"}}`)
	var pe PlaidError
	mustUnmarshal(t, a.body, &pe)
	if a.status != 400 || pe.ErrorCode != "INVALID_CREDENTIALS" || pe.ErrorType != "ITEM_ERROR" || pe.DisplayMessage == nil {
		t.Errorf("wrong password: %d %s", a.status, a.body)
	}
}

// TestItemError puts an item in ITEM_LOGIN_REQUIRED: its transactions calls
// answer the error, /item/get shows it, and the webhooks fire.
func TestItemError(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.newItem(ItemOptions{UserID: "usr_err"}.with(10))
	other := e.newItem(ItemOptions{}.with(10))
	n := e.deliveries()
	var set itemErrorAnswer
	e.simOK(http.MethodPost, "/sim/items/"+c.ItemID+"/error", map[string]any{"error_code": "ITEM_LOGIN_REQUIRED"}, &set)
	if set.Error == nil || set.Error.ErrorType != "ITEM_ERROR" {
		t.Errorf("answer %+v", set)
	}
	hs := e.webhooksSince(n)
	if len(hs) != 1 || hs[0].code() != "ITEM/ERROR" {
		t.Fatalf("webhooks %v", hookCodes(hs))
	}
	werr := hs[0].body["error"].(map[string]any)
	if werr["error_code"] != "ITEM_LOGIN_REQUIRED" || werr["status"].(json.Number).String() != "400" || werr["request_id"] != nil || hs[0].body["user_id"] != "usr_err" {
		t.Errorf("ITEM/ERROR body %s", hs[0].raw)
	}
	for _, path := range []string{"/transactions/sync", "/transactions/refresh", "/transactions/recurring/get"} {
		pe := e.fails(path, map[string]any{"access_token": c.AccessToken}, 400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED")
		if pe.DisplayMessage != nil || !strings.HasPrefix(pe.ErrorMessage, "the login details of this item have changed") {
			t.Errorf("%s: %+v", path, pe)
		}
	}
	e.ok("/transactions/sync", map[string]any{"access_token": other.AccessToken}, nil)
	var got struct {
		Item struct {
			Error *PlaidError `json:"error"`
		} `json:"item"`
		Status struct {
			LastWebhook struct {
				SentAt   string `json:"sent_at"`
				CodeSent string `json:"code_sent"`
			} `json:"last_webhook"`
		} `json:"status"`
	}
	e.ok("/item/get", map[string]any{"access_token": c.AccessToken}, &got)
	if got.Item.Error == nil || got.Item.Error.ErrorCode != "ITEM_LOGIN_REQUIRED" {
		t.Errorf("/item/get item.error = %+v", got.Item.Error)
	}
	if lw := got.Status.LastWebhook; lw.CodeSent != "ERROR" || lw.SentAt != "2026-03-07T12:00:00Z" {
		t.Errorf("/item/get status.last_webhook = %+v", lw)
	}
	if st := e.truth(c.ItemID); st.Error == nil || st.Error.ErrorCode != "ITEM_LOGIN_REQUIRED" {
		t.Errorf("ground truth error %+v", st.Error)
	}

	n = e.deliveries()
	e.simOK(http.MethodDelete, "/sim/items/"+c.ItemID+"/error", nil, nil)
	if got := hookCodes(e.webhooksSince(n)); !slices.Equal(got, []string{"ITEM/LOGIN_REPAIRED"}) {
		t.Errorf("webhooks after clearing: %v", got)
	}
	e.ok("/transactions/sync", map[string]any{"access_token": c.AccessToken}, nil)
	e.simFails(http.MethodPost, "/sim/items/"+c.ItemID+"/error", map[string]any{"error_code": "NOPE"}, 400, "INVALID_FIELD")
}

// TestRateLimits turns on the Sandbox limits and runs into them, per Item
// and per client; a minute later on the Sim's clock they are lifted.
func TestRateLimits(t *testing.T) {
	e := newEnv(t, Options{RateLimits: true})
	a := e.newItem(ItemOptions{}.with(5))
	b := e.newItem(ItemOptions{}.with(5))
	tests := []struct {
		path  string
		req   map[string]any
		limit int
		code  string
	}{
		{"/transactions/sync", map[string]any{"access_token": a.AccessToken}, 50, "TRANSACTIONS_SYNC_LIMIT"},
		{"/transactions/get", map[string]any{"access_token": a.AccessToken, "start_date": "2026-03-01", "end_date": "2026-03-07"}, 80, "TRANSACTIONS_LIMIT"},
		{"/transactions/recurring/get", map[string]any{"access_token": a.AccessToken}, 20, "TRANSACTIONS_LIMIT"},
		{"/transactions/refresh", map[string]any{"access_token": a.AccessToken}, 2, "TRANSACTIONS_REFRESH_LIMIT"},
		{"/item/get", map[string]any{"access_token": a.AccessToken}, 40, "ITEM_GET_LIMIT"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			for range tc.limit {
				e.ok(tc.path, tc.req, nil)
			}
			pe := e.fails(tc.path, tc.req, 429, "RATE_LIMIT_EXCEEDED", tc.code)
			if pe.ErrorMessage != "rate limit exceeded for attempts to access this item. please try again later" {
				t.Errorf("error_message %q", pe.ErrorMessage)
			}
			// Another item is not limited.
			other := map[string]any{}
			for k, v := range tc.req {
				other[k] = v
			}
			other["access_token"] = b.AccessToken
			e.ok(tc.path, other, nil)
		})
	}
	e.clock.Advance(61 * time.Second)
	e.ok("/transactions/sync", map[string]any{"access_token": a.AccessToken}, nil)

	// /sandbox/transactions/create: 2 per Item, then Plaid's generic code.
	dyn := e.newItem(ItemOptions{Username: userDynamic}.with(5))
	create := map[string]any{"access_token": dyn.AccessToken, "transactions": []map[string]any{
		{"date_transacted": "2026-03-06", "date_posted": "2026-03-07", "amount": 1, "description": "X"}}}
	for range 2 {
		e.ok("/sandbox/transactions/create", create, nil)
	}
	e.fails("/sandbox/transactions/create", create, 429, "RATE_LIMIT_EXCEEDED", "RATE_LIMIT")

	// Per client: 100 refreshes a minute across items.
	var items []CreatedItem
	for range 51 {
		items = append(items, e.newItem(ItemOptions{}.with(1)))
	}
	e.clock.Advance(61 * time.Second)
	calls := 0
	for _, it := range items[:50] {
		for range 2 {
			e.ok("/transactions/refresh", map[string]any{"access_token": it.AccessToken}, nil)
			calls++
		}
	}
	e.fails("/transactions/refresh", map[string]any{"access_token": items[50].AccessToken}, 429, "RATE_LIMIT_EXCEEDED", "TRANSACTIONS_REFRESH_LIMIT")
	if calls != 100 {
		t.Errorf("%d calls", calls)
	}

	// Off by default.
	free := newEnv(t, Options{})
	c := free.newItem(ItemOptions{}.with(1))
	for range 5 {
		free.ok("/transactions/refresh", map[string]any{"access_token": c.AccessToken}, nil)
	}
}

// TestItemFaults covers faults scoped to an item with Plaid's error codes,
// N errors in a row, added latency, and a real mutation at page k.
func TestItemFaults(t *testing.T) {
	e := newEnv(t, Options{})
	a := e.newItem(ItemOptions{}.with(30))
	b := e.newItem(ItemOptions{}.with(30))
	sync := func(tok string) map[string]any { return map[string]any{"access_token": tok} }

	e.simOK(http.MethodPost, "/sim/faults", map[string]any{"path": "/transactions/sync", "item_id": a.ItemID, "count": 2, "status": 500}, nil)
	e.ok("/transactions/sync", sync(b.AccessToken), nil) // another item: unaffected
	for range 2 {
		e.fails("/transactions/sync", sync(a.AccessToken), 500, "API_ERROR", "INTERNAL_SERVER_ERROR")
	}
	e.ok("/transactions/sync", sync(a.AccessToken), nil)

	e.simOK(http.MethodPost, "/sim/faults", map[string]any{"path": "/transactions/sync", "item_id": a.ItemID, "count": 3, "error_code": "TRANSACTIONS_SYNC_LIMIT"}, nil)
	for range 3 {
		e.fails("/transactions/sync", sync(a.AccessToken), 429, "RATE_LIMIT_EXCEEDED", "TRANSACTIONS_SYNC_LIMIT")
	}
	e.ok("/transactions/sync", sync(a.AccessToken), nil)

	if err := e.sim.InjectFault("/transactions/refresh", Fault{ItemID: a.ItemID, ErrorCode: "INSTITUTION_DOWN"}); err != nil {
		t.Fatal(err)
	}
	e.fails("/transactions/refresh", sync(a.AccessToken), 400, "INSTITUTION_ERROR", "INSTITUTION_DOWN")
	if err := e.sim.InjectFault("/transactions/refresh", Fault{ErrorCode: "PLANNED_MAINTENANCE"}); err != nil {
		t.Fatal(err)
	}
	e.fails("/transactions/refresh", sync(b.AccessToken), 503, "API_ERROR", "PLANNED_MAINTENANCE")

	e.simOK(http.MethodPost, "/sim/faults", map[string]any{"path": "/item/get", "item_id": a.ItemID, "delay": "40ms"}, nil)
	start := time.Now()
	e.ok("/item/get", sync(a.AccessToken), nil)
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("answered after %v, want ≥ 40ms", d)
	}
	// A delayed caller that gives up releases the handler.
	if err := e.sim.InjectFault("/item/get", Fault{ItemID: a.ItemID, Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/item/get", strings.NewReader(`{"access_token":"`+a.AccessToken+`"}`))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range goodCreds {
		req.Header.Set(k, v)
	}
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Error("request with a 1h delay fault succeeded")
	}

	// Mutation at page 3: the Sim changes the item before page 3, which
	// then fails naturally; a restart sees the new transaction.
	e.simOK(http.MethodPost, "/sim/faults", map[string]any{"path": "/transactions/sync", "item_id": b.ItemID, "mutate_at_page": 3}, nil)
	head := e.truth(b.ItemID).Head
	p1 := e.syncOnce(b.AccessToken, "", 10, nil)
	p2 := e.syncOnce(b.AccessToken, p1.NextCursor, 10, nil)
	path, r := syncReq(b.AccessToken, p2.NextCursor, 10, nil)
	e.fails(path, r, 400, "TRANSACTIONS_ERROR", "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION")
	if got := e.truth(b.ItemID).Head; got != head+1 {
		t.Errorf("head %d, want %d: the fault should have added one transaction", got, head+1)
	}
	pages, _ := e.update(b.AccessToken, "", 10, nil)
	m := mirror{}
	m.apply(t, pages)
	m.equalTruth(t, e.truth(b.ItemID).Transactions)
	if len(m) != 31 {
		t.Errorf("%d transactions after the restart, want 31", len(m))
	}

	e.simFails(http.MethodPost, "/sim/faults", map[string]any{"path": "/item/get", "mutate_at_page": 2}, 400, "INVALID_FIELD")
	e.simFails(http.MethodPost, "/sim/faults", map[string]any{"path": "/transactions/sync", "mutate_at_page": 1}, 400, "INVALID_FIELD")
	e.simFails(http.MethodPost, "/sim/faults", map[string]any{"path": "/nope", "status": 500}, 400, "INVALID_FIELD")
	e.simFails(http.MethodPost, "/sim/faults", map[string]any{"path": "/item/get", "error_code": "NOPE"}, 400, "INVALID_FIELD")
	e.simFails(http.MethodPost, "/sim/faults", map[string]any{"path": "/item/get", "delay": 5}, 400, "INVALID_FIELD")

	// Faults can be dropped.
	e.simOK(http.MethodPost, "/sim/faults", map[string]any{"path": "/item/get", "status": 500, "count": 5}, nil)
	e.simOK(http.MethodDelete, "/sim/faults", nil, nil)
	e.ok("/item/get", sync(a.AccessToken), nil)
}

// TestDelayFaultLostAnswerStillActs: a Delay fault without a status stands
// for an answer lost on the way back, so the call takes effect even though
// the caller gave up, as a timed-out /transactions/refresh or
// /item/public_token/exchange may well have at Plaid. A client that retries
// such a call after a timeout must meet the consequences here too.
func TestDelayFaultLostAnswerStillActs(t *testing.T) {
	sim, srv := newSim(t)
	item, err := sim.CreateItem(ItemOptions{Username: userDynamic})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := sim.Item(item.ItemID)
	for _, f := range []Fault{{Delay: time.Hour}, {Delay: time.Hour, ItemID: item.ItemID}} {
		if err := sim.InjectFault("/transactions/refresh", f); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/transactions/refresh",
			strings.NewReader(`{"access_token":"`+item.AccessToken+`"}`))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range goodCreds {
			req.Header.Set(k, v)
		}
		if _, err := http.DefaultClient.Do(req); err == nil {
			t.Fatal("request with a 1h delay fault succeeded")
		}
		cancel()
		// The handler may still be on its way when the caller gives up.
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if st, _ := sim.Item(item.ItemID); st.Head > before.Head {
				break
			}
		}
		st, _ := sim.Item(item.ItemID)
		if st.Head <= before.Head {
			t.Fatalf("fault %+v: head %d → %d: the refresh whose answer was lost did not happen", f, before.Head, st.Head)
		}
		before = st
	}
	after, _ := sim.Item(item.ItemID)
	// Two refreshes: the second posted the first's pending transactions.
	var pending int
	for _, tx := range after.Transactions {
		if tx.Pending {
			pending++
		}
	}
	if pending == 0 || pending > 3 {
		t.Errorf("%d pending transactions after two refreshes, want 1–3 (the second refresh's)", pending)
	}
}
