package plaid_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/plaidstream/plaidstream/internal/plaid/plaidspec"
)

var loadSpec = sync.OnceValues(plaidspec.Load)

// testSpec returns Plaid's OpenAPI document, loaded once per test binary.
func testSpec(t testing.TB) *plaidspec.Spec {
	t.Helper()
	s, err := loadSpec()
	if err != nil {
		t.Fatalf("plaidspec.Load: %v", err)
	}
	return s
}

// specTransport wraps base so that every exchange in these tests is
// validated against Plaid's official OpenAPI document.
func specTransport(t testing.TB, base http.RoundTripper) http.RoundTripper {
	t.Helper()
	return plaidspec.Transport(t, testSpec(t), base)
}
