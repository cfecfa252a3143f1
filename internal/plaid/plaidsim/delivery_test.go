package plaidsim

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/plaidstream/plaidstream/internal/verify"
	"github.com/plaidstream/plaidstream/internal/verify/verifytest"
)

// The delivery tests run in two worlds:
//   - in a synctest bubble, where the clock is fake: Plaid's real schedule
//     (hours) runs instantly and attempt times are exact. Real sockets would
//     stop the fake clock, so the receiver is called in memory (memTransport).
//   - over real loopback HTTP (httptest) with TimeFactor 1e6, so the whole
//     schedule takes milliseconds.

var deliveryBody = []byte("{\n  \"item_id\": \"item-delivery\",\n  \"webhook_code\": \"SYNC_UPDATES_AVAILABLE\",\n  \"webhook_type\": \"TRANSACTIONS\"\n}")

// plaidSchedule is when Plaid makes each attempt, after the first, for a
// receiver that answers at once: 30 s · 4^k delays, 7 attempts in all.
var plaidSchedule = []time.Duration{
	0,
	30 * time.Second,
	2*time.Minute + 30*time.Second,
	10*time.Minute + 30*time.Second,
	42*time.Minute + 30*time.Second,
	2*time.Hour + 50*time.Minute + 30*time.Second,
	11*time.Hour + 22*time.Minute + 30*time.Second,
}

// deliverySigner returns a signer playing Plaid, its Sign function (iat =
// time.Now, the bubble's clock in synctest) and a Verifier that trusts it.
func deliverySigner(t *testing.T) (sign func([]byte) string, v *verify.Verifier) {
	t.Helper()
	signer, err := verifytest.NewSigner("kid-delivery", time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := json.Marshal(signer.JWK(nil))
	if err != nil {
		t.Fatal(err)
	}
	key, err := verify.ParseJWK(jwk)
	if err != nil {
		t.Fatal(err)
	}
	sign = func(body []byte) string { return signer.Sign(body, time.Now()) }
	return sign, verify.New(verify.StaticKeys{key}, verify.Options{Now: time.Now})
}

// memTransport calls a handler in memory, honouring the request's context
// like a real connection would.
type memTransport struct{ h http.Handler }

func (m memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	m.h.ServeHTTP(rec, r)
	if r.Body != nil {
		r.Body.Close()
	}
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	return rec.Result(), nil
}

// memClient is a delivery client (no redirects) whose receiver is h.
func memClient(h http.Handler) *http.Client {
	c := newDeliveryClient()
	c.Transport = memTransport{h}
	return c
}

// statusScript answers the i-th request (from 0) with statuses[i], and
// 200 once the script is exhausted; it records every request, verified
// on arrival by verifier if set.
type statusScript struct {
	statuses []int
	verifier *verify.Verifier

	mu   sync.Mutex
	reqs []receivedWebhook
}

type receivedWebhook struct {
	at          time.Time
	method      string
	contentType string
	token       string
	body        []byte
	verified    verify.Result // when statusScript.verifier is set
	verifyErr   error
}

func (s *statusScript) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := new(bytes.Buffer)
	body.ReadFrom(r.Body)
	rw := receivedWebhook{
		at: time.Now(), method: r.Method, contentType: r.Header.Get("Content-Type"),
		token: r.Header.Get("Plaid-Verification"), body: body.Bytes(),
	}
	if s.verifier != nil {
		// As webhookd would, on arrival: alg, kid, signature, iat age
		// and the body's SHA-256.
		rw.verified, rw.verifyErr = s.verifier.Verify(r.Context(), rw.token, rw.body)
	}
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, rw)
	s.mu.Unlock()
	status := http.StatusOK
	if n < len(s.statuses) {
		status = s.statuses[n]
	}
	w.WriteHeader(status)
}

func (s *statusScript) received() []receivedWebhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receivedWebhook(nil), s.reqs...)
}

func repeatStatus(status, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = status
	}
	return out
}

// attemptOffsets returns each attempt's time after the first attempt.
func attemptOffsets(d WebhookDelivery) []time.Duration {
	var out []time.Duration
	for _, a := range d.Attempts {
		out = append(out, a.At.Sub(d.Attempts[0].At))
	}
	return out
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// onlyDelivery returns the sender's single delivery.
func onlyDelivery(t *testing.T, w *webhookSender) WebhookDelivery {
	t.Helper()
	ds := w.Deliveries()
	if len(ds) != 1 {
		t.Fatalf("got %d deliveries, want 1", len(ds))
	}
	return ds[0]
}

// TestSenderRetriesUntil200 checks, on Plaid's real schedule, that a
// receiver failing N times gets the webhook on attempt N+1, each attempt a
// POST of the same bytes with a token signed at that attempt's time.
func TestSenderRetriesUntil200(t *testing.T) {
	tests := []struct {
		name     string
		failures int
	}{
		{"first attempt", 0},
		{"one failure", 1},
		{"three failures", 3},
		{"last possible attempt", 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sign, v := deliverySigner(t)
				rcv := &statusScript{statuses: repeatStatus(http.StatusInternalServerError, tt.failures), verifier: v}
				w := newWebhookSender(senderOptions{Sign: sign, Client: memClient(rcv)})
				defer w.Close()

				w.Send("http://receiver.test/plaid/webhook", deliveryBody)
				time.Sleep(48 * time.Hour) // the fake clock: long past the last retry

				d := onlyDelivery(t, w)
				if !d.Delivered || d.GaveUp {
					t.Errorf("delivered, gave up: got %v, %v, want true, false", d.Delivered, d.GaveUp)
				}
				if got, want := attemptOffsets(d), plaidSchedule[:tt.failures+1]; !equalDurations(got, want) {
					t.Errorf("attempt times: got %v, want %v", got, want)
				}
				for i, a := range d.Attempts {
					want := http.StatusInternalServerError
					if i == tt.failures {
						want = http.StatusOK
					}
					if a.Status != want || a.Error != "" {
						t.Errorf("attempt %d: got status %d, error %q, want %d", i+1, a.Status, a.Error, want)
					}
				}
				reqs := rcv.received()
				if len(reqs) != tt.failures+1 {
					t.Fatalf("receiver got %d requests, want %d", len(reqs), tt.failures+1)
				}
				var lastIAT time.Time
				for i, r := range reqs {
					if r.method != http.MethodPost || r.contentType != "application/json" || !bytes.Equal(r.body, deliveryBody) {
						t.Errorf("request %d: got %s, Content-Type %q, body %q; want POST application/json of the exact bytes", i+1, r.method, r.contentType, r.body)
					}
					res := r.verified
					if r.verifyErr != nil {
						t.Errorf("request %d: token does not verify on arrival: %v", i+1, r.verifyErr)
						continue
					}
					if !res.IssuedAt.Equal(r.at.Truncate(time.Second)) {
						t.Errorf("request %d: iat %v, want the attempt time %v", i+1, res.IssuedAt, r.at)
					}
					if i > 0 && !res.IssuedAt.After(lastIAT) {
						t.Errorf("request %d: iat %v not after the previous %v", i+1, res.IssuedAt, lastIAT)
					}
					lastIAT = res.IssuedAt
				}
			})
		})
	}
}

// TestSenderSchedule checks every attempt time of a delivery that never
// succeeds, for several time factors: 30 s · 4^k / factor, exactly 7
// attempts, then nothing more.
func TestSenderSchedule(t *testing.T) {
	tests := []struct {
		name   string
		factor float64
		scale  float64 // what the delays are divided by
	}{
		{"factor 1", 1, 1},
		{"factor 60", 60, 60},
		{"factor 7", 7, 7},
		{"factor 1e6", 1e6, 1e6},
		{"zero means 1", 0, 1},
		{"negative means 1", -3, 1},
		{"NaN means 1", math.NaN(), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sign, _ := deliverySigner(t)
				rcv := &statusScript{statuses: repeatStatus(http.StatusServiceUnavailable, 100)}
				w := newWebhookSender(senderOptions{Sign: sign, Client: memClient(rcv), TimeFactor: tt.factor})
				defer w.Close()

				w.Send("http://receiver.test/hook", deliveryBody)
				time.Sleep(100 * time.Hour)

				d := onlyDelivery(t, w)
				if d.Delivered || !d.GaveUp {
					t.Errorf("delivered, gave up: got %v, %v, want false, true", d.Delivered, d.GaveUp)
				}
				// Each delay is scaled on its own, so sum the scaled delays.
				var want []time.Duration
				var at time.Duration
				for i, delay := 0, firstRetryDelay; i < len(plaidSchedule); i, delay = i+1, delay*4 {
					want = append(want, at)
					at += time.Duration(float64(delay) / tt.scale)
				}
				if got := attemptOffsets(d); !equalDurations(got, want) {
					t.Errorf("attempt times: got %v, want %v", got, want)
				}
				if got := len(rcv.received()); got != len(plaidSchedule) {
					t.Errorf("receiver got %d requests, want %d", got, len(plaidSchedule))
				}
			})
		})
	}
}

// TestSenderOnlyExactly200Succeeds: Plaid retries on any "non-200 response",
// including other 2xx and redirects, which the sender does not follow.
func TestSenderOnlyExactly200Succeeds(t *testing.T) {
	tests := []struct {
		name   string
		status int
	}{
		{"201 Created", http.StatusCreated},
		{"202 Accepted", http.StatusAccepted},
		{"204 No Content", http.StatusNoContent},
		{"302 Found", http.StatusFound},
		{"400 Bad Request", http.StatusBadRequest},
		{"401 Unauthorized", http.StatusUnauthorized},
		{"500 Internal Server Error", http.StatusInternalServerError},
		{"503 Service Unavailable", http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := &statusScript{statuses: []int{tt.status}}
			// A redirect points back at the receiver, whose next answer
			// is 200: following it would look like a first-time success.
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", "/again")
				rcv.ServeHTTP(w, r)
			}))
			defer srv.Close()
			w, responses := realSender(t, senderOptions{TimeFactor: 1e6})

			w.Send(srv.URL+"/hook", deliveryBody)
			waitResponses(t, responses, 2)
			w.Close()

			d := onlyDelivery(t, w)
			if !d.Delivered || len(d.Attempts) != 2 {
				t.Fatalf("got delivered %v after %d attempts, want true after 2: %+v", d.Delivered, len(d.Attempts), d.Attempts)
			}
			if got := d.Attempts[0].Status; got != tt.status {
				t.Errorf("first attempt status: got %d, want %d", got, tt.status)
			}
			if got := d.Attempts[1].Status; got != http.StatusOK {
				t.Errorf("second attempt status: got %d, want 200", got)
			}
		})
	}
}

// notifyingTransport reports the status of every round trip (0 for an
// error) once the sender has the response in hand.
type notifyingTransport struct {
	base      http.RoundTripper
	responses chan<- int
}

func (n notifyingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := n.base.RoundTrip(r)
	status := 0
	if err == nil {
		status = resp.StatusCode
	}
	n.responses <- status
	return resp, err
}

// realSender returns a sender over real HTTP with the default delivery
// client, whose round trips are reported on the returned channel. o.Sign
// defaults to a fresh test signer.
func realSender(t *testing.T, o senderOptions) (*webhookSender, <-chan int) {
	t.Helper()
	if o.Sign == nil {
		o.Sign, _ = deliverySigner(t)
	}
	responses := make(chan int, 1000)
	c := newDeliveryClient()
	c.Transport = notifyingTransport{c.Transport, responses}
	t.Cleanup(c.CloseIdleConnections)
	o.Client = c
	w := newWebhookSender(o)
	t.Cleanup(w.Close)
	return w, responses
}

// waitResponses waits for n round trips to finish.
func waitResponses(t *testing.T, responses <-chan int, n int) []int {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	var got []int
	for len(got) < n {
		select {
		case s := <-responses:
			got = append(got, s)
		case <-timeout.C:
			t.Fatalf("got %d responses %v, want %d", len(got), got, n)
		}
	}
	return got
}

// TestSenderOverHTTP runs the retry path against a real server: three 500s
// then 200, each token verifying over the bytes received.
func TestSenderOverHTTP(t *testing.T) {
	sign, v := deliverySigner(t)
	rcv := &statusScript{statuses: repeatStatus(http.StatusInternalServerError, 3), verifier: v}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	w, responses := realSender(t, senderOptions{Sign: sign, TimeFactor: 1e6})

	w.Send(srv.URL+"/plaid/webhook", deliveryBody)
	if got, want := waitResponses(t, responses, 4), []int{500, 500, 500, 200}; !equalInts(got, want) {
		t.Fatalf("statuses: got %v, want %v", got, want)
	}
	w.Close()

	d := onlyDelivery(t, w)
	if !d.Delivered || d.GaveUp || len(d.Attempts) != 4 {
		t.Errorf("got delivered %v, gave up %v after %d attempts, want true, false after 4", d.Delivered, d.GaveUp, len(d.Attempts))
	}
	for i, a := range d.Attempts[1:] {
		if !a.At.After(d.Attempts[i].At) {
			t.Errorf("attempt %d at %v is not after attempt %d at %v", i+2, a.At, i+1, d.Attempts[i].At)
		}
	}
	// Each request carries its own token (iat has one-second resolution, so
	// at this time factor it may repeat; TestSenderRetriesUntil200 checks
	// it grows on Plaid's real schedule) that verifies over the bytes
	// received.
	seen := map[string]bool{}
	var lastIAT time.Time
	for i, r := range rcv.received() {
		if seen[r.token] {
			t.Errorf("request %d reused a token", i+1)
		}
		seen[r.token] = true
		res := r.verified
		if r.verifyErr != nil {
			t.Errorf("request %d: token does not verify on arrival: %v", i+1, r.verifyErr)
			continue
		}
		if res.IssuedAt.Before(lastIAT) {
			t.Errorf("request %d: iat %v before the previous %v", i+1, res.IssuedAt, lastIAT)
		}
		lastIAT = res.IssuedAt
		if !bytes.Equal(r.body, deliveryBody) {
			t.Errorf("request %d: body %q, want the exact bytes sent", i+1, r.body)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSenderSlowReceiverFails: no answer within 10 s is a failed attempt,
// and the next delay counts from when the sender stopped waiting.
func TestSenderSlowReceiverFails(t *testing.T) {
	tests := []struct {
		name      string
		answerIn  time.Duration
		wantTimes []time.Duration
		wantFirst WebhookAttempt // At ignored
	}{
		{"answers in 9.9 s", 9900 * time.Millisecond, []time.Duration{0}, WebhookAttempt{Status: 200}},
		{"answers in 11 s", 11 * time.Second, []time.Duration{0, 40 * time.Second}, WebhookAttempt{Error: "no answer within 10s"}},
		{"never answers", 1000 * time.Hour, []time.Duration{0, 40 * time.Second}, WebhookAttempt{Error: "no answer within 10s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sign, _ := deliverySigner(t)
				var calls atomic.Int32
				slowOnce := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if calls.Add(1) == 1 {
						select {
						case <-time.After(tt.answerIn):
						case <-r.Context().Done():
							return
						}
					}
					w.WriteHeader(http.StatusOK)
				})
				w := newWebhookSender(senderOptions{Sign: sign, Client: memClient(slowOnce)})
				defer w.Close()

				w.Send("http://receiver.test/hook", deliveryBody)
				time.Sleep(48 * time.Hour)

				d := onlyDelivery(t, w)
				if !d.Delivered {
					t.Errorf("not delivered: %+v", d.Attempts)
				}
				if got := attemptOffsets(d); !equalDurations(got, tt.wantTimes) {
					t.Errorf("attempt times: got %v, want %v", got, tt.wantTimes)
				}
				first := d.Attempts[0]
				first.At = time.Time{}
				if first != tt.wantFirst {
					t.Errorf("first attempt: got %+v, want %+v", first, tt.wantFirst)
				}
			})
		})
	}
}

// TestSenderSlowReceiverOverHTTP checks the timeout against a real server
// (a short injected timeout stands in for Plaid's 10 s).
func TestSenderSlowReceiverOverHTTP(t *testing.T) {
	var calls atomic.Int32
	testDone := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body first: only then does net/http watch the
		// connection and cancel r's context when the sender hangs up.
		io.Copy(io.Discard, r.Body)
		if calls.Add(1) == 1 {
			select {
			case <-r.Context().Done():
			case <-testDone:
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	defer close(testDone)
	w, responses := realSender(t, senderOptions{TimeFactor: 1e6, attemptTimeout: 50 * time.Millisecond})

	w.Send(srv.URL, deliveryBody)
	if got, want := waitResponses(t, responses, 2), []int{0, 200}; !equalInts(got, want) {
		t.Fatalf("statuses: got %v, want %v", got, want)
	}
	w.Close()
	d := onlyDelivery(t, w)
	if !d.Delivered || len(d.Attempts) != 2 || d.Attempts[0].Error != "no answer within 50ms" {
		t.Errorf("got delivered %v, attempts %+v; want delivered on attempt 2 after a timeout", d.Delivered, d.Attempts)
	}
}

// TestSenderUnreachableReceiver: a connection failure is a failed attempt
// with the reason recorded, retried like any other.
func TestSenderUnreachableReceiver(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	w, responses := realSender(t, senderOptions{TimeFactor: 1e6})

	w.Send(url, deliveryBody)
	waitResponses(t, responses, 2)
	w.Close()
	d := onlyDelivery(t, w)
	if d.Delivered || len(d.Attempts) < 2 {
		t.Fatalf("got delivered %v after %d attempts, want retries of a failure", d.Delivered, len(d.Attempts))
	}
	if a := d.Attempts[0]; a.Status != 0 || !strings.Contains(a.Error, "connect") {
		t.Errorf("first attempt: got %+v, want status 0 and a connection error", a)
	}
}

// TestSenderCloseStopsRetries: after Close no attempt is made, Send does
// nothing, and every goroutine is gone (synctest fails the test if one is
// left in the bubble).
func TestSenderCloseStopsRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sign, _ := deliverySigner(t)
		rcv := &statusScript{statuses: repeatStatus(http.StatusInternalServerError, 100)}
		w := newWebhookSender(senderOptions{Sign: sign, Client: memClient(rcv)})

		w.Send("http://receiver.test/hook", deliveryBody)
		synctest.Wait() // the first attempt failed; a retry is pending
		w.Close()
		w.Send("http://receiver.test/after-close", deliveryBody)
		time.Sleep(48 * time.Hour)

		d := onlyDelivery(t, w)
		if len(d.Attempts) != 1 || d.Delivered || d.GaveUp {
			t.Errorf("got %d attempts, delivered %v, gave up %v; want 1, false, false", len(d.Attempts), d.Delivered, d.GaveUp)
		}
		if got := len(rcv.received()); got != 1 {
			t.Errorf("receiver got %d requests, want 1", got)
		}
		w.Close() // idempotent
	})
}

// TestSenderCloseAbortsAttemptInFlight: Close does not wait out a receiver
// that never answers.
func TestSenderCloseAbortsAttemptInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sign, _ := deliverySigner(t)
		hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		w := newWebhookSender(senderOptions{Sign: sign, Client: memClient(hang)})

		w.Send("http://receiver.test/hook", deliveryBody)
		synctest.Wait() // the attempt is in flight
		start := time.Now()
		w.Close()
		if waited := time.Since(start); waited != 0 {
			t.Errorf("Close waited %v for a hanging receiver, want 0", waited)
		}
		d := onlyDelivery(t, w)
		if len(d.Attempts) != 1 || d.Delivered || d.GaveUp || d.Attempts[0].Error == "" {
			t.Errorf("got %+v, want one aborted attempt, neither delivered nor given up", d)
		}
	})
}

// TestSenderCloseLeavesNoGoroutine checks over real HTTP, with the default
// client and many deliveries in flight or waiting, that Close leaves no
// goroutine behind.
func TestSenderCloseLeavesNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	arrived := make(chan struct{}, 1000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		w.WriteHeader(http.StatusInternalServerError)
	}))
	sign, _ := deliverySigner(t)
	w := newWebhookSender(senderOptions{Sign: sign, TimeFactor: 1000}) // retries after 30 ms, 120 ms, ...

	const n = 100
	for range n {
		w.Send(srv.URL, deliveryBody)
	}
	timeout := time.After(10 * time.Second)
	for range n {
		select {
		case <-arrived:
		case <-timeout:
			t.Fatal("the receiver did not get every first attempt")
		}
	}
	w.Close()
	// Close has waited: no goroutine of the sender may be left, at once.
	buf := make([]byte, 1<<20)
	if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "(*webhookSender)") {
		t.Errorf("a sender goroutine outlived Close:\n%s", stacks)
	}
	srv.Close()
	if got := len(w.Deliveries()); got != n {
		t.Errorf("got %d deliveries, want %d", got, n)
	}

	// Goroutines of closed connections exit asynchronously: give them a
	// moment, as tailscale's tstest.ResourceCheck does.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("goroutines: %d before, %d after Close\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

// TestSenderBoundsConcurrency: at most maxConcurrentAttempts requests are in
// flight, and deliveries beyond that wait rather than being dropped.
func TestSenderBoundsConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sign, _ := deliverySigner(t)
		var inFlight, peak atomic.Int32
		slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := inFlight.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(time.Second)
			inFlight.Add(-1)
			w.WriteHeader(http.StatusOK)
		})
		w := newWebhookSender(senderOptions{Sign: sign, Client: memClient(slow)})
		defer w.Close()

		const n = 3*maxConcurrentAttempts + 5
		for range n {
			w.Send("http://receiver.test/hook", deliveryBody)
		}
		time.Sleep(time.Hour)

		if got := peak.Load(); got != maxConcurrentAttempts {
			t.Errorf("peak concurrent attempts: got %d, want %d", got, maxConcurrentAttempts)
		}
		ds := w.Deliveries()
		if len(ds) != n {
			t.Fatalf("got %d deliveries, want %d", len(ds), n)
		}
		for i, d := range ds {
			if !d.Delivered || len(d.Attempts) != 1 {
				t.Errorf("delivery %d: delivered %v after %d attempts, want true after 1", i, d.Delivered, len(d.Attempts))
			}
		}
	})
}

// TestDeliveriesIsASnapshot: neither the caller's body buffer nor changes to
// a returned snapshot reach the sender's record.
func TestDeliveriesIsASnapshot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sign, _ := deliverySigner(t)
		rcv := &statusScript{statuses: []int{500}}
		w := newWebhookSender(senderOptions{Sign: sign, Client: memClient(rcv)})
		defer w.Close()

		buf := bytes.Clone(deliveryBody)
		w.Send("http://receiver.test/a", buf)
		w.Send("http://receiver.test/b", buf)
		buf[0] = 'X' // the caller reuses its buffer
		time.Sleep(time.Hour)

		orig, err := json.Marshal(w.Deliveries())
		if err != nil {
			t.Fatal(err)
		}
		snap := w.Deliveries()
		snap[0].URL = "changed"
		snap[0].Body[0] = 'Y'
		snap[0].Attempts[0].Status = 999
		snap[0].Attempts = append(snap[0].Attempts[:1], WebhookAttempt{Status: 1})
		snap[1] = WebhookDelivery{}

		again := w.Deliveries()
		if got, _ := json.Marshal(again); !bytes.Equal(got, orig) {
			t.Errorf("a snapshot's change reached the sender:\ngot  %s\nwant %s", got, orig)
		}
		if again[0].URL != "http://receiver.test/a" || again[1].URL != "http://receiver.test/b" {
			t.Errorf("URLs: got %q, %q; want Send order a, b", again[0].URL, again[1].URL)
		}
		for i, d := range again {
			if !bytes.Equal(d.Body, deliveryBody) {
				t.Errorf("delivery %d: body %q, want the bytes as they were at Send", i, d.Body)
			}
		}
		for i, r := range rcv.received() {
			if !bytes.Equal(r.body, deliveryBody) {
				t.Errorf("request %d: got body %q, want the bytes as they were at Send", i+1, r.body)
			}
		}
	})
}

// TestWebhookDeliveryJSON pins the wire shape GET /sim/webhooks serves.
func TestWebhookDeliveryJSON(t *testing.T) {
	at := time.Date(2026, 3, 7, 12, 0, 30, 0, time.UTC)
	d := WebhookDelivery{
		URL:  "http://receiver.test/hook",
		Body: json.RawMessage(deliveryBody),
		Attempts: []WebhookAttempt{
			{At: at.Add(-30 * time.Second), Error: "no answer within 10s"},
			{At: at, Status: 200},
		},
		Delivered: true,
	}
	got, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"url":"http://receiver.test/hook","body":{"item_id":"item-delivery","webhook_code":"SYNC_UPDATES_AVAILABLE","webhook_type":"TRANSACTIONS"},` +
		`"attempts":[{"at":"2026-03-07T12:00:00Z","status":0,"error":"no answer within 10s"},{"at":"2026-03-07T12:00:30Z","status":200}],` +
		`"delivered":true,"gave_up":false}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
