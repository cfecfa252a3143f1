package adminapi_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/plaidstream/plaidstream/internal/events"
)

// routes is every /v1/ route, with a body where it takes one, plus a path
// no route serves.
var routes = []struct{ method, path, body string }{
	{http.MethodGet, "/v1/items", ""},
	{http.MethodPut, "/v1/items/item1", `{"access_token":"access-sandbox-aaaa"}`},
	{http.MethodGet, "/v1/items/item1", ""},
	{http.MethodDelete, "/v1/items/item1", ""},
	{http.MethodPost, "/v1/items/item1/sync", ""},
	{http.MethodPost, "/v1/items/item1/refresh", ""},
	{http.MethodPost, "/v1/items/item1/resync", ""},
	{http.MethodGet, "/v1/processor-tokens", ""},
	{http.MethodPut, "/v1/processor-tokens/acct1", `{"processor_token":"processor-sandbox-bbbb"}`},
	{http.MethodGet, "/v1/processor-tokens/acct1", ""},
	{http.MethodDelete, "/v1/processor-tokens/acct1", ""},
	{http.MethodPost, "/v1/processor-tokens/acct1/sync", ""},
	{http.MethodPost, "/v1/processor-tokens/acct1/refresh", ""},
	{http.MethodPost, "/v1/processor-tokens/acct1/resync", ""},
	{http.MethodPost, "/v1/users/usr1/refresh", ""},
	{http.MethodGet, "/v1/no-such-route", ""},
}

// TestNoTokenConfiguredDisablesTheAPI: without FETCHER_ADMIN_TOKEN every
// /v1/ request is 403 admin_api_disabled, whatever it carries, and does
// nothing.
func TestNoTokenConfiguredDisablesTheAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addSecret("access-sandbox-aaaa")
	e.addSecret("processor-sandbox-bbbb")
	disabled := e.replica(replicaOptions{token: "-"})
	for _, rt := range routes {
		for _, auth := range []string{"-", "Bearer " + adminToken, "Bearer "} {
			t.Run(rt.method+" "+rt.path+" auth="+auth, func(t *testing.T) {
				resp := disabled.do(request{method: rt.method, path: rt.path, body: rt.body, auth: auth})
				checkError(t, resp, http.StatusForbidden, "admin_api_disabled", "FETCHER_ADMIN_TOKEN")
				if got := resp.header.Get("WWW-Authenticate"); got != "" {
					t.Errorf("WWW-Authenticate %q on a 403, want none", got)
				}
			})
		}
	}
	if n := len(e.messages(events.WebhookStream)); n != 0 {
		t.Errorf("PLAID_WEBHOOKS holds %d messages after refused requests, want 0", n)
	}
	statuses := disabled.observedStatuses()
	if len(statuses) != 3*len(routes) || slices.ContainsFunc(statuses, func(c int) bool { return c != http.StatusForbidden }) {
		t.Errorf("ObserveRequest saw %v, want %d times 403", statuses, 3*len(routes))
	}
	if n := len(e.messages("KV_" + events.TokensBucket)); n != 0 {
		t.Errorf("PLAID_TOKENS holds %d values after refused requests, want 0", n)
	}
}

// TestBearerToken: a missing, malformed or wrong bearer token is 401 with
// a WWW-Authenticate challenge on every route, and changes nothing; the
// right one works.
func TestBearerToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addSecret("access-sandbox-aaaa")
	e.addSecret("processor-sandbox-bbbb")
	r := e.replica(replicaOptions{})
	auths := []struct {
		name, header, msg string
	}{
		{"missing", "-", "missing bearer token"},
		{"empty bearer", "Bearer ", "missing bearer token"},
		{"basic scheme", "Basic " + adminToken, "missing bearer token"},
		{"no scheme", adminToken, "missing bearer token"},
		{"wrong token", "Bearer not-the-token", "wrong bearer token"},
		{"token prefix", "Bearer " + adminToken[:len(adminToken)-1], "wrong bearer token"},
		{"token with suffix", "Bearer " + adminToken + "x", "wrong bearer token"},
	}
	for _, a := range auths {
		for _, rt := range routes {
			t.Run(a.name+"/"+rt.method+" "+rt.path, func(t *testing.T) {
				resp := r.do(request{method: rt.method, path: rt.path, body: rt.body, auth: a.header})
				checkError(t, resp, http.StatusUnauthorized, "unauthorized", a.msg)
				if got, want := resp.header.Get("WWW-Authenticate"), `Bearer realm="plaidstream-fetcher"`; got != want {
					t.Errorf("WWW-Authenticate %q, want %q", got, want)
				}
			})
		}
	}
	if n := len(e.messages(events.WebhookStream)); n != 0 {
		t.Errorf("PLAID_WEBHOOKS holds %d messages after refused requests, want 0", n)
	}

	// The right token.
	resp := r.get("/v1/items")
	mustStatus(t, "GET /v1/items", resp, http.StatusOK)
	if got := string(resp.body); got != "{\n  \"items\": []\n}\n" {
		t.Errorf("GET /v1/items with no items: %q", got)
	}
	resp = r.put("/v1/items/item1", `{"access_token":"access-sandbox-aaaa"}`)
	mustStatus(t, "PUT with the right token", resp, http.StatusCreated)
	// The scheme is case-insensitive (RFC 9110 §11.1).
	resp = r.do(request{method: http.MethodGet, path: "/v1/items/item1", auth: "bearer " + adminToken})
	mustStatus(t, "GET with a lower-case scheme", resp, http.StatusOK)
}
