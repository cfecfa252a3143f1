package plaidsim

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/plaidstream/plaidstream/internal/plaid/plaidspec"
)

var loadSpec = sync.OnceValues(plaidspec.Load)

// checkSpec validates an answer against Plaid's official OpenAPI document:
// the operation's response schema for paths the spec defines (requests are
// not validated; many tests send broken ones on purpose), PlaidError for
// every error answer elsewhere. The simulator's own /sim/ answers on success
// are not Plaid's and are skipped.
func checkSpec(t *testing.T, req *http.Request, reqBody []byte, a answer) {
	t.Helper()
	spec, err := loadSpec()
	if err != nil {
		t.Fatalf("plaidspec.Load: %v", err)
	}
	if req.Method == http.MethodPost && spec.Doc().Paths.Value(req.URL.Path) != nil {
		if err := spec.ValidateResponse(context.Background(), req, reqBody, a.status, a.header, a.body); err != nil {
			t.Errorf("answer violates Plaid's spec: %v\n%s", err, a.body)
		}
		return
	}
	if a.status == http.StatusOK && strings.HasPrefix(req.URL.Path, "/sim/") {
		return
	}
	if err := spec.ValidateSchema("PlaidError", a.body); err != nil {
		t.Errorf("error answer is not a PlaidError: %v\n%s", err, a.body)
	}
}
