package webhookd

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/verify"
)

// Publisher stores a message in JetStream and returns its acknowledgement;
// jetstream.JetStream implements it.
type Publisher interface {
	PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
}

// Verifier checks a Plaid-Verification token against the raw body;
// *verify.Verifier implements it.
type Verifier interface {
	Verify(ctx context.Context, token string, body []byte) (verify.Result, error)
}

var (
	_ Publisher = (jetstream.JetStream)(nil)
	_ Verifier  = (*verify.Verifier)(nil)
)

// webhookHandler serves POST /plaid/webhook.
type webhookHandler struct {
	verifier       Verifier
	publisher      Publisher
	metrics        *metrics
	logger         *slog.Logger
	now            func() time.Time
	maxBodyBytes   int64
	publishTimeout time.Duration
}

// summary accumulates what one request did; it becomes one log line and one
// metric observation when the request ends.
type summary struct {
	outcome    string
	env        events.WebhookEnvelope
	keyID      string
	msgID      string
	streamSeq  uint64
	reason     string
	err        error
	bodyLength int
}

// handle runs the steps in the only safe order: cap and read the raw bytes
// once, verify them, decode the same bytes, publish, and answer 200 only
// after JetStream acknowledged the write.
func (h *webhookHandler) handle(c echo.Context) error {
	start := h.now()
	req := c.Request()
	var s summary
	defer func() { h.finish(req.Context(), start, &s) }()

	body, err := h.readBody(c)
	s.bodyLength = len(body)
	if err != nil {
		outcome := outcomeUnreadable
		var he *httpError
		if errors.As(err, &he) && he.Status == http.StatusRequestEntityTooLarge {
			outcome = outcomeTooLarge
		}
		return h.fail(&s, err, outcome)
	}

	res, err := h.verifier.Verify(req.Context(), req.Header.Get("Plaid-Verification"), body)
	if err != nil {
		s.reason = verify.Reason(err)
		h.metrics.verifyFailed(s.reason)
		if errors.Is(err, verify.ErrKeyFetch) {
			// Not the sender's fault: answer 503 so Plaid retries.
			return h.fail(&s, &httpError{http.StatusServiceUnavailable, "unavailable", "verification key unavailable, retry later", err}, outcomeKeyUnavailable)
		}
		return h.fail(&s, &httpError{http.StatusUnauthorized, "unauthorized", "webhook verification failed", err}, outcomeUnverified)
	}
	s.keyID = res.KeyID

	env, err := events.DecodeWebhookEnvelope(body)
	if err != nil {
		outcome := outcomeMalformed
		if errors.Is(err, events.ErrUnsafeName) {
			outcome = outcomeUnsafeName
		}
		return h.fail(&s, &httpError{http.StatusBadRequest, "bad_request", err.Error(), err}, outcome)
	}
	s.env = env

	s.msgID = events.WebhookMsgID(req.Header.Get("Plaid-Verification"))
	msg := &nats.Msg{
		Subject: events.WebhookSubject(env.WebhookType, env.WebhookCode),
		Header:  nats.Header(events.WebhookHeaders(env, s.msgID, res.KeyID, start)),
		Data:    body,
	}
	// The publish outlives a client that hangs up: once started it either
	// stores the webhook or fails within the timeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), h.publishTimeout)
	defer cancel()
	pubStart := h.now()
	ack, err := h.publisher.PublishMsg(ctx, msg, jetstream.WithMsgID(s.msgID), jetstream.WithExpectStream(events.WebhookStream))
	h.metrics.published(err, h.now().Sub(pubStart))
	if err != nil {
		return h.fail(&s, &httpError{http.StatusServiceUnavailable, "unavailable", "could not store webhook, retry later", err}, outcomePublishFailed)
	}
	s.streamSeq = ack.Sequence
	s.outcome = outcomeAccepted
	if ack.Duplicate {
		s.outcome = outcomeDuplicate
	}
	return c.JSONBlob(http.StatusOK, okBody)
}

// okBody is the 200 response: what c.JSON(200, map[string]string{"status":
// "ok"}) writes, encoded once.
var okBody = []byte(`{"status":"ok"}` + "\n")

// readBody reads at most maxBodyBytes of the raw body, exactly once.
func (h *webhookHandler) readBody(c echo.Context) ([]byte, error) {
	req := c.Request()
	tooLarge := &httpError{http.StatusRequestEntityTooLarge, "too_large", "webhook body too large", nil}
	if req.ContentLength > h.maxBodyBytes {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, h.maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		return nil, &httpError{http.StatusBadRequest, "bad_request", "could not read body", err}
	}
	return body, nil
}

// fail records the outcome of a failed request and returns err for the
// error funnel.
func (h *webhookHandler) fail(s *summary, err error, outcome string) error {
	s.err, s.outcome = err, outcome
	return err
}

// finish writes the request's one log line and its metrics. Every request
// gets its line: accepted and duplicate webhooks at info (the trail from a
// Plaid delivery to its stream sequence), rejections at warn with the reason
// and the cause, failures on our side (publish, key fetch) at error.
func (h *webhookHandler) finish(ctx context.Context, start time.Time, s *summary) {
	took := h.now().Sub(start)
	h.metrics.webhookHandled(s.env.WebhookType, s.env.WebhookCode, s.outcome, took)
	level := slog.LevelInfo
	if s.err != nil {
		level = slog.LevelWarn
		if s.outcome == outcomePublishFailed || s.outcome == outcomeKeyUnavailable {
			level = slog.LevelError
		}
	}
	if !h.logger.Enabled(ctx, level) {
		return
	}
	// At most 12 attributes: build them in a fixed array, not a growing
	// slice on the heap.
	var buf [12]slog.Attr
	attrs := append(buf[:0],
		slog.String("outcome", s.outcome),
		slog.Float64("duration_ms", float64(took.Microseconds())/1000),
		slog.Int("body_bytes", s.bodyLength),
	)
	if s.env.WebhookType != "" {
		attrs = append(attrs, slog.String("webhook_type", s.env.WebhookType), slog.String("webhook_code", s.env.WebhookCode))
	}
	if s.env.ItemID != "" {
		attrs = append(attrs, slog.String("item_id", s.env.ItemID))
	}
	if s.env.AccountID != "" {
		attrs = append(attrs, slog.String("account_id", s.env.AccountID))
	}
	if s.keyID != "" {
		attrs = append(attrs, slog.String("key_id", s.keyID))
	}
	if s.msgID != "" {
		attrs = append(attrs, slog.String("msg_id", s.msgID))
	}
	if s.streamSeq != 0 {
		attrs = append(attrs, slog.Uint64("stream_seq", s.streamSeq))
	}
	if s.reason != "" {
		attrs = append(attrs, slog.String("reason", s.reason))
	}
	if s.err != nil {
		attrs = append(attrs, slog.String("err", s.err.Error()))
	}
	h.logger.LogAttrs(ctx, level, "webhook.received", attrs...)
}
