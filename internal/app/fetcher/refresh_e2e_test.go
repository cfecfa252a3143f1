package fetcher

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/embednats"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// TestRefreshEndToEnd drives the whole path of an on-demand refresh across
// processes: the item is registered through the admin API; POST
// /v1/items/{id}/refresh calls Plaid (plaidsim), which fires signed
// SYNC_UPDATES_AVAILABLE webhooks at a real webhookd process; webhookd
// verifies and stores them; the fetcher syncs; the events rebuild
// plaidsim's ground truth. The access token appears in no response and no
// log line of either process.
func TestRefreshEndToEnd(t *testing.T) {
	sim, err := plaidsim.New(plaidsim.Options{Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	ns, err := embednats.Start(embednats.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)

	webhookURL, webhookdLogs := startWebhookd(t, ns.ClientURL(), simSrv.URL)

	const adminToken = "test-admin-token-0123456789"
	env := map[string]string{
		"FETCHER_ADMIN_LISTEN": "127.0.0.1:0", "NATS_URL": ns.ClientURL(), "FETCHER_ADMIN_TOKEN": adminToken,
		"PLAID_BASE_URL": simSrv.URL, "PLAID_CLIENT_ID": plaidsim.DefaultClientID, "PLAID_SECRET": plaidsim.DefaultSecret,
		"PLAIDSTREAM_TOKEN_KEY": testKey, "FETCHER_REPLICA_NAME": "e2e",
	}
	admin, fetcherLogs := startFetcher(t, func(k string) string { return env[k] })

	n := 25
	item, err := sim.CreateItem(plaidsim.ItemOptions{Transactions: &n, Username: "user_transactions_dynamic", Webhook: webhookURL})
	if err != nil {
		t.Fatal(err)
	}
	api := func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, admin+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if bytes.Contains(b, []byte(item.AccessToken)) {
			t.Errorf("%s %s answered with the access token", method, path)
		}
		return resp.StatusCode, string(b)
	}

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	completed := func() int {
		st, err := js.Stream(context.Background(), events.EventStream)
		if err != nil {
			return 0
		}
		subj := events.EventSubjectPrefix + "." + item.ItemID + ".sync.completed"
		info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(subj))
		if err != nil {
			return 0
		}
		return int(info.State.Subjects[subj])
	}

	body, _ := json.Marshal(map[string]string{"access_token": item.AccessToken, "user_id": "user-e2e"})
	if code, resp := api(http.MethodPut, "/v1/items/"+item.ItemID, string(body)); code != http.StatusCreated {
		t.Fatalf("PUT: %d %s", code, resp)
	}
	waitFor(t, "the registration's sync", func() bool { return completed() == 1 })

	if code, resp := api(http.MethodPost, "/v1/items/"+item.ItemID+"/refresh", ""); code != http.StatusAccepted {
		t.Fatalf("refresh: %d %s", code, resp)
	}
	waitFor(t, "the sync the refresh's webhook caused", func() bool { return completed() == 2 })
	delivered := false
	for _, d := range sim.WebhookDeliveries() {
		var b struct {
			ItemID      string `json:"item_id"`
			WebhookCode string `json:"webhook_code"`
		}
		if json.Unmarshal(d.Body, &b) == nil && b.ItemID == item.ItemID && b.WebhookCode == "SYNC_UPDATES_AVAILABLE" && d.Delivered {
			delivered = true
		}
	}
	if !delivered {
		t.Errorf("webhookd never answered 200 to the refresh's SYNC_UPDATES_AVAILABLE: %+v", sim.WebhookDeliveries())
	}

	// The events rebuild the simulator's transactions.
	got := transactionIDs(t, js, item.ItemID)
	truth, err := sim.Item(item.ItemID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, tx := range truth.Transactions {
		want[tx.TransactionID] = true
	}
	if len(got) != len(want) {
		t.Errorf("events hold %d transactions, plaidsim %d", len(got), len(want))
	}
	for id := range want {
		if !got[id] {
			t.Errorf("transaction %s missing from the events", id)
		}
	}
	if code, resp := api(http.MethodGet, "/v1/items/"+item.ItemID, ""); code != http.StatusOK || !strings.Contains(resp, `"cursor_present": true`) {
		t.Errorf("GET: %d %s", code, resp)
	}

	for name, logs := range map[string]*syncBuffer{"webhookd": webhookdLogs, "fetcher": fetcherLogs} {
		for _, s := range []string{item.AccessToken, adminToken, plaidsim.DefaultSecret} {
			if strings.Contains(logs.String(), s) {
				t.Errorf("the %s logs contain a secret (%.8s...)", name, s)
			}
		}
	}
}

// transactionIDs applies the item's transaction events in stream order and
// returns the ids that remain.
func transactionIDs(t *testing.T, js jetstream.JetStream, itemID string) map[string]bool {
	t.Helper()
	ctx := context.Background()
	cons, err := js.OrderedConsumer(ctx, events.EventStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.EventSubjectPrefix + "." + itemID + ".transaction.>"}})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for {
		batch, err := cons.FetchNoWait(500)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			e, err := events.DecodeEvent(m.Data())
			if err != nil {
				t.Fatal(err)
			}
			var tx struct {
				TransactionID        string  `json:"transaction_id"`
				PendingTransactionID *string `json:"pending_transaction_id"`
			}
			if err := json.Unmarshal(e.Data, &tx); err != nil {
				t.Fatal(err)
			}
			switch e.Type {
			case events.TypeTransactionRemoved:
				delete(ids, tx.TransactionID)
			case events.TypeTransactionPosted:
				if tx.PendingTransactionID != nil {
					delete(ids, *tx.PendingTransactionID)
				}
				ids[tx.TransactionID] = true
			default:
				ids[tx.TransactionID] = true
			}
		}
		if n == 0 {
			return ids
		}
	}
}

// startWebhookd builds cmd/webhookd and runs it against natsURL, fetching
// verification keys from plaidURL; it returns the webhook URL and the
// process's log.
func startWebhookd(t *testing.T, natsURL, plaidURL string) (string, *syncBuffer) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "webhookd")
	build := exec.Command("go", "build", "-o", bin, "github.com/plaidstream/plaidstream/cmd/webhookd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build webhookd: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(),
		"WEBHOOKD_LISTEN=127.0.0.1:0", "WEBHOOKD_ADMIN_LISTEN=127.0.0.1:0", "NATS_URL="+natsURL,
		"PLAID_BASE_URL="+plaidURL, "PLAID_CLIENT_ID="+plaidsim.DefaultClientID, "PLAID_SECRET="+plaidsim.DefaultSecret)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	lines := bufio.NewScanner(out)
	var ready struct {
		Msg        string `json:"msg"`
		WebhookURL string `json:"webhook_url"`
	}
	for lines.Scan() {
		logs.Write(append(lines.Bytes(), '\n'))
		if json.Unmarshal(lines.Bytes(), &ready) == nil && ready.Msg == "webhookd ready" {
			break
		}
	}
	if ready.WebhookURL == "" {
		t.Fatalf("webhookd never became ready:\n%s", logs.String())
	}
	go func() { _, _ = io.Copy(&logs, out) }()
	return ready.WebhookURL, &logs
}

// startFetcher runs the fetcher in-process until the test ends and returns
// its admin base URL and its log.
func startFetcher(t *testing.T, getenv func(string) string) (string, *syncBuffer) {
	t.Helper()
	logs, logW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, getenv, logW, io.Discard)
		logW.Close()
	}()
	var all syncBuffer
	var ready struct {
		Msg       string `json:"msg"`
		AdminAddr string `json:"admin_addr"`
	}
	lines := bufio.NewScanner(logs)
	for lines.Scan() {
		all.Write(append(lines.Bytes(), '\n'))
		if json.Unmarshal(lines.Bytes(), &ready) == nil && ready.Msg == "fetcher ready" {
			break
		}
	}
	if ready.AdminAddr == "" {
		cancel()
		t.Fatalf("fetcher never became ready: %v\n%s", <-done, all.String())
	}
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(&all, logs)
		close(copied)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("fetcher: %v", err)
		}
		<-copied
	})
	return "http://" + ready.AdminAddr, &all
}
