package fetch_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/fetch"
	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// benchUpdate returns a realistic update of n transactions: the whole
// history of a simulator item, fetched by our client.
func benchUpdate(b *testing.B, n int) *plaid.SyncUpdate {
	b.Helper()
	sim, err := plaidsim.New(plaidsim.Options{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sim.Close() })
	srv := httptest.NewServer(sim)
	b.Cleanup(srv.Close)
	item, err := sim.CreateItem(plaidsim.ItemOptions{Transactions: &n})
	if err != nil {
		b.Fatal(err)
	}
	c, err := plaid.NewClient(plaid.Config{BaseURL: srv.URL, ClientID: plaidsim.DefaultClientID, Secret: plaidsim.DefaultSecret})
	if err != nil {
		b.Fatal(err)
	}
	u, err := c.SyncTransactions(context.Background(), plaid.AccessToken(item.AccessToken), "", plaid.SyncOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return u
}

var benchOwner = events.Owner{Kind: events.OwnerItem, ID: "wz666MBjYWTp2PDzzggYhM6oWWmBb"}

// BenchmarkNormalizeTransaction maps one of Plaid's transactions to the
// event payload (per transaction, over a realistic mix).
func BenchmarkNormalizeTransaction(b *testing.B) {
	u := benchUpdate(b, 500)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = fetch.NormalizeTransaction(u.Added[i%len(u.Added)], benchOwner, false)
		i++
	}
}

// BenchmarkBuildUpdateEvents turns one page-sized update of 500
// transactions into its messages: normalization, payload and envelope
// encoding, ids. ns/event is the per-event cost.
func BenchmarkBuildUpdateEvents(b *testing.B) {
	u := benchUpdate(b, 500)
	p := fetch.UpdateParams{Owner: benchOwner, Environment: "sandbox", Now: time.Now()}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		msgs, err := fetch.BuildUpdateEvents(u, p)
		if err != nil {
			b.Fatal(err)
		}
		n = len(msgs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}
