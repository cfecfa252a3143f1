package plaidsim

import (
	"net/http"
	"slices"
	"sort"
	"strconv"
	"testing"
)

type getAnswer struct {
	Accounts          []Account     `json:"accounts"`
	Transactions      []Transaction `json:"transactions"`
	TotalTransactions int           `json:"total_transactions"`
	Item              struct {
		ItemID string `json:"item_id"`
	} `json:"item"`
}

// TestTransactionsGet pages through /transactions/get with offset and
// count and compares with the ground truth for the date range.
func TestTransactionsGet(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.newItem(ItemOptions{}.with(120))
	st := e.truth(c.ItemID)
	const from, to = "2026-01-01", "2026-02-28"
	var want []string
	for _, tx := range st.Transactions {
		if tx.Date >= from && tx.Date <= to {
			want = append(want, tx.TransactionID)
		}
	}
	var got []Transaction
	total := -1
	for offset := 0; ; offset += 7 {
		var a getAnswer
		e.ok("/transactions/get", map[string]any{"access_token": c.AccessToken, "start_date": from, "end_date": to,
			"options": map[string]any{"count": 7, "offset": offset}}, &a)
		if a.Item.ItemID != c.ItemID || len(a.Accounts) != len(st.Accounts) {
			t.Errorf("item %s, %d accounts", a.Item.ItemID, len(a.Accounts))
		}
		if total >= 0 && a.TotalTransactions != total {
			t.Errorf("total_transactions changed: %d then %d", total, a.TotalTransactions)
		}
		total = a.TotalTransactions
		got = append(got, a.Transactions...)
		if len(a.Transactions) < 7 {
			break
		}
	}
	if total != len(want) || len(got) != len(want) {
		t.Errorf("total_transactions %d, got %d, want %d", total, len(got), len(want))
	}
	if !sort.SliceIsSorted(got, func(i, j int) bool { return got[i].Date > got[j].Date }) {
		t.Error("transactions are not newest first")
	}
	gotIDs := ids(got)
	slices.Sort(gotIDs)
	slices.Sort(want)
	if !slices.Equal(gotIDs, want) {
		t.Error("transactions differ from the ground truth")
	}

	acct := st.Accounts[0].AccountID
	var a getAnswer
	e.ok("/transactions/get", map[string]any{"access_token": c.AccessToken, "start_date": "2024-01-01", "end_date": "2026-03-07",
		"options": map[string]any{"account_ids": []string{acct}, "count": 500, "include_original_description": true,
			"personal_finance_category_version": "v2"}}, &a)
	if len(a.Accounts) != 1 || a.Accounts[0].AccountID != acct {
		t.Errorf("accounts = %v", a.Accounts)
	}
	for _, tx := range a.Transactions {
		if tx.AccountID != acct || tx.OriginalDescription == nil ||
			(tx.PersonalFinanceCategory != nil && tx.PersonalFinanceCategory.Version != "v2") {
			t.Errorf("transaction %s", mustJSON(t, tx))
			break
		}
	}

	base := map[string]any{"access_token": c.AccessToken, "start_date": from, "end_date": to}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range base {
			m[kk] = vv
		}
		m[k] = v
		return m
	}
	e.fails("/transactions/get", with("options", map[string]any{"account_ids": []string{"nope"}}), 400, "INVALID_INPUT", "INVALID_ACCOUNT_ID")
	e.fails("/transactions/get", with("end_date", "2025-12-31"), 400, "INVALID_REQUEST", "INVALID_FIELD")
	for _, body := range []string{
		`{"access_token":"` + c.AccessToken + `","start_date":"2026-01-01","end_date":"2026-01-31","options":{"count":501}}`,
		`{"access_token":"` + c.AccessToken + `","start_date":"2026-01-01","end_date":"2026-01-31","options":{"count":0}}`,
		`{"access_token":"` + c.AccessToken + `","start_date":"2026-01-01","end_date":"2026-01-31","options":{"offset":-1}}`,
		`{"access_token":"` + c.AccessToken + `","start_date":"January","end_date":"2026-01-31"}`,
	} {
		checkPlaidError(t, post(t, e.srv, "/transactions/get", goodCreds, body), 400, "INVALID_REQUEST", "INVALID_FIELD")
	}
	checkPlaidError(t, post(t, e.srv, "/transactions/get", goodCreds, `{"access_token":"`+c.AccessToken+`"}`),
		400, "INVALID_REQUEST", "MISSING_FIELDS")
}

type recurringAnswer struct {
	InflowStreams   []TransactionStream `json:"inflow_streams"`
	OutflowStreams  []TransactionStream `json:"outflow_streams"`
	UpdatedDatetime string              `json:"updated_datetime"`
}

// TestRecurring checks generated streams, their changes through the /sim/
// API and RECURRING_TRANSACTIONS_UPDATE.
func TestRecurring(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.newItem(ItemOptions{}.with(300))
	st := e.truth(c.ItemID)
	var a recurringAnswer
	e.ok("/transactions/recurring/get", map[string]any{"access_token": c.AccessToken}, &a)
	if len(a.InflowStreams) == 0 || len(a.OutflowStreams) < 3 {
		t.Fatalf("%d inflow and %d outflow streams", len(a.InflowStreams), len(a.OutflowStreams))
	}
	if a.InflowStreams[0].PersonalFinanceCategory.Primary != "INCOME" || a.InflowStreams[0].Frequency != "SEMI_MONTHLY" ||
		a.InflowStreams[0].AverageAmount.Amount.Sign() >= 0 {
		t.Errorf("payroll stream %s", mustJSON(t, a.InflowStreams[0]))
	}
	live := map[string]Transaction{}
	for _, tx := range st.Transactions {
		live[tx.TransactionID] = tx
	}
	for _, s := range append(a.InflowStreams, a.OutflowStreams...) {
		if !plaidIDPattern.MatchString(s.StreamID) || len(s.TransactionIDs) < 2 {
			t.Errorf("stream %s", mustJSON(t, s))
		}
		for _, id := range s.TransactionIDs {
			if tx, ok := live[id]; !ok || tx.AccountID != s.AccountID {
				t.Errorf("stream %s lists %s, not a transaction of its account", s.Description, id)
			}
		}
	}

	acct := st.Accounts[0].AccountID
	stream := StreamInput{TransactionStream: TransactionStream{
		AccountID: acct, Description: "Gym", FirstDate: "2025-01-03", LastDate: "2026-03-03", Frequency: "MONTHLY",
		AverageAmount: StreamAmount{Amount: MustAmount("45.5"), IsoCurrencyCode: ptr("USD")},
		LastAmount:    StreamAmount{Amount: MustAmount("45.5"), IsoCurrencyCode: ptr("USD")},
		IsActive:      true, TransactionIDs: []string{},
	}}
	before := e.deliveries()
	var put TransactionStream
	e.simOK(http.MethodPut, "/sim/items/"+c.ItemID+"/recurring_streams/stream-gym", stream, &put)
	hs := e.webhooksSince(before)
	if got := hookCodes(hs); !slices.Equal(got, []string{"TRANSACTIONS/RECURRING_TRANSACTIONS_UPDATE"}) {
		t.Fatalf("webhooks %v", got)
	}
	if ids := hs[0].body["account_ids"].([]any); len(ids) != 1 || ids[0] != acct {
		t.Errorf("account_ids %v", ids)
	}
	e.ok("/transactions/recurring/get", map[string]any{"access_token": c.AccessToken, "account_ids": []string{acct}}, &a)
	i := slices.IndexFunc(a.OutflowStreams, func(s TransactionStream) bool { return s.StreamID == "stream-gym" })
	if i < 0 || a.OutflowStreams[i].Status != "MATURE" || a.OutflowStreams[i].AverageAmount.Amount.String() != "45.5" {
		t.Fatalf("stream not served: %s", mustJSON(t, a.OutflowStreams))
	}
	for _, s := range append(a.InflowStreams, a.OutflowStreams...) {
		if s.AccountID != acct {
			t.Errorf("account_ids filter let %s through", s.AccountID)
		}
	}

	e.simOK(http.MethodDelete, "/sim/items/"+c.ItemID+"/recurring_streams/stream-gym", map[string]any{"tombstone": true}, nil)
	e.ok("/transactions/recurring/get", map[string]any{"access_token": c.AccessToken}, &a)
	i = slices.IndexFunc(a.OutflowStreams, func(s TransactionStream) bool { return s.StreamID == "stream-gym" })
	if i < 0 || a.OutflowStreams[i].Status != "TOMBSTONED" || a.OutflowStreams[i].IsActive {
		t.Errorf("tombstoned stream: %v", i)
	}
	e.simOK(http.MethodDelete, "/sim/items/"+c.ItemID+"/recurring_streams/stream-gym", nil, nil)
	e.ok("/transactions/recurring/get", map[string]any{"access_token": c.AccessToken}, &a)
	if slices.ContainsFunc(a.OutflowStreams, func(s TransactionStream) bool { return s.StreamID == "stream-gym" }) {
		t.Error("deleted stream still served")
	}
	e.simFails(http.MethodDelete, "/sim/items/"+c.ItemID+"/recurring_streams/stream-gym", nil, 404, "UNKNOWN_STREAM")
	bad := stream
	bad.Frequency = "HOURLY"
	e.simFails(http.MethodPut, "/sim/items/"+c.ItemID+"/recurring_streams/x", bad, 400, "INVALID_FIELD")
	e.simFails(http.MethodPut, "/sim/items/"+c.ItemID+"/recurring_streams/x", map[string]any{"description": "x"}, 400, "MISSING_FIELDS")
	e.fails("/transactions/recurring/get", map[string]any{"access_token": c.AccessToken, "account_ids": []string{"nope"}},
		400, "INVALID_INPUT", "INVALID_ACCOUNT_ID")

	// Processor variant: the token's account only, and the processor
	// webhook.
	var pt struct {
		ProcessorToken string `json:"processor_token"`
	}
	e.ok("/processor/token/create", map[string]any{"access_token": c.AccessToken, "account_id": acct, "processor": "galileo"}, &pt)
	e.ok("/processor/transactions/recurring/get", map[string]any{"processor_token": pt.ProcessorToken}, &a)
	for _, s := range append(a.InflowStreams, a.OutflowStreams...) {
		if s.AccountID != acct {
			t.Errorf("processor recurring/get served account %s", s.AccountID)
		}
	}
	if err := e.sim.SetProcessorWebhook(pt.ProcessorToken, e.hooks.srv.URL+"/processor"); err != nil {
		t.Fatal(err)
	}
	before = e.deliveries()
	if _, err := e.sim.PutRecurringStream(c.ItemID, "stream-2", stream); err != nil {
		t.Fatal(err)
	}
	got := hookCodes(e.webhooksSince(before))
	if !slices.Equal(got, []string{"TRANSACTIONS/RECURRING_TRANSACTIONS_UPDATE", "TRANSACTIONS/RECURRING_TRANSACTIONS_UPDATE"}) {
		t.Errorf("webhooks %v, want the item's and the processor token's", got)
	}
}

// TestRefreshDynamic checks the Sandbox behaviour of
// user_transactions_dynamic on /transactions/refresh.
func TestRefreshDynamic(t *testing.T) {
	e := newEnv(t, Options{})
	c, cursor, m := e.readyItem(ItemOptions{Username: userDynamic}.with(50))
	before := e.truth(c.ItemID)
	var pendingIDs []string
	for _, tx := range before.Transactions {
		if tx.Pending {
			pendingIDs = append(pendingIDs, tx.TransactionID)
		}
	}
	if len(pendingIDs) == 0 {
		t.Fatal("no pending transaction")
	}
	n := e.deliveries()
	e.ok("/transactions/refresh", map[string]any{"access_token": c.AccessToken}, nil)
	pages, _ := e.update(c.AccessToken, cursor, 500, nil)
	p := pages[0]
	if got := removedIDs(p.Removed); !slices.Equal(sorted(got), sorted(pendingIDs)) {
		t.Errorf("removed %v, want the pending %v", got, pendingIDs)
	}
	var posted, newPending int
	for _, tx := range p.Added {
		switch {
		case tx.Pending:
			newPending++
		case tx.PendingTransactionID != nil && slices.Contains(pendingIDs, *tx.PendingTransactionID):
			posted++
		default:
			t.Errorf("unexpected added transaction %s", mustJSON(t, tx))
		}
	}
	if posted != len(pendingIDs) || newPending < 1 || newPending > 3 {
		t.Errorf("%d posted (want %d), %d new pending (want 1–3)", posted, len(pendingIDs), newPending)
	}
	if len(p.Modified) != 1 {
		t.Fatalf("%d modified, want 1", len(p.Modified))
	}
	old := m[p.Modified[0].TransactionID]
	if sum, _ := old.Amount.Add(MustAmount("1")); sum.Cmp(p.Modified[0].Amount) != 0 {
		t.Errorf("modified amount %s, want %s + 1.00", p.Modified[0].Amount, old.Amount)
	}
	m.apply(t, pages)
	m.equalTruth(t, e.truth(c.ItemID).Transactions)

	hs := e.webhooksSince(n)
	if got := hookCodes(hs); !slices.Equal(got, []string{"TRANSACTIONS/SYNC_UPDATES_AVAILABLE", "TRANSACTIONS/DEFAULT_UPDATE", "TRANSACTIONS/TRANSACTIONS_REMOVED"}) {
		t.Fatalf("webhooks %v", got)
	}
	if got := hs[1].body["new_transactions"]; got.(interface{ String() string }).String() != strconv.Itoa(posted+newPending) {
		t.Errorf("new_transactions = %v, want %d", got, posted+newPending)
	}
	var removed []string
	for _, id := range hs[2].body["removed_transactions"].([]any) {
		removed = append(removed, id.(string))
	}
	if !slices.Equal(sorted(removed), sorted(pendingIDs)) {
		t.Errorf("removed_transactions %v", removed)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestRefreshGood: user_good's data does not change on refresh; the call
// still succeeds and sends nothing.
func TestRefreshGood(t *testing.T) {
	e := newEnv(t, Options{})
	c, cursor, _ := e.readyItem(ItemOptions{}.with(20))
	n := e.deliveries()
	e.ok("/transactions/refresh", map[string]any{"access_token": c.AccessToken}, nil)
	if p := e.syncOnce(c.AccessToken, cursor, 0, nil); p.size() != 0 || p.NextCursor != cursor {
		t.Errorf("after a user_good refresh: %d changes, cursor %q (was %q)", p.size(), p.NextCursor, cursor)
	}
	if got := e.webhooksSince(n); len(got) != 0 {
		t.Errorf("webhooks %v", hookCodes(got))
	}
}

// TestUserTransactionsRefresh refreshes every item of a user, one of them
// in ITEM_LOGIN_REQUIRED.
func TestUserTransactionsRefresh(t *testing.T) {
	e := newEnv(t, Options{})
	var u CreatedUser
	e.simOK(http.MethodPost, "/sim/users", map[string]any{"user_id": "usr_8c3ZbDBYjaqUXZ", "items": []map[string]any{
		{"username": userDynamic, "transactions": 30, "webhook": e.hooks.srv.URL},
		{"username": userDynamic, "transactions": 30, "webhook": e.hooks.srv.URL},
	}}, &u)
	e.simOK(http.MethodPost, "/sim/items/"+u.Items[1].ItemID+"/error", map[string]any{"error_code": "ITEM_LOGIN_REQUIRED"}, nil)
	head0 := e.truth(u.Items[0].ItemID).Head
	head1 := e.truth(u.Items[1].ItemID).Head
	var res struct {
		UserID  string `json:"user_id"`
		Results []struct {
			ItemID  string      `json:"item_id"`
			Product string      `json:"product"`
			Error   *PlaidError `json:"error"`
		} `json:"results"`
	}
	e.ok("/user/transactions/refresh", map[string]any{"user_id": "usr_8c3ZbDBYjaqUXZ"}, &res)
	if res.UserID != "usr_8c3ZbDBYjaqUXZ" || len(res.Results) != 2 {
		t.Fatalf("answer %+v", res)
	}
	if r := res.Results[0]; r.ItemID != u.Items[0].ItemID || r.Product != "transactions" || r.Error != nil {
		t.Errorf("result 0: %+v", r)
	}
	if r := res.Results[1]; r.Error == nil || r.Error.ErrorCode != "ITEM_LOGIN_REQUIRED" || r.Error.Status == nil || *r.Error.Status != 400 {
		t.Errorf("result 1: %+v", r)
	}
	if e.truth(u.Items[0].ItemID).Head == head0 {
		t.Error("the healthy item was not refreshed")
	}
	if e.truth(u.Items[1].ItemID).Head != head1 {
		t.Error("the item in error was refreshed")
	}
	e.fails("/user/transactions/refresh", map[string]any{"user_id": "usr_nobody"}, 400, "INVALID_INPUT", "INVALID_USER_ID")

	// The processor variant refreshes the token's item.
	acct := u.Items[0].Accounts[0].AccountID
	var pt struct {
		ProcessorToken string `json:"processor_token"`
	}
	e.ok("/processor/token/create", map[string]any{"access_token": u.Items[0].AccessToken, "account_id": acct, "processor": "dwolla"}, &pt)
	head0 = e.truth(u.Items[0].ItemID).Head
	e.ok("/processor/transactions/refresh", map[string]any{"processor_token": pt.ProcessorToken}, nil)
	if e.truth(u.Items[0].ItemID).Head == head0 {
		t.Error("/processor/transactions/refresh changed nothing")
	}
}

// TestSandboxTransactionsCreate checks /sandbox/transactions/create's
// validation (Plaid's own errors) and effect.
func TestSandboxTransactionsCreate(t *testing.T) {
	e := newEnv(t, Options{})
	dyn, cursor, _ := e.readyItem(ItemOptions{Username: userDynamic}.with(10))
	good := e.newItem(ItemOptions{}.with(10))
	tx := func(transacted, posted string) map[string]any {
		return map[string]any{"date_transacted": transacted, "date_posted": posted, "amount": 12.345, "description": "COFFEE"}
	}
	many := make([]map[string]any, 11)
	for i := range many {
		many[i] = tx("2026-03-06", "2026-03-07")
	}
	const datesMsg = "Transaction and posted dates must be within the last 14 days. The posted date cannot be before the transaction date."
	tests := []struct {
		name    string
		token   string
		txns    []map[string]any
		message string
		shaped  bool // display_message and status as in Plaid's examples
	}{
		{"too many", dyn.AccessToken, many, "The request contains too many transactions.", true},
		{"older than 14 days", dyn.AccessToken, []map[string]any{tx("2026-02-20", "2026-02-21")}, datesMsg, true},
		{"future", dyn.AccessToken, []map[string]any{tx("2026-03-07", "2026-03-08")}, datesMsg, true},
		{"posted before transacted", dyn.AccessToken, []map[string]any{tx("2026-03-05", "2026-03-04")}, datesMsg, true},
		{"not user_transactions_dynamic", good.AccessToken, []map[string]any{tx("2026-03-05", "2026-03-06")},
			"transactions can only be created for Items of the test user user_transactions_dynamic", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pe := e.fails("/sandbox/transactions/create", map[string]any{"access_token": tc.token, "transactions": tc.txns},
				400, "INVALID_REQUEST", "INVALID_FIELD")
			if pe.ErrorMessage != tc.message {
				t.Errorf("error_message = %q, want %q", pe.ErrorMessage, tc.message)
			}
			if tc.shaped && (pe.DisplayMessage == nil || *pe.DisplayMessage != tc.message || pe.Status == nil || *pe.Status != 400) {
				t.Errorf("display_message %v, status %v: want Plaid's example shape", pe.DisplayMessage, pe.Status)
			}
		})
	}
	n := e.deliveries()
	e.ok("/sandbox/transactions/create", map[string]any{"access_token": dyn.AccessToken, "transactions": []map[string]any{
		tx("2026-02-22", "2026-02-23"), {"date_transacted": "2026-03-07", "date_posted": "2026-03-07", "amount": -500, "description": "REFUND", "iso_currency_code": "USD"},
	}}, nil)
	p := e.syncOnce(dyn.AccessToken, cursor, 0, nil)
	if len(p.Added) != 2 || p.Added[0].Amount.String() != "12.345" || p.Added[1].Amount.String() != "-500" ||
		p.Added[0].Date != "2026-02-23" || *p.Added[0].AuthorizedDate != "2026-02-22" || p.Added[0].Name != "COFFEE" || p.Added[0].Pending {
		t.Errorf("added %s", mustJSON(t, p.Added))
	}
	if p.Added[0].AccountID != e.truth(dyn.ItemID).Accounts[0].AccountID {
		t.Error("not added to the depository account")
	}
	if got := hookCodes(e.webhooksSince(n)); !slices.Equal(got, []string{"TRANSACTIONS/SYNC_UPDATES_AVAILABLE", "TRANSACTIONS/DEFAULT_UPDATE"}) {
		t.Errorf("webhooks %v", got)
	}
}

// TestFireWebhook fires every webhook /sandbox/item/fire_webhook supports
// and checks each against its Plaid schema.
func TestFireWebhook(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.newItem(ItemOptions{UserID: "usr_fire"}.with(5))
	for _, code := range []string{"DEFAULT_UPDATE", "SYNC_UPDATES_AVAILABLE", "RECURRING_TRANSACTIONS_UPDATE", "NEW_ACCOUNTS_AVAILABLE",
		"USER_PERMISSION_REVOKED", "USER_ACCOUNT_REVOKED", "PENDING_DISCONNECT", "LOGIN_REPAIRED", "ERROR"} {
		t.Run(code, func(t *testing.T) {
			n := e.deliveries()
			var a struct {
				WebhookFired bool `json:"webhook_fired"`
			}
			e.ok("/sandbox/item/fire_webhook", map[string]any{"access_token": c.AccessToken, "webhook_code": code}, &a)
			hs := e.webhooksSince(n)
			if !a.WebhookFired || len(hs) != 1 || hs[0].body["webhook_code"] != code || hs[0].body["item_id"] != c.ItemID {
				t.Errorf("fired %v: %v", a.WebhookFired, hookCodes(hs))
			}
		})
	}
	e.fails("/sandbox/item/fire_webhook", map[string]any{"access_token": c.AccessToken, "webhook_code": "ERROR", "webhook_type": "TRANSACTIONS"},
		400, "INVALID_REQUEST", "INVALID_FIELD")
	e.fails("/sandbox/item/fire_webhook", map[string]any{"access_token": c.AccessToken, "webhook_code": "PRODUCT_READY"},
		400, "SANDBOX_ERROR", "SANDBOX_PRODUCT_NOT_ENABLED")
	silent := e.sim
	noHook, err := silent.CreateItem(ItemOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.fails("/sandbox/item/fire_webhook", map[string]any{"access_token": noHook.AccessToken, "webhook_code": "DEFAULT_UPDATE"},
		400, "SANDBOX_ERROR", "SANDBOX_WEBHOOK_INVALID")
}
