package plaidsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Plaid's webhook retry schedule ("If there is a non-200 response or no
// response within 10 seconds from the webhook endpoint, Plaid will keep
// attempting to send the webhook for up to 24 hours. Each attempt will be
// tried after a delay that is 4 times longer than the previous delay,
// starting with 30 seconds."): retries after 30 s, 2 m, 8 m, 32 m, 2 h 8 m
// and 8 h 32 m, nominally at +0:30, +2:30, +10:30, +42:30, +2:50:30 and
// +11:22:30; the next delay (34 h) would end past 24 h, so a delivery has at
// most 7 attempts.
const (
	// deliveryAttemptTimeout is how long Plaid waits for a receiver's answer.
	deliveryAttemptTimeout = 10 * time.Second
	// firstRetryDelay is the pause after the first failed attempt.
	firstRetryDelay = 30 * time.Second
	// retryGrowth multiplies each delay to get the next one.
	retryGrowth = 4
	// retryWindow bounds the retries: none is scheduled whose nominal time
	// lies more than this after the first attempt.
	retryWindow = 24 * time.Hour
	// maxConcurrentAttempts bounds the HTTP requests in flight. Deliveries
	// beyond it wait for a slot; none is dropped.
	maxConcurrentAttempts = 64
	// maxResponseDrain is how much of a receiver's answer is read (and
	// discarded) so the connection can be reused; Plaid ignores the body.
	maxResponseDrain = 64 << 10
)

// senderOptions configures a webhookSender.
type senderOptions struct {
	// Sign returns a fresh Plaid-Verification token for body (required);
	// it is called once per attempt, so the token's iat is the attempt's
	// time.
	Sign func(body []byte) string
	// Client sends the attempts. Nil: a client of its own with Plaid's 10 s
	// timeout that does not follow redirects (a 3xx is not a 200). Whatever
	// the client, each attempt is also bounded by the 10 s timeout.
	Client *http.Client
	// TimeFactor divides the retry delays; <= 0 (or NaN) means 1. It does
	// not change the 10 s attempt timeout, which is the receiver's budget
	// in real time.
	TimeFactor float64
	// Logger gets one line per failed attempt and per abandoned delivery,
	// and a Debug line per successful one. Nil: discard.
	Logger *slog.Logger

	// attemptTimeout replaces the 10 s attempt timeout in tests.
	attemptTimeout time.Duration
}

// webhookSender delivers webhooks like Plaid: asynchronously, signed afresh
// for each attempt, retried on Plaid's schedule until the receiver answers
// exactly 200 or the 24 h window is over.
//
// Not simulated: "Plaid won't retry webhooks if we detect that the webhook
// receiver endpoint has rejected more than 90% of webhooks sent by Plaid over
// the last 24 hours." Plaid documents neither the minimum volume nor whether
// attempts or webhooks are counted; applied literally it would stop retrying
// the very first webhook sent to a receiver that is down, which is the case
// tests most need retries for. Every delivery here gets the full schedule.
//
// Each Send starts one goroutine that owns its delivery until it succeeds,
// gives up or Close stops it; at most maxConcurrentAttempts requests are in
// flight at once. Close cancels everything and waits for those goroutines.
type webhookSender struct {
	sign           func([]byte) string
	client         *http.Client
	ownClient      bool // client was made here; Close closes its idle connections
	factor         float64
	logger         *slog.Logger
	attemptTimeout time.Duration
	slots          chan struct{} // one token per attempt in flight

	// stop is cancelled by Close: it ends retry waits and aborts attempts.
	stop   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	closed     bool
	deliveries []*WebhookDelivery // in Send order; guarded by mu
}

// WebhookDelivery is one webhook the simulator sent, with every attempt so
// far.
type WebhookDelivery struct {
	// URL is where the webhook went.
	URL string `json:"url"`
	// Body is the exact bytes sent (and hashed into request_body_sha256).
	Body json.RawMessage `json:"body"`
	// Attempts lists the attempts in order; the first is made right after
	// the Send.
	Attempts []WebhookAttempt `json:"attempts"`
	// Delivered is true once an attempt got exactly 200.
	Delivered bool `json:"delivered"`
	// GaveUp is true once the retry window is over without a 200. A
	// delivery stopped by Close is neither Delivered nor GaveUp.
	GaveUp bool `json:"gave_up"`
}

// WebhookAttempt is one POST of a webhook.
type WebhookAttempt struct {
	// At is when the attempt started; its token's iat is this time as the
	// signer's clock tells it.
	At time.Time `json:"at"`
	// Status is the receiver's HTTP status, 0 when there was none.
	Status int `json:"status"`
	// Error says why there was no status: no answer within 10 s, a
	// connection failure, or the sender being closed.
	Error string `json:"error,omitempty"`
}

// newWebhookSender returns a sender ready to Send. The caller must Close it.
func newWebhookSender(o senderOptions) *webhookSender {
	w := &webhookSender{
		sign:           o.Sign,
		client:         o.Client,
		factor:         o.TimeFactor,
		logger:         o.Logger,
		attemptTimeout: o.attemptTimeout,
		slots:          make(chan struct{}, maxConcurrentAttempts),
	}
	if w.client == nil {
		w.ownClient = true
		w.client = newDeliveryClient()
	}
	if !(w.factor > 0) { // also catches NaN
		w.factor = 1
	}
	if w.logger == nil {
		w.logger = slog.New(slog.DiscardHandler)
	}
	if w.attemptTimeout <= 0 {
		w.attemptTimeout = deliveryAttemptTimeout
	}
	w.stop, w.cancel = context.WithCancel(context.Background())
	return w
}

// newDeliveryClient returns the client a sender uses when given none: its own
// connection pool (so Close can release it), Plaid's 10 s timeout, and no
// redirects followed, since Plaid wants exactly 200 and a 3xx is an answer,
// not a delivery.
func newDeliveryClient() *http.Client {
	return &http.Client{
		Transport:     http.DefaultTransport.(*http.Transport).Clone(),
		Timeout:       deliveryAttemptTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Send delivers body to url asynchronously, like Plaid: a POST with
// Content-Type application/json and a freshly signed Plaid-Verification
// header. Anything but exactly 200, or no answer within 10 s, is retried
// after 30 s, then after each delay 4 times the previous one (30 s, 2 m, 8 m,
// 32 m, 2 h 8 m, 8 h 32 m), all divided by TimeFactor, until the next
// attempt would be more than 24 h (nominal, scaled) after the first: at most
// 7 attempts. A delay counts from the end of the failed attempt; the 24 h
// window counts only the delays, so the number of attempts does not depend
// on how slowly the receiver answers. Every attempt is signed anew.
//
// Send copies body and returns at once. After Close it does nothing.
func (w *webhookSender) Send(url string, body []byte) {
	d := &WebhookDelivery{URL: url, Body: bytes.Clone(body)}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.deliveries = append(w.deliveries, d)
	// Added under mu, before Close can start waiting.
	w.wg.Go(func() { w.deliver(d) })
}

// Close cancels pending retries, aborts attempts in flight and waits until
// every goroutine the sender started has returned. Send after Close is a
// no-op. Close is idempotent and safe to call concurrently.
func (w *webhookSender) Close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.cancel()
	w.wg.Wait()
	if w.ownClient {
		w.client.CloseIdleConnections()
	}
}

// Deliveries returns a copy of every delivery so far, in Send order.
func (w *webhookSender) Deliveries() []WebhookDelivery {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]WebhookDelivery, len(w.deliveries))
	for i, d := range w.deliveries {
		out[i] = *d
		out[i].Body = bytes.Clone(d.Body)
		out[i].Attempts = append([]WebhookAttempt(nil), d.Attempts...)
	}
	return out
}

// deliver makes d's attempts until one gets a 200, the retry window is over
// or the sender is closed.
func (w *webhookSender) deliver(d *WebhookDelivery) {
	var elapsed time.Duration // nominal time of the current attempt after the first, unscaled
	delay := firstRetryDelay
	for n := 1; ; n++ {
		if !w.acquire() {
			return
		}
		a := w.attempt(d.URL, d.Body)
		<-w.slots
		ok := a.Status == http.StatusOK
		retry := !ok && elapsed+delay <= retryWindow

		w.mu.Lock()
		d.Attempts = append(d.Attempts, a)
		d.Delivered = ok
		// An attempt aborted by Close ends the delivery without a verdict.
		d.GaveUp = !ok && !retry && w.stop.Err() == nil
		w.mu.Unlock()

		switch {
		case ok:
			w.logger.Debug("plaidsim.webhook_delivered", "url", d.URL, "attempt", n)
			return
		case w.stop.Err() != nil:
			return
		case !retry:
			w.logger.Warn("plaidsim.webhook_gave_up", "url", d.URL, "attempts", n,
				"status", a.Status, "err", a.Error)
			return
		}
		wait := w.scale(delay)
		w.logger.Info("plaidsim.webhook_attempt_failed", "url", d.URL, "attempt", n,
			"status", a.Status, "err", a.Error, "retry_in", wait.String())
		if !w.sleep(wait) {
			return
		}
		elapsed += delay
		delay *= retryGrowth
	}
}

// acquire takes an attempt slot; it reports false if the sender was closed
// first.
func (w *webhookSender) acquire() bool {
	select {
	case w.slots <- struct{}{}:
		return true
	case <-w.stop.Done():
		return false
	}
}

// sleep waits d; it reports false if the sender was closed first.
func (w *webhookSender) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.stop.Done():
		return false
	}
}

// scale divides a delay of Plaid's schedule by the time factor.
func (w *webhookSender) scale(d time.Duration) time.Duration {
	return time.Duration(float64(d) / w.factor)
}

// attempt POSTs body once and reports what happened.
func (w *webhookSender) attempt(url string, body []byte) WebhookAttempt {
	a := WebhookAttempt{At: time.Now()}
	ctx, cancel := context.WithTimeout(w.stop, w.attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		a.Error = err.Error()
		return a
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Plaid-Verification", w.sign(body))
	resp, err := w.client.Do(req)
	if err != nil {
		switch {
		case w.stop.Err() != nil:
			a.Error = "the simulator stopped before the receiver answered"
		case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
			a.Error = fmt.Sprintf("no answer within %s", w.attemptTimeout)
		default:
			a.Error = err.Error()
		}
		return a
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseDrain))
	resp.Body.Close()
	a.Status = resp.StatusCode
	return a
}

// isTimeout reports whether err is a network timeout (such as the client's
// own Timeout).
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
