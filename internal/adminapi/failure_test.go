package adminapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestNATSFailureIsNotBlamedOnPlaid: when NATS does not answer, requests
// that never reach Plaid are 500 internal (cause logged), not 502
// plaid_unavailable ("Plaid did not answer").
func TestNATSFailureIsNotBlamedOnPlaid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.replica(replicaOptions{natsTimeout: 200 * time.Millisecond})
	it := e.createItem()
	r.register(it.ItemID, it.AccessToken, "")
	e.ns.Shutdown()

	for _, c := range []struct{ name, method, path string }{
		{"GET", http.MethodGet, "/v1/items/" + it.ItemID},
		{"sync", http.MethodPost, "/v1/items/" + it.ItemID + "/sync"},
		{"resync", http.MethodPost, "/v1/items/" + it.ItemID + "/resync"},
		{"DELETE", http.MethodDelete, "/v1/items/" + it.ItemID},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := r.do(request{method: c.method, path: c.path})
			checkError(t, resp, http.StatusInternalServerError, "internal", "internal error (see the fetcher's log)")
		})
	}
	if n := r.plaidAttempts("/transactions/refresh"); n != 0 {
		t.Errorf("Plaid was called %d times", n)
	}
	if !strings.Contains(e.logs.String(), `"msg":"admin request failed"`) {
		t.Errorf("the NATS failures were not logged")
	}
}
