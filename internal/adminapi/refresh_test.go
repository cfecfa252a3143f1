package adminapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// plaidsimUser asks for a user with n small items.
func plaidsimUser(id string, n int) plaidsim.CreateUserRequest {
	size := 5
	req := plaidsim.CreateUserRequest{UserID: id}
	for range n {
		req.Items = append(req.Items, plaidsim.ItemOptions{Transactions: &size})
	}
	return req
}

// TestRefreshLimitAcrossReplicas: two API replicas share NATS; together
// they accept two refreshes of an item per window, and every further one
// is 429 refresh_limited with a Retry-After within the window, without
// calling Plaid. Other items keep their own allowance.
func TestRefreshLimitAcrossReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.replica(replicaOptions{}), e.replica(replicaOptions{})
	it, other := e.createItem(), e.createItem()
	a.register(it.ItemID, it.AccessToken, "")
	b.register(other.ItemID, other.AccessToken, "")
	path := "/v1/items/" + it.ItemID + "/refresh"

	for i, r := range []*replica{a, b} {
		resp := r.post(path)
		mustStatus(t, "refresh", resp, http.StatusAccepted)
		ans := decode[struct {
			Owner          string `json:"owner"`
			PlaidRequestID string `json:"plaid_request_id"`
		}](t, resp)
		if ans.Owner != "item."+it.ItemID || len(ans.PlaidRequestID) != 15 {
			t.Errorf("refresh %d answered %s", i+1, resp.body)
		}
	}
	for _, r := range []*replica{a, b, a} {
		resp := r.post(path)
		checkError(t, resp, http.StatusTooManyRequests, "refresh_limited", "at most 2 refreshes per item per 1m0s")
		if s := retryAfter(t, resp); s < 1 || s > 60 {
			t.Errorf("Retry-After %d s, want 1 to 60", s)
		}
	}
	if got := a.plaidAttempts("/transactions/refresh") + b.plaidAttempts("/transactions/refresh"); got != 2 {
		t.Errorf("%d calls reached /transactions/refresh, want 2", got)
	}
	mustStatus(t, "refresh of another item", b.post("/v1/items/"+other.ItemID+"/refresh"), http.StatusAccepted)

	// The count is in PLAID_REFRESH_LIMITS, one slot per accepted call.
	kv, err := e.js.KeyValue(e.ctx, events.RefreshLimitsBucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"item." + it.ItemID + ".0", "item." + it.ItemID + ".1", "item." + other.ItemID + ".0"} {
		if _, err := kv.Get(e.ctx, key); err != nil {
			t.Errorf("slot %s: %v", key, err)
		}
	}
	if got, want := a.refreshOutcomes(), []string{"item/accepted", "item/limited", "item/limited"}; !slices.Equal(got, want) {
		t.Errorf("replica a observed %v, want %v", got, want)
	}
	if got, want := b.refreshOutcomes(), []string{"item/accepted", "item/limited", "item/accepted"}; !slices.Equal(got, want) {
		t.Errorf("replica b observed %v, want %v", got, want)
	}
}

// TestRefreshPlaidErrors: Plaid's errors of /transactions/refresh are
// passed on with Plaid's status and error object; its 429 with a
// Retry-After; no answer at all is 502.
func TestRefreshPlaidErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.replica(replicaOptions{})
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	unreachable := e.replica(replicaOptions{plaidURL: dead.URL})
	noPlaid := e.replica(replicaOptions{noPlaid: true})

	cases := []struct {
		name  string
		r     *replica
		fault *plaidsim.Fault // injected for the item on /transactions/refresh
		// itemError puts the item in this error state first.
		itemError  string
		status     int
		code       string
		msg        string
		plaidCode  string
		retryAfter string
		attempts   int // HTTP attempts at /transactions/refresh
		outcome    string
	}{
		{
			name: "Plaid's refresh limit", r: r,
			// Both attempts of the client (it retries a 429 once here).
			fault:  &plaidsim.Fault{ErrorCode: "TRANSACTIONS_REFRESH_LIMIT", Count: 2},
			status: 429, code: "plaid_rate_limited", msg: "Plaid: TRANSACTIONS_REFRESH_LIMIT", plaidCode: "TRANSACTIONS_REFRESH_LIMIT",
			retryAfter: "60", attempts: 2, outcome: "item/plaid_rate_limited",
		},
		{
			name: "item needs its user", r: r, itemError: "ITEM_LOGIN_REQUIRED",
			status: 400, code: "plaid_error", msg: "Plaid: ITEM_LOGIN_REQUIRED", plaidCode: "ITEM_LOGIN_REQUIRED",
			attempts: 1, outcome: "item/plaid_error",
		},
		{
			name: "Plaid's 500, not retried", r: r, fault: &plaidsim.Fault{Status: 500, Count: 2},
			status: 500, code: "plaid_error", msg: "Plaid: INTERNAL_SERVER_ERROR", plaidCode: "INTERNAL_SERVER_ERROR",
			attempts: 1, outcome: "item/plaid_error",
		},
		{
			name: "Plaid unreachable", r: unreachable,
			status: 502, code: "plaid_unavailable", msg: "Plaid did not answer", outcome: "item/error",
		},
		{
			name: "no Plaid client", r: noPlaid,
			status: 500, code: "internal", msg: "internal error (see the fetcher's log)", outcome: "item/error",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			it := e.createItem()
			tc.r.register(it.ItemID, it.AccessToken, "")
			if tc.itemError != "" {
				if err := e.sim.SetItemError(it.ItemID, tc.itemError); err != nil {
					t.Fatal(err)
				}
			}
			if tc.fault != nil {
				f := *tc.fault
				f.ItemID = it.ItemID
				if err := e.sim.InjectFault("/transactions/refresh", f); err != nil {
					t.Fatal(err)
				}
			}
			before := tc.r.plaidAttempts("/transactions/refresh")
			resp := tc.r.post("/v1/items/" + it.ItemID + "/refresh")
			ae := checkError(t, resp, tc.status, tc.code, tc.msg)
			switch {
			case tc.plaidCode == "" && ae.Error.Plaid != nil:
				t.Errorf("error.plaid = %+v, want none", ae.Error.Plaid)
			case tc.plaidCode != "" && (ae.Error.Plaid == nil || ae.Error.Plaid.ErrorCode != tc.plaidCode || ae.Error.Plaid.RequestID == ""):
				t.Errorf("error.plaid = %+v, want Plaid's %s with its request_id", ae.Error.Plaid, tc.plaidCode)
			}
			if got := resp.header.Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			if got := tc.r.plaidAttempts("/transactions/refresh") - before; tc.attempts > 0 && got != tc.attempts {
				t.Errorf("%d attempts at /transactions/refresh, want %d", got, tc.attempts)
			}
			if outs := tc.r.refreshOutcomes(); len(outs) == 0 || outs[len(outs)-1] != tc.outcome {
				t.Errorf("observed refresh outcomes %v, want the last %q", outs, tc.outcome)
			}
		})
	}
	if !strings.Contains(e.logs.String(), `"msg":"admin request failed"`) {
		t.Errorf("the unexpected failure was not logged")
	}
}

// TestUserRefresh: POST /v1/users/{user_id}/refresh reports every item of
// the user, marks those this fetcher does not sync, and publishes one
// plaid.item.refresh_failed with Plaid's error per registered item that
// failed.
func TestUserRefresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.replica(replicaOptions{})
	u, err := e.sim.CreateUser(plaidsimUser("usr_refresh", 4))
	if err != nil {
		t.Fatal(err)
	}
	okReg, failReg, okUnreg, failUnreg := u.Items[0], u.Items[1], u.Items[2], u.Items[3]
	for _, it := range u.Items {
		e.addSecret(it.AccessToken)
	}
	r.register(okReg.ItemID, okReg.AccessToken, u.UserID)
	r.register(failReg.ItemID, failReg.AccessToken, u.UserID)
	for _, id := range []string{failReg.ItemID, failUnreg.ItemID} {
		if err := e.sim.SetItemError(id, "ITEM_LOGIN_REQUIRED"); err != nil {
			t.Fatal(err)
		}
	}

	resp := r.post("/v1/users/" + u.UserID + "/refresh")
	mustStatus(t, "user refresh", resp, http.StatusOK)
	type itemResult struct {
		ItemID     string `json:"item_id"`
		OK         bool   `json:"ok"`
		Registered bool   `json:"registered"`
		Error      *struct {
			ErrorType string `json:"error_type"`
			ErrorCode string `json:"error_code"`
		} `json:"error"`
	}
	got := decode[struct {
		UserID         string       `json:"user_id"`
		PlaidRequestID string       `json:"plaid_request_id"`
		Items          []itemResult `json:"items"`
	}](t, resp)
	if got.UserID != u.UserID || len(got.PlaidRequestID) != 15 || len(got.Items) != 4 {
		t.Fatalf("user refresh answered %s", resp.body)
	}
	want := []struct {
		id             string
		ok, registered bool
		errCode        string
	}{
		{okReg.ItemID, true, true, ""},
		{failReg.ItemID, false, true, "ITEM_LOGIN_REQUIRED"},
		{okUnreg.ItemID, true, false, ""},
		{failUnreg.ItemID, false, false, "ITEM_LOGIN_REQUIRED"},
	}
	for i, w := range want {
		g := got.Items[i]
		errCode := ""
		if g.Error != nil {
			errCode = g.Error.ErrorCode
		}
		if g.ItemID != w.id || g.OK != w.ok || g.Registered != w.registered || errCode != w.errCode {
			t.Errorf("items[%d] = %+v (error %q), want %+v", i, g, errCode, w)
		}
	}

	// Exactly one event: for the registered item that failed.
	all := e.messages(events.EventStream)
	if len(all) != 1 {
		t.Fatalf("PLAID_EVENTS holds %d events, want 1", len(all))
	}
	evs := e.ownerEvents(failReg.ItemID)
	if len(evs) != 1 {
		t.Fatalf("events of the failing registered item: %+v", evs)
	}
	ev := evs[0]
	if ev.subject != "plaid.events."+failReg.ItemID+".item.refresh_failed" || ev.ev.Type != "plaid.item.refresh_failed" ||
		ev.ev.Source != "plaid/sandbox/items/"+failReg.ItemID || ev.status.Status != "refresh_failed" || ev.status.ItemID != failReg.ItemID || ev.status.Parked {
		t.Errorf("event: subject %s %+v %+v", ev.subject, ev.ev, ev.status)
	}
	var perr struct {
		ErrorType string `json:"error_type"`
		ErrorCode string `json:"error_code"`
	}
	if err := json.Unmarshal(ev.status.Error, &perr); err != nil || perr.ErrorCode != "ITEM_LOGIN_REQUIRED" || perr.ErrorType != "ITEM_ERROR" {
		t.Errorf("event error %s (%v), want Plaid's ITEM_ERROR/ITEM_LOGIN_REQUIRED", ev.status.Error, err)
	}
	if n := r.plaidAttempts("/user/transactions/refresh"); n != 1 {
		t.Errorf("%d calls to /user/transactions/refresh, want 1", n)
	}
	if outs := r.refreshOutcomes(); !slices.Equal(outs, []string{"user/accepted"}) {
		t.Errorf("observed %v, want [user/accepted]", outs)
	}

	// Plaid's error for the whole call comes back with its status.
	resp = r.post("/v1/users/usr_nobody/refresh")
	ae := checkError(t, resp, http.StatusBadRequest, "plaid_error", "Plaid: INVALID_USER_ID")
	if ae.Error.Plaid == nil || ae.Error.Plaid.ErrorCode != "INVALID_USER_ID" || ae.Error.Plaid.ErrorType != "INVALID_INPUT" {
		t.Errorf("error.plaid = %+v, want Plaid's INVALID_INPUT/INVALID_USER_ID", ae.Error.Plaid)
	}
	if n := len(e.messages(events.EventStream)); n != 1 {
		t.Errorf("the failed call published: %d events, want 1", n)
	}
	if outs := r.refreshOutcomes(); !slices.Equal(outs, []string{"user/accepted", "user/plaid_error"}) {
		t.Errorf("observed %v, want [user/accepted user/plaid_error]", outs)
	}
}
