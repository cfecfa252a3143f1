package plaid_test

import (
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"testing"

	"github.com/plaidstream/plaidstream/internal/plaid"
)

// TestDecimalSurvivesExactly decodes transactions whose amounts a float64
// would round or reformat, and checks that the text Plaid sent comes out of
// String, of the re-encoded Transaction and of Raw unchanged.
func TestDecimalSurvivesExactly(t *testing.T) {
	tests := []struct {
		name, amount string
		sign         int
		plain        string
	}{
		{name: "seven integer digits and three decimals", amount: "1234567.891", sign: 1, plain: "1234567.891"},
		{name: "trailing zero", amount: "-0.10", sign: -1, plain: "-0.10"},
		{name: "exponent", amount: "1e2", sign: 1, plain: "100"},
		{name: "seventeen significant digits", amount: "12.345678901234567", sign: 1, plain: "12.345678901234567"},
		{name: "beyond float64 precision", amount: "0.1000000000000000055511151231257827", sign: 1, plain: "0.1000000000000000055511151231257827"},
		{name: "beyond int64", amount: "-92233720368547758080.01", sign: -1, plain: "-92233720368547758080.01"},
		{name: "negative exponent", amount: "-1.5E-3", sign: -1, plain: "-0.0015"},
		{name: "explicit plus exponent", amount: "2.5e+1", sign: 1, plain: "25"},
		{name: "zero", amount: "0", sign: 0, plain: "0"},
		{name: "negative zero", amount: "-0.00", sign: 0, plain: "-0.00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := `{"transaction_id":"t1","account_id":"a1","amount":` + tc.amount + `,"date":"2026-03-01","pending":false,"unofficial_currency_code":null,"iso_currency_code":"USD","future_field":{"x":[1,2.50]}}`
			var txn plaid.Transaction
			if err := json.Unmarshal([]byte(in), &txn); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got := txn.Amount.String(); got != tc.amount {
				t.Errorf("Amount.String() = %q, want %q", got, tc.amount)
			}
			if got := string(txn.Raw); got != in {
				t.Errorf("Raw = %s, want %s", got, in)
			}
			out, err := json.Marshal(txn)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if !strings.Contains(string(out), `"amount":`+tc.amount+`,`) {
				t.Errorf("re-encoded transaction %s lacks \"amount\":%s", out, tc.amount)
			}
			if got := txn.Amount.Sign(); got != tc.sign {
				t.Errorf("Sign() = %d, want %d", got, tc.sign)
			}
			if got := txn.Amount.Plain(); got != tc.plain {
				t.Errorf("Plain() = %q, want %q", got, tc.plain)
			}
			want, _ := new(big.Rat).SetString(tc.amount)
			if got := txn.Amount.Rat(); got.Cmp(want) != 0 {
				t.Errorf("Rat() = %v, want %v", got, want)
			}
			if p := plaid.MustParseDecimal(tc.plain); p.Cmp(txn.Amount) != 0 {
				t.Errorf("Plain() %q does not equal %q", tc.plain, tc.amount)
			}
		})
	}
}

func TestDecimalFloatWouldLose(t *testing.T) {
	// The point of Decimal: this text does not survive float64.
	const s = "0.1000000000000000055511151231257827"
	f, _ := strconv.ParseFloat(s, 64)
	if strconv.FormatFloat(f, 'g', -1, 64) == s {
		t.Fatalf("float64 kept %s; pick an amount it rounds", s)
	}
	if got := plaid.MustParseDecimal(s).String(); got != s {
		t.Errorf("String() = %q, want %q", got, s)
	}
}

func TestParseDecimalRejects(t *testing.T) {
	tests := []struct{ name, in string }{
		{name: "empty", in: ""},
		{name: "leading zero", in: "01"},
		{name: "dot without fraction", in: "1."},
		{name: "fraction without integer", in: ".5"},
		{name: "plus sign", in: "+1"},
		{name: "exponent without digits", in: "1e"},
		{name: "hex", in: "0x10"},
		{name: "NaN", in: "NaN"},
		{name: "string", in: `"1.00"`},
		{name: "trailing space", in: "1 "},
		{name: "huge exponent", in: "1e1001"},
		{name: "minus only", in: "-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d, err := plaid.ParseDecimal(tc.in); err == nil {
				t.Errorf("ParseDecimal(%q) = %v, want error", tc.in, d)
			}
		})
	}
}

func TestDecimalJSONEdges(t *testing.T) {
	var v struct {
		A plaid.Decimal  `json:"a"`
		B *plaid.Decimal `json:"b"`
	}
	if err := json.Unmarshal([]byte(`{"a":null,"b":null}`), &v); err != nil {
		t.Fatalf("null: %v", err)
	}
	if v.A.String() != "0" || v.B != nil {
		t.Errorf("after nulls: a = %v, b = %v; want 0, nil", v.A, v.B)
	}
	if err := json.Unmarshal([]byte(`{"a":"12.50"}`), &v); err == nil {
		t.Error("a JSON string decoded into a Decimal, want error")
	}
	out, err := json.Marshal(struct {
		Zero plaid.Decimal `json:"zero"`
	}{})
	if err != nil || string(out) != `{"zero":0}` {
		t.Errorf("zero value marshals to %s, %v; want {\"zero\":0}", out, err)
	}
}

func TestDecimalCmp(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{a: "1", b: "1.0", want: 0},
		{a: "1e0", b: "1", want: 0},
		{a: "-0.10", b: "-0.1", want: 0},
		{a: "0.30", b: "0.3000000000000000001", want: -1},
		{a: "100", b: "99.999", want: 1},
	}
	for _, tc := range tests {
		t.Run(tc.a+" vs "+tc.b, func(t *testing.T) {
			if got := plaid.MustParseDecimal(tc.a).Cmp(plaid.MustParseDecimal(tc.b)); got != tc.want {
				t.Errorf("Cmp = %d, want %d", got, tc.want)
			}
		})
	}
}
