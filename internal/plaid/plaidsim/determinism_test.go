package plaidsim

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestDeterminism: two Sims with the same seed create identical items
// (content and ids; only tokens differ), through the Sandbox flow and the
// /sim/ API alike, and the same storm of changes has the same effect. A
// different seed gives different items.
func TestDeterminism(t *testing.T) {
	build := func(seed int64) []ItemState {
		e := newEnv(t, Options{Seed: seed})
		var pub struct {
			PublicToken string `json:"public_token"`
		}
		e.ok("/sandbox/public_token/create", map[string]any{"institution_id": "ins_109508", "initial_products": []string{"transactions"},
			"options": map[string]any{"override_username": "user_transactions_dynamic"}}, &pub)
		var ex struct {
			AccessToken string `json:"access_token"`
			ItemID      string `json:"item_id"`
		}
		e.ok("/item/public_token/exchange", map[string]any{"public_token": pub.PublicToken}, &ex)
		big := e.newItem(ItemOptions{}.with(2000))
		small := e.newItem(ItemOptions{Username: userDynamic}.with(40))
		if _, err := e.sim.Mutate(small.ItemID, MutateOptions{Seed: 9, Add: 20, Modify: 20, Remove: 10, Post: 3}); err != nil {
			t.Fatal(err)
		}
		e.ok("/transactions/refresh", map[string]any{"access_token": ex.AccessToken}, nil)
		var out []ItemState
		for _, id := range []string{ex.ItemID, big.ItemID, small.ItemID} {
			st := e.truth(id)
			st.Webhook = "" // the receiver's port differs
			out = append(out, st)
		}
		return out
	}
	a, b, other := build(7), build(7), build(8)
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) {
			ja, _ := json.Marshal(a[i])
			jb, _ := json.Marshal(b[i])
			t.Errorf("item %d differs between two Sims of seed 7:\n%.400s\n%.400s", i, ja, jb)
		}
		if a[i].ItemID == other[i].ItemID || reflect.DeepEqual(a[i].Transactions, other[i].Transactions) {
			t.Errorf("item %d is the same under seeds 7 and 8", i)
		}
	}
	if n := len(a[1].Transactions); n != 2000 {
		t.Errorf("item of 2000 holds %d", n)
	}
}

// TestGeneratedContent checks that a generated item looks like a bank's:
// accounts, categories, merchants, pending and posted, a two-year history.
func TestGeneratedContent(t *testing.T) {
	e := newEnv(t, Options{Seed: 3})
	c := e.newItem(ItemOptions{DaysRequested: 730}.with(3000))
	st := e.truth(c.ItemID)
	kinds := map[string]bool{}
	for _, a := range st.Accounts {
		kinds[*a.Subtype] = true
	}
	if !kinds["checking"] || !kinds["credit card"] || len(st.Accounts) > 3 {
		t.Errorf("accounts %v", kinds)
	}
	var pending, inflow, withLocation, withCounterparty int
	oldest, newest := "9999", ""
	primaries := map[string]bool{}
	channels := map[string]bool{}
	for _, tx := range st.Transactions {
		if tx.Pending {
			pending++
		}
		if tx.Amount.Sign() < 0 {
			inflow++
		}
		if tx.Location.City != nil {
			withLocation++
		}
		if len(tx.Counterparties) > 0 {
			withCounterparty++
		}
		if tx.PersonalFinanceCategory != nil {
			primaries[tx.PersonalFinanceCategory.Primary] = true
		}
		channels[tx.PaymentChannel] = true
		oldest, newest = min(oldest, tx.Date), max(newest, tx.Date)
		if f, err := strconv.ParseFloat(tx.Amount.String(), 64); err != nil || f == 0 || math.Abs(f) > 10000 {
			t.Errorf("amount %s", tx.Amount)
		}
	}
	if pending == 0 || inflow == 0 || withLocation == 0 || withCounterparty == 0 || len(primaries) < 8 || len(channels) != 3 {
		t.Errorf("pending %d, inflow %d, located %d, counterparties %d, %d categories, channels %v",
			pending, inflow, withLocation, withCounterparty, len(primaries), channels)
	}
	if oldest > "2024-03-10" || newest != "2026-03-07" {
		t.Errorf("history from %s to %s, want two years up to today", oldest, newest)
	}
	if len(st.InflowStreams) == 0 || len(st.OutflowStreams) == 0 {
		t.Error("no recurring streams")
	}
	for _, s := range st.OutflowStreams {
		if strings.TrimSpace(s.Description) == "" {
			t.Errorf("stream without description: %+v", s)
		}
	}
}
