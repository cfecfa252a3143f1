package plaidsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestParseAmount(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"12.34", "12.34"},
		{"-500", "-500"},
		{"0.5", "0.5"},
		{"12.50", "12.5"},
		{"-0", "0"},
		{"0.000", "0"},
		{"1e2", "100"},
		{"1.25e1", "12.5"},
		{"125e-3", "0.125"},
		{"+7", "7"},
		{"0.0000000001", "0.0000000001"},
		{"999999999999999", "999999999999999"},
		{"-0.05", "-0.05"},
		{".5", "0.5"},
	}
	for _, tc := range tests {
		a, err := ParseAmount(tc.in)
		if err != nil || a.String() != tc.want {
			t.Errorf("ParseAmount(%q) = %s, %v; want %s", tc.in, a, err, tc.want)
		}
	}
	for _, bad := range []string{"", "-", "1.", "abc", "1.2.3", "1e", "0x10", "1,5", "0.00000000001", "1234567890123456", "1e999"} {
		if a, err := ParseAmount(bad); err == nil {
			t.Errorf("ParseAmount(%q) = %s, want an error", bad, a)
		}
	}
	sum, err := MustAmount("0.1").Add(MustAmount("0.2"))
	if err != nil || sum.String() != "0.3" {
		t.Errorf("0.1 + 0.2 = %s, %v", sum, err)
	}
	if sum, _ := MustAmount("-12.5").Add(MustAmount("12.5")); !sum.IsZero() {
		t.Errorf("sum %s, want 0", sum)
	}
	if MustAmount("2").Cmp(MustAmount("10.001")) != -1 || MustAmount("-1").Cmp(MustAmount("-1.0")) != 0 {
		t.Error("Cmp")
	}
	if AmountFromCents(-1250).String() != "-12.5" || MustAmount("1.005").cents() != 101 || MustAmount("-1.005").cents() != -101 {
		t.Error("cents")
	}
}

// TestAmountsExactOnTheWire adds amounts that a float round trip would
// spoil and checks the exact text /transactions/sync sends.
func TestAmountsExactOnTheWire(t *testing.T) {
	e := newEnv(t, Options{})
	c, cursor, _ := e.readyItem(ItemOptions{}.with(1))
	amounts := []string{"0.1", "1234567.8912", "-500", "0.3", "99999999999.99", "-0.0000000001"}
	var body []map[string]any
	for i, a := range amounts {
		if i%2 == 0 {
			body = append(body, map[string]any{"amount": json.Number(a)})
		} else {
			body = append(body, map[string]any{"amount": a}) // a decimal string
		}
	}
	e.simOK(http.MethodPost, "/sim/items/"+c.ItemID+"/transactions", body, nil)
	path, req := syncReq(c.AccessToken, cursor, 0, nil)
	status, raw := e.call(path, req)
	if status != 200 {
		t.Fatalf("sync: %d %s", status, raw)
	}
	for _, a := range amounts {
		if !bytes.Contains(raw, []byte(`"amount":`+a+`,`)) {
			t.Errorf("answer lacks \"amount\":%s", a)
		}
	}
}

// TestTransactionEncoding holds the hand-written transaction encoder to
// encoding/json's encoding of the same struct.
func TestTransactionEncoding(t *testing.T) {
	type plain Transaction // no MarshalJSON
	e := newEnv(t, Options{})
	c := e.newItem(ItemOptions{}.with(500))
	if _, err := e.sim.AddTransactions(c.ItemID, map[string]any{
		"amount": "1.5", "name": "quote \" backslash \\ tab \t nul \x00 line\u2028 <&> é 😀 \xff",
		"location":       map[string]any{"lat": 1e-7, "lon": 1e21, "city": "Zürich"},
		"counterparties": []map[string]any{{"name": "x", "type": "merchant"}},
	}); err != nil {
		t.Fatal(err)
	}
	st, _ := e.sim.Item(c.ItemID)
	for _, tx := range st.Transactions {
		mine := tx.appendJSON(nil)
		std, err := json.Marshal(plain(tx))
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := json.Unmarshal(mine, &a); err != nil {
			t.Fatalf("invalid JSON %s: %v", mine, err)
		}
		mustUnmarshal(t, std, &b)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("encodings differ:\n mine %s\n  std %s", mine, std)
		}
	}
	if !strings.Contains(string(st.Transactions[len(st.Transactions)-1].appendJSON(nil)), `<&>`) {
		t.Error("HTML characters escaped")
	}
}
