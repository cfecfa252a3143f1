package adminapi_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/adminapi"
	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/embednats"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/items"
	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
	"github.com/plaidstream/plaidstream/internal/secret"
	"github.com/plaidstream/plaidstream/internal/tokens"
)

// adminToken is the bearer token of every replica that has one.
const adminToken = "admin-token-5f1c2e9a7b"

// env is one test's world: an embedded JetStream server with the fetcher's
// streams and buckets, a plaidsim behind httptest, and a log buffer every
// replica writes to. Replicas (admin API + items.Service, each with its own
// NATS connection, like fetcher processes) are added with replica.
type env struct {
	t      *testing.T
	ctx    context.Context
	ns     *embednats.Server
	js     jetstream.JetStream // the test's own connection, for assertions
	sim    *plaidsim.Sim
	simURL string
	ring   *tokens.Keyring
	logs   *syncBuffer

	mu sync.Mutex
	// secrets must never appear in a response body, a log line or a stored
	// message; every response is checked as it arrives.
	secrets []string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, logs: &syncBuffer{}, secrets: []string{adminToken, plaidsim.DefaultSecret}}
	// Registered first, so it runs last: after every request of the test.
	t.Cleanup(e.checkLogs)

	ns, err := embednats.Start(embednats.Options{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	e.ns = ns
	_, e.js = connect(t, ns)

	sim, err := plaidsim.New(plaidsim.Options{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	e.sim, e.simURL = sim, srv.URL

	key := bytes.Repeat([]byte{7}, tokens.KeySize)
	if e.ring, err = tokens.NewKeyring(tokens.Key{ID: "k1", Bytes: key}); err != nil {
		t.Fatal(err)
	}
	return e
}

func connect(t *testing.T, ns *embednats.Server, opts ...jetstream.JetStreamOpt) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// addSecret records a token that must never be shown.
func (e *env) addSecret(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets = append(e.secrets, s)
}

func (e *env) secretList() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.secrets)
}

// checkLogs fails the test if a secret is in the captured log lines.
func (e *env) checkLogs() {
	logs := e.logs.String()
	for _, s := range e.secretList() {
		if strings.Contains(logs, s) {
			e.t.Errorf("the logs contain a secret (%.10s...)", s)
		}
	}
}

// replicaOptions vary a replica from the app.go wiring.
type replicaOptions struct {
	// token is the bearer token; "-" configures none.
	token string
	// removeWait is items.Deps.RemoveWait (0: the 45 s default).
	removeWait time.Duration
	// plaidURL replaces the simulator's URL.
	plaidURL string
	// noPlaid wires the service without a Plaid client.
	noPlaid bool
	// natsTimeout, if set, bounds JetStream calls made without a deadline
	// (the API's requests have none; nats.go's default is 5 s).
	natsTimeout time.Duration
}

// replica is one fetcher's admin API.
type replica struct {
	e   *env
	url string
	// token is sent as the bearer token by do.
	token string

	mu         sync.Mutex
	plaidCalls map[string]int // HTTP attempts by Plaid endpoint
	refreshes  []string       // ObserveRefresh kind/outcome
	statuses   []int          // ObserveRequest
}

// replica wires an items.Service and an adminapi.API the way
// internal/app/fetcher/app.go does, on a connection of its own, and serves
// the API over loopback.
func (e *env) replica(o replicaOptions) *replica {
	t := e.t
	t.Helper()
	ctx := e.ctx
	var jsOpts []jetstream.JetStreamOpt
	if o.natsTimeout > 0 {
		jsOpts = append(jsOpts, jetstream.WithDefaultTimeout(o.natsTimeout))
	}
	_, js := connect(t, e.ns, jsOpts...)
	if _, err := bus.EnsureStream(ctx, js, events.WebhookStreamSpec(), bus.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	for _, spec := range []events.StreamSpec{events.EventStreamSpec(), events.DLQStreamSpec()} {
		if _, err := bus.EnsureStream(ctx, js, spec, bus.StreamSettings{}); err != nil {
			t.Fatal(err)
		}
	}
	kv := map[string]jetstream.KeyValue{}
	for _, spec := range []events.BucketSpec{events.TokensBucketSpec(), events.ItemsBucketSpec(), events.LeasesBucketSpec(), events.RecurringBucketSpec(), events.RefreshLimitsBucketSpec()} {
		var err error
		if kv[spec.Name], err = bus.EnsureBucket(ctx, js, spec, 1); err != nil {
			t.Fatal(err)
		}
	}
	leases, err := bus.NewLeases(ctx, js, kv[events.LeasesBucket], 0)
	if err != nil {
		t.Fatal(err)
	}
	token := adminToken
	switch o.token {
	case "":
	case "-":
		token = ""
	default:
		token = o.token
	}
	// Without a configured token the client still sends adminToken.
	r := &replica{e: e, token: cmp.Or(token, adminToken), plaidCalls: map[string]int{}}
	base := e.simURL
	if o.plaidURL != "" {
		base = o.plaidURL
	}
	client, err := plaid.NewClient(plaid.Config{
		BaseURL: base, ClientID: plaidsim.DefaultClientID, Secret: plaidsim.DefaultSecret,
		HTTPClient: &http.Client{},
		// Two attempts with millisecond pauses: retries stay real, tests fast.
		MaxAttempts: 2, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		OnRequest: func(ri plaid.RequestInfo) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.plaidCalls[ri.Endpoint]++
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var p items.Plaid
	if !o.noPlaid {
		p = client
	}
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := items.New(items.Deps{
		JS: js, Tokens: bus.NewTokenStore(kv[events.TokensBucket], e.ring), States: bus.NewItemStore(kv[events.ItemsBucket]),
		Recurring: kv[events.RecurringBucket], Leases: leases,
		Guard: bus.NewRefreshGuard(kv[events.RefreshLimitsBucket], 0, 0), Plaid: p,
		Environment: "sandbox", Holder: "admin@test", RemoveWait: o.removeWait,
		Logger: logger.With("component", "admin"),
	})
	api := adminapi.New(svc, adminapi.Options{
		Token:  secret.Secret(token),
		Logger: logger.With("component", "admin_api"),
		ObserveRequest: func(code int) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.statuses = append(r.statuses, code)
		},
		ObserveRefresh: func(kind, outcome string) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.refreshes = append(r.refreshes, kind+"/"+outcome)
		},
	})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

func (r *replica) plaidAttempts(endpoint string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.plaidCalls[endpoint]
}

func (r *replica) observedStatuses() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.statuses)
}

func (r *replica) refreshOutcomes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.refreshes)
}

// response is an answer of the API.
type response struct {
	code   int
	header http.Header
	body   []byte
}

// apiError is the API's error body.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Plaid   *struct {
			ErrorType    string `json:"error_type"`
			ErrorCode    string `json:"error_code"`
			ErrorMessage string `json:"error_message"`
			RequestID    string `json:"request_id"`
		} `json:"plaid"`
	} `json:"error"`
}

// request is one call to the API.
type request struct {
	method, path, body string
	// auth is the Authorization header: "" sends the replica's bearer
	// token, "-" sends none.
	auth string
	// contentType defaults to application/json when there is a body.
	contentType string
}

// do sends req and checks that the answer shows no secret.
func (r *replica) do(req request) response {
	t := r.e.t
	t.Helper()
	hr, err := http.NewRequestWithContext(r.e.ctx, req.method, r.url+req.path, strings.NewReader(req.body))
	if err != nil {
		t.Fatal(err)
	}
	switch req.auth {
	case "":
		hr.Header.Set("Authorization", "Bearer "+r.token)
	case "-":
	default:
		hr.Header.Set("Authorization", req.auth)
	}
	switch {
	case req.contentType != "":
		hr.Header.Set("Content-Type", req.contentType)
	case req.body != "":
		hr.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.method, req.path, err)
	}
	for _, s := range r.e.secretList() {
		if bytes.Contains(b, []byte(s)) || strings.Contains(strings.Join(flatten(resp.Header), "\n"), s) {
			t.Errorf("%s %s: the answer contains a secret (%.10s...)", req.method, req.path, s)
		}
	}
	return response{code: resp.StatusCode, header: resp.Header, body: b}
}

func flatten(h http.Header) []string {
	var out []string
	for k, vs := range h {
		for _, v := range vs {
			out = append(out, k+": "+v)
		}
	}
	return out
}

// get, put, post and del send one authenticated request.
func (r *replica) get(path string) response {
	r.e.t.Helper()
	return r.do(request{method: http.MethodGet, path: path})
}

func (r *replica) put(path, body string) response {
	r.e.t.Helper()
	return r.do(request{method: http.MethodPut, path: path, body: body})
}

func (r *replica) post(path string) response {
	r.e.t.Helper()
	return r.do(request{method: http.MethodPost, path: path})
}

func (r *replica) del(path string) response {
	r.e.t.Helper()
	return r.do(request{method: http.MethodDelete, path: path})
}

// mustStatus fails the test unless resp has status want.
func mustStatus(t *testing.T, what string, resp response, want int) {
	t.Helper()
	if resp.code != want {
		t.Fatalf("%s: status %d, want %d; body %s", what, resp.code, want, resp.body)
	}
}

// decode unmarshals resp's body into v.
func decode[T any](t *testing.T, resp response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(resp.body, &v); err != nil {
		t.Fatalf("decode %s: %v", resp.body, err)
	}
	return v
}

// checkError asserts resp is an error in the API's format with status and
// code, a JSON content type and a non-empty message containing msg.
func checkError(t *testing.T, resp response, status int, code, msg string) apiError {
	t.Helper()
	if resp.code != status {
		t.Errorf("status %d, want %d; body %s", resp.code, status, resp.body)
	}
	if ct := resp.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(resp.body, &top); err != nil || len(top) != 1 || top["error"] == nil {
		t.Fatalf("body %s is not {\"error\": {...}}", resp.body)
	}
	ae := decode[apiError](t, resp)
	if ae.Error.Code != code {
		t.Errorf("error code %q, want %q (message %q)", ae.Error.Code, code, ae.Error.Message)
	}
	if ae.Error.Message == "" || !strings.Contains(ae.Error.Message, msg) {
		t.Errorf("error message %q, want one containing %q", ae.Error.Message, msg)
	}
	return ae
}

// retryAfter returns resp's Retry-After in seconds, failing if it is
// missing or not an integer.
func retryAfter(t *testing.T, resp response) int {
	t.Helper()
	v := resp.header.Get("Retry-After")
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("Retry-After %q: want whole seconds", v)
	}
	return n
}

// view is the JSON of items.View, decoded independently of the Go type so
// the test pins the wire names.
type view struct {
	Owner          string    `json:"owner"`
	Kind           string    `json:"kind"`
	ID             string    `json:"id"`
	Environment    string    `json:"environment"`
	UserID         string    `json:"user_id"`
	KeyID          string    `json:"key_id"`
	RegisteredAt   time.Time `json:"registered_at"`
	TokenUpdatedAt time.Time `json:"token_updated_at"`
	Sync           struct {
		CursorPresent    bool      `json:"cursor_present"`
		ResyncEpoch      uint64    `json:"resync_epoch"`
		SyncedThroughSeq uint64    `json:"synced_through_seq"`
		LastSyncAt       time.Time `json:"last_sync_at"`
		LastSyncOutcome  string    `json:"last_sync_outcome"`
		LastError        string    `json:"last_error"`
		Parked           bool      `json:"parked"`
		ParkedReason     string    `json:"parked_reason"`
		ParkedAt         time.Time `json:"parked_at"`
		Overdue          bool      `json:"overdue"`
		LastWebhookAt    time.Time `json:"last_webhook_at"`
	} `json:"sync"`
}

// syncAnswer is the body of a 202 from sync and resync.
type syncAnswer struct {
	Owner       string `json:"owner"`
	RequestSeq  uint64 `json:"request_seq"`
	ResyncEpoch uint64 `json:"resync_epoch"`
}

// createItem makes a plaidsim item and remembers its token as a secret.
func (e *env) createItem() *plaidsim.CreatedItem {
	e.t.Helper()
	n := 5
	it, err := e.sim.CreateItem(plaidsim.ItemOptions{Transactions: &n})
	if err != nil {
		e.t.Fatal(err)
	}
	e.addSecret(it.AccessToken)
	return it
}

// register PUTs an item through r and expects 201.
func (r *replica) register(itemID, accessToken, userID string) view {
	t := r.e.t
	t.Helper()
	body, err := json.Marshal(map[string]string{"access_token": accessToken, "user_id": userID})
	if err != nil {
		t.Fatal(err)
	}
	resp := r.put("/v1/items/"+itemID, string(body))
	mustStatus(t, "PUT /v1/items/"+itemID, resp, http.StatusCreated)
	return decode[view](t, resp)
}

// streamMsg is one stored message.
type streamMsg struct {
	seq     uint64
	subject string
	header  nats.Header
	data    []byte
}

// messages returns every message of stream in order.
func (e *env) messages(stream string) []streamMsg {
	e.t.Helper()
	st, err := e.js.Stream(e.ctx, stream)
	if err != nil {
		e.t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := st.Info(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []streamMsg
	if info.State.Msgs == 0 {
		return nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(e.ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			e.t.Fatalf("stream %s seq %d: %v", stream, seq, err)
		}
		out = append(out, streamMsg{seq: m.Sequence, subject: m.Subject, header: m.Header, data: m.Data})
	}
	return out
}

// syncRequests returns the sync requests in PLAID_WEBHOOKS for owner id.
func (e *env) syncRequests(id string) []syncRequestMsg {
	e.t.Helper()
	var out []syncRequestMsg
	for _, m := range e.messages(events.WebhookStream) {
		var req events.SyncRequest
		if err := json.Unmarshal(m.data, &req); err != nil {
			e.t.Fatalf("PLAID_WEBHOOKS seq %d: %v", m.seq, err)
		}
		if req.ItemID == id || req.AccountID == id {
			out = append(out, syncRequestMsg{streamMsg: m, req: req})
		}
	}
	return out
}

type syncRequestMsg struct {
	streamMsg
	req events.SyncRequest
}

// ownerEvents returns the events in PLAID_EVENTS about owner id, in order.
func (e *env) ownerEvents(id string) []eventMsg {
	e.t.Helper()
	var out []eventMsg
	for _, m := range e.messages(events.EventStream) {
		if !strings.HasPrefix(m.subject, events.EventSubjectPrefix+"."+id+".") {
			continue
		}
		ev, err := events.DecodeEvent(m.data)
		if err != nil {
			e.t.Fatalf("PLAID_EVENTS seq %d: %v", m.seq, err)
		}
		var st events.ItemStatus
		if err := json.Unmarshal(ev.Data, &st); err != nil {
			e.t.Fatalf("PLAID_EVENTS seq %d data: %v", m.seq, err)
		}
		out = append(out, eventMsg{streamMsg: m, ev: ev, status: st})
	}
	return out
}

type eventMsg struct {
	streamMsg
	ev     events.Event
	status events.ItemStatus
}

// syncBuffer is a bytes.Buffer safe for concurrent writers and readers.
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
