package plaidsim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestLargeItem syncs an item of 50,000 transactions completely and checks
// every page byte for byte against the ground truth: a full-history update
// returns every transaction once, in the order of its last change, which is
// the ground truth's order.
//
// Exchanges are validated against Plaid's document with the check
// plaidspec.Transport runs (Spec.ValidateExchange), by two workers beside
// the sync loop. Without -race every page is validated; under -race, where
// 100 validations of 500 transactions would take most of the package's
// time budget, the first three pages, every tenth and the last are: the
// pages hold transactions of one generator, whose every shape the other
// tests validate too, and every page is still checked byte for byte.
func TestLargeItem(t *testing.T) {
	e := newEnv(t, Options{Seed: 50})
	start := time.Now()
	c := e.newItem(ItemOptions{}.with(50_000))
	created := time.Since(start)
	truth, err := e.sim.Item(c.ItemID)
	if err != nil {
		t.Fatal(err)
	}
	if len(truth.Transactions) != 50_000 {
		t.Fatalf("ground truth holds %d transactions", len(truth.Transactions))
	}

	type exchange struct {
		req, resp []byte
		status    int
		header    http.Header
	}
	exchanges := make(chan exchange, 16)
	var validators sync.WaitGroup
	for range 2 {
		validators.Go(func() {
			for x := range exchanges {
				r := httptest.NewRequest(http.MethodPost, e.srv.URL+"/transactions/sync", bytes.NewReader(x.req))
				r.Header.Set("Content-Type", "application/json")
				if err := e.spec.ValidateExchange(context.Background(), r, x.req, x.status, x.header, x.resp); err != nil {
					t.Errorf("Plaid OpenAPI violation: %v", err)
				}
			}
		})
	}

	start = time.Now()
	cursor := ""
	for page := 0; ; page++ {
		_, req := syncReq(c.AccessToken, cursor, 500, nil)
		reqBody, _ := json.Marshal(req)
		r, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/transactions/sync", bytes.NewReader(reqBody))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("PLAID-CLIENT-ID", DefaultClientID)
		r.Header.Set("PLAID-SECRET", DefaultSecret)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("sync: %d %s %v", resp.StatusCode, body, err)
		}
		if !raceDetector || page < 3 || page%10 == 0 || page == 99 {
			exchanges <- exchange{req: reqBody, resp: body, status: resp.StatusCode, header: resp.Header}
		}

		want := []byte(`"added":[`)
		for i := page * 500; i < min((page+1)*500, len(truth.Transactions)); i++ {
			if i > page*500 {
				want = append(want, ',')
			}
			want = truth.Transactions[i].appendJSON(want)
		}
		want = append(want, `],"modified":[],"removed":[],`...)
		at := bytes.Index(body, want)
		if at < 0 {
			t.Fatalf("page %d does not hold ground truth transactions %d–%d in order", page, page*500, (page+1)*500-1)
		}
		var tail struct {
			NextCursor string `json:"next_cursor"`
			HasMore    bool   `json:"has_more"`
		}
		mustUnmarshal(t, append([]byte("{"), body[at+len(want):]...), &tail)
		cursor = tail.NextCursor
		if !tail.HasMore {
			if page != 99 {
				t.Errorf("%d pages of 500, want 100", page+1)
			}
			break
		}
	}
	close(exchanges)
	synced := time.Since(start)
	validators.Wait()
	t.Logf("created in %v, synced in %v, validated %v later", created, synced, time.Since(start)-synced)
}

// TestSyncProperty: after random storms of changes, synced with random
// counts and sometimes disturbed mid-pagination, applying every page of
// every completed update reproduces the ground truth exactly.
func TestSyncProperty(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		t.Run("seed "+fmtSeed(seed), func(t *testing.T) {
			e := newEnv(t, Options{Seed: int64(seed)})
			r := rand.New(rand.NewPCG(seed, 7))
			c := e.newItem(ItemOptions{Username: userDynamic}.with(150 + r.IntN(150)))
			m := mirror{}
			cursor := ""
			for round := range 8 {
				if round > 0 {
					var res MutateResult
					e.simOK(http.MethodPost, "/sim/items/"+c.ItemID+"/mutate", MutateOptions{
						Seed: int64(r.Uint64() >> 1), Add: r.IntN(40), Modify: r.IntN(60), Remove: r.IntN(30), Post: r.IntN(5),
					}, &res)
				}
				if round%4 == 3 {
					e.ok("/transactions/refresh", map[string]any{"access_token": c.AccessToken}, nil)
				}
				count := 1 + r.IntN(500)
				if r.IntN(3) == 0 {
					count = 5 + r.IntN(20)
				}
				pages, next := e.updateDisturbed(c, cursor, count, r)
				m.apply(t, pages)
				cursor = next
				m.equalTruth(t, e.truth(c.ItemID).Transactions)
			}
		})
	}
}

// updateDisturbed runs one update like a careful client: on
// TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION it discards the pages and
// restarts from the update's first cursor. Between pages it sometimes
// changes the item.
func (e *simEnv) updateDisturbed(c CreatedItem, start string, count int, r *rand.Rand) ([]syncPage, string) {
	e.t.Helper()
	for attempt := 0; ; attempt++ {
		if attempt > 20 {
			e.t.Fatal("no update completed in 20 attempts")
		}
		var pages []syncPage
		cursor := start
		failed := false
		for {
			path, req := syncReq(c.AccessToken, cursor, count, nil)
			status, body := e.call(path, req)
			if status != http.StatusOK {
				var pe PlaidError
				mustUnmarshal(e.t, body, &pe)
				if pe.ErrorCode != "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION" {
					e.t.Fatalf("sync: %d %s", status, body)
				}
				failed = true
				break
			}
			var p syncPage
			mustUnmarshal(e.t, body, &p)
			if p.size() > count {
				e.t.Errorf("page holds %d changes, count %d", p.size(), count)
			}
			pages = append(pages, p)
			cursor = p.NextCursor
			if !p.HasMore {
				break
			}
			if attempt < 3 && r.IntN(4) == 0 {
				if _, err := e.sim.Mutate(c.ItemID, MutateOptions{Seed: int64(r.Uint64() >> 1), Add: r.IntN(3), Modify: r.IntN(3), Remove: r.IntN(2), Post: r.IntN(2)}); err != nil {
					e.t.Fatal(err)
				}
			}
		}
		if !failed {
			return pages, cursor
		}
	}
}

func fmtSeed(s uint64) string { return string(rune('0' + s)) }
