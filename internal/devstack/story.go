package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/fetch"
	"github.com/plaidstream/plaidstream/internal/ledger"
	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// owner is one of the story's items (or the processor token's account).
type owner struct {
	label     string
	owner     events.Owner
	itemID    string // the plaidsim item (for a processor token, its item)
	accountID string // processor tokens: the token's account
}

func (o owner) source() string { return o.owner.Source("sandbox") }

// story drives plaidsim through the steps and waits for each step's events.
func (s *stack) story(ctx context.Context) error {
	history, err := s.sim.CreateItem(plaidsim.ItemOptions{Transactions: ptr(40), Webhook: s.webhookURL})
	if err != nil {
		return err
	}
	relogin, err := s.sim.CreateItem(plaidsim.ItemOptions{Transactions: ptr(12), Webhook: s.webhookURL})
	if err != nil {
		return err
	}
	shared, err := s.sim.CreateItem(plaidsim.ItemOptions{Transactions: ptr(20)})
	if err != nil {
		return err
	}
	account := shared.Accounts[0].AccountID
	pt, err := s.plaid.ProcessorTokenCreate(ctx, plaid.ProcessorTokenCreateRequest{AccessToken: plaid.AccessToken(shared.AccessToken), AccountID: account, Processor: "dwolla"})
	if err != nil {
		return err
	}
	if err := s.sim.SetProcessorWebhook(string(pt.ProcessorToken), s.webhookURL); err != nil {
		return err
	}
	owners := []owner{
		{label: "item with history", owner: events.Owner{Kind: events.OwnerItem, ID: history.ItemID}, itemID: history.ItemID},
		{label: "processor token", owner: events.Owner{Kind: events.OwnerProcessor, ID: account}, itemID: shared.ItemID, accountID: account},
		{label: "item that will need re-login", owner: events.Owner{Kind: events.OwnerItem, ID: relogin.ItemID}, itemID: relogin.ItemID},
	}
	s.owners = owners

	s.step("1. Register three owners through the admin API; each gets its initial sync")
	if err := s.register("/v1/items/"+history.ItemID, map[string]string{"access_token": history.AccessToken}); err != nil {
		return err
	}
	if err := s.register("/v1/processor-tokens/"+account, map[string]string{"processor_token": string(pt.ProcessorToken)}); err != nil {
		return err
	}
	if err := s.register("/v1/items/"+relogin.ItemID, map[string]string{"access_token": relogin.AccessToken}); err != nil {
		return err
	}
	if err := s.waitUpdates(ctx, "the initial syncs", map[string]int{owners[0].source(): 1, owners[1].source(): 1, owners[2].source(): 1}); err != nil {
		return err
	}

	s.step("2. New transactions at the bank (a third of them pending): plaidsim fires SYNC_UPDATES_AVAILABLE")
	if _, err := s.sim.Mutate(history.ItemID, plaidsim.MutateOptions{Seed: s.cfg.Seed, Add: 4}); err != nil {
		return err
	}
	if err := s.waitUpdates(ctx, "the new transactions", map[string]int{owners[0].source(): 2}); err != nil {
		return err
	}

	s.step("3. A pending transaction posts: one plaid.transaction.posted instead of removed + added")
	if _, err := s.sim.Mutate(history.ItemID, plaidsim.MutateOptions{Seed: s.cfg.Seed + 1, Post: 1}); err != nil {
		return err
	}
	if err := s.waitUpdates(ctx, "the posted transaction", map[string]int{owners[0].source(): 3}); err != nil {
		return err
	}

	s.step("4. The bank drops a transaction")
	if _, err := s.sim.Mutate(history.ItemID, plaidsim.MutateOptions{Seed: s.cfg.Seed + 2, Remove: 1}); err != nil {
		return err
	}
	if err := s.waitUpdates(ctx, "the removal", map[string]int{owners[0].source(): 4}); err != nil {
		return err
	}

	s.step("5. Plaid detects a recurring stream: RECURRING_TRANSACTIONS_UPDATE")
	usd := "USD"
	fee := plaidsim.StreamAmount{Amount: plaidsim.MustAmount("39.99"), IsoCurrencyCode: &usd}
	in := plaidsim.StreamInput{TransactionStream: plaidsim.TransactionStream{
		AccountID: history.Accounts[0].AccountID, Description: "Platypus Gym", Frequency: "MONTHLY", FirstDate: "2026-01-05", LastDate: "2026-11-05",
		AverageAmount: fee, LastAmount: fee,
	}}
	if _, err := s.sim.PutRecurringStream(history.ItemID, "stream-gym", in); err != nil {
		return err
	}
	if err := s.waitType(ctx, "the recurring stream", events.TypeRecurringStreamAdded, 1); err != nil {
		return err
	}

	s.step("6. The user changes their bank password: ITEM_LOGIN_REQUIRED parks the item")
	if err := s.sim.SetItemError(relogin.ItemID, "ITEM_LOGIN_REQUIRED"); err != nil {
		return err
	}
	return s.waitType(ctx, "the item error", events.ItemEventType("ERROR"), 1)
}

func (s *stack) step(title string) { fmt.Fprintf(s.out, "\n▶ %s\n", title) }

// register PUTs an owner's token to the admin API.
func (s *stack) register(path string, body map[string]string) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPut, s.fetcher+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT %s: %d %s", path, resp.StatusCode, answer)
	}
	fmt.Fprintf(s.out, "  PUT %s → %d\n", path, resp.StatusCode)
	return nil
}

// waitUpdates waits until each source has applied at least n updates.
func (s *stack) waitUpdates(ctx context.Context, what string, want map[string]int) error {
	return s.watch.until(ctx, s.cfg.StepTimeout, what, func(l *ledger.Ledger, _ map[string]int) bool {
		for src, n := range want {
			o := l.Owner(src)
			if o == nil || o.Updates < n {
				return false
			}
		}
		return true
	})
}

// waitType waits until at least n events of typ arrived.
func (s *stack) waitType(ctx context.Context, what, typ string, n int) error {
	return s.watch.until(ctx, s.cfg.StepTimeout, what, func(_ *ledger.Ledger, byType map[string]int) bool { return byType[typ] >= n })
}

// summary prints events by type, the owners, and the consistency check; it
// reports whether every owner matches plaidsim.
func (s *stack) summary() bool {
	s.watch.mu.Lock()
	defer s.watch.mu.Unlock()
	fmt.Fprintf(s.out, "\n■ Summary\n  events by type:\n")
	types := make([]string, 0, len(s.watch.byType))
	total := 0
	for t, n := range s.watch.byType {
		types = append(types, t)
		total += n
	}
	sort.Strings(types)
	for _, t := range types {
		fmt.Fprintf(s.out, "    %-32s %d\n", t, s.watch.byType[t])
	}
	fmt.Fprintf(s.out, "    %-32s %d\n  owners:\n", "total", total)
	ok := true
	for _, o := range s.owners {
		st := s.watch.ledger.Owner(o.source())
		diff, err := s.compare(o, st)
		if err != nil {
			diff = err.Error()
		}
		line := fmt.Sprintf("    %-30s %-38s", o.label, o.owner.ID)
		if st != nil {
			line += fmt.Sprintf(" %3d transactions, %d updates, %d gaps", len(st.Transactions), st.Updates, st.Gaps)
			if st.Status != "" {
				line += ", status " + st.Status
			}
		}
		fmt.Fprintln(s.out, line)
		if diff != "" {
			ok = false
			fmt.Fprintf(s.out, "      differs from plaidsim: %s\n", diff)
		}
	}
	if ok {
		fmt.Fprintln(s.out, "  consistency with plaidsim's ground truth: OK")
	} else {
		fmt.Fprintln(s.out, "  consistency with plaidsim's ground truth: DIFFERENT (see above)")
	}
	return ok
}

// compare checks an owner's rebuilt transactions against plaidsim's ground
// truth, normalized as the fetcher normalizes; "" means equal.
func (s *stack) compare(o owner, st *ledger.Owner) (string, error) {
	truth, err := s.sim.Item(o.itemID)
	if err != nil {
		return "", err
	}
	want := map[string]string{}
	for _, t := range truth.Transactions {
		if o.accountID != "" && t.AccountID != o.accountID {
			continue
		}
		b, err := json.Marshal(t)
		if err != nil {
			return "", err
		}
		var tx plaid.Transaction
		if err := json.Unmarshal(b, &tx); err != nil {
			return "", err
		}
		n, err := json.Marshal(fetch.NormalizeTransaction(tx, o.owner, false))
		if err != nil {
			return "", err
		}
		want[tx.TransactionID] = string(n)
	}
	got := map[string]string{}
	if st != nil {
		for id, raw := range st.Transactions {
			var tx events.Transaction
			if err := json.Unmarshal(raw, &tx); err != nil {
				return "", err
			}
			n, _ := json.Marshal(tx)
			got[id] = string(n)
		}
	}
	var problems []string
	for id, w := range want {
		switch g, ok := got[id]; {
		case !ok:
			problems = append(problems, "missing "+id)
		case g != w:
			problems = append(problems, "different "+id)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			problems = append(problems, "extra "+id)
		}
	}
	slices.Sort(problems)
	if len(problems) > 5 {
		problems = append(problems[:5], fmt.Sprintf("and %d more", len(problems)-5))
	}
	return strings.Join(problems, ", "), nil
}

func (s *stack) printBanner() {
	fmt.Fprintf(s.out, `plaidstream devstack: the whole pipeline on this machine, wired as in production
  NATS JetStream  %s  (embedded; data in %s)
  plaidsim        %s  (signs its webhooks like Plaid)
  webhookd        %s  (admin %s)
  fetcher         admin %s  (admin API token %s)
  logs            %s
`, s.nats.ClientURL(), s.dataDir, s.plaidURL, s.webhookURL, s.webhookd, s.fetcher, s.adminToken, s.dataDir+"/logs")
}

func (s *stack) printNextSteps() {
	item := s.owners[0].itemID
	fmt.Fprintf(s.out, `
■ What next (this keeps running until Ctrl-C)
  Tail the events (another terminal):
    NATS_URL=%[1]s go run ./cmd/fetcher events tail --all
  Add a transaction at the bank; plaidsim fires the webhook:
    curl -s -X POST %[2]s/sim/items/%[3]s/mutate -d '{"seed":7,"add":2}'
  Fire a webhook by hand (signed by plaidsim like Plaid, sent to webhookd):
    curl -s -X POST %[2]s/sim/webhooks/send -d '{"url":"%[7]s","body":{"webhook_type":"TRANSACTIONS","webhook_code":"SYNC_UPDATES_AVAILABLE","item_id":"%[3]s","initial_update_complete":true,"historical_update_complete":true,"environment":"sandbox"}}'
  Look at an item through the admin API:
    curl -s -H 'Authorization: Bearer %[4]s' %[5]s/v1/items/%[3]s
  Subjects: plaid.webhooks.<type>.<code> (PLAID_WEBHOOKS), plaid.events.<item>.<entity>.<change> (PLAID_EVENTS)
    nats --server %[1]s sub 'plaid.events.>'      # with the nats CLI, if you have it
  Metrics: %[6]s/metrics  %[5]s/metrics
  Webhook URL to point plaidsim (or anything that signs like Plaid) at: %[7]s
`, s.nats.ClientURL(), s.plaidURL, item, s.adminToken, s.fetcher, s.webhookd, s.webhookURL)
}

func ptr[T any](v T) *T { return &v }
