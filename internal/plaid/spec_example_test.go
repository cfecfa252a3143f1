package plaid_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"testing"

	"github.com/plaidstream/plaidstream/internal/plaid"
)

// responseTypes maps every path of Plaid's OpenAPI document to the client's
// type for its 200 answer.
var responseTypes = map[string]func() any{
	"/transactions/sync":                    func() any { return new(plaid.TransactionsSyncResponse) },
	"/processor/transactions/sync":          func() any { return new(plaid.ProcessorTransactionsSyncResponse) },
	"/transactions/get":                     func() any { return new(plaid.TransactionsGetResponse) },
	"/transactions/recurring/get":           func() any { return new(plaid.TransactionsRecurringGetResponse) },
	"/processor/transactions/recurring/get": func() any { return new(plaid.TransactionsRecurringGetResponse) },
	"/transactions/refresh":                 func() any { return new(plaid.TransactionsRefreshResponse) },
	"/processor/transactions/refresh":       func() any { return new(plaid.TransactionsRefreshResponse) },
	"/user/transactions/refresh":            func() any { return new(plaid.UserTransactionsRefreshResponse) },
	"/webhook_verification_key/get":         func() any { return new(plaid.WebhookVerificationKeyGetResponse) },
	"/item/get":                             func() any { return new(plaid.ItemGetResponse) },
	"/item/remove":                          func() any { return new(plaid.ItemRemoveResponse) },
	"/item/public_token/exchange":           func() any { return new(plaid.ItemPublicTokenExchangeResponse) },
	"/processor/token/create":               func() any { return new(plaid.ProcessorTokenCreateResponse) },
	"/sandbox/public_token/create":          func() any { return new(plaid.SandboxPublicTokenCreateResponse) },
	"/sandbox/item/fire_webhook":            func() any { return new(plaid.SandboxItemFireWebhookResponse) },
	"/sandbox/transactions/create":          func() any { return new(plaid.SandboxTransactionsCreateResponse) },
}

// TestSpecExamplesDecodeWithoutLoss decodes the example 200 answer of every
// path in Plaid's OpenAPI document with the client's types, encodes the
// result again, and requires the same JSON back: every field has a home and
// every value (every amount's digits included) survives. The one difference
// allowed is null versus absent for optional fields, which decode alike;
// Transaction.Raw keeps that difference and is checked to be the example's
// object exactly.
func TestSpecExamplesDecodeWithoutLoss(t *testing.T) {
	spec := testSpec(t)
	var paths []string
	for path := range spec.Doc().Paths.Map() {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	if len(paths) != len(responseTypes) {
		t.Errorf("the spec has %d paths, the test knows %d", len(paths), len(responseTypes))
	}
	for _, path := range paths {
		t.Run(path, func(t *testing.T) {
			newType, ok := responseTypes[path]
			if !ok {
				t.Fatalf("no response type for %s", path)
			}
			raw, err := spec.ResponseExample(path, 200, "example-1")
			if err != nil {
				t.Fatal(err)
			}
			v := newType()
			if err := json.Unmarshal(raw, v); err != nil {
				t.Fatalf("decode %s: %v", raw, err)
			}
			again, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if got, want := withoutNulls(t, again), withoutNulls(t, raw); !reflect.DeepEqual(got, want) {
				t.Errorf("lost in decoding:\ngot  %s\nwant %s", again, raw)
			}
			// Every object decoded as a Transaction keeps the example's
			// object verbatim in Raw.
			for _, txn := range transactionsIn(v) {
				var want map[string]any
				if err := json.Unmarshal(objectWithID(t, raw, txn.TransactionID), &want); err != nil {
					t.Fatal(err)
				}
				var got map[string]any
				if err := json.Unmarshal(txn.Raw, &got); err != nil {
					t.Fatalf("Raw of %s: %v", txn.TransactionID, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("Raw of %s = %s, want the example's object", txn.TransactionID, txn.Raw)
				}
			}
		})
	}
}

// TestSpecSyncExampleValues spot-checks decoded values of the
// /transactions/sync example.
func TestSpecSyncExampleValues(t *testing.T) {
	raw, err := testSpec(t).ResponseExample("/transactions/sync", 200, "example-1")
	if err != nil {
		t.Fatal(err)
	}
	var got plaid.TransactionsSyncResponse
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Added) != 1 || len(got.Modified) != 1 || len(got.Removed) != 1 || len(got.Accounts) != 1 {
		t.Fatalf("got %d added, %d modified, %d removed, %d accounts; want 1 of each",
			len(got.Added), len(got.Modified), len(got.Removed), len(got.Accounts))
	}
	added := got.Added[0]
	checks := []struct{ name, got, want string }{
		{"added amount", added.Amount.String(), "72.1"},
		{"added pending_transaction_id", deref(added.PendingTransactionID), "no86Eox18VHMvaOVL7gPUM9ap3aR1LsAVZ5nc"},
		{"added location.lat", added.Location.Lat.String(), "32.959068"},
		{"added PFC detailed", added.PersonalFinanceCategory.Detailed, "GENERAL_MERCHANDISE_SUPERSTORES"},
		{"added counterparty", added.Counterparties[0].Name, "Walmart"},
		{"modified amount", got.Modified[0].Amount.String(), "28.34"},
		{"removed id", got.Removed[0].TransactionID, "CmdQTNgems8BT1B7ibkoUXVPyAeehT3Tmzk0l"},
		{"available balance", got.Accounts[0].Balances.Available.String(), "110.94"},
		{"update status", string(got.TransactionsUpdateStatus), string(plaid.UpdateStatusHistoricalComplete)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if got.Accounts[0].Balances.Limit != nil {
		t.Errorf("limit = %v, want nil", got.Accounts[0].Balances.Limit)
	}
	if got.HasMore || got.NextCursor == "" {
		t.Errorf("has_more = %v, next_cursor = %q; want false and a cursor", got.HasMore, got.NextCursor)
	}
}

// TestSpecErrorExamplesDecode decodes the PlaidError examples of the spec
// (the 400 answers of /sandbox/transactions/create and the per-Item error of
// /user/transactions/refresh) into *Error.
func TestSpecErrorExamplesDecode(t *testing.T) {
	spec := testSpec(t)
	for _, name := range []string{"too_many_transactions", "invalid_dates"} {
		t.Run(name, func(t *testing.T) {
			raw, err := spec.ResponseExample("/sandbox/transactions/create", 400, name)
			if err != nil {
				t.Fatal(err)
			}
			var e plaid.Error
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatal(err)
			}
			e.HTTPStatus = 400
			if e.ErrorCode != "INVALID_FIELD" || e.RequestID != "m8MDnv9okwxFNBV" || plaid.Classify(&e) != plaid.ClassBug {
				t.Errorf("got %+v (class %v), want INVALID_FIELD, request id m8MDnv9okwxFNBV, class bug", e, plaid.Classify(&e))
			}
		})
	}
	t.Run("refresh result", func(t *testing.T) {
		raw, err := spec.ResponseExample("/user/transactions/refresh", 200, "example-1")
		if err != nil {
			t.Fatal(err)
		}
		var got plaid.UserTransactionsRefreshResponse
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Results) != 2 || got.Results[0].Error != nil || got.Results[1].Error == nil {
			t.Fatalf("results = %+v, want one success and one failure", got.Results)
		}
		if c := got.Results[1].Error.Class(); c != plaid.ClassNeedsUser {
			t.Errorf("class of the failed Item = %v, want needs_user", c)
		}
	})
}

// withoutNulls decodes JSON with numbers as their text and drops every
// object member whose value is null.
func withoutNulls(t *testing.T, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	var strip func(any) any
	strip = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if e == nil {
					delete(x, k)
				} else {
					x[k] = strip(e)
				}
			}
		case []any:
			for i, e := range x {
				x[i] = strip(e)
			}
		}
		return v
	}
	return strip(v)
}

// transactionsIn returns the transactions of a decoded response.
func transactionsIn(v any) []plaid.Transaction {
	switch r := v.(type) {
	case *plaid.TransactionsSyncResponse:
		return append(append([]plaid.Transaction(nil), r.Added...), r.Modified...)
	case *plaid.ProcessorTransactionsSyncResponse:
		return append(append([]plaid.Transaction(nil), r.Added...), r.Modified...)
	case *plaid.TransactionsGetResponse:
		return r.Transactions
	}
	return nil
}

// objectWithID finds, anywhere in the JSON document raw, the object whose
// transaction_id is id, and returns it re-encoded.
func objectWithID(t *testing.T, raw []byte, id string) []byte {
	t.Helper()
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var find func(any) map[string]any
	find = func(v any) map[string]any {
		switch x := v.(type) {
		case map[string]any:
			if x["transaction_id"] == id && x["amount"] != nil {
				return x
			}
			for _, e := range x {
				if m := find(e); m != nil {
					return m
				}
			}
		case []any:
			for _, e := range x {
				if m := find(e); m != nil {
					return m
				}
			}
		}
		return nil
	}
	m := find(doc)
	if m == nil {
		t.Fatalf("no object with transaction_id %s", id)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
