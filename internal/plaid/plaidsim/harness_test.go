package plaidsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/plaid/plaidspec"
)

// The harness: a Sim on a loopback httptest server with an injected clock,
// a Plaid client whose every exchange (request and response) is validated
// against Plaid's OpenAPI document by plaidspec.Transport, a plain client
// for the /sim/ API (whose error answers are checked to be PlaidErrors), and
// a webhook receiver. Requests that are invalid on purpose go through post
// (sim_test.go), which validates only the answer.

// testClock is an adjustable clock.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// hookSink is a webhook receiver answering 200; it forwards each delivery.
type hookSink struct {
	srv *httptest.Server
	ch  chan hookCall
}

type hookCall struct {
	header http.Header
	body   []byte
}

func newHookSink(t *testing.T) *hookSink {
	t.Helper()
	h := &hookSink{ch: make(chan hookCall, 1024)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		select {
		case h.ch <- hookCall{header: r.Header.Clone(), body: body}:
		default:
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// next waits for the next delivery.
func (h *hookSink) next(t *testing.T) hookCall {
	t.Helper()
	select {
	case c := <-h.ch:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook arrived within 10 s")
		return hookCall{}
	}
}

type simEnv struct {
	t     *testing.T
	sim   *Sim
	srv   *httptest.Server
	clock *testClock
	hooks *hookSink
	spec  *plaidspec.Spec
	plaid *http.Client
}

func newEnv(t *testing.T, opts Options) *simEnv {
	t.Helper()
	clock := &testClock{now: testNow}
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	sim, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(sim)
	hooks := newHookSink(t)
	t.Cleanup(func() {
		srv.Close()
		sim.Close()
	})
	spec, err := loadSpec()
	if err != nil {
		t.Fatalf("plaidspec.Load: %v", err)
	}
	return &simEnv{t: t, sim: sim, srv: srv, clock: clock, hooks: hooks, spec: spec,
		plaid: &http.Client{Transport: plaidspec.Transport(t, spec, nil), Timeout: 30 * time.Second}}
}

// call sends a valid Plaid request; the exchange is validated against the
// spec. It returns the status and body.
func (e *simEnv) call(path string, req any) (int, []byte) {
	e.t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("PLAID-CLIENT-ID", DefaultClientID)
	r.Header.Set("PLAID-SECRET", DefaultSecret)
	r.Header.Set("Plaid-Version", "2020-09-14")
	resp, err := e.plaid.Do(r)
	if err != nil {
		e.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, out
}

// ok sends a valid Plaid request that must succeed and decodes the answer.
func (e *simEnv) ok(path string, req, out any) {
	e.t.Helper()
	status, body := e.call(path, req)
	if status != http.StatusOK {
		e.t.Fatalf("POST %s: status %d, body %s", path, status, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			e.t.Fatalf("POST %s: decode %s: %v", path, body, err)
		}
	}
}

// fails sends a valid Plaid request that must fail with status, type and
// code; it returns the PlaidError.
func (e *simEnv) fails(path string, req any, status int, errorType, code string) PlaidError {
	e.t.Helper()
	st, body := e.call(path, req)
	var pe PlaidError
	if err := json.Unmarshal(body, &pe); err != nil {
		e.t.Fatalf("POST %s: decode %s: %v", path, body, err)
	}
	if st != status || pe.ErrorType != errorType || pe.ErrorCode != code {
		e.t.Errorf("POST %s = %d %s/%s (%s), want %d %s/%s", path, st, pe.ErrorType, pe.ErrorCode, pe.ErrorMessage, status, errorType, code)
	}
	if !requestIDPattern.MatchString(pe.RequestID) {
		e.t.Errorf("request_id = %q", pe.RequestID)
	}
	return pe
}

// simDo calls the /sim/ API; error answers are checked to be PlaidErrors.
func (e *simEnv) simDo(method, path string, req any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	var raw []byte
	if req != nil {
		switch v := req.(type) {
		case string:
			raw = []byte(v)
		default:
			var err error
			if raw, err = json.Marshal(req); err != nil {
				e.t.Fatal(err)
			}
		}
		rd = bytes.NewReader(raw)
	}
	r, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	a := do(e.t, r, string(raw))
	return a.status, a.body
}

// simOK calls the /sim/ API expecting 200 and decodes the answer into out.
func (e *simEnv) simOK(method, path string, req, out any) {
	e.t.Helper()
	status, body := e.simDo(method, path, req)
	if status != http.StatusOK {
		e.t.Fatalf("%s %s: status %d, body %s", method, path, status, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, body, err)
		}
	}
}

// simFails calls the /sim/ API expecting an error answer.
func (e *simEnv) simFails(method, path string, req any, status int, code string) {
	e.t.Helper()
	st, body := e.simDo(method, path, req)
	var pe PlaidError
	_ = json.Unmarshal(body, &pe)
	if st != status || pe.ErrorCode != code {
		e.t.Errorf("%s %s = %d %s (%s), want %d %s", method, path, st, pe.ErrorCode, pe.ErrorMessage, status, code)
	}
}

// newItem creates an item through /sim/items.
func (e *simEnv) newItem(o ItemOptions) CreatedItem {
	e.t.Helper()
	if o.Webhook == "" {
		o.Webhook = e.hooks.srv.URL + "/hook"
	}
	var c CreatedItem
	e.simOK(http.MethodPost, "/sim/items", o, &c)
	return c
}

// truth reads an item's ground truth through GET /sim/items/{id}.
func (e *simEnv) truth(itemID string) ItemState {
	e.t.Helper()
	var st ItemState
	e.simOK(http.MethodGet, "/sim/items/"+itemID, nil, &st)
	return st
}

// syncPage is a /transactions/sync or /processor/transactions/sync answer.
type syncPage struct {
	Status     string               `json:"transactions_update_status"`
	Accounts   []Account            `json:"accounts"`
	Account    *Account             `json:"account"`
	Added      []Transaction        `json:"added"`
	Modified   []Transaction        `json:"modified"`
	Removed    []RemovedTransaction `json:"removed"`
	NextCursor string               `json:"next_cursor"`
	HasMore    bool                 `json:"has_more"`
	RequestID  string               `json:"request_id"`
}

func (p syncPage) size() int { return len(p.Added) + len(p.Modified) + len(p.Removed) }

// syncReq builds a sync request for an access or processor token.
func syncReq(token, cursor string, count int, options map[string]any) (string, map[string]any) {
	req := map[string]any{}
	path := "/transactions/sync"
	if strings.HasPrefix(token, "processor-") {
		path = "/processor/transactions/sync"
		req["processor_token"] = token
	} else {
		req["access_token"] = token
	}
	if cursor != "" {
		req["cursor"] = cursor
	}
	if count > 0 {
		req["count"] = count
	}
	if options != nil {
		req["options"] = options
	}
	return path, req
}

// syncOnce fetches one page.
func (e *simEnv) syncOnce(token, cursor string, count int, options map[string]any) syncPage {
	e.t.Helper()
	path, req := syncReq(token, cursor, count, options)
	var p syncPage
	e.ok(path, req, &p)
	if p.size() > max(count, 0) && count > 0 {
		e.t.Errorf("page holds %d changes, count %d", p.size(), count)
	}
	return p
}

// update fetches every page of one update from cursor and returns them
// with the final cursor.
func (e *simEnv) update(token, cursor string, count int, options map[string]any) ([]syncPage, string) {
	e.t.Helper()
	var pages []syncPage
	for {
		p := e.syncOnce(token, cursor, count, options)
		pages = append(pages, p)
		cursor = p.NextCursor
		if !p.HasMore {
			return pages, cursor
		}
		if len(pages) > 100000 {
			e.t.Fatal("update does not end")
		}
	}
}

// mirror is a client-side copy of an item's transactions built from sync
// pages, checking Plaid's invariants as it applies them.
type mirror map[string]Transaction

func (m mirror) apply(t *testing.T, pages []syncPage) {
	t.Helper()
	seen := map[string]bool{}
	for _, p := range pages {
		for _, tx := range p.Added {
			if seen[tx.TransactionID] {
				t.Errorf("transaction %s reported twice in one update", tx.TransactionID)
			}
			seen[tx.TransactionID] = true
			if _, ok := m[tx.TransactionID]; ok {
				t.Errorf("added %s, which the mirror already holds", tx.TransactionID)
			}
			m[tx.TransactionID] = tx
		}
		for _, tx := range p.Modified {
			if seen[tx.TransactionID] {
				t.Errorf("transaction %s reported twice in one update", tx.TransactionID)
			}
			seen[tx.TransactionID] = true
			if _, ok := m[tx.TransactionID]; !ok {
				t.Errorf("modified %s, which the mirror does not hold", tx.TransactionID)
			}
			m[tx.TransactionID] = tx
		}
		for _, r := range p.Removed {
			if seen[r.TransactionID] {
				t.Errorf("transaction %s reported twice in one update", r.TransactionID)
			}
			seen[r.TransactionID] = true
			if _, ok := m[r.TransactionID]; !ok {
				t.Errorf("removed %s, which the mirror does not hold", r.TransactionID)
			}
			delete(m, r.TransactionID)
		}
	}
}

// equalTruth compares the mirror with ground truth transactions, byte for
// byte in JSON.
func (m mirror) equalTruth(t *testing.T, truth []Transaction) {
	t.Helper()
	if len(m) != len(truth) {
		t.Errorf("mirror holds %d transactions, ground truth %d", len(m), len(truth))
	}
	bad := 0
	for _, want := range truth {
		got, ok := m[want.TransactionID]
		if !ok {
			t.Errorf("mirror lacks %s", want.TransactionID)
			bad++
		} else if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
			t.Errorf("transaction %s differs:\n got %s\nwant %s", want.TransactionID, g, w)
			bad++
		}
		if bad > 5 {
			t.Fatal("too many differences")
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// webhookSchemas maps webhook type/code (and whether it is a processor
// variant) to the schema of Plaid's document that describes it.
func webhookSchema(typ, code string, processor bool) string {
	item := map[string]string{
		"TRANSACTIONS/SYNC_UPDATES_AVAILABLE":        "SyncUpdatesAvailableWebhook",
		"TRANSACTIONS/DEFAULT_UPDATE":                "DefaultUpdateWebhook",
		"TRANSACTIONS/TRANSACTIONS_REMOVED":          "TransactionsRemovedWebhook",
		"TRANSACTIONS/INITIAL_UPDATE":                "InitialUpdateWebhook",
		"TRANSACTIONS/HISTORICAL_UPDATE":             "HistoricalUpdateWebhook",
		"TRANSACTIONS/RECURRING_TRANSACTIONS_UPDATE": "RecurringTransactionsUpdateWebhook",
		"ITEM/ERROR":                                  "ItemErrorWebhook",
		"ITEM/LOGIN_REPAIRED":                         "ItemLoginRepairedWebhook",
		"ITEM/WEBHOOK_UPDATE_ACKNOWLEDGED":            "WebhookUpdateAcknowledgedWebhook",
		"ITEM/NEW_ACCOUNTS_AVAILABLE":                 "NewAccountsAvailableWebhook",
		"ITEM/USER_PERMISSION_REVOKED":                "UserPermissionRevokedWebhook",
		"ITEM/USER_ACCOUNT_REVOKED":                   "UserAccountRevokedWebhook",
		"ITEM/PENDING_DISCONNECT":                     "PendingDisconnectWebhook",
		"PROCESSOR_TOKEN/WEBHOOK_UPDATE_ACKNOWLEDGED": "ProcessorTokenWebhookUpdate",
	}
	name := item[typ+"/"+code]
	if processor && typ == "TRANSACTIONS" {
		name = "Processor" + name
	}
	return name
}

// hook is a decoded webhook body.
type hook struct {
	raw  []byte
	url  string
	body map[string]any
}

func (h hook) code() string {
	return h.body["webhook_type"].(string) + "/" + h.body["webhook_code"].(string)
}

// webhooksSince returns the webhooks the Sim sent after the first n, each
// checked: its bytes are MarshalWebhookBody's canonical form, environment
// is sandbox, and it validates against the Plaid schema for its code.
func (e *simEnv) webhooksSince(n int) []hook {
	e.t.Helper()
	all := e.sim.WebhookDeliveries()
	var out []hook
	for _, d := range all[min(n, len(all)):] {
		var body map[string]any
		dec := json.NewDecoder(bytes.NewReader(d.Body))
		dec.UseNumber()
		if err := dec.Decode(&body); err != nil {
			e.t.Fatalf("webhook body %s: %v", d.Body, err)
		}
		canon, err := MarshalWebhookBody(json.RawMessage(d.Body))
		if err != nil || !bytes.Equal(canon, d.Body) {
			e.t.Errorf("webhook body is not in Plaid's wire form:\n%s", d.Body)
		}
		if body["environment"] != "sandbox" {
			e.t.Errorf("environment = %v", body["environment"])
		}
		_, processor := body["account_id"]
		typ, _ := body["webhook_type"].(string)
		code, _ := body["webhook_code"].(string)
		if typ == "ITEM" {
			processor = false
		}
		schema := webhookSchema(typ, code, processor)
		if schema == "" {
			e.t.Errorf("no schema for webhook %s/%s", typ, code)
		} else if err := e.spec.ValidateSchema(schema, d.Body); err != nil {
			e.t.Errorf("webhook violates %s: %v\n%s", schema, err, d.Body)
		}
		out = append(out, hook{raw: d.Body, url: d.URL, body: body})
	}
	return out
}

func (e *simEnv) deliveries() int { return len(e.sim.WebhookDeliveries()) }

func hookCodes(hs []hook) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.code())
	}
	return out
}

func ids(txns []Transaction) []string {
	var out []string
	for _, t := range txns {
		out = append(out, t.TransactionID)
	}
	return out
}

func removedIDs(rs []RemovedTransaction) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.TransactionID)
	}
	return out
}

func intp(n int) *int { return &n }

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}
