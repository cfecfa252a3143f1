package plaid_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"sync/atomic"
	"testing"

	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// inject queues a fault in the simulator.
func inject(t *testing.T, sim *plaidsim.Sim, path string, f plaidsim.Fault) {
	t.Helper()
	if err := sim.InjectFault(path, f); err != nil {
		t.Fatalf("InjectFault(%s): %v", path, err)
	}
}

// linkItem creates an Item the way a test against Plaid's Sandbox does:
// /sandbox/public_token/create, then /item/public_token/exchange.
func linkItem(t *testing.T, client *plaid.Client, username string) (plaid.AccessToken, string) {
	t.Helper()
	ctx := context.Background()
	pt, err := client.SandboxPublicTokenCreate(ctx, plaid.SandboxPublicTokenCreateRequest{
		InstitutionID:   "ins_109508",
		InitialProducts: []string{"transactions"},
		Options:         &plaid.SandboxPublicTokenCreateRequestOptions{OverrideUsername: username},
	})
	if err != nil {
		t.Fatalf("SandboxPublicTokenCreate: %v", err)
	}
	ex, err := client.ItemPublicTokenExchange(ctx, plaid.ItemPublicTokenExchangeRequest{PublicToken: pt.PublicToken})
	if err != nil {
		t.Fatalf("ItemPublicTokenExchange: %v", err)
	}
	if ex.AccessToken == "" || ex.ItemID == "" {
		t.Fatalf("exchange gave access token %q, item %q", ex.AccessToken, ex.ItemID)
	}
	return ex.AccessToken, ex.ItemID
}

// ledger is what a consumer of the pager keeps: every current transaction
// by id, as the raw JSON Plaid sent.
type ledger map[string]json.RawMessage

// apply applies one update the way the fetcher will (upserts, then
// deletes), after checking that it is consistent with what came before:
// each transaction reported at most once, added ids new, modified and
// removed ids known.
func (l ledger) apply(t *testing.T, u *plaid.SyncUpdate) {
	t.Helper()
	seen := make(map[string]string)
	once := func(id, kind string) {
		if prev, ok := seen[id]; ok {
			t.Errorf("transaction %s is in %s and %s of one update", id, prev, kind)
		}
		seen[id] = kind
	}
	for _, txn := range u.Added {
		once(txn.TransactionID, "added")
		if _, ok := l[txn.TransactionID]; ok {
			t.Errorf("added transaction %s was already known", txn.TransactionID)
		}
	}
	for _, txn := range u.Modified {
		once(txn.TransactionID, "modified")
		if _, ok := l[txn.TransactionID]; !ok {
			t.Errorf("modified transaction %s was not known", txn.TransactionID)
		}
	}
	for _, r := range u.Removed {
		once(r.TransactionID, "removed")
		if _, ok := l[r.TransactionID]; !ok {
			t.Errorf("removed transaction %s was not known", r.TransactionID)
		}
	}
	for _, txn := range append(append([]plaid.Transaction(nil), u.Added...), u.Modified...) {
		if len(txn.Raw) == 0 {
			t.Fatalf("transaction %s has no Raw", txn.TransactionID)
		}
		l[txn.TransactionID] = txn.Raw
	}
	for _, r := range u.Removed {
		delete(l, r.TransactionID)
	}
}

// equal compares two ledgers as JSON values, numbers by their text.
func (l ledger) diff(t *testing.T, want ledger) []string {
	t.Helper()
	var out []string
	for id, w := range want {
		g, ok := l[id]
		switch {
		case !ok:
			out = append(out, "missing "+id)
		case !reflect.DeepEqual(jsonValue(t, g), jsonValue(t, w)):
			out = append(out, fmt.Sprintf("%s differs:\n got  %s\n want %s", id, g, w))
		}
	}
	for id := range l {
		if _, ok := want[id]; !ok {
			out = append(out, "extra "+id)
		}
	}
	sort.Strings(out)
	return out
}

func jsonValue(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// plaidView is every current transaction of the Item as /transactions/get
// reports it: Plaid's own API view of the truth, independent of sync.
func plaidView(t *testing.T, client *plaid.Client, token plaid.AccessToken) ledger {
	t.Helper()
	got, err := client.TransactionsGetAll(context.Background(), plaid.TransactionsGetRequest{
		AccessToken: token,
		StartDate:   testNow.AddDate(-2, 0, -1).Format("2006-01-02"),
		EndDate:     testNow.Format("2006-01-02"),
	})
	if err != nil {
		t.Fatalf("TransactionsGetAll: %v", err)
	}
	if len(got.Transactions) != got.TotalTransactions {
		t.Fatalf("TransactionsGetAll returned %d of %d", len(got.Transactions), got.TotalTransactions)
	}
	l := make(ledger)
	for _, txn := range got.Transactions {
		l[txn.TransactionID] = txn.Raw
	}
	return l
}

// TestSyncPagerPagesThroughHistory: from an empty cursor the pager returns
// the Item's whole history in one update over several pages, equal to what
// /transactions/get reports, and an update from its NextCursor is empty.
func TestSyncPagerPagesThroughHistory(t *testing.T) {
	_, client := setup(t, plaidsim.DefaultSecret)
	token, _ := linkItem(t, client, plaid.SandboxUserGood)
	ctx := context.Background()

	var heartbeats []int
	u, err := client.SyncTransactions(ctx, token, "", plaid.SyncOptions{Count: 7, OnPage: func(p int) { heartbeats = append(heartbeats, p) }})
	if err != nil {
		t.Fatalf("SyncTransactions: %v", err)
	}
	if u.Pages < 2 || u.Restarts != 0 || len(u.RequestIDs) != u.Pages {
		t.Errorf("pages %d, restarts %d, request ids %d; want several pages, no restart, one id per page", u.Pages, u.Restarts, len(u.RequestIDs))
	}
	if want := seq(u.Pages); !reflect.DeepEqual(heartbeats, want) {
		t.Errorf("OnPage calls = %v, want %v", heartbeats, want)
	}
	if u.StartCursor != "" || u.NextCursor == "" || u.UpdateStatus != plaid.UpdateStatusHistoricalComplete {
		t.Errorf("start %q, next %q, status %s; want \"\", a cursor, HISTORICAL_UPDATE_COMPLETE", u.StartCursor, u.NextCursor, u.UpdateStatus)
	}
	if len(u.Modified) != 0 || len(u.Removed) != 0 || len(u.Added) == 0 {
		t.Errorf("got %d added, %d modified, %d removed; want only added", len(u.Added), len(u.Modified), len(u.Removed))
	}
	if len(u.Accounts) == 0 {
		t.Error("no accounts")
	}
	l := make(ledger)
	l.apply(t, u)
	if d := l.diff(t, plaidView(t, client, token)); len(d) > 0 {
		t.Errorf("the update differs from /transactions/get:\n%v", d)
	}

	again, err := client.SyncTransactions(ctx, token, u.NextCursor, plaid.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(again.Added) + len(again.Modified) + len(again.Removed); n != 0 || again.Pages != 1 || again.StartCursor != u.NextCursor {
		t.Errorf("update from the final cursor: %d changes in %d pages from %q; want none in 1 page", n, again.Pages, again.StartCursor)
	}
}

// TestSyncPagerRestartsOnMutation: the simulator changes the Item just
// before page k of an update, so page k fails with
// TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION; the pager discards what it
// had, starts over from the start cursor, counts the restart, and returns
// an update that includes the new transaction exactly once.
func TestSyncPagerRestartsOnMutation(t *testing.T) {
	tests := []struct {
		name         string
		mutateAt     []int // pages before which the data changes, one fault each
		wantRestarts int
	}{
		{name: "page 2", mutateAt: []int{2}, wantRestarts: 1},
		{name: "page 4", mutateAt: []int{4}, wantRestarts: 1},
		{name: "twice", mutateAt: []int{2, 3}, wantRestarts: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim, client := setup(t, plaidsim.DefaultSecret)
			token, itemID := linkItem(t, client, plaid.SandboxUserGood)
			before := plaidView(t, client, token)
			for _, p := range tc.mutateAt {
				inject(t, sim, "/transactions/sync", plaidsim.Fault{MutateAtPage: p, ItemID: itemID})
			}
			u, err := client.SyncTransactions(context.Background(), token, "", plaid.SyncOptions{Count: 5})
			if err != nil {
				t.Fatalf("SyncTransactions: %v", err)
			}
			if u.Restarts != tc.wantRestarts {
				t.Errorf("Restarts = %d, want %d", u.Restarts, tc.wantRestarts)
			}
			l := make(ledger)
			l.apply(t, u)
			truth := plaidView(t, client, token)
			if got, want := len(truth)-len(before), len(tc.mutateAt); got != want {
				t.Errorf("the simulator added %d transactions, want %d", got, want)
			}
			if d := l.diff(t, truth); len(d) > 0 {
				t.Errorf("update after restarts differs from /transactions/get:\n%v", d)
			}
		})
	}
}

// TestSyncPagerGivesUp: when the data changes during every pass, the pager
// stops after MaxRestarts restarts with an error that still says "restart
// the sync" and carries Plaid's error.
func TestSyncPagerGivesUp(t *testing.T) {
	sim, client := setup(t, plaidsim.DefaultSecret)
	token, itemID := linkItem(t, client, plaid.SandboxUserGood)
	inject(t, sim, "/transactions/sync", plaidsim.Fault{MutateAtPage: 2, ItemID: itemID, Count: 3})
	var pages int
	_, err := client.SyncTransactions(context.Background(), token, "", plaid.SyncOptions{Count: 5, MaxRestarts: 2, OnPage: func(p int) { pages = p }})
	var perr *plaid.Error
	if !errors.As(err, &perr) || perr.ErrorCode != plaid.ErrorCodeSyncMutation || perr.RequestID == "" {
		t.Fatalf("error = %v, want Plaid's %s with a request_id", err, plaid.ErrorCodeSyncMutation)
	}
	if got := plaid.Classify(err); got != plaid.ClassRestartSync {
		t.Errorf("Classify = %v, want restart_sync", got)
	}
	if pages != 3 {
		t.Errorf("pages received = %d, want 3 (page 1 of each of the 3 passes)", pages)
	}
}

// TestSyncPagerSeesPendingPosted: after /transactions/refresh on a
// user_transactions_dynamic Item, one update holds each formerly pending
// transaction in removed and its posted successor in added, pointing back
// with pending_transaction_id, plus the refresh's new pending transactions
// and modified amount; and /sandbox/transactions/create adds exactly what
// was sent, amounts digit for digit.
func TestSyncPagerSeesPendingPosted(t *testing.T) {
	_, client := setup(t, plaidsim.DefaultSecret)
	token, _ := linkItem(t, client, plaid.SandboxUserTransactionsDynamic)
	ctx := context.Background()
	first, err := client.SyncTransactions(ctx, token, "", plaid.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l := make(ledger)
	l.apply(t, first)
	pending := map[string]bool{}
	for _, txn := range first.Added {
		if txn.Pending {
			pending[txn.TransactionID] = true
		}
	}
	if len(pending) == 0 {
		t.Fatal("the dynamic user's Item has no pending transactions")
	}

	if _, err := client.TransactionsRefresh(ctx, plaid.TransactionsRefreshRequest{AccessToken: token}); err != nil {
		t.Fatalf("TransactionsRefresh: %v", err)
	}
	u, err := client.SyncTransactions(ctx, token, first.NextCursor, plaid.SyncOptions{Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	removed := map[string]bool{}
	for _, r := range u.Removed {
		removed[r.TransactionID] = true
	}
	posted := map[string]bool{}
	for _, txn := range u.Added {
		if txn.PendingTransactionID != nil {
			posted[*txn.PendingTransactionID] = true
			if txn.Pending {
				t.Errorf("posted successor %s of %s is pending", txn.TransactionID, *txn.PendingTransactionID)
			}
		}
	}
	if !reflect.DeepEqual(removed, pending) || !reflect.DeepEqual(posted, pending) {
		t.Errorf("removed %v and posted successors of %v, want both to be the pending ids %v", removed, posted, pending)
	}
	if len(u.Modified) != 1 {
		t.Errorf("modified = %d transactions, want the 1 whose amount grew", len(u.Modified))
	}
	l.apply(t, u)

	amounts := []string{"-0.10", "1234567.89", "12.34"}
	var created []plaid.CustomSandboxTransaction
	for i, a := range amounts {
		d := testNow.AddDate(0, 0, -i).Format("2006-01-02")
		created = append(created, plaid.CustomSandboxTransaction{DateTransacted: d, DatePosted: d, Amount: plaid.MustParseDecimal(a), Description: fmt.Sprintf("test %d", i)})
	}
	if _, err := client.SandboxTransactionsCreate(ctx, plaid.SandboxTransactionsCreateRequest{AccessToken: token, Transactions: created}); err != nil {
		t.Fatalf("SandboxTransactionsCreate: %v", err)
	}
	u2, err := client.SyncTransactions(ctx, token, u.NextCursor, plaid.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Plaid's amounts are doubles: -0.10 comes back as -0.1, the same
	// number. Every digit that matters survives.
	var got []plaid.Decimal
	for _, txn := range u2.Added {
		got = append(got, txn.Amount)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Cmp(got[j]) < 0 })
	want := []plaid.Decimal{plaid.MustParseDecimal("-0.10"), plaid.MustParseDecimal("12.34"), plaid.MustParseDecimal("1234567.89")}
	if len(got) != len(want) || len(u2.Modified)+len(u2.Removed) != 0 {
		t.Fatalf("added amounts %v (+%d modified, %d removed), want exactly %v", got, len(u2.Modified), len(u2.Removed), want)
	}
	for i := range want {
		if got[i].Cmp(want[i]) != 0 {
			t.Errorf("added amount %v, want %v", got[i], want[i])
		}
	}
	l.apply(t, u2)
	if d := l.diff(t, plaidView(t, client, token)); len(d) > 0 {
		t.Errorf("applied updates differ from /transactions/get:\n%v", d)
	}
}

// TestSyncProcessorPager runs the pager through /processor/transactions/sync
// with a mutation between pages.
func TestSyncProcessorPager(t *testing.T) {
	sim, client := setup(t, plaidsim.DefaultSecret)
	token, itemID := linkItem(t, client, plaid.SandboxUserGood)
	ctx := context.Background()
	whole, err := client.SyncTransactions(ctx, token, "", plaid.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	account := whole.Added[0].AccountID
	pt, err := client.ProcessorTokenCreate(ctx, plaid.ProcessorTokenCreateRequest{AccessToken: token, AccountID: account, Processor: "dwolla"})
	if err != nil {
		t.Fatalf("ProcessorTokenCreate: %v", err)
	}
	inject(t, sim, "/processor/transactions/sync", plaidsim.Fault{MutateAtPage: 2, ItemID: itemID})
	u, err := client.SyncProcessorTransactions(ctx, pt.ProcessorToken, "", plaid.SyncOptions{Count: 3})
	if err != nil {
		t.Fatalf("SyncProcessorTransactions: %v", err)
	}
	if u.Restarts != 1 || u.Pages < 2 {
		t.Errorf("restarts %d, pages %d; want 1 restart and several pages", u.Restarts, u.Pages)
	}
	if len(u.Accounts) != 1 || u.Accounts[0].AccountID != account {
		t.Errorf("accounts = %v, want just %s", u.Accounts, account)
	}
	l := make(ledger)
	l.apply(t, u)
	want := make(ledger)
	for id, raw := range plaidView(t, client, token) {
		var txn plaid.Transaction
		if err := json.Unmarshal(raw, &txn); err != nil {
			t.Fatal(err)
		}
		if txn.AccountID == account {
			want[id] = raw
		}
	}
	if d := l.diff(t, want); len(d) > 0 {
		t.Errorf("processor update differs from /transactions/get of its account:\n%v", d)
	}
}

// simTruth is the simulator's ground truth: every current transaction of
// the Item, as the simulator renders it.
func simTruth(t *testing.T, sim *plaidsim.Sim, itemID string) ledger {
	t.Helper()
	st, err := sim.Item(itemID)
	if err != nil {
		t.Fatalf("sim.Item: %v", err)
	}
	l := make(ledger)
	for _, txn := range st.Transactions {
		raw, err := json.Marshal(txn)
		if err != nil {
			t.Fatal(err)
		}
		l[txn.TransactionID] = raw
	}
	return l
}

// TestSyncPagerProperty is the pager's contract under random change: with
// the Item changed at random moments — between the pages of an update
// (forcing restarts) and between updates, by seeded storms of additions,
// modifications, removals and postings and by Plaid's own refresh and
// /sandbox/transactions/create — applying every update the pager returned,
// in order, reproduces the simulator's ground truth exactly, field for
// field and digit for digit.
func TestSyncPagerProperty(t *testing.T) {
	var totalRestarts atomic.Int64
	for seed := uint64(1); seed <= 12; seed++ {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
			sim, client := setup(t, plaidsim.DefaultSecret)
			size := 20 + rng.IntN(300)
			item, err := sim.CreateItem(plaidsim.ItemOptions{Username: plaid.SandboxUserTransactionsDynamic, Transactions: &size})
			if err != nil {
				t.Fatalf("CreateItem: %v", err)
			}
			token := plaid.AccessToken(item.AccessToken)
			ctx := context.Background()
			created := 0
			mutate := func() {
				switch rng.IntN(4) {
				case 0, 1: // a storm of every kind of change
					if _, err := sim.Mutate(item.ItemID, plaidsim.MutateOptions{
						Seed: rng.Int64(), Add: rng.IntN(4), Modify: rng.IntN(4), Remove: rng.IntN(3), Post: rng.IntN(3),
					}); err != nil {
						t.Fatalf("Mutate: %v", err)
					}
				case 2: // Plaid's refresh: pending posted, new pending, an amount changed
					if _, err := client.TransactionsRefresh(ctx, plaid.TransactionsRefreshRequest{AccessToken: token}); err != nil {
						t.Fatalf("TransactionsRefresh: %v", err)
					}
				case 3:
					var txns []plaid.CustomSandboxTransaction
					for range 1 + rng.IntN(3) {
						created++
						d := testNow.AddDate(0, 0, -rng.IntN(14)).Format("2006-01-02")
						amount := fmt.Sprintf("%d.%02d", rng.IntN(2000)-1000, rng.IntN(100))
						txns = append(txns, plaid.CustomSandboxTransaction{DateTransacted: d, DatePosted: d, Amount: plaid.MustParseDecimal(amount), Description: fmt.Sprintf("property %d", created)})
					}
					if _, err := client.SandboxTransactionsCreate(ctx, plaid.SandboxTransactionsCreateRequest{AccessToken: token, Transactions: txns}); err != nil {
						t.Fatalf("SandboxTransactionsCreate: %v", err)
					}
				}
			}

			l := make(ledger)
			cursor := ""
			restarts, updates := 0, 0
			for round := range 10 {
				budget := rng.IntN(4) // changes during this update, fewer than MaxRestarts
				opts := plaid.SyncOptions{
					Count:       1 + rng.IntN(25),
					MaxRestarts: 4,
					OnPage: func(int) {
						if budget > 0 && rng.IntN(2) == 0 {
							budget--
							mutate()
						}
					},
				}
				u, err := client.SyncTransactions(ctx, token, cursor, opts)
				if err != nil {
					t.Fatalf("round %d: SyncTransactions: %v", round, err)
				}
				if u.StartCursor != cursor || u.Pages != len(u.RequestIDs) {
					t.Fatalf("round %d: StartCursor %q (want %q), %d pages, %d request ids", round, u.StartCursor, cursor, u.Pages, len(u.RequestIDs))
				}
				l.apply(t, u)
				cursor = u.NextCursor
				restarts += u.Restarts
				updates++
				if rng.IntN(2) == 0 {
					mutate() // between updates
				}
			}
			final, err := client.SyncTransactions(ctx, token, cursor, plaid.SyncOptions{Count: 1 + rng.IntN(500)})
			if err != nil {
				t.Fatal(err)
			}
			l.apply(t, final)
			if d := l.diff(t, simTruth(t, sim, item.ItemID)); len(d) > 0 {
				t.Errorf("applied updates differ from the simulator's ground truth (%d restarts):\n%v", restarts, d)
			}
			if d := l.diff(t, plaidView(t, client, token)); len(d) > 0 {
				t.Errorf("applied updates differ from /transactions/get (%d restarts):\n%v", restarts, d)
			}
			t.Logf("%d transactions after %d updates with %d restarts", len(l), updates+1, restarts)
			totalRestarts.Add(int64(restarts))
		})
	}
	if totalRestarts.Load() < 5 {
		t.Errorf("only %d restarts in all seeds; the test no longer exercises mutations during pagination", totalRestarts.Load())
	}
}

// TestSyncPagerLargeItem pages 5,000 transactions at the default 500 a
// page, with the data changing before page 6, and ends with the ground
// truth. (50,000 works too, in about 6 s, or 50 s under -race.)
func TestSyncPagerLargeItem(t *testing.T) {
	sim, client := setup(t, plaidsim.DefaultSecret)
	size := 5_000
	item, err := sim.CreateItem(plaidsim.ItemOptions{Transactions: &size})
	if err != nil {
		t.Fatalf("CreateItem: %v", err)
	}
	inject(t, sim, "/transactions/sync", plaidsim.Fault{MutateAtPage: 6, ItemID: item.ItemID})
	u, err := client.SyncTransactions(context.Background(), plaid.AccessToken(item.AccessToken), "", plaid.SyncOptions{})
	if err != nil {
		t.Fatalf("SyncTransactions: %v", err)
	}
	if u.Restarts != 1 || u.Pages != 11 || len(u.Added) != size+1 {
		t.Errorf("restarts %d, pages %d, added %d; want 1, 11, %d", u.Restarts, u.Pages, len(u.Added), size+1)
	}
	l := make(ledger)
	l.apply(t, u)
	if d := l.diff(t, simTruth(t, sim, item.ItemID)); len(d) > 0 {
		t.Errorf("update differs from the ground truth in %d transactions, e.g. %v", len(d), d[0])
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}
