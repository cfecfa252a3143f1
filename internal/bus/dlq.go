package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers PublishDeadLetter adds to a dead letter, next to the original
// message's own headers. (They belong in internal/events with the
// PLAID_DLQ stream spec; they live here until that spec lands.)
const (
	// HeaderDLQReason says why the message was dead-lettered.
	HeaderDLQReason = "Plaidstream-Dlq-Reason"
	// HeaderDLQStream is the stream the original message was stored in.
	HeaderDLQStream = "Plaidstream-Dlq-Stream"
	// HeaderDLQSequence is the original message's stream sequence.
	HeaderDLQSequence = "Plaidstream-Dlq-Sequence"
	// HeaderDLQDeliveries is how many times the original was delivered.
	HeaderDLQDeliveries = "Plaidstream-Dlq-Deliveries"
	// HeaderDLQAt is when it was dead-lettered, RFC 3339 with nanoseconds, UTC.
	HeaderDLQAt = "Plaidstream-Dlq-At"
	// HeaderDLQSubject is the original message's subject.
	HeaderDLQSubject = "Plaidstream-Dlq-Subject"
	// HeaderDLQMsgID is the original message's Nats-Msg-Id, when it had one
	// (the dead letter's own Nats-Msg-Id is DeadLetterMsgID).
	HeaderDLQMsgID = "Plaidstream-Dlq-Msg-Id"
)

// maxDLQHeaderValue bounds the reason and extra values: a dead letter must
// not fail to publish because an error message was huge.
const maxDLQHeaderValue = 1024

// DeadLetterSource is the original message being dead-lettered.
type DeadLetterSource struct {
	Stream     string
	Sequence   uint64
	Deliveries uint64
	Subject    string
	Header     nats.Header
	Data       []byte
}

// DeadLetterSourceOf takes the source of a dead letter from a message a
// JetStream consumer delivered.
func DeadLetterSourceOf(m jetstream.Msg) (DeadLetterSource, error) {
	md, err := m.Metadata()
	if err != nil {
		return DeadLetterSource{}, fmt.Errorf("dead letter: message metadata: %w", err)
	}
	return DeadLetterSource{
		Stream:     md.Stream,
		Sequence:   md.Sequence.Stream,
		Deliveries: md.NumDelivered,
		Subject:    m.Subject(),
		Header:     m.Headers(),
		Data:       m.Data(),
	}, nil
}

// DeadLetterMsgID is the Nats-Msg-Id of the dead letter of a stream's message:
// "dlq-<stream>-<sequence>". Dead-lettering the same message twice (a crash
// between the publish and the Term, then a redelivery) stores it once within
// the dead-letter stream's duplicate window.
func DeadLetterMsgID(stream string, seq uint64) string {
	return "dlq-" + stream + "-" + strconv.FormatUint(seq, 10)
}

// PublishDeadLetter publishes original, a message a consumer delivered, to
// subject (the caller's plaid.dlq.<...>; a stream must capture it) with its
// headers and data, and waits for the PubAck. See PublishDeadLetterFrom.
func PublishDeadLetter(ctx context.Context, js jetstream.JetStream, subject string, original jetstream.Msg, reason string, extra map[string]string) (*jetstream.PubAck, error) {
	src, err := DeadLetterSourceOf(original)
	if err != nil {
		return nil, err
	}
	return PublishDeadLetterFrom(ctx, js, subject, src, reason, extra)
}

// PublishDeadLetterFrom publishes a dead letter of src to subject and waits
// for the PubAck. The dead letter carries src's data unchanged and src's
// headers, except JetStream's own Nats-* headers (a stored Nats-Expected-*
// or Nats-TTL would change how the dead letter is stored; the original
// Nats-Msg-Id moves to HeaderDLQMsgID), plus the HeaderDLQ* headers and
// extra (which may not override Nats-* or Plaidstream-Dlq-* headers).
// Reason and extra values are cut to one line of at most 1 KiB; the caller
// must keep secrets (tokens) out of them. Its Nats-Msg-Id is
// DeadLetterMsgID(src.Stream, src.Sequence); PubAck.Duplicate reports a
// repeat. The caller Terms the original only after this returns nil.
func PublishDeadLetterFrom(ctx context.Context, js jetstream.JetStream, subject string, src DeadLetterSource, reason string, extra map[string]string) (*jetstream.PubAck, error) {
	if src.Stream == "" || src.Sequence == 0 {
		return nil, errors.New("dead letter: the original's stream and sequence are required")
	}
	if reason = headerValue(reason); reason == "" {
		return nil, errors.New("dead letter: a reason is required")
	}
	h := nats.Header{}
	for k, vs := range src.Header {
		if isNatsHeader(k) {
			continue
		}
		h[k] = append([]string(nil), vs...)
	}
	if id := src.Header.Get(nats.MsgIdHdr); id != "" {
		h.Set(HeaderDLQMsgID, id)
	}
	for k, v := range extra {
		if !validHeaderName(k) || isNatsHeader(k) || strings.HasPrefix(strings.ToLower(k), "plaidstream-dlq-") {
			return nil, fmt.Errorf("dead letter: extra header %q is invalid or reserved", k)
		}
		h.Set(k, headerValue(v))
	}
	h.Set(HeaderDLQReason, reason)
	h.Set(HeaderDLQStream, src.Stream)
	h.Set(HeaderDLQSequence, strconv.FormatUint(src.Sequence, 10))
	h.Set(HeaderDLQDeliveries, strconv.FormatUint(src.Deliveries, 10))
	h.Set(HeaderDLQAt, time.Now().UTC().Format(time.RFC3339Nano))
	if src.Subject != "" {
		h.Set(HeaderDLQSubject, src.Subject)
	}
	msg := &nats.Msg{Subject: subject, Header: h, Data: src.Data}
	ack, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(DeadLetterMsgID(src.Stream, src.Sequence)))
	if err != nil {
		return nil, fmt.Errorf("publish dead letter of %s #%d to %s: %w", src.Stream, src.Sequence, subject, err)
	}
	return ack, nil
}

func isNatsHeader(k string) bool { return strings.HasPrefix(strings.ToLower(k), "nats-") }

// validHeaderName accepts RFC 7230 token characters.
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// headerValue makes s one line of valid UTF-8 of at most maxDLQHeaderValue
// bytes: control characters become spaces.
func headerValue(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxDLQHeaderValue {
		cut := maxDLQHeaderValue
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}
