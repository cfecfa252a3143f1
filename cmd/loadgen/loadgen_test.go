package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/natstest"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// selfTest is loadgen's own machinery against in-process servers: an
// embedded JetStream server, the key server and the bare handlers.
type selfTest struct {
	js     jetstream.JetStream
	sim    *plaidsim.Sim
	keyURL string
	in     *ingest
}

func newSelfTest(t *testing.T) *selfTest {
	t.Helper()
	ctx := context.Background()
	_, js := natstest.Start(t)
	if err := ensureWebhookStream(ctx, js); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, events.WebhookStream)
	if err != nil {
		t.Fatal(err)
	}
	sim, keyURL, stop, err := serveKeysAt("127.0.0.1:0", plaidsim.DefaultClientID, plaidsim.DefaultSecret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	var out bytes.Buffer
	in := &ingest{cfg: ingestConfig{conns: 4, warmup: 10, purge: true}, sim: sim, stream: st, out: &out, clients: map[string]*http.Client{}}
	return &selfTest{js: js, sim: sim, keyURL: keyURL, in: in}
}

// serve starts a bare handler (nil verify: the ceiling) and returns its
// target.
func (s *selfTest) serve(t *testing.T, name string, verify func(string, []byte) error) target {
	t.Helper()
	h := &bareHandler{js: s.js, subject: benchSubject(name), maxBody: 64 << 10, verify: verify}
	srv := httptest.NewServer(newBareServer(h).Handler)
	t.Cleanup(srv.Close)
	s.in.clients[name] = newClient(s.in.cfg.conns)
	return target{name: name, url: srv.URL + "/plaid/webhook"}
}

// TestIngestCountsStoredMessages runs both bare handlers at maximum and at
// a fixed rate and checks that every 200 is one stored message.
func TestIngestCountsStoredMessages(t *testing.T) {
	s := newSelfTest(t)
	ideal := newRawVerifier(&keyClient{baseURL: s.keyURL, clientID: plaidsim.DefaultClientID, secret: plaidsim.DefaultSecret}, time.Now)
	for _, tc := range []struct {
		tgt  target
		rate float64
	}{
		{s.serve(t, modeCeiling, nil), 0},
		{s.serve(t, modeIdeal, ideal.verify), 0},
		{s.serve(t, modeIdeal+"-rate", ideal.verify), 2000},
	} {
		res, err := s.in.measure(context.Background(), tc.tgt, tc.rate, 200)
		if err != nil {
			t.Fatal(err)
		}
		if res.OK() != 200 || res.Stored != 200 || res.Hist.TotalCount() != 200 {
			t.Errorf("%s: %s, stream %s, %d latencies", tc.tgt.name, statusText(res.Status), res.StreamCheck(), res.Hist.TotalCount())
		}
		if err := s.in.failures(map[string][]loadResult{tc.tgt.name: {res}}); err != nil {
			t.Errorf("%s: %v", tc.tgt.name, err)
		}
	}
}

// TestIngestDetectsLostWebhooks points loadgen at a server that answers 200
// without storing anything: the stream check must say so.
func TestIngestDetectsLostWebhooks(t *testing.T) {
	s := newSelfTest(t)
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	t.Cleanup(liar.Close)
	s.in.clients["liar"] = newClient(4)
	res, err := s.in.measure(context.Background(), target{"liar", liar.URL}, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() != 50 || res.Stored != 0 {
		t.Fatalf("got %s, stored %d", statusText(res.Status), res.Stored)
	}
	err = s.in.failures(map[string][]loadResult{"liar": {res}})
	if err == nil || !strings.Contains(err.Error(), "MISMATCH") {
		t.Fatalf("failures = %v, want a stream mismatch", err)
	}
}

// TestIdealRejectsForgeries checks the ideal verifier refuses what it must,
// so the comparison is against a correct verifier.
func TestIdealRejectsForgeries(t *testing.T) {
	s := newSelfTest(t)
	v := newRawVerifier(&keyClient{baseURL: s.keyURL, clientID: plaidsim.DefaultClientID, secret: plaidsim.DefaultSecret}, time.Now)
	body, err := webhookBody("item-1")
	if err != nil {
		t.Fatal(err)
	}
	token := s.sim.SignWebhook(body)
	if err := v.verify(token, body); err != nil {
		t.Fatalf("genuine webhook: %v", err)
	}
	other, _ := webhookBody("item-2")
	sig := token[strings.LastIndexByte(token, '.')+1:]
	flipped := token[:len(token)-len(sig)] + strings.Repeat("A", len(sig))
	for name, tc := range map[string]struct {
		token string
		body  []byte
	}{
		"other body":    {token, other},
		"bad signature": {flipped, body},
		"not a JWS":     {"abc", body},
	} {
		if err := v.verify(tc.token, tc.body); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestBurstFetchesOnce sends concurrent webhooks with a kid the ideal
// server has never seen: one key fetch.
func TestBurstFetchesOnce(t *testing.T) {
	s := newSelfTest(t)
	v := newRawVerifier(&keyClient{baseURL: s.keyURL, clientID: plaidsim.DefaultClientID, secret: plaidsim.DefaultSecret}, time.Now)
	tgt := s.serve(t, "burst", v.verify)
	reqs, err := presign(100, s.sim.SignWebhook)
	if err != nil {
		t.Fatal(err)
	}
	res := burst(context.Background(), tgt.url, reqs)
	if res.OK() != 100 || s.sim.KeyFetches() != 1 {
		t.Fatalf("got %s and %d key fetches, want 100 × 200 and 1", statusText(res.Status), s.sim.KeyFetches())
	}
}

// TestRunUsage checks the command line's error paths.
func TestRunUsage(t *testing.T) {
	var out bytes.Buffer
	for _, args := range [][]string{nil, {"nope"}, {"ingest"}, {"serve", "--mode", "x"}, {"nats"}} {
		if err := run(context.Background(), args, &out, &out); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
