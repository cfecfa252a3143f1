package adminapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// TestRegisterAndDescribe: PUT registers (201) or replaces (200) an item
// and requests its first sync; GET and the list report the registration
// and the sync state, never the token or the cursor's text.
func TestRegisterAndDescribe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.replica(replicaOptions{})
	a, b := e.createItem(), e.createItem()

	before := time.Now().Add(-time.Second)
	v := r.register(a.ItemID, a.AccessToken, "usr_a")
	if v.Owner != "item."+a.ItemID || v.Kind != "item" || v.ID != a.ItemID || v.Environment != "sandbox" ||
		v.UserID != "usr_a" || v.KeyID != "k1" || v.RegisteredAt.Before(before) || v.Sync.CursorPresent || v.Sync.Parked {
		t.Errorf("PUT new: %+v", v)
	}
	reqs := e.syncRequests(a.ItemID)
	if len(reqs) != 1 || reqs[0].subject != "plaid.webhooks.PLAIDSTREAM.SYNC_REQUESTED" || reqs[0].req.Reason != "registered" ||
		reqs[0].req.Unpark || reqs[0].req.Environment != "sandbox" || reqs[0].header.Get(events.HeaderItemID) != a.ItemID {
		t.Errorf("after PUT new, sync requests %+v, want one \"registered\" request for %s", reqs, a.ItemID)
	}

	// The same PUT again replaces the token: 200, registration time kept.
	body, _ := json.Marshal(map[string]string{"access_token": a.AccessToken, "user_id": "usr_a", "environment": "sandbox"})
	resp := r.put("/v1/items/"+a.ItemID, string(body))
	mustStatus(t, "PUT again", resp, http.StatusOK)
	again := decode[view](t, resp)
	if !again.RegisteredAt.Equal(v.RegisteredAt) || again.TokenUpdatedAt.Before(v.TokenUpdatedAt) {
		t.Errorf("PUT again: registered_at %v token_updated_at %v; first %v %v", again.RegisteredAt, again.TokenUpdatedAt, v.RegisteredAt, v.TokenUpdatedAt)
	}
	if reqs := e.syncRequests(a.ItemID); reqs[len(reqs)-1].req.Reason != "registered" {
		t.Errorf("after PUT again, last request %+v, want \"registered\"", reqs[len(reqs)-1].req)
	}
	r.register(b.ItemID, b.AccessToken, "")

	// Give a some sync state, as a fetcher would have left it.
	const cursor = "CURSOR-TEXT-never-shown"
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	kv, err := e.js.KeyValue(e.ctx, events.ItemsBucket)
	if err != nil {
		t.Fatal(err)
	}
	states := bus.NewItemStore(kv)
	st, rev, err := states.Get(e.ctx, "item."+a.ItemID)
	if err != nil {
		t.Fatal(err)
	}
	st.Cursor, st.SyncedThroughSeq, st.LastSyncAt, st.LastSyncOutcome, st.LastError = cursor, 7, at, "needs_user", "ITEM_LOGIN_REQUIRED"
	st.Parked, st.ParkedReason, st.ParkedAt, st.LastWebhookAt = true, "item_login_required", at.Add(time.Second), at.Add(-time.Minute)
	if _, err := states.Update(e.ctx, st, rev); err != nil {
		t.Fatal(err)
	}

	resp = r.get("/v1/items/" + a.ItemID)
	mustStatus(t, "GET", resp, http.StatusOK)
	if bytes.Contains(resp.body, []byte(cursor)) {
		t.Errorf("GET shows the cursor's text: %s", resp.body)
	}
	got := decode[view](t, resp)
	s := got.Sync
	if got.Owner != "item."+a.ItemID || got.UserID != "usr_a" || !s.CursorPresent || s.SyncedThroughSeq != 7 || !s.LastSyncAt.Equal(at) ||
		s.LastSyncOutcome != "needs_user" || s.LastError != "ITEM_LOGIN_REQUIRED" || !s.Parked || s.ParkedReason != "item_login_required" ||
		!s.ParkedAt.Equal(at.Add(time.Second)) || !s.LastWebhookAt.Equal(at.Add(-time.Minute)) || s.ResyncEpoch != 0 || s.Overdue {
		t.Errorf("GET: %s", resp.body)
	}

	resp = r.get("/v1/items")
	mustStatus(t, "GET list", resp, http.StatusOK)
	if bytes.Contains(resp.body, []byte(cursor)) {
		t.Errorf("GET list shows the cursor's text: %s", resp.body)
	}
	list := decode[struct {
		Items []view `json:"items"`
	}](t, resp)
	if len(list.Items) != 2 {
		t.Fatalf("GET list: %d items, want 2: %s", len(list.Items), resp.body)
	}
	byID := map[string]view{list.Items[0].ID: list.Items[0], list.Items[1].ID: list.Items[1]}
	if !byID[a.ItemID].Sync.Parked || !byID[a.ItemID].Sync.CursorPresent || byID[b.ItemID].Sync.Parked || byID[b.ItemID].Sync.CursorPresent {
		t.Errorf("GET list states: %s", resp.body)
	}
	if list.Items[0].Owner > list.Items[1].Owner {
		t.Errorf("GET list not sorted by owner: %s, %s", list.Items[0].Owner, list.Items[1].Owner)
	}
	if resp := r.get("/v1/processor-tokens"); string(resp.body) != "{\n  \"processor_tokens\": []\n}\n" {
		t.Errorf("GET /v1/processor-tokens lists items: %s", resp.body)
	}
}

// TestProcessorTokens: a processor token registers by account id, is
// described and listed apart from items, syncs by account and refreshes
// through /processor/transactions/refresh.
func TestProcessorTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.replica(replicaOptions{})
	it := e.createItem()
	pc, err := plaid.NewClient(plaid.Config{BaseURL: e.simURL, ClientID: plaidsim.DefaultClientID, Secret: plaidsim.DefaultSecret})
	if err != nil {
		t.Fatal(err)
	}
	account := it.Accounts[0].AccountID
	pt, err := pc.ProcessorTokenCreate(e.ctx, plaid.ProcessorTokenCreateRequest{AccessToken: plaid.AccessToken(it.AccessToken), AccountID: account, Processor: "dwolla"})
	if err != nil {
		t.Fatal(err)
	}
	e.addSecret(string(pt.ProcessorToken))

	path := "/v1/processor-tokens/" + account
	body, _ := json.Marshal(map[string]string{"processor_token": string(pt.ProcessorToken)})
	resp := r.put(path, string(body))
	mustStatus(t, "PUT processor token", resp, http.StatusCreated)
	mustStatus(t, "PUT processor token again", r.put(path, string(body)), http.StatusOK)

	resp = r.get(path)
	mustStatus(t, "GET processor token", resp, http.StatusOK)
	v := decode[view](t, resp)
	if v.Owner != "processor."+account || v.Kind != "processor" || v.ID != account || v.Environment != "sandbox" || v.UserID != "" || v.KeyID != "k1" {
		t.Errorf("GET processor token: %s", resp.body)
	}
	list := decode[struct {
		Tokens []view `json:"processor_tokens"`
	}](t, r.get("/v1/processor-tokens"))
	if len(list.Tokens) != 1 || list.Tokens[0].Owner != "processor."+account {
		t.Errorf("GET /v1/processor-tokens: %+v", list.Tokens)
	}
	if resp := r.get("/v1/items"); string(resp.body) != "{\n  \"items\": []\n}\n" {
		t.Errorf("GET /v1/items lists a processor token: %s", resp.body)
	}

	resp = r.post(path + "/sync")
	mustStatus(t, "POST sync", resp, http.StatusAccepted)
	ans := decode[syncAnswer](t, resp)
	reqs := e.syncRequests(account)
	last := reqs[len(reqs)-1]
	if ans.Owner != "processor."+account || last.seq != ans.RequestSeq || last.req.AccountID != account || last.req.ItemID != "" ||
		last.header.Get(events.HeaderAccountID) != account || last.req.Reason != "forced" || !last.req.Unpark {
		t.Errorf("processor sync: answer %+v, request %+v", ans, last.req)
	}

	resp = r.post(path + "/refresh")
	mustStatus(t, "POST refresh", resp, http.StatusAccepted)
	if n := r.plaidAttempts("/processor/transactions/refresh"); n != 1 {
		t.Errorf("%d calls to /processor/transactions/refresh, want 1", n)
	}
	if n := r.plaidAttempts("/transactions/refresh"); n != 0 {
		t.Errorf("%d calls to /transactions/refresh for a processor token, want 0", n)
	}

	mustStatus(t, "DELETE processor token", r.del(path), http.StatusNoContent)
	evs := e.ownerEvents(account)
	if len(evs) != 1 || evs[0].ev.Type != "plaid.item.removed" || evs[0].subject != "plaid.events."+account+".item.removed" ||
		evs[0].status.AccountID != account || evs[0].ev.Source != "plaid/sandbox/processor/"+account {
		t.Errorf("events after DELETE: %+v", evs)
	}
	mustStatus(t, "GET after DELETE", r.get(path), http.StatusNotFound)
}

// TestForcedSync: POST sync stores a forced, un-parking sync request in
// PLAID_WEBHOOKS for a fetcher to carry out; each call is a new request.
func TestForcedSync(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.replica(replicaOptions{})
	it := e.createItem()
	r.register(it.ItemID, it.AccessToken, "")

	var seqs []uint64
	for range 2 {
		resp := r.post("/v1/items/" + it.ItemID + "/sync")
		mustStatus(t, "POST sync", resp, http.StatusAccepted)
		ans := decode[syncAnswer](t, resp)
		if ans.Owner != "item."+it.ItemID || ans.RequestSeq == 0 || ans.ResyncEpoch != 0 {
			t.Errorf("POST sync answered %s", resp.body)
		}
		seqs = append(seqs, ans.RequestSeq)
	}
	if seqs[0] == seqs[1] {
		t.Errorf("two forced syncs share request_seq %d, want two requests", seqs[0])
	}
	st, err := e.js.Stream(e.ctx, events.WebhookStream)
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range seqs {
		m, err := st.GetMsg(e.ctx, seq)
		if err != nil {
			t.Fatalf("request_seq %d: %v", seq, err)
		}
		var req events.SyncRequest
		if err := json.Unmarshal(m.Data, &req); err != nil {
			t.Fatal(err)
		}
		want := events.SyncRequest{WebhookType: "PLAIDSTREAM", WebhookCode: "SYNC_REQUESTED", ItemID: it.ItemID, Environment: "sandbox", Reason: "forced", Unpark: true}
		if req != want || m.Subject != "plaid.webhooks.PLAIDSTREAM.SYNC_REQUESTED" || m.Header.Get(events.HeaderItemID) != it.ItemID ||
			m.Header.Get(events.HeaderWebhookCode) != "SYNC_REQUESTED" || m.Header.Get(events.HeaderEnvironment) != "sandbox" {
			t.Errorf("request %d: subject %s, headers %v, body %+v; want %+v", seq, m.Subject, m.Header, req, want)
		}
	}
}

// TestResync: POST resync asks for the next resync epoch; a repeated call
// before the fetcher acted is the same request.
func TestResync(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.replica(replicaOptions{})
	it := e.createItem()
	r.register(it.ItemID, it.AccessToken, "")

	resp := r.post("/v1/items/" + it.ItemID + "/resync")
	mustStatus(t, "POST resync", resp, http.StatusAccepted)
	first := decode[syncAnswer](t, resp)
	if first.Owner != "item."+it.ItemID || first.ResyncEpoch != 1 || first.RequestSeq == 0 {
		t.Errorf("POST resync answered %s, want resync_epoch 1", resp.body)
	}
	reqs := e.syncRequests(it.ItemID)
	last := reqs[len(reqs)-1]
	if last.seq != first.RequestSeq || last.req.ResyncEpoch != 1 || last.req.Reason != "resync" || !last.req.Unpark {
		t.Errorf("resync request at seq %d: %+v", last.seq, last.req)
	}

	resp = r.post("/v1/items/" + it.ItemID + "/resync")
	mustStatus(t, "POST resync again", resp, http.StatusAccepted)
	if again := decode[syncAnswer](t, resp); again != first {
		t.Errorf("repeated resync answered %+v, want the first request %+v", again, first)
	}
	if n := len(e.syncRequests(it.ItemID)); n != len(reqs) {
		t.Errorf("repeated resync stored another request: %d, want %d", n, len(reqs))
	}
}

// TestRemove: DELETE publishes plaid.item.removed as the item's last event,
// deletes the token (and with it every answer about the item), keeps the
// resync epoch raised for a later registration, and never calls Plaid.
func TestRemove(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.replica(replicaOptions{})
	u, err := e.sim.CreateUser(plaidsimUser("usr_rm", 1))
	if err != nil {
		t.Fatal(err)
	}
	it := u.Items[0]
	e.addSecret(it.AccessToken)
	r.register(it.ItemID, it.AccessToken, u.UserID)
	path := "/v1/items/" + it.ItemID

	// An earlier event of the item, so "last" means something.
	if err := e.sim.SetItemError(it.ItemID, "ITEM_LOGIN_REQUIRED"); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, "user refresh", r.post("/v1/users/"+u.UserID+"/refresh"), http.StatusOK)

	mustStatus(t, "DELETE", r.del(path), http.StatusNoContent)
	evs := e.ownerEvents(it.ItemID)
	if len(evs) != 2 {
		t.Fatalf("%d events for the item, want refresh_failed then removed: %+v", len(evs), evs)
	}
	last := evs[len(evs)-1]
	if last.ev.Type != "plaid.item.removed" || last.subject != "plaid.events."+it.ItemID+".item.removed" || last.status.Status != "removed" ||
		last.status.ItemID != it.ItemID || last.ev.ResyncEpoch != 0 || last.ev.Source != "plaid/sandbox/items/"+it.ItemID {
		t.Errorf("last event: subject %s %+v %+v", last.subject, last.ev, last.status)
	}

	mustStatus(t, "GET after DELETE", r.get(path), http.StatusNotFound)
	checkError(t, r.del(path), http.StatusNotFound, "not_found", "not registered")
	checkError(t, r.post(path+"/sync"), http.StatusNotFound, "not_found", "not registered")
	tokensKV, err := e.js.KeyValue(e.ctx, events.TokensBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tokensKV.Get(e.ctx, "item."+it.ItemID); err == nil {
		t.Errorf("PLAID_TOKENS still holds item.%s", it.ItemID)
	}
	if n := len(e.ownerEvents(it.ItemID)); n != 2 {
		t.Errorf("the second DELETE published: %d events, want 2", n)
	}
	for _, ep := range []string{"/item/remove", "/transactions/refresh"} {
		if n := r.plaidAttempts(ep); n != 0 {
			t.Errorf("DELETE called Plaid's %s %d times", ep, n)
		}
	}
	if st, err := e.sim.Item(it.ItemID); err != nil || st.Removed {
		t.Errorf("DELETE removed the item at Plaid: %v", err)
	}

	// Registered again, the item continues in the next resync epoch.
	v := r.register(it.ItemID, it.AccessToken, u.UserID)
	if v.Sync.ResyncEpoch != 1 || v.Sync.CursorPresent {
		t.Errorf("re-registered: resync_epoch %d cursor_present %v, want 1 and false", v.Sync.ResyncEpoch, v.Sync.CursorPresent)
	}
	resp := r.post(path + "/resync")
	mustStatus(t, "resync after re-registering", resp, http.StatusAccepted)
	if got := decode[syncAnswer](t, resp).ResyncEpoch; got != 2 {
		t.Errorf("resync after re-registering: resync_epoch %d, want 2", got)
	}
}

// TestRemoveWaitsForTheSyncLease: DELETE of an item whose sync lease
// another holder keeps is 409 sync_in_progress once the wait runs out, and
// changes nothing; it succeeds when the lease is released, and it waits
// for a lease that expires within the wait.
func TestRemoveWaitsForTheSyncLease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	short := e.replica(replicaOptions{removeWait: 300 * time.Millisecond})
	long := e.replica(replicaOptions{removeWait: 15 * time.Second})
	a, b := e.createItem(), e.createItem()
	short.register(a.ItemID, a.AccessToken, "")
	short.register(b.ItemID, b.AccessToken, "")

	kv, err := e.js.KeyValue(e.ctx, events.LeasesBucket)
	if err != nil {
		t.Fatal(err)
	}
	leases, err := bus.NewLeases(e.ctx, e.js, kv, 0)
	if err != nil {
		t.Fatal(err)
	}
	lease, err := leases.Acquire(e.ctx, "item."+a.ItemID, "sync@other-replica")
	if err != nil {
		t.Fatal(err)
	}
	resp := short.del("/v1/items/" + a.ItemID)
	checkError(t, resp, http.StatusConflict, "sync_in_progress", "a sync of this owner is in progress")
	if got := resp.header.Get("Retry-After"); got != "5" {
		t.Errorf("Retry-After %q, want 5", got)
	}
	mustStatus(t, "GET after the refused DELETE", short.get("/v1/items/"+a.ItemID), http.StatusOK)
	if evs := e.ownerEvents(a.ItemID); len(evs) != 0 {
		t.Errorf("the refused DELETE published %+v", evs)
	}
	if err := lease.Release(e.ctx); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, "DELETE after release", short.del("/v1/items/"+a.ItemID), http.StatusNoContent)
	if evs := e.ownerEvents(a.ItemID); len(evs) != 1 || evs[0].ev.Type != "plaid.item.removed" {
		t.Errorf("events after DELETE: %+v", evs)
	}

	// A holder that died: its lease expires after its 1 s TTL, within the
	// wait.
	dying, err := bus.NewLeases(e.ctx, e.js, kv, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dying.Acquire(e.ctx, "item."+b.ItemID, "sync@dead-replica"); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, "DELETE while a dead holder's lease runs out", long.del("/v1/items/"+b.ItemID), http.StatusNoContent)
	if evs := e.ownerEvents(b.ItemID); len(evs) != 1 || evs[0].ev.Type != "plaid.item.removed" {
		t.Errorf("events after DELETE: %+v", evs)
	}
}
