package plaidsim

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"testing"
)

// readyItem creates an item and syncs it fully; it returns the item, its
// final cursor and a mirror of its transactions.
func (e *simEnv) readyItem(o ItemOptions) (CreatedItem, string, mirror) {
	e.t.Helper()
	c := e.newItem(o)
	pages, cursor := e.update(c.AccessToken, "", 500, nil)
	m := mirror{}
	m.apply(e.t, pages)
	return c, cursor, m
}

func firstPosted(st ItemState, skip ...string) Transaction {
	for _, tx := range st.Transactions {
		if !tx.Pending && !slices.Contains(skip, tx.TransactionID) {
			return tx
		}
	}
	panic("no posted transaction")
}

// TestSyncNetChange checks that an update from cursor C reports each
// transaction once, as its net change since C.
func TestSyncNetChange(t *testing.T) {
	tests := []struct {
		name string
		// change makes changes after C and returns the transaction id to
		// look for and where it must be: added, modified, removed or
		// nowhere.
		change func(e *simEnv, itemID string, st ItemState) (id, where string, amount string)
	}{
		{"created then removed: nowhere", func(e *simEnv, itemID string, _ ItemState) (string, string, string) {
			added, err := e.sim.AddTransactions(itemID, map[string]any{"amount": 5})
			if err != nil {
				e.t.Fatal(err)
			}
			if err := e.sim.RemoveTransaction(itemID, added[0].TransactionID); err != nil {
				e.t.Fatal(err)
			}
			return added[0].TransactionID, "nowhere", ""
		}},
		{"created then modified: added with the latest content", func(e *simEnv, itemID string, _ ItemState) (string, string, string) {
			added, err := e.sim.AddTransactions(itemID, map[string]any{"amount": "5.10"})
			if err != nil {
				e.t.Fatal(err)
			}
			if _, err := e.sim.ModifyTransaction(itemID, added[0].TransactionID, map[string]any{"amount": 7.25}); err != nil {
				e.t.Fatal(err)
			}
			return added[0].TransactionID, "added", "7.25"
		}},
		{"existed then removed: removed", func(e *simEnv, itemID string, st ItemState) (string, string, string) {
			id := firstPosted(st).TransactionID
			if err := e.sim.RemoveTransaction(itemID, id); err != nil {
				e.t.Fatal(err)
			}
			return id, "removed", ""
		}},
		{"existed, modified twice: modified once, latest content", func(e *simEnv, itemID string, st ItemState) (string, string, string) {
			id := firstPosted(st).TransactionID
			for _, a := range []string{"1.5", "-2000.125"} {
				if _, err := e.sim.ModifyTransaction(itemID, id, map[string]any{"amount": a}); err != nil {
					e.t.Fatal(err)
				}
			}
			return id, "modified", "-2000.125"
		}},
		{"existed, modified then removed: removed only", func(e *simEnv, itemID string, st ItemState) (string, string, string) {
			id := firstPosted(st).TransactionID
			if _, err := e.sim.ModifyTransaction(itemID, id, map[string]any{"name": "RENAMED"}); err != nil {
				e.t.Fatal(err)
			}
			if err := e.sim.RemoveTransaction(itemID, id); err != nil {
				e.t.Fatal(err)
			}
			return id, "removed", ""
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			c, cursor, m := e.readyItem(ItemOptions{Transactions: intp(30)})
			id, where, amount := tc.change(e, c.ItemID, e.truth(c.ItemID))
			for _, count := range []int{1, 2, 500} {
				pages, _ := e.update(c.AccessToken, cursor, count, nil)
				var found []string
				for _, p := range pages {
					for _, tx := range p.Added {
						if tx.TransactionID == id {
							found = append(found, "added")
							if tx.Amount.String() != amount {
								t.Errorf("count %d: added amount %s, want %s", count, tx.Amount, amount)
							}
						}
					}
					for _, tx := range p.Modified {
						if tx.TransactionID == id {
							found = append(found, "modified")
							if tx.Amount.String() != amount {
								t.Errorf("count %d: modified amount %s, want %s", count, tx.Amount, amount)
							}
						}
					}
					if slices.Contains(removedIDs(p.Removed), id) {
						found = append(found, "removed")
					}
				}
				want := []string{where}
				if where == "nowhere" {
					want = nil
				}
				if !slices.Equal(found, want) {
					t.Errorf("count %d: %s found in %v, want %v", count, id, found, want)
				}
			}
			pages, _ := e.update(c.AccessToken, cursor, 3, nil)
			m.apply(t, pages)
			m.equalTruth(t, e.truth(c.ItemID).Transactions)
		})
	}
}

// TestSyncOrderAndCount checks that count bounds added + modified + removed
// together and that each array is ordered by modification.
func TestSyncOrderAndCount(t *testing.T) {
	e := newEnv(t, Options{})
	c, cursor, _ := e.readyItem(ItemOptions{Username: userGood}.with(40))
	st := e.truth(c.ItemID)
	posted := []string{}
	for _, tx := range st.Transactions {
		if !tx.Pending {
			posted = append(posted, tx.TransactionID)
		}
	}
	// Interleave changes; the expected order of each kind is the order of
	// each transaction's last change.
	var wantAdded, wantModified, wantRemoved []string
	mod := func(id string) {
		if _, err := e.sim.ModifyTransaction(c.ItemID, id, map[string]any{"name": "CHANGED " + id[:4]}); err != nil {
			t.Fatal(err)
		}
		wantModified = slices.DeleteFunc(wantModified, func(x string) bool { return x == id })
		wantModified = append(wantModified, id)
	}
	add := func() {
		a, err := e.sim.AddTransactions(c.ItemID, map[string]any{"amount": 1})
		if err != nil {
			t.Fatal(err)
		}
		wantAdded = append(wantAdded, a[0].TransactionID)
	}
	rm := func(id string) {
		if err := e.sim.RemoveTransaction(c.ItemID, id); err != nil {
			t.Fatal(err)
		}
		wantModified = slices.DeleteFunc(wantModified, func(x string) bool { return x == id })
		wantRemoved = append(wantRemoved, id)
	}
	mod(posted[0])
	add()
	rm(posted[1])
	mod(posted[2])
	add()
	mod(posted[0]) // moves posted[0] after posted[2]
	rm(posted[3])
	add()
	mod(posted[4])
	rm(posted[2]) // posted[2] leaves modified for removed

	for _, count := range []int{1, 2, 3, 4, 7, 100} {
		pages, _ := e.update(c.AccessToken, cursor, count, nil)
		var gotAdded, gotModified, gotRemoved []string
		for i, p := range pages {
			if p.size() > count {
				t.Errorf("count %d: page %d holds %d changes", count, i, p.size())
			}
			if p.HasMore && p.size() != count {
				t.Errorf("count %d: page %d holds %d changes but has_more", count, i, p.size())
			}
			gotAdded = append(gotAdded, ids(p.Added)...)
			gotModified = append(gotModified, ids(p.Modified)...)
			gotRemoved = append(gotRemoved, removedIDs(p.Removed)...)
		}
		if !slices.Equal(gotAdded, wantAdded) || !slices.Equal(gotModified, wantModified) || !slices.Equal(gotRemoved, wantRemoved) {
			t.Errorf("count %d:\n added %v want %v\n modified %v want %v\n removed %v want %v", count,
				gotAdded, wantAdded, gotModified, wantModified, gotRemoved, wantRemoved)
		}
	}
}

func (o ItemOptions) with(n int) ItemOptions {
	o.Transactions = intp(n)
	return o
}

// TestSyncMutationDuringPagination checks that a change between two pages
// of an update fails the next page, and that a restart from the update's
// first cursor succeeds and includes the change.
func TestSyncMutationDuringPagination(t *testing.T) {
	for _, start := range []string{"full history", "from a cursor"} {
		t.Run(start, func(t *testing.T) {
			e := newEnv(t, Options{})
			c := e.newItem(ItemOptions{}.with(50))
			first := ""
			m := mirror{}
			if start == "from a cursor" {
				pages, cur := e.update(c.AccessToken, "", 500, nil)
				m.apply(t, pages)
				first = cur
				if _, err := e.sim.Mutate(c.ItemID, MutateOptions{Seed: 1, Add: 10, Modify: 10, Remove: 5}); err != nil {
					t.Fatal(err)
				}
			}
			p1 := e.syncOnce(c.AccessToken, first, 10, nil)
			if !p1.HasMore {
				t.Fatal("first page has no more")
			}
			added, err := e.sim.AddTransactions(c.ItemID, map[string]any{"amount": "42.42", "name": "MID-PAGINATION"})
			if err != nil {
				t.Fatal(err)
			}
			path, req := syncReq(c.AccessToken, p1.NextCursor, 10, nil)
			for range 2 { // retrying the failed page fails again
				pe := e.fails(path, req, 400, "TRANSACTIONS_ERROR", "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION")
				if want := "Underlying transaction data changed since last page was fetched. Please restart pagination from last update."; pe.ErrorMessage != want {
					t.Errorf("error_message = %q, want %q", pe.ErrorMessage, want)
				}
				if pe.DisplayMessage != nil {
					t.Errorf("display_message = %q, want null", *pe.DisplayMessage)
				}
			}
			pages, _ := e.update(c.AccessToken, first, 10, nil)
			if !slices.ContainsFunc(pages, func(p syncPage) bool { return slices.Contains(ids(p.Added), added[0].TransactionID) }) {
				t.Error("the restarted update lacks the transaction added mid-pagination")
			}
			m.apply(t, pages)
			m.equalTruth(t, e.truth(c.ItemID).Transactions)
		})
	}
}

// TestSyncPendingToPosted checks Plaid's pending → posted rule: the pending
// id is removed and the posted transaction added with
// pending_transaction_id, here on different pages of one update.
func TestSyncPendingToPosted(t *testing.T) {
	e := newEnv(t, Options{})
	c, cursor, m := e.readyItem(ItemOptions{}.with(50))
	var pending Transaction
	for _, tx := range e.truth(c.ItemID).Transactions {
		if tx.Pending {
			pending = tx
			break
		}
	}
	if pending.TransactionID == "" {
		t.Fatal("no pending transaction")
	}
	var posted Transaction
	e.simOK(http.MethodPost, "/sim/items/"+c.ItemID+"/transactions/"+pending.TransactionID+"/post",
		map[string]any{"amount": "19.99"}, &posted)
	if posted.Pending || posted.PendingTransactionID == nil || *posted.PendingTransactionID != pending.TransactionID ||
		posted.TransactionID == pending.TransactionID || posted.Amount.String() != "19.99" {
		t.Fatalf("posted = %s", mustJSON(t, posted))
	}
	// Posting a posted transaction is refused.
	e.simFails(http.MethodPost, "/sim/items/"+c.ItemID+"/transactions/"+posted.TransactionID+"/post", nil, 400, "NOT_PENDING")

	pages, _ := e.update(c.AccessToken, cursor, 1, nil)
	if len(pages) != 2 {
		t.Fatalf("%d pages, want 2 (removed, then added)", len(pages))
	}
	if got := removedIDs(pages[0].Removed); !slices.Equal(got, []string{pending.TransactionID}) {
		t.Errorf("page 1 removed %v, want the pending id", got)
	}
	if len(pages[1].Added) != 1 || *pages[1].Added[0].PendingTransactionID != pending.TransactionID {
		t.Errorf("page 2 added %s", mustJSON(t, pages[1].Added))
	}
	m.apply(t, pages)
	m.equalTruth(t, e.truth(c.ItemID).Transactions)
}

// TestSyncNotReady follows an item from NOT_READY to
// HISTORICAL_UPDATE_COMPLETE, with the webhooks of each step.
func TestSyncNotReady(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.newItem(ItemOptions{NotReady: true, DaysRequested: 365}.with(200))
	before := e.deliveries()

	p := e.syncOnce(c.AccessToken, "", 0, nil)
	if p.Status != "NOT_READY" || p.NextCursor != "" || p.HasMore || p.size() != 0 || len(p.Accounts) != 0 {
		t.Fatalf("NOT_READY page = %+v", p)
	}
	e.fails("/transactions/get", map[string]any{"access_token": c.AccessToken, "start_date": "2025-01-01", "end_date": "2026-03-07"},
		400, "ITEM_ERROR", "PRODUCT_NOT_READY")
	e.fails("/transactions/recurring/get", map[string]any{"access_token": c.AccessToken}, 400, "ITEM_ERROR", "PRODUCT_NOT_READY")

	var adv itemStatusAnswer
	e.simOK(http.MethodPost, "/sim/items/"+c.ItemID+"/advance", nil, &adv)
	if adv.TransactionsUpdateStatus != "INITIAL_UPDATE_COMPLETE" {
		t.Fatalf("advance: %+v", adv)
	}
	hs := e.webhooksSince(before)
	if got := hookCodes(hs); !slices.Equal(got, []string{"TRANSACTIONS/SYNC_UPDATES_AVAILABLE", "TRANSACTIONS/INITIAL_UPDATE"}) {
		t.Fatalf("webhooks %v", got)
	}
	if hs[0].body["initial_update_complete"] != true || hs[0].body["historical_update_complete"] != false {
		t.Errorf("SYNC_UPDATES_AVAILABLE flags: %s", hs[0].raw)
	}
	pages, cursor := e.update(c.AccessToken, "", 500, nil)
	if pages[0].Status != "INITIAL_UPDATE_COMPLETE" {
		t.Errorf("status %s", pages[0].Status)
	}
	m := mirror{}
	m.apply(t, pages)
	if n := hs[1].body["new_transactions"]; n.(interface{ String() string }).String() != strconv.Itoa(len(m)) {
		t.Errorf("INITIAL_UPDATE new_transactions = %v, want %d", n, len(m))
	}
	for _, tx := range m {
		if tx.Date < "2026-02-06" {
			t.Errorf("initial update holds %s dated %s, older than 30 days", tx.TransactionID, tx.Date)
			break
		}
	}

	before = e.deliveries()
	if status, err := e.sim.AdvanceReadiness(c.ItemID); err != nil || status != "HISTORICAL_UPDATE_COMPLETE" {
		t.Fatalf("AdvanceReadiness = %q, %v", status, err)
	}
	hs = e.webhooksSince(before)
	if got := hookCodes(hs); !slices.Equal(got, []string{"TRANSACTIONS/SYNC_UPDATES_AVAILABLE", "TRANSACTIONS/HISTORICAL_UPDATE"}) {
		t.Fatalf("webhooks %v", got)
	}
	if hs[0].body["historical_update_complete"] != true {
		t.Errorf("flags: %s", hs[0].raw)
	}
	pages, _ = e.update(c.AccessToken, cursor, 50, nil)
	m.apply(t, pages)
	st := e.truth(c.ItemID)
	m.equalTruth(t, st.Transactions)
	if len(st.Transactions) != 200 || st.TransactionsUpdateStatus != "HISTORICAL_UPDATE_COMPLETE" {
		t.Errorf("ground truth: %d transactions, %s", len(st.Transactions), st.TransactionsUpdateStatus)
	}
	// A complete item stays complete.
	if status, _ := e.sim.AdvanceReadiness(c.ItemID); status != "HISTORICAL_UPDATE_COMPLETE" {
		t.Errorf("status %s", status)
	}
}

// TestSyncActivation checks that SYNC_UPDATES_AVAILABLE fires only after
// the item's first /transactions/sync, as Plaid documents; the legacy
// webhooks fire regardless.
func TestSyncActivation(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.newItem(ItemOptions{Username: userDynamic, NotReady: true}.with(20))
	before := e.deliveries()
	e.sim.AdvanceReadiness(c.ItemID)
	e.sim.AdvanceReadiness(c.ItemID)
	if got := hookCodes(e.webhooksSince(before)); !slices.Equal(got, []string{"TRANSACTIONS/INITIAL_UPDATE", "TRANSACTIONS/HISTORICAL_UPDATE"}) {
		t.Errorf("before any sync: %v", got)
	}
	before = e.deliveries()
	e.ok("/transactions/refresh", map[string]any{"access_token": c.AccessToken}, nil)
	if got := hookCodes(e.webhooksSince(before)); slices.Contains(got, "TRANSACTIONS/SYNC_UPDATES_AVAILABLE") {
		t.Errorf("SYNC_UPDATES_AVAILABLE before the first sync: %v", got)
	}
	e.syncOnce(c.AccessToken, "", 0, nil)
	if !e.truth(c.ItemID).SyncActivated {
		t.Error("ground truth: sync not activated")
	}
	before = e.deliveries()
	e.ok("/transactions/refresh", map[string]any{"access_token": c.AccessToken}, nil)
	if got := hookCodes(e.webhooksSince(before)); len(got) == 0 || got[0] != "TRANSACTIONS/SYNC_UPDATES_AVAILABLE" {
		t.Errorf("after the first sync: %v", got)
	}
}

// TestReadinessTimers lets the readiness delays run (divided by a large
// time factor) and waits for the webhooks the steps fire.
func TestReadinessTimers(t *testing.T) {
	e := newEnv(t, Options{TimeFactor: 1000})
	c := e.newItem(ItemOptions{NotReady: true, ReadinessDelays: &ReadinessDelays{Initial: Duration(5e9), Historical: Duration(30e9)}}.with(30))
	e.syncOnce(c.AccessToken, "", 0, nil)
	var codes []string
	for len(codes) < 4 {
		h := e.hooks.next(t)
		var body map[string]any
		if err := json.Unmarshal(h.body, &body); err != nil {
			t.Fatal(err)
		}
		codes = append(codes, body["webhook_code"].(string))
	}
	// Deliveries are concurrent; compare as sets per step.
	slices.Sort(codes)
	if want := []string{"HISTORICAL_UPDATE", "INITIAL_UPDATE", "SYNC_UPDATES_AVAILABLE", "SYNC_UPDATES_AVAILABLE"}; !slices.Equal(codes, want) {
		t.Errorf("webhooks %v, want %v", codes, want)
	}
	if st := e.truth(c.ItemID); st.TransactionsUpdateStatus != "HISTORICAL_UPDATE_COMPLETE" {
		t.Errorf("status %s", st.TransactionsUpdateStatus)
	}
}

// TestSyncAccountStream checks options.account_id: a separate stream with
// its own cursor.
func TestSyncAccountStream(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.newItem(ItemOptions{}.with(60))
	st := e.truth(c.ItemID)
	acct := st.Accounts[0].AccountID
	other := st.Accounts[len(st.Accounts)-1].AccountID
	opts := map[string]any{"account_id": acct}
	pages, cursor := e.update(c.AccessToken, "", 5, opts)
	m := mirror{}
	m.apply(t, pages)
	var want []Transaction
	for _, tx := range st.Transactions {
		if tx.AccountID == acct {
			want = append(want, tx)
		}
	}
	m.equalTruth(t, want)
	for _, p := range pages {
		for _, a := range p.Accounts {
			if a.AccountID != acct {
				t.Errorf("accounts lists %s", a.AccountID)
			}
		}
	}

	// The cursor belongs to the account's stream.
	path, req := syncReq(c.AccessToken, cursor, 0, nil)
	e.fails(path, req, 400, "INVALID_REQUEST", "INVALID_FIELD")
	path, req = syncReq(c.AccessToken, cursor, 0, map[string]any{"account_id": other})
	e.fails(path, req, 400, "INVALID_REQUEST", "INVALID_FIELD")
	path, req = syncReq(c.AccessToken, "", 0, map[string]any{"account_id": "nope"})
	e.fails(path, req, 400, "INVALID_INPUT", "INVALID_ACCOUNT_ID")

	// A change to another account does not disturb this stream's pages;
	// one to this account does.
	if _, err := e.sim.Mutate(c.ItemID, MutateOptions{Seed: 3, Add: 30, Modify: 30}); err != nil {
		t.Fatal(err)
	}
	p1 := e.syncOnce(c.AccessToken, cursor, 1, opts)
	if !p1.HasMore {
		t.Fatal("one page only")
	}
	if _, err := e.sim.AddTransactions(c.ItemID, map[string]any{"amount": 1, "account_id": other}); err != nil {
		t.Fatal(err)
	}
	p2 := e.syncOnce(c.AccessToken, p1.NextCursor, 1, opts)
	if _, err := e.sim.AddTransactions(c.ItemID, map[string]any{"amount": 1, "account_id": acct}); err != nil {
		t.Fatal(err)
	}
	path, req = syncReq(c.AccessToken, p2.NextCursor, 1, opts)
	e.fails(path, req, 400, "TRANSACTIONS_ERROR", "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION")
	pages, _ = e.update(c.AccessToken, cursor, 7, opts)
	m.apply(t, pages)
	want = nil
	for _, tx := range e.truth(c.ItemID).Transactions {
		if tx.AccountID == acct {
			want = append(want, tx)
		}
	}
	m.equalTruth(t, want)
}

// TestSyncCursorErrors covers malformed and foreign cursors.
func TestSyncCursorErrors(t *testing.T) {
	e := newEnv(t, Options{})
	a, cursorA, _ := e.readyItem(ItemOptions{}.with(5))
	b := e.newItem(ItemOptions{}.with(5))
	tamper := []byte(cursorA)
	tamper[5] ^= 1
	for name, cur := range map[string]string{
		"garbage":        "not base64!",
		"tampered":       string(tamper),
		"other item":     cursorA,
		"too long":       base64.StdEncoding.EncodeToString(make([]byte, 300)),
		"empty-ish json": base64.StdEncoding.EncodeToString([]byte("{}")),
	} {
		t.Run(name, func(t *testing.T) {
			token := a.AccessToken
			if name == "other item" {
				token = b.AccessToken
			}
			path, req := syncReq(token, cur, 0, nil)
			e.fails(path, req, 400, "INVALID_REQUEST", "INVALID_FIELD")
		})
	}
	for _, count := range []int{-1, 0, 501} {
		// count 0 and below break the spec's minimum; send them raw.
		a := post(t, e.srv, "/transactions/sync", goodCreds, `{"access_token":"`+a.AccessToken+`","count":`+strconv.Itoa(count)+`}`)
		checkPlaidError(t, a, 400, "INVALID_REQUEST", "INVALID_FIELD")
	}
}
