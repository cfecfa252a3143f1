package plaidsim

import (
	"net/http"
	"slices"
	"testing"
)

// TestSimTransactionsAPI covers adding, modifying and removing
// transactions through the /sim/ API, and its validation.
func TestSimTransactionsAPI(t *testing.T) {
	e := newEnv(t, Options{})
	c, cursor, m := e.readyItem(ItemOptions{}.with(10))
	st := e.truth(c.ItemID)
	card := st.Accounts[len(st.Accounts)-1].AccountID

	var one transactionsAnswer
	e.simOK(http.MethodPost, "/sim/items/"+c.ItemID+"/transactions", map[string]any{
		"amount": "4.5", "name": "KIOSK", "merchant_name": "Kiosk", "pending": true, "account_id": card, "date": "2026-03-06",
		"personal_finance_category": map[string]any{"primary": "FOOD_AND_DRINK", "detailed": "FOOD_AND_DRINK_COFFEE"},
		"counterparties":            []map[string]any{{"name": "Kiosk", "type": "merchant"}},
	}, &one)
	if len(one.Transactions) != 1 {
		t.Fatalf("answer %+v", one)
	}
	k := one.Transactions[0]
	if !plaidIDPattern.MatchString(k.TransactionID) || k.AccountID != card || !k.Pending || k.Amount.String() != "4.5" ||
		*k.MerchantName != "Kiosk" || k.Date != "2026-03-06" || *k.IsoCurrencyCode != "USD" || k.PaymentChannel != "other" {
		t.Errorf("added %s", mustJSON(t, k))
	}
	var batch transactionsAnswer
	e.simOK(http.MethodPost, "/sim/items/"+c.ItemID+"/transactions", []map[string]any{{"amount": 1}, {"amount": -2, "unofficial_currency_code": "BTC"}}, &batch)
	if len(batch.Transactions) != 2 || batch.Transactions[0].AccountID != st.Accounts[0].AccountID ||
		batch.Transactions[1].IsoCurrencyCode != nil || *batch.Transactions[1].UnofficialCurrencyCode != "BTC" {
		t.Errorf("batch %s", mustJSON(t, batch))
	}

	var mod Transaction
	e.simOK(http.MethodPatch, "/sim/items/"+c.ItemID+"/transactions/"+k.TransactionID, map[string]any{"amount": 5, "name": "KIOSK 2"}, &mod)
	if mod.Amount.String() != "5" || mod.Name != "KIOSK 2" || *mod.MerchantName != "Kiosk" {
		t.Errorf("modified %s", mustJSON(t, mod))
	}
	e.simOK(http.MethodDelete, "/sim/items/"+c.ItemID+"/transactions/"+batch.Transactions[0].TransactionID, nil, nil)

	pages, _ := e.update(c.AccessToken, cursor, 2, nil)
	m.apply(t, pages)
	m.equalTruth(t, e.truth(c.ItemID).Transactions)

	item := "/sim/items/" + c.ItemID
	tests := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"unknown item", http.MethodGet, "/sim/items/nope", nil, 404, "UNKNOWN_ITEM"},
		{"unknown transaction", http.MethodPatch, item + "/transactions/nope", map[string]any{"amount": 1}, 404, "UNKNOWN_TRANSACTION"},
		{"removed transaction", http.MethodDelete, item + "/transactions/" + batch.Transactions[0].TransactionID, nil, 404, "UNKNOWN_TRANSACTION"},
		{"no amount", http.MethodPost, item + "/transactions", map[string]any{"name": "x"}, 400, "MISSING_FIELDS"},
		{"bad amount", http.MethodPost, item + "/transactions", map[string]any{"amount": "1,5"}, 400, "INVALID_FIELD"},
		{"too precise amount", http.MethodPost, item + "/transactions", map[string]any{"amount": "1.00000000001"}, 400, "INVALID_FIELD"},
		{"unknown field", http.MethodPost, item + "/transactions", map[string]any{"amount": 1, "colour": "red"}, 400, "UNKNOWN_FIELDS"},
		{"bad date", http.MethodPost, item + "/transactions", map[string]any{"amount": 1, "date": "yesterday"}, 400, "INVALID_FIELD"},
		{"bad channel", http.MethodPost, item + "/transactions", map[string]any{"amount": 1, "payment_channel": "carrier pigeon"}, 400, "INVALID_FIELD"},
		{"two currencies", http.MethodPost, item + "/transactions", map[string]any{"amount": 1, "iso_currency_code": "USD", "unofficial_currency_code": "BTC"}, 400, "INVALID_FIELD"},
		{"unknown account", http.MethodPost, item + "/transactions", map[string]any{"amount": 1, "account_id": "nope"}, 400, "INVALID_ACCOUNT_ID"},
		{"id given", http.MethodPost, item + "/transactions", map[string]any{"amount": 1, "transaction_id": "mine"}, 400, "INVALID_FIELD"},
		{"not JSON", http.MethodPost, item + "/transactions", "amount=1", 400, "INVALID_BODY"},
		{"change account", http.MethodPatch, item + "/transactions/" + k.TransactionID, map[string]any{"account_id": card}, 400, "INVALID_FIELD"},
		{"change pending", http.MethodPatch, item + "/transactions/" + k.TransactionID, map[string]any{"pending": false}, 400, "INVALID_FIELD"},
		{"null amount", http.MethodPatch, item + "/transactions/" + k.TransactionID, map[string]any{"amount": nil}, 400, "INVALID_FIELD"},
		{"mutate unknown field", http.MethodPost, item + "/mutate", map[string]any{"seed": 1, "explode": 1}, 400, "UNKNOWN_FIELDS"},
		{"mutate negative", http.MethodPost, item + "/mutate", map[string]any{"add": -1}, 400, "INVALID_FIELD"},
		{"unknown route", http.MethodGet, "/sim/nope", nil, 404, "NOT_FOUND"},
		{"wrong method", http.MethodGet, item + "/mutate", nil, 405, "METHOD_NOT_ALLOWED"},
		{"user items wrong type", http.MethodPost, "/sim/users", map[string]any{"items": "x"}, 400, "INVALID_FIELD"},
		{"bad username", http.MethodPost, "/sim/items", map[string]any{"username": "user_bad"}, 400, "INVALID_FIELD"},
		{"bad size", http.MethodPost, "/sim/items", map[string]any{"transactions": -1}, 400, "INVALID_FIELD"},
		{"bad delay", http.MethodPost, "/sim/items", map[string]any{"readiness_delays": map[string]any{"initial": "soon"}}, 400, "INVALID_FIELD"},
		{"bad webhook", http.MethodPost, item + "/webhook", map[string]any{"webhook": "ftp://x"}, 400, "INVALID_FIELD"},
		{"unknown processor token", http.MethodPost, "/sim/processor_tokens/processor-sandbox-x/webhook", map[string]any{"webhook": "http://x/"}, 404, "UNKNOWN_PROCESSOR_TOKEN"},
		{"unknown key", http.MethodPost, "/sim/keys/nope/expire", nil, 404, "UNKNOWN_KEY"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.simFails(tc.method, tc.path, tc.body, tc.status, tc.code)
		})
	}

	e.ok("/item/remove", map[string]any{"access_token": c.AccessToken}, nil)
	e.simFails(http.MethodPost, item+"/transactions", map[string]any{"amount": 1}, 400, "ITEM_REMOVED")
}

// TestSimWebhookAPI covers the item and processor webhook settings, the
// delivery log and key rotation over the /sim/ API, with a real receiver
// checking each delivery's signature.
func TestSimWebhookAPI(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.newItem(ItemOptions{Webhook: "http://127.0.0.1:1/unused"}.with(10))
	e.simOK(http.MethodPost, "/sim/items/"+c.ItemID+"/webhook", map[string]any{"webhook": e.hooks.srv.URL + "/item"}, nil)
	got := e.hooks.next(t)
	var body map[string]any
	mustUnmarshal(t, got.body, &body)
	if body["webhook_code"] != "WEBHOOK_UPDATE_ACKNOWLEDGED" || body["new_webhook_url"] != e.hooks.srv.URL+"/item" {
		t.Errorf("acknowledgement %s", got.body)
	}
	claims := verifyToken(t, currentJWK(e.sim), got.header.Get("Plaid-Verification"))
	if claims.IssuedAt != testNow.Unix() {
		t.Errorf("iat %d", claims.IssuedAt)
	}

	var pt struct {
		ProcessorToken string `json:"processor_token"`
	}
	acct := c.Accounts[0].AccountID
	e.ok("/processor/token/create", map[string]any{"access_token": c.AccessToken, "account_id": acct, "processor": "dwolla"}, &pt)
	e.simOK(http.MethodPost, "/sim/processor_tokens/"+pt.ProcessorToken+"/webhook", map[string]any{"webhook": e.hooks.srv.URL + "/processor"}, nil)
	e.syncOnce(pt.ProcessorToken, "", 0, nil) // activates the processor token's SYNC_UPDATES_AVAILABLE

	n := e.deliveries()
	if _, err := e.sim.AddTransactions(c.ItemID, map[string]any{"amount": 3, "account_id": acct}); err != nil {
		t.Fatal(err)
	}
	hs := e.webhooksSince(n)
	var item, proc []string
	for _, h := range hs {
		if h.url == e.hooks.srv.URL+"/processor" {
			proc = append(proc, h.code())
			if h.body["account_id"] != acct || h.body["item_id"] != nil {
				t.Errorf("processor webhook %s", h.raw)
			}
		} else {
			item = append(item, h.code())
		}
	}
	if !slices.Equal(item, []string{"TRANSACTIONS/DEFAULT_UPDATE"}) {
		t.Errorf("item webhooks %v (no SYNC_UPDATES_AVAILABLE: the item itself never synced)", item)
	}
	if !slices.Equal(proc, []string{"TRANSACTIONS/SYNC_UPDATES_AVAILABLE", "TRANSACTIONS/DEFAULT_UPDATE"}) {
		t.Errorf("processor webhooks %v", proc)
	}
	// A change to another account does not concern the processor token.
	n = e.deliveries()
	if _, err := e.sim.AddTransactions(c.ItemID, map[string]any{"amount": 3, "account_id": c.Accounts[1].AccountID}); err != nil {
		t.Fatal(err)
	}
	for _, h := range e.webhooksSince(n) {
		if h.url == e.hooks.srv.URL+"/processor" {
			t.Errorf("processor token told about another account: %s", h.raw)
		}
	}

	var log deliveriesAnswer
	e.simOK(http.MethodGet, "/sim/webhooks", nil, &log)
	if len(log.Deliveries) != e.deliveries() || len(log.Deliveries) < 5 {
		t.Errorf("%d deliveries logged", len(log.Deliveries))
	}

	var key keyAnswer
	e.simOK(http.MethodPost, "/sim/keys/rotate", nil, &key)
	if key.Kid != e.sim.CurrentKeyID() {
		t.Errorf("rotated to %s, current %s", key.Kid, e.sim.CurrentKeyID())
	}
	e.simOK(http.MethodPost, "/sim/keys/"+key.Kid+"/expire", nil, &key)
	if key.ExpiredAt == nil || *key.ExpiredAt != testNow.Unix() {
		t.Errorf("expire answer %+v", key)
	}
}
