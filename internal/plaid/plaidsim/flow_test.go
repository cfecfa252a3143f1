package plaidsim

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var (
	accessTokenPattern    = regexp.MustCompile(`^access-sandbox-[0-9a-f-]{36}$`)
	publicTokenPattern    = regexp.MustCompile(`^public-sandbox-[0-9a-f-]{36}$`)
	processorTokenPattern = regexp.MustCompile(`^processor-sandbox-[0-9a-f-]{36}$`)
	plaidIDPattern        = regexp.MustCompile(`^[A-Za-z0-9]{37}$`)
)

// TestSandboxFlow walks Plaid's own Sandbox flow: create an Item, exchange
// its public token, sync, create a processor token, sync through it, remove
// the Item.
func TestSandboxFlow(t *testing.T) {
	e := newEnv(t, Options{})
	var pub struct {
		PublicToken string `json:"public_token"`
	}
	e.ok("/sandbox/public_token/create", map[string]any{
		"institution_id": "ins_109508", "initial_products": []string{"transactions"},
		"options": map[string]any{"webhook": e.hooks.srv.URL + "/hook", "override_username": "user_good"},
	}, &pub)
	if !publicTokenPattern.MatchString(pub.PublicToken) {
		t.Errorf("public_token = %q", pub.PublicToken)
	}
	var ex struct {
		AccessToken string `json:"access_token"`
		ItemID      string `json:"item_id"`
	}
	e.ok("/item/public_token/exchange", map[string]any{"public_token": pub.PublicToken}, &ex)
	if !accessTokenPattern.MatchString(ex.AccessToken) || !plaidIDPattern.MatchString(ex.ItemID) {
		t.Errorf("exchange = %+v", ex)
	}
	// A public token is good for one exchange.
	e.fails("/item/public_token/exchange", map[string]any{"public_token": pub.PublicToken}, 400, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN")

	pages, cursor := e.update(ex.AccessToken, "", 0, nil)
	if len(pages) != 1 || pages[0].Status != "HISTORICAL_UPDATE_COMPLETE" {
		t.Fatalf("first sync: %d pages, status %q", len(pages), pages[0].Status)
	}
	if n := len(pages[0].Added); n != 50 {
		t.Errorf("added %d transactions, want the Sandbox's 50", n)
	}
	m := mirror{}
	m.apply(t, pages)
	truth := e.truth(ex.ItemID)
	m.equalTruth(t, truth.Transactions)
	if len(cursor) == 0 || len(cursor) > 256 {
		t.Errorf("next_cursor %q: want 1–256 characters", cursor)
	}
	var pendingSeen bool
	for _, tx := range truth.Transactions {
		pendingSeen = pendingSeen || tx.Pending
	}
	if !pendingSeen {
		t.Error("no pending transaction in a fresh item")
	}

	var item struct {
		Item struct {
			ItemID  string  `json:"item_id"`
			Webhook *string `json:"webhook"`
		} `json:"item"`
	}
	e.ok("/item/get", map[string]any{"access_token": ex.AccessToken}, &item)
	if item.Item.ItemID != ex.ItemID || item.Item.Webhook == nil || *item.Item.Webhook != e.hooks.srv.URL+"/hook" {
		t.Errorf("/item/get = %+v", item)
	}

	acct := truth.Accounts[0].AccountID
	var pt struct {
		ProcessorToken string `json:"processor_token"`
	}
	e.ok("/processor/token/create", map[string]any{"access_token": ex.AccessToken, "account_id": acct, "processor": "dwolla"}, &pt)
	if !processorTokenPattern.MatchString(pt.ProcessorToken) {
		t.Errorf("processor_token = %q", pt.ProcessorToken)
	}
	ppages, _ := e.update(pt.ProcessorToken, "", 500, nil)
	if ppages[0].Account == nil || ppages[0].Account.AccountID != acct || ppages[0].Accounts != nil {
		t.Errorf("processor sync account = %+v, accounts = %+v; want account %s only", ppages[0].Account, ppages[0].Accounts, acct)
	}
	var want []string
	for _, tx := range truth.Transactions {
		if tx.AccountID == acct {
			want = append(want, tx.TransactionID)
		}
	}
	got := ids(ppages[0].Added)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("processor sync added %d transactions, want the %d of account %s", len(got), len(want), acct)
	}

	e.ok("/item/remove", map[string]any{"access_token": ex.AccessToken}, nil)
	e.fails("/transactions/sync", map[string]any{"access_token": ex.AccessToken}, 400, "ITEM_ERROR", "ITEM_NOT_FOUND")
	e.fails("/item/get", map[string]any{"access_token": ex.AccessToken}, 400, "ITEM_ERROR", "ITEM_NOT_FOUND")
	e.fails("/processor/transactions/sync", map[string]any{"processor_token": pt.ProcessorToken}, 400, "ITEM_ERROR", "ITEM_NOT_FOUND")
	if st := e.truth(ex.ItemID); !st.Removed {
		t.Error("ground truth does not say removed")
	}
}

func TestSandboxPublicTokenCreateOptions(t *testing.T) {
	e := newEnv(t, Options{})
	create := func(username, userID string) (string, string) {
		t.Helper()
		var pub struct {
			PublicToken string `json:"public_token"`
		}
		req := map[string]any{"institution_id": "ins_109509", "initial_products": []string{"transactions", "auth"},
			"options": map[string]any{"override_username": username, "override_password": "pass_good",
				"transactions": map[string]any{"days_requested": 30}}}
		if userID != "" {
			req["user_id"] = userID
		}
		e.ok("/sandbox/public_token/create", req, &pub)
		var ex struct {
			AccessToken string `json:"access_token"`
			ItemID      string `json:"item_id"`
		}
		e.ok("/item/public_token/exchange", map[string]any{"public_token": pub.PublicToken}, &ex)
		return ex.AccessToken, ex.ItemID
	}
	tokA, idA := create("user_transactions_dynamic", "usr_flow")
	_, idB := create("user_good", "usr_flow")
	if st := e.truth(idA); st.Username != userDynamic || st.UserID != "usr_flow" || st.InstitutionID != "ins_109509" {
		t.Errorf("item A = %s %s %s", st.Username, st.UserID, st.InstitutionID)
	}
	for _, tx := range e.truth(idB).Transactions {
		if tx.Date < "2026-02-06" {
			t.Errorf("transaction dated %s, outside 30 days_requested", tx.Date)
			break
		}
	}
	var got struct {
		Item struct {
			BilledProducts []string `json:"billed_products"`
		} `json:"item"`
	}
	e.ok("/item/get", map[string]any{"access_token": tokA}, &got)
	if !slices.Equal(got.Item.BilledProducts, []string{"transactions", "auth"}) {
		t.Errorf("billed_products = %v", got.Item.BilledProducts)
	}
	var res struct {
		UserID  string `json:"user_id"`
		Results []struct {
			ItemID string `json:"item_id"`
		} `json:"results"`
	}
	e.ok("/user/transactions/refresh", map[string]any{"user_id": "usr_flow"}, &res)
	if len(res.Results) != 2 || res.Results[0].ItemID != idA || res.Results[1].ItemID != idB {
		t.Errorf("/user/transactions/refresh results = %+v", res.Results)
	}
}

func TestSimCreateUser(t *testing.T) {
	e := newEnv(t, Options{})
	var u CreatedUser
	e.simOK(http.MethodPost, "/sim/users", map[string]any{"items": []map[string]any{
		{"username": "user_transactions_dynamic", "transactions": 10},
		{"transactions": 20, "not_ready": true},
	}}, &u)
	if !strings.HasPrefix(u.UserID, "usr_") || len(u.Items) != 2 {
		t.Fatalf("created %+v", u)
	}
	for _, c := range u.Items {
		if !accessTokenPattern.MatchString(c.AccessToken) || len(c.Accounts) < 2 || len(c.Accounts) > 3 {
			t.Errorf("item %+v", c)
		}
		if st := e.truth(c.ItemID); st.UserID != u.UserID {
			t.Errorf("item %s user %q, want %q", c.ItemID, st.UserID, u.UserID)
		}
	}
	if st := e.truth(u.Items[1].ItemID); st.TransactionsUpdateStatus != "NOT_READY" || len(st.Transactions) != 0 {
		t.Errorf("not_ready item: %s with %d transactions", st.TransactionsUpdateStatus, len(st.Transactions))
	}
	if n := len(e.truth(u.Items[0].ItemID).Transactions); n != 10 {
		t.Errorf("item of 10 has %d transactions", n)
	}
}
