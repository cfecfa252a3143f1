package fetcher

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/plaidstream/plaidstream/internal/embednats"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/fetch"
	"github.com/plaidstream/plaidstream/internal/items"
	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

const testKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" // base64 of bytes 0..31

func noEnv(string) string { return "" }

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronization
	}
}

// TestRunEndToEnd drives the real entry point: the fetcher serving, an item
// registered through `items add`, its first sync, a webhook-driven second
// sync, the admin endpoints, the items CLI, and a clean stop. No output,
// log line or stored value may contain the access token.
func TestRunEndToEnd(t *testing.T) {
	sim, err := plaidsim.New(plaidsim.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	ns, err := embednats.Start(embednats.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	env := map[string]string{
		"FETCHER_ADMIN_LISTEN": "127.0.0.1:0", "NATS_URL": ns.ClientURL(),
		"PLAID_BASE_URL": simSrv.URL, "PLAID_CLIENT_ID": plaidsim.DefaultClientID, "PLAID_SECRET": plaidsim.DefaultSecret,
		"PLAIDSTREAM_TOKEN_KEY": testKey, "FETCHER_REPLICA_NAME": "test-replica",
	}
	getenv := func(k string) string { return env[k] }

	logs, logW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--log-level", "debug"}, getenv, logW, io.Discard)
		logW.Close()
	}()
	var ready struct {
		Msg       string `json:"msg"`
		AdminAddr string `json:"admin_addr"`
	}
	var allLogs syncBuffer
	lines := bufio.NewScanner(logs)
	for lines.Scan() {
		allLogs.Write(append(lines.Bytes(), '\n'))
		if err := json.Unmarshal(lines.Bytes(), &ready); err == nil && ready.Msg == "fetcher ready" {
			break
		}
	}
	if ready.AdminAddr == "" {
		cancel()
		t.Fatalf("run never logged readiness: %v", <-done)
	}
	rest := make(chan struct{})
	go func() {
		_, _ = io.Copy(&allLogs, logs)
		close(rest)
	}()
	admin := "http://" + ready.AdminAddr

	n := 30
	item, err := sim.CreateItem(plaidsim.ItemOptions{Transactions: &n})
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err = runWithInput(ctx, []string{"items", "add", "--item-id", item.ItemID, "--access-token", "-", "--user-id", "user-1"}, getenv, strings.NewReader(item.AccessToken+"\n"), &out, &errOut)
	if err != nil {
		t.Fatalf("items add: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "item."+item.ItemID+" registered") {
		t.Errorf("items add printed %q", out.String())
	}

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	completed := func() int {
		st, err := js.Stream(ctx, events.EventStream)
		if err != nil {
			return 0
		}
		subj := events.EventSubjectPrefix + "." + item.ItemID + ".sync.completed"
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(subj))
		if err != nil {
			return 0
		}
		return int(info.State.Subjects[subj])
	}
	waitFor(t, "the registration's sync", func() bool { return completed() >= 1 })

	if _, err := sim.Mutate(item.ItemID, plaidsim.MutateOptions{Seed: 5, Add: 3, Modify: 2}); err != nil {
		t.Fatal(err)
	}
	publishWebhook(t, js, "TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", item.ItemID)
	waitFor(t, "the webhook's sync", func() bool { return completed() >= 2 })

	if code, body := httpGet(t, admin+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz: %d %s", code, body)
	}
	if code, _ := httpGet(t, admin+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	synced := regexp.MustCompile(`(?m)^fetcher_syncs_total\{outcome="synced"\} (\d+)$`)
	waitFor(t, "fetcher_syncs_total{outcome=synced} >= 2", func() bool {
		_, body := httpGet(t, admin+"/metrics")
		m := synced.FindStringSubmatch(body)
		v := 0
		if m != nil {
			v, _ = strconv.Atoi(m[1])
		}
		return v >= 2
	})
	_, metricsBody := httpGet(t, admin+"/metrics")
	for _, want := range []string{`fetcher_events_published_total{type="plaid.sync.completed"}`, `fetcher_plaid_requests_total{endpoint="/transactions/sync",status_class="2xx"}`, "fetcher_consumer_pending 0", "fetcher_parked_items 0"} {
		if !strings.Contains(metricsBody, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// The token is sealed in the bucket.
	kv, err := js.KeyValue(ctx, events.TokensBucket)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := kv.Get(ctx, "item."+item.ItemID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(entry.Value(), []byte(item.AccessToken)) {
		t.Errorf("PLAID_TOKENS holds the access token in plaintext")
	}

	// The items CLI shows the item, never its token.
	cli := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(context.Background(), append([]string{"items"}, args...), getenv, &out, io.Discard); err != nil {
			t.Fatalf("items %v: %v", args, err)
		}
		if strings.Contains(out.String(), item.AccessToken) {
			t.Errorf("items %v printed the access token", args)
		}
		return out.String()
	}
	if got := cli("get", item.ItemID); !strings.Contains(got, "cursor:") || !strings.Contains(got, "present") || !strings.Contains(got, "(synced)") || !strings.Contains(got, "user-1") {
		t.Errorf("items get:\n%s", got)
	}
	var view items.View
	if err := json.Unmarshal([]byte(cli("get", "--item-id", item.ItemID, "--json")), &view); err != nil {
		t.Fatal(err)
	}
	if view.Owner != "item."+item.ItemID || !view.Sync.CursorPresent || view.Sync.LastSyncOutcome != fetch.OutcomeSynced || view.KeyID != "0" {
		t.Errorf("items get --json: %+v", view)
	}
	if got := cli("list"); !strings.Contains(got, "item."+item.ItemID) || !strings.Contains(got, "present") {
		t.Errorf("items list:\n%s", got)
	}
	var views []items.View
	if err := json.Unmarshal([]byte(cli("list", "--json")), &views); err != nil || len(views) != 1 {
		t.Errorf("items list --json: %v %+v", err, views)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run returned %v, want nil", err)
	}
	<-rest
	logged := allLogs.String()
	if !strings.Contains(logged, `"msg":"webhook.handled"`) {
		t.Errorf("no webhook.handled log line:\n%s", logged)
	}
	for _, secret := range []string{item.AccessToken, plaidsim.DefaultSecret, testKey} {
		if strings.Contains(logged, secret) {
			t.Errorf("the logs contain a secret (%.6s...)", secret)
		}
	}

	// rm removes it; a second rm finds nothing.
	if got := cli("rm", item.ItemID); !strings.Contains(got, "removed") {
		t.Errorf("items rm: %s", got)
	}
	removed := events.EventSubjectPrefix + "." + item.ItemID + ".item.removed"
	evs, err := js.Stream(context.Background(), events.EventStream)
	if err != nil {
		t.Fatal(err)
	}
	if last, err := evs.GetLastMsgForSubject(context.Background(), events.EventSubjectPrefix+"."+item.ItemID+".>"); err != nil || last.Subject != removed {
		t.Errorf("the item's last event: %v, want %s", err, removed)
	}
	if err := run(context.Background(), []string{"items", "rm", item.ItemID}, getenv, io.Discard, io.Discard); exitCode(err, io.Discard) != 1 {
		t.Errorf("second rm: got %v, want exit 1", err)
	}
}

// publishWebhook stores a webhook message as webhookd would.
func publishWebhook(t *testing.T, js jetstream.JetStream, typ, code, itemID string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"webhook_type": typ, "webhook_code": code, "item_id": itemID, "environment": "sandbox"})
	env := events.WebhookEnvelope{WebhookType: typ, WebhookCode: code, ItemID: itemID, Environment: "sandbox"}
	token := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s-%d", itemID, time.Now().UnixNano()))
	msg := &nats.Msg{Subject: events.WebhookSubject(typ, code), Data: body, Header: nats.Header(events.WebhookHeaders(env, events.WebhookMsgID(token), "kid", time.Now()))}
	if _, err := js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHelpNamesEverySetting(t *testing.T) {
	var errOut bytes.Buffer
	err := run(context.Background(), []string{"--help"}, noEnv, io.Discard, &errOut)
	if !errors.Is(err, flag.ErrHelp) || exitCode(err, io.Discard) != 0 {
		t.Fatalf("got %v, want flag.ErrHelp and exit 0", err)
	}
	for _, env := range []string{
		"NATS_URL", "NATS_CREDS", "NATS_NKEY_SEED_FILE", "NATS_TLS_CA", "NATS_TLS_CERT", "NATS_TLS_KEY", "NATS_RECONNECT_WAIT",
		"PLAID_ENV", "PLAID_BASE_URL", "PLAID_CLIENT_ID", "PLAID_SECRET", "PLAID_SECRET_FILE",
		"PLAIDSTREAM_TOKEN_KEY", "PLAIDSTREAM_TOKEN_KEY_FILE", "PLAIDSTREAM_TOKEN_KEYS",
		"FETCHER_ADMIN_LISTEN", "FETCHER_WORKERS", "FETCHER_MAX_ACK_PENDING", "FETCHER_ACK_WAIT", "FETCHER_MAX_DELIVER",
		"FETCHER_LEASE_TTL", "FETCHER_SHUTDOWN_TIMEOUT", "FETCHER_KEEP_RAW", "FETCHER_PLAID_RATE", "FETCHER_STREAM_REPLICAS",
		"FETCHER_REPLICA_NAME", "LOG_LEVEL",
	} {
		if !strings.Contains(errOut.String(), env) {
			t.Errorf("--help does not mention %s", env)
		}
	}
	errOut.Reset()
	err = run(context.Background(), []string{"items", "add", "--help"}, noEnv, io.Discard, &errOut)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("items add --help: got %v", err)
	}
	for _, want := range []string{"standard input", "NATS_URL", "PLAIDSTREAM_TOKEN_KEY", "--processor-token"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("items add --help does not mention %s", want)
		}
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	withKey := map[string]string{"PLAIDSTREAM_TOKEN_KEY": testKey, "PLAID_CLIENT_ID": "c", "PLAID_SECRET": "s"}
	tests := []struct {
		name string
		args []string
	}{
		{"unknown flag", []string{"--bogus"}},
		{"extra argument", []string{"now"}},
		{"bad duration", []string{"--ack-wait", "soon"}},
		{"no workers", []string{"--workers", "0"}},
		{"bad environment", []string{"--plaid-env", "development"}},
		{"items without verb", []string{"items"}},
		{"items unknown verb", []string{"items", "frob"}},
		{"add without owner", []string{"items", "add"}},
		{"add item without token", []string{"items", "add", "--item-id", "item1"}},
		{"add item and account", []string{"items", "add", "--item-id", "i", "--account-id", "a", "--access-token", "t"}},
		{"add unsafe id", []string{"items", "add", "--item-id", "a.b", "--access-token", "t"}},
		{"add empty stdin", []string{"items", "add", "--item-id", "item1", "--access-token", "-"}},
		{"get without owner", []string{"items", "get"}},
		{"get two owners", []string{"items", "get", "a", "b"}},
		{"rm with id and flag", []string{"items", "rm", "a", "--item-id", "b"}},
		{"list with argument", []string{"items", "list", "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := runWithInput(context.Background(), tt.args, func(k string) string { return withKey[k] }, strings.NewReader(""), io.Discard, io.Discard)
			if code := exitCode(err, io.Discard); code != 2 {
				t.Fatalf("got exit code %d (%v), want 2", code, err)
			}
		})
	}
}

func TestMissingTokenKeyIsAClearError(t *testing.T) {
	creds := map[string]string{"PLAID_CLIENT_ID": "c", "PLAID_SECRET": "s"}
	for _, args := range [][]string{nil, {"items", "add", "--item-id", "item1", "--access-token", "tok"}} {
		err := run(context.Background(), args, func(k string) string { return creds[k] }, io.Discard, io.Discard)
		if code := exitCode(err, io.Discard); code != 2 || !strings.Contains(fmt.Sprint(err), "PLAIDSTREAM_TOKEN_KEY") {
			t.Errorf("%v: got exit %d, %v; want 2 naming PLAIDSTREAM_TOKEN_KEY", args, code, err)
		}
	}
	bad := map[string]string{"PLAID_CLIENT_ID": "c", "PLAID_SECRET": "s", "PLAIDSTREAM_TOKEN_KEY": "c2hvcnQ="}
	err := run(context.Background(), nil, func(k string) string { return bad[k] }, io.Discard, io.Discard)
	if exitCode(err, io.Discard) != 2 || strings.Contains(err.Error(), "c2hvcnQ") {
		t.Errorf("short key: got %v", err)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	cfg, err := parseConfig(nil, func(k string) string {
		return map[string]string{"PLAID_CLIENT_ID": "c", "PLAID_SECRET": "s3cr3t-value", "PLAIDSTREAM_TOKEN_KEY": testKey}[k]
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(cfg)
	for _, s := range []string{fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg), string(b)} {
		if strings.Contains(s, "s3cr3t-value") {
			t.Errorf("the Plaid secret was printed: %s", s)
		}
	}
}

func TestMetricsLint(t *testing.T) {
	reg := newRegistry()
	m := newMetrics(reg, func() float64 { return 3 })
	m.handled(fetch.Trigger{Webhook: events.WebhookMessage{WebhookEnvelope: events.WebhookEnvelope{WebhookType: "TRANSACTIONS", WebhookCode: "SYNC_UPDATES_AVAILABLE"}}},
		fetch.Decision{Outcome: fetch.OutcomeSynced, Sync: &fetch.SyncStats{Pages: 2, Events: map[string]int{events.TypeTransactionAdded: 3, events.TypeSyncCompleted: 1}}})
	m.plaidRequest(plaid.RequestInfo{Endpoint: "/transactions/sync", Status: 429, Duration: time.Millisecond})
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
	if got := testutil.ToFloat64(m.plaidRateLimited.WithLabelValues("/transactions/sync")); got != 1 {
		t.Errorf("rate limited: got %v", got)
	}
	if got := testutil.ToFloat64(m.syncPages); got != 2 {
		t.Errorf("pages: got %v", got)
	}
}
