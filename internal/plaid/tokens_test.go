package plaid_test

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plaidstream/plaidstream/internal/plaid"
)

// TestTokensPrintRedacted: request and response values that carry tokens
// print without them in every fmt verb and slog handler, and still marshal
// them to JSON, where Plaid needs them.
func TestTokensPrintRedacted(t *testing.T) {
	values := map[string]any{
		"TransactionsSyncRequest":          plaid.TransactionsSyncRequest{AccessToken: testAccessToken, Cursor: "c"},
		"*TransactionsSyncRequest":         &plaid.TransactionsSyncRequest{AccessToken: testAccessToken},
		"ProcessorTransactionsSyncRequest": plaid.ProcessorTransactionsSyncRequest{ProcessorToken: testProcessorToken},
		"ItemPublicTokenExchangeResponse":  plaid.ItemPublicTokenExchangeResponse{AccessToken: testAccessToken, ItemID: "item-1"},
		"ProcessorTokenCreateResponse":     plaid.ProcessorTokenCreateResponse{ProcessorToken: testProcessorToken},
		"SandboxPublicTokenCreateResponse": plaid.SandboxPublicTokenCreateResponse{PublicToken: testPublicToken},
		"ItemPublicTokenExchangeRequest":   plaid.ItemPublicTokenExchangeRequest{PublicToken: testPublicToken},
		"TransactionsGetRequest": plaid.TransactionsGetRequest{AccessToken: testAccessToken, StartDate: "2026-01-01",
			Options: &plaid.TransactionsGetRequestOptions{Count: 5}},
		"SandboxTransactionsCreateRequest": plaid.SandboxTransactionsCreateRequest{AccessToken: testAccessToken,
			Transactions: []plaid.CustomSandboxTransaction{{Amount: plaid.MustParseDecimal("1.5"), Description: "d"}}},
		"AccessToken":    plaid.AccessToken(testAccessToken),
		"ProcessorToken": plaid.ProcessorToken(testProcessorToken),
		"PublicToken":    plaid.PublicToken(testPublicToken),
	}
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			var text, js strings.Builder
			slog.New(slog.NewTextHandler(&text, nil)).Info("x", "v", v)
			slog.New(slog.NewJSONHandler(&js, nil)).Info("x", "v", v)
			outputs := map[string]string{
				"%v":        fmt.Sprintf("%v", v),
				"%+v":       fmt.Sprintf("%+v", v),
				"%#v":       fmt.Sprintf("%#v", v),
				"%s":        fmt.Sprintf("%s", v),
				"%q":        fmt.Sprintf("%q", v),
				"%x":        fmt.Sprintf("%x", v),
				"slog text": text.String(),
				"slog JSON": js.String(),
			}
			for verb, out := range outputs {
				if containsToken(out) {
					t.Errorf("%s prints the token: %s", verb, out)
				}
			}
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if !containsToken(string(b)) {
				t.Errorf("JSON %s lacks the token", b)
			}
		})
	}
}

func containsToken(s string) bool {
	return strings.Contains(s, testAccessToken) || strings.Contains(s, testProcessorToken) || strings.Contains(s, testPublicToken)
}

// TestTokenCarriersHaveLogValue parses the package's source and requires a
// LogValue method on every struct type with a token field, so a type added
// later cannot leak its token through slog's JSON handler.
func TestTokenCarriersHaveLogValue(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	tokenTypes := map[string]bool{"AccessToken": true, "ProcessorToken": true, "PublicToken": true}
	carriers := map[string]bool{}
	logValuers := map[string]bool{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch d := n.(type) {
			case *ast.TypeSpec:
				st, ok := d.Type.(*ast.StructType)
				if !ok {
					return true
				}
				for _, field := range st.Fields.List {
					if id, ok := field.Type.(*ast.Ident); ok && tokenTypes[id.Name] {
						carriers[d.Name.Name] = true
					}
				}
			case *ast.FuncDecl:
				if d.Recv != nil && d.Name.Name == "LogValue" {
					if id, ok := d.Recv.List[0].Type.(*ast.Ident); ok {
						logValuers[id.Name] = true
					}
				}
			}
			return true
		})
	}
	if len(carriers) < 10 {
		t.Fatalf("found only %d token-carrying types: %v", len(carriers), carriers)
	}
	for typ := range carriers {
		if !logValuers[typ] {
			t.Errorf("%s has a token field but no LogValue method", typ)
		}
	}
}
