package fetch

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid"
)

// TestNormalizeAmountExact decodes transactions with amounts a float64
// would change, and checks the payload's amount text and direction, also
// after encoding the payload.
func TestNormalizeAmountExact(t *testing.T) {
	tests := []struct {
		name, wire, amount, direction string
	}{
		{name: "seven integer digits three decimals", wire: "1234567.891", amount: "1234567.891", direction: events.DirectionDebit},
		{name: "trailing zero kept as sent", wire: "-0.10", amount: "-0.10", direction: events.DirectionCredit},
		{name: "exponent written out", wire: "1e2", amount: "100", direction: events.DirectionDebit},
		{name: "negative exponent", wire: "-1.5E-3", amount: "-0.0015", direction: events.DirectionCredit},
		{name: "beyond float64 precision", wire: "0.1000000000000000055511151231257827", amount: "0.1000000000000000055511151231257827", direction: events.DirectionDebit},
		{name: "beyond int64", wire: "-92233720368547758080.01", amount: "-92233720368547758080.01", direction: events.DirectionCredit},
		{name: "zero", wire: "0", amount: "0", direction: events.DirectionNone},
		{name: "zero with decimals", wire: "0.00", amount: "0.00", direction: events.DirectionNone},
		{name: "negative zero", wire: "-0.00", amount: "-0.00", direction: events.DirectionNone},
		{name: "zero with exponent", wire: "0e5", amount: "0", direction: events.DirectionNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var in plaid.Transaction
			body := `{"transaction_id":"t1","account_id":"a1","amount":` + tc.wire + `,"date":"2026-11-20","pending":false,"name":"x","payment_channel":"other"}`
			if err := json.Unmarshal([]byte(body), &in); err != nil {
				t.Fatal(err)
			}
			got := NormalizeTransaction(in, itemOwner, false)
			if got.Amount != tc.amount || got.Direction != tc.direction {
				t.Errorf("amount %q direction %q, want %q %q", got.Amount, got.Direction, tc.amount, tc.direction)
			}
			enc, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if want := `"amount":"` + tc.amount + `","direction":"` + tc.direction + `"`; !bytes.Contains(enc, []byte(want)) {
				t.Errorf("encoded payload %s lacks %s", enc, want)
			}
		})
	}
}

// TestNormalizeDirectionMatchesSign: events.DirectionOf over Plain agrees with
// Decimal.Sign.
func TestNormalizeDirectionMatchesSign(t *testing.T) {
	want := map[int]string{1: events.DirectionDebit, -1: events.DirectionCredit, 0: events.DirectionNone}
	for _, s := range []string{"1", "-1", "0", "-0", "0.000", "1e-9", "-1E+3", "5.10", "100000000000000000000000"} {
		d := plaid.MustParseDecimal(s)
		if got := events.DirectionOf(d.Plain()); got != want[d.Sign()] {
			t.Errorf("%s: direction %q, want %q", s, got, want[d.Sign()])
		}
	}
}

func TestNormalizeTransactionOwnerAndRaw(t *testing.T) {
	raw := []byte(`{"transaction_id":"t1","account_id":"a1","amount":5,"date":"2026-11-20","pending":true,"name":"x","payment_channel":"other","future_field":{"n":[1,2.50]}}`)
	var in plaid.Transaction
	if err := json.Unmarshal(raw, &in); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		owner      events.Owner
		keepRaw    bool
		wantItemID string
		wantRaw    []byte
	}{
		{name: "item owner without raw", owner: itemOwner, wantItemID: "item-1"},
		{name: "item owner with raw", owner: itemOwner, keepRaw: true, wantItemID: "item-1", wantRaw: raw},
		{name: "processor owner has no item id", owner: processorOwner, keepRaw: true, wantRaw: raw},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := NormalizeTransaction(in, tc.owner, tc.keepRaw)
			if got.ItemID != tc.wantItemID {
				t.Errorf("item_id %q, want %q", got.ItemID, tc.wantItemID)
			}
			if !bytes.Equal(got.Raw, tc.wantRaw) {
				t.Errorf("raw %s, want %s", got.Raw, tc.wantRaw)
			}
			if got.Counterparties == nil {
				t.Error("counterparties is nil, want []")
			}
		})
	}
}

// TestNormalizeSharesNoMemory: changing Plaid's objects after normalizing
// does not change the payloads.
func TestNormalizeSharesNoMemory(t *testing.T) {
	in := txn("t1", "1")
	name := "Shop"
	in.MerchantName = &name
	in.Raw = []byte(`{"transaction_id":"t1"}`)
	got := NormalizeTransaction(in, itemOwner, true)
	name = "Changed"
	in.Raw[2] = 'X'
	if *got.MerchantName != "Shop" || got.Raw[2] != 't' {
		t.Errorf("transaction payload changed with its input: merchant %q raw %s", *got.MerchantName, got.Raw)
	}

	s := plaid.TransactionStream{StreamID: "s1", TransactionIDs: []string{"a", "b"}, Raw: []byte(`{"stream_id":"s1"}`)}
	gs := NormalizeStream(s, events.StreamInflow, itemOwner, true)
	s.TransactionIDs[0] = "changed"
	s.Raw[2] = 'X'
	if gs.TransactionIDs[0] != "a" || gs.Raw[2] != 's' {
		t.Errorf("stream payload changed with its input: %q %s", gs.TransactionIDs, gs.Raw)
	}
}

func TestNormalizeStream(t *testing.T) {
	var s plaid.TransactionStream
	body := `{"account_id":"a1","stream_id":"s1","category":null,"category_id":null,"description":"Gym","merchant_name":null,"first_date":"2026-01-01","last_date":"2026-11-01","frequency":"MONTHLY","transaction_ids":null,"average_amount":{"amount":1e1},"last_amount":{"amount":-0.50,"iso_currency_code":"USD"},"is_active":true,"status":"MATURE","is_user_modified":true,"last_user_modified_datetime":"2026-11-02T10:00:00Z"}`
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatal(err)
	}
	got := NormalizeStream(s, events.StreamOutflow, processorOwner, false)
	if !got.IsUserModified {
		t.Error("is_user_modified lost")
	}
	checks := []struct{ name, got, want string }{
		{"flow", got.Flow, events.StreamOutflow},
		{"item_id", got.ItemID, ""},
		{"average amount", deref(got.AverageAmount.Amount), "10"},
		{"last amount", deref(got.LastAmount.Amount), "-0.50"},
		{"last currency", deref(got.LastAmount.ISOCurrencyCode), "USD"},
		{"last user modified", deref(got.LastUserModifiedDatetime), "2026-11-02T10:00:00Z"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if got.TransactionIDs == nil || got.Raw != nil {
		t.Errorf("transaction_ids %v (want [] not nil), raw %s (want none)", got.TransactionIDs, got.Raw)
	}
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}
