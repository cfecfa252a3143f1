package adminapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/plaidstream/plaidstream/internal/events"
)

// TestTokensNeverInPlaintext drives every route with real tokens, then
// looks for the tokens — plain, base64 and hex — in every value of
// PLAID_TOKENS, in every message of every stream (the buckets' included),
// in every response body (checked by replica.do as they arrive) and in the
// captured log lines.
func TestTokensNeverInPlaintext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.replica(replicaOptions{})
	u, err := e.sim.CreateUser(plaidsimUser("usr_secret", 2))
	if err != nil {
		t.Fatal(err)
	}
	a, b := u.Items[0], u.Items[1]
	e.addSecret(a.AccessToken)
	e.addSecret(b.AccessToken)
	const processorToken = "processor-sandbox-3c9d1e7f-0a2b-4c6d-8e0f-123456789abc"
	e.addSecret(processorToken)

	r.register(a.ItemID, a.AccessToken, u.UserID)
	r.register(b.ItemID, b.AccessToken, u.UserID)
	body, _ := json.Marshal(map[string]string{"access_token": a.AccessToken})
	mustStatus(t, "replace", r.put("/v1/items/"+a.ItemID, string(body)), http.StatusOK)
	mustStatus(t, "PUT processor token", r.put("/v1/processor-tokens/acct1", `{"processor_token":"`+processorToken+`"}`), http.StatusCreated)
	// Requests that carry a token but fail must not echo it either.
	for _, bad := range []string{
		`{"access_token":"` + a.AccessToken + `","bogus":true}`,
		`{"access_token":"` + a.AccessToken + `","environment":"production"}`,
		`{"access_token":"` + a.AccessToken + `"} trailing`,
		`{"access_token":"` + a.AccessToken,
	} {
		if resp := r.put("/v1/items/"+a.ItemID, bad); resp.code != http.StatusBadRequest {
			t.Errorf("bad PUT: status %d, want 400", resp.code)
		}
	}
	if err := e.sim.SetItemError(b.ItemID, "ITEM_LOGIN_REQUIRED"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/v1/items", 200},
		{http.MethodGet, "/v1/items/" + a.ItemID, 200},
		{http.MethodGet, "/v1/processor-tokens", 200},
		{http.MethodGet, "/v1/processor-tokens/acct1", 200},
		{http.MethodPost, "/v1/items/" + a.ItemID + "/sync", 202},
		{http.MethodPost, "/v1/items/" + a.ItemID + "/resync", 202},
		{http.MethodPost, "/v1/items/" + a.ItemID + "/refresh", 202},
		{http.MethodPost, "/v1/items/" + b.ItemID + "/refresh", 400}, // Plaid's ITEM_LOGIN_REQUIRED
		{http.MethodPost, "/v1/processor-tokens/acct1/refresh", 400}, // Plaid's INVALID_PROCESSOR_TOKEN
		{http.MethodPost, "/v1/users/" + u.UserID + "/refresh", 200},
		{http.MethodDelete, "/v1/items/" + b.ItemID, 204},
	} {
		if resp := r.do(request{method: c.method, path: c.path}); resp.code != c.want {
			t.Errorf("%s %s: status %d, want %d: %s", c.method, c.path, resp.code, c.want, resp.body)
		}
	}

	forms := func(s string) []string {
		return []string{s, base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s)), hex.EncodeToString([]byte(s))}
	}
	tokens := []string{a.AccessToken, b.AccessToken, processorToken}

	// PLAID_TOKENS: one sealed value per registered owner, no plaintext.
	kv, err := e.js.KeyValue(e.ctx, events.TokensBucket)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.Keys(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 { // a and acct1; b was removed
		t.Errorf("PLAID_TOKENS keys %v, want 2", keys)
	}
	for _, k := range keys {
		v, err := kv.Get(e.ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(v.Value(), []byte(`"ciphertext"`)) {
			t.Errorf("PLAID_TOKENS %s holds no sealed token: %s", k, v.Value())
		}
		for _, tok := range tokens {
			for _, f := range forms(tok) {
				if bytes.Contains(v.Value(), []byte(f)) {
					t.Errorf("PLAID_TOKENS %s holds a token in plaintext (%.10s...)", k, f)
				}
			}
		}
	}

	// Every stored message of every stream, headers included.
	names := e.js.StreamNames(e.ctx)
	scanned := 0
	for name := range names.Name() {
		for _, m := range e.messages(name) {
			scanned++
			all := append([]byte(m.subject+"\n"+strings.Join(flatten(http.Header(m.header)), "\n")+"\n"), m.data...)
			for _, tok := range tokens {
				for _, f := range forms(tok) {
					if bytes.Contains(all, []byte(f)) {
						t.Errorf("stream %s seq %d holds a token (%.10s...)", name, m.seq, f)
					}
				}
			}
		}
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	if scanned < 10 {
		t.Errorf("scanned only %d stored messages; the scan is not looking", scanned)
	}

	// The log lines (newEnv's cleanup checks the plain tokens; here the
	// encoded forms, and that there are lines to check).
	logs := e.logs.String()
	if strings.Count(logs, `"msg":"admin.request"`) < 15 {
		t.Errorf("the log has %d request lines; the capture is not working", strings.Count(logs, `"msg":"admin.request"`))
	}
	for _, tok := range tokens {
		for _, f := range forms(tok) {
			if strings.Contains(logs, f) {
				t.Errorf("the logs contain a token (%.10s...)", f)
			}
		}
	}
}
