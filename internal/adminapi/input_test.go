package adminapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/plaidstream/plaidstream/internal/adminapi"
	"github.com/plaidstream/plaidstream/internal/events"
)

// TestBadInput: malformed requests are 400 invalid_request (413
// body_too_large for an oversized body) with a message saying what is
// wrong, and store nothing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const tok = "access-sandbox-0f9e8d7c"
	e.addSecret(tok)
	r := e.replica(replicaOptions{})
	big := `{"access_token":"` + tok + `","user_id":"` + strings.Repeat("u", adminapi.MaxBodyBytes) + `"}`
	cases := []struct {
		name        string
		method      string
		path        string
		body        string
		contentType string
		status      int
		code        string
		msg         string
	}{
		{"bad JSON", http.MethodPut, "/v1/items/item1", `{"access_token":`, "", 400, "invalid_request", "bad JSON"},
		{"not an object", http.MethodPut, "/v1/items/item1", `["` + tok + `"]`, "", 400, "invalid_request", "bad JSON"},
		{"empty body", http.MethodPut, "/v1/items/item1", ``, "application/json", 400, "invalid_request", "empty body"},
		{"unknown field", http.MethodPut, "/v1/items/item1", `{"access_token":"` + tok + `","webhook":"x"}`, "", 400, "invalid_request", `unknown field "webhook"`},
		{"trailing object", http.MethodPut, "/v1/items/item1", `{"access_token":"` + tok + `"}{}`, "", 400, "invalid_request", "data after the object"},
		{"trailing garbage", http.MethodPut, "/v1/items/item1", `{"access_token":"` + tok + `"} x`, "", 400, "invalid_request", "bad JSON"},
		{"token of the wrong type", http.MethodPut, "/v1/items/item1", `{"access_token":42}`, "", 400, "invalid_request", "bad JSON"},
		{"wrong content type", http.MethodPut, "/v1/items/item1", `{"access_token":"` + tok + `"}`, "text/plain", 400, "invalid_request", "Content-Type must be application/json"},
		{"other environment", http.MethodPut, "/v1/items/item1", `{"access_token":"` + tok + `","environment":"production"}`, "", 400, "invalid_request", `environment "production": this fetcher serves "sandbox"`},
		{"missing access_token", http.MethodPut, "/v1/items/item1", `{"user_id":"usr1"}`, "", 400, "invalid_request", "access_token is required"},
		{"empty access_token", http.MethodPut, "/v1/items/item1", `{"access_token":""}`, "", 400, "invalid_request", "access_token is required"},
		{"processor_token on an item", http.MethodPut, "/v1/items/item1", `{"access_token":"` + tok + `","processor_token":"` + tok + `"}`, "", 400, "invalid_request", "not processor_token"},
		{"only processor_token on an item", http.MethodPut, "/v1/items/item1", `{"processor_token":"` + tok + `"}`, "", 400, "invalid_request", "not processor_token"},
		{"unsafe item id", http.MethodPut, "/v1/items/bad.id", `{"access_token":"` + tok + `"}`, "", 400, "invalid_request", "not a valid owner"},
		{"unsafe item id in GET", http.MethodGet, "/v1/items/bad.id", ``, "", 400, "invalid_request", "not a valid owner"},
		{"unsafe account id in DELETE", http.MethodDelete, "/v1/processor-tokens/bad%20id", ``, "", 400, "invalid_request", "not a valid owner"},
		{"unsafe user id in the path", http.MethodPost, "/v1/users/usr.1/refresh", ``, "", 400, "invalid_request", "user id"},
		{"access_token on a processor token", http.MethodPut, "/v1/processor-tokens/acct1", `{"access_token":"` + tok + `","processor_token":"` + tok + `"}`, "", 400, "invalid_request", "a processor token takes processor_token"},
		{"user_id on a processor token", http.MethodPut, "/v1/processor-tokens/acct1", `{"processor_token":"` + tok + `","user_id":"usr1"}`, "", 400, "invalid_request", "a processor token takes processor_token"},
		{"missing processor_token", http.MethodPut, "/v1/processor-tokens/acct1", `{}`, "", 400, "invalid_request", "processor_token is required"},
		{"processor token in another environment", http.MethodPut, "/v1/processor-tokens/acct1", `{"processor_token":"` + tok + `","environment":"production"}`, "", 400, "invalid_request", "this fetcher serves"},
		// User input, not a server failure: Plaid user ids are safe names.
		{"unsafe user_id in the body", http.MethodPut, "/v1/items/item1", `{"access_token":"` + tok + `","user_id":"usr 1"}`, "", 400, "invalid_request", "user"},
		// A token of white space is no token.
		{"blank access_token", http.MethodPut, "/v1/items/item1", `{"access_token":"   "}`, "", 400, "invalid_request", "token"},
		{"oversized body", http.MethodPut, "/v1/items/item1", big, "", 413, "body_too_large", "exceeds 65536 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := r.do(request{method: tc.method, path: tc.path, body: tc.body, contentType: tc.contentType})
			checkError(t, resp, tc.status, tc.code, tc.msg)
		})
	}
	// Nothing was stored or requested.
	if got := r.get("/v1/items"); string(got.body) != "{\n  \"items\": []\n}\n" {
		t.Errorf("after bad requests GET /v1/items = %s, want no items", got.body)
	}
	if n := len(e.messages(events.WebhookStream)); n != 0 {
		t.Errorf("PLAID_WEBHOOKS holds %d messages after bad requests, want 0", n)
	}
}

// TestNotFound: operations on an owner that is not registered, and paths
// or methods no route serves, are 404 not_found.
func TestNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.replica(replicaOptions{})
	// A registered item, so the 404s are about the id, not an empty store.
	it := e.createItem()
	r.register(it.ItemID, it.AccessToken, "")

	cases := []struct {
		name, method, path, msg string
	}{
		{"GET item", http.MethodGet, "/v1/items/nosuchitem", "item.nosuchitem: not registered"},
		{"DELETE item", http.MethodDelete, "/v1/items/nosuchitem", "item.nosuchitem: not registered"},
		{"sync item", http.MethodPost, "/v1/items/nosuchitem/sync", "not registered"},
		{"refresh item", http.MethodPost, "/v1/items/nosuchitem/refresh", "not registered"},
		{"resync item", http.MethodPost, "/v1/items/nosuchitem/resync", "not registered"},
		{"GET processor token", http.MethodGet, "/v1/processor-tokens/nosuchacct", "processor.nosuchacct: not registered"},
		{"DELETE processor token", http.MethodDelete, "/v1/processor-tokens/nosuchacct", "not registered"},
		{"sync processor token", http.MethodPost, "/v1/processor-tokens/nosuchacct/sync", "not registered"},
		{"refresh processor token", http.MethodPost, "/v1/processor-tokens/nosuchacct/refresh", "not registered"},
		{"resync processor token", http.MethodPost, "/v1/processor-tokens/nosuchacct/resync", "not registered"},
		// An item id is not an account id.
		{"item as processor token", http.MethodGet, "/v1/processor-tokens/" + it.ItemID, "not registered"},
		{"unknown route", http.MethodGet, "/v1/accounts", "no such route: GET /v1/accounts"},
		{"unknown sub-route", http.MethodPost, "/v1/items/" + it.ItemID + "/remove", "no such route"},
		{"unknown method", http.MethodPatch, "/v1/items/" + it.ItemID, "no such route: PATCH"},
		{"POST to the collection", http.MethodPost, "/v1/items", "no such route"},
		{"user sync", http.MethodPost, "/v1/users/usr1/sync", "no such route"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkError(t, r.do(request{method: tc.method, path: tc.path}), http.StatusNotFound, "not_found", tc.msg)
		})
	}
	// The registered item is untouched.
	mustStatus(t, "GET the registered item", r.get("/v1/items/"+it.ItemID), http.StatusOK)
	if n := r.plaidAttempts("/transactions/refresh"); n != 0 {
		t.Errorf("%d refresh calls reached Plaid for unknown items, want 0", n)
	}
}
