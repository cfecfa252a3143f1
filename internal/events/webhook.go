package events

import (
	"bytes"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The raw webhook stream: every verified Plaid webhook, byte for byte.
const (
	// WebhookStream is the JetStream stream that stores verified webhooks.
	WebhookStream = "PLAID_WEBHOOKS"
	// WebhookSubjectPrefix starts every subject in WebhookStream.
	WebhookSubjectPrefix = "plaid.webhooks"
	// WebhookSubjects is the subject filter WebhookStream captures.
	WebhookSubjects = WebhookSubjectPrefix + ".>"
)

// Header names on every message in WebhookStream. NATS header names are case
// sensitive; use these constants rather than literals.
const (
	// HeaderMsgID is JetStream's de-duplication header. For webhooks it is
	// WebhookMsgID of the Plaid-Verification token.
	HeaderMsgID = "Nats-Msg-Id"
	// HeaderItemID carries the body's item_id, when it has one.
	HeaderItemID = "Plaid-Item-Id"
	// HeaderAccountID carries the body's account_id (processor webhooks and
	// some item webhooks), when it has one.
	HeaderAccountID = "Plaid-Account-Id"
	// HeaderEnvironment carries the body's environment, when it has one.
	HeaderEnvironment = "Plaid-Environment"
	// HeaderWebhookType carries the body's webhook_type.
	HeaderWebhookType = "Plaid-Webhook-Type"
	// HeaderWebhookCode carries the body's webhook_code.
	HeaderWebhookCode = "Plaid-Webhook-Code"
	// HeaderReceivedAt is when webhookd received the request, RFC 3339 with
	// nanoseconds, UTC.
	HeaderReceivedAt = "Plaid-Received-At"
	// HeaderKeyID is the kid of the Plaid key that signed the webhook.
	HeaderKeyID = "Plaid-Key-Id"
)

// MaxNameLength bounds every type, code, id and environment we put into a
// subject or header. Plaid's are far shorter; the bound keeps a verified but
// odd body from producing oversized subjects.
const MaxNameLength = 256

// Errors returned by DecodeWebhookEnvelope and DecodeWebhookMessage.
var (
	// ErrMalformedWebhook means the body is not a JSON object or a field has
	// the wrong JSON type.
	ErrMalformedWebhook = errors.New("webhook body is not a valid JSON object")
	// ErrMissingTypeOrCode means webhook_type or webhook_code is absent or empty.
	ErrMissingTypeOrCode = errors.New("webhook body has no webhook_type or webhook_code")
	// ErrUnsafeName means a type, code, id or environment contains characters
	// that must not shape a NATS subject or header.
	ErrUnsafeName = errors.New("webhook field is not a safe subject or header value")
	// ErrMissingHeader means a stored message lacks a header we always set.
	ErrMissingHeader = errors.New("webhook message lacks a required header")
)

// WebhookEnvelope is the part of a Plaid webhook body that routing needs. All
// Plaid webhooks carry webhook_type, webhook_code and (almost all)
// environment; item webhooks carry item_id and processor webhooks account_id.
type WebhookEnvelope struct {
	WebhookType string `json:"webhook_type"`
	WebhookCode string `json:"webhook_code"`
	ItemID      string `json:"item_id,omitempty"`
	AccountID   string `json:"account_id,omitempty"`
	Environment string `json:"environment,omitempty"`
}

// DecodeWebhookEnvelope reads the routing fields from a raw webhook body. It
// is lenient about everything else (Plaid adds fields and codes without
// notice) but strict about what will become a subject or header: it returns
// ErrMalformedWebhook, ErrMissingTypeOrCode or ErrUnsafeName.
func DecodeWebhookEnvelope(body []byte) (WebhookEnvelope, error) {
	// It accepts exactly what json.Unmarshal into a map[string]json.RawMessage
	// accepts (one JSON object, white space around it): member names match
	// exactly (not case-insensitively, as with a struct), a repeated name's
	// last value wins, and a null member counts as absent. Only the five
	// routing members are decoded; nothing else is copied.
	start := skipJSONSpace(body, 0)
	if start == len(body) || body[start] != '{' || !json.Valid(body) {
		return WebhookEnvelope{}, ErrMalformedWebhook
	}
	var env WebhookEnvelope
	fields := [...]struct {
		name string
		dst  *string
		raw  []byte
	}{
		{name: "webhook_type", dst: &env.WebhookType},
		{name: "webhook_code", dst: &env.WebhookCode},
		{name: "item_id", dst: &env.ItemID},
		{name: "account_id", dst: &env.AccountID},
		{name: "environment", dst: &env.Environment},
	}
	// body is one valid JSON object: walk its top-level members.
	i := skipJSONSpace(body, start+1)
	for body[i] != '}' {
		nameEnd := skipJSONValue(body, i)
		name, ok := unquoteJSON(body[i:nameEnd])
		if !ok {
			return WebhookEnvelope{}, ErrMalformedWebhook
		}
		i = skipJSONSpace(body, skipJSONSpace(body, nameEnd)+1) // past ':'
		valueEnd := skipJSONValue(body, i)
		for f := range fields {
			if string(name) == fields[f].name {
				fields[f].raw = body[i:valueEnd]
			}
		}
		i = skipJSONSpace(body, valueEnd)
		if body[i] == ',' {
			i = skipJSONSpace(body, i+1)
		}
	}
	for _, f := range fields {
		if f.raw == nil || string(f.raw) == "null" {
			continue
		}
		v, ok := unquoteJSON(f.raw)
		if !ok {
			return WebhookEnvelope{}, fmt.Errorf("%w: %s is not a string", ErrMalformedWebhook, f.name)
		}
		*f.dst = string(v)
	}
	if env.WebhookType == "" || env.WebhookCode == "" {
		return WebhookEnvelope{}, ErrMissingTypeOrCode
	}
	for _, f := range fields {
		if *f.dst != "" && !SafeName(*f.dst) {
			return WebhookEnvelope{}, fmt.Errorf("%w: %s", ErrUnsafeName, f.name)
		}
	}
	return env, nil
}

// skipJSONSpace returns the index of the first byte at or after i that is
// not JSON white space.
func skipJSONSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
		i++
	}
	return i
}

// skipJSONValue returns the end of the JSON value that starts at data[i].
// data must be valid JSON (json.Valid): it follows strings and nesting only.
func skipJSONValue(data []byte, i int) int {
	depth := 0
	for i < len(data) {
		switch data[i] {
		case '"':
			for i++; data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
			i++
		case '{', '[':
			depth++
			i++
		case '}', ']':
			depth--
			i++
		default:
			if depth == 0 { // a number or literal
				for i < len(data) && !strings.ContainsRune(",}] \t\r\n", rune(data[i])) {
					i++
				}
				return i
			}
			i++
		}
		if depth == 0 {
			return i
		}
	}
	return i
}

// unquoteJSON decodes lit if it is a JSON string literal, as encoding/json
// does (invalid UTF-8 becomes U+FFFD). Without escapes and with valid UTF-8
// the result points into lit.
func unquoteJSON(lit []byte) ([]byte, bool) {
	if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
		return nil, false
	}
	inner := lit[1 : len(lit)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return inner, true
	}
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return nil, false
	}
	return []byte(s), true
}

// SafeName reports whether s may appear as one NATS subject token or as a
// header value: non-empty valid UTF-8 of at most MaxNameLength bytes with no
// '.', '*', '>', white space or control characters.
func SafeName(s string) bool {
	if s == "" || len(s) > MaxNameLength || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r == '.' || r == '*' || r == '>' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// WebhookSubject returns the subject a webhook of this type and code is
// stored under: plaid.webhooks.<webhook_type>.<webhook_code>. Both must be
// SafeName; DecodeWebhookEnvelope guarantees it.
func WebhookSubject(webhookType, webhookCode string) string {
	return WebhookSubjectPrefix + "." + webhookType + "." + webhookCode
}

// WebhookMsgID derives the Nats-Msg-Id of a webhook from its
// Plaid-Verification token: the lowercase hex SHA-256 of the token. Every
// token Plaid signs is unique (ECDSA signatures are randomized), so a
// byte-identical re-delivery of one signed request collapses in the stream's
// duplicate window while two genuine webhooks with identical bodies do not.
//
// An ES256 signature (r, s) has a twin (r, n-s) that verifies as well, so one
// signed request can be replayed under a second spelling. The id is computed
// over the token with its signature in low-s form, which gives both spellings
// one id.
func WebhookMsgID(token string) string {
	sum := sha256.Sum256([]byte(canonicalES256(token)))
	return hex.EncodeToString(sum[:])
}

// canonicalES256 rewrites a compact ES256 token's signature to low-s form. A
// token that is not a compact JWS with a 64-byte signature is returned as is.
func canonicalES256(token string) string {
	dot := strings.LastIndexByte(token, '.')
	if dot < 0 {
		return token
	}
	sig, err := base64.RawURLEncoding.DecodeString(token[dot+1:])
	if err != nil || len(sig) != 64 {
		return token
	}
	n := elliptic.P256().Params().N
	s := new(big.Int).SetBytes(sig[32:])
	if s.Cmp(new(big.Int).Rsh(n, 1)) <= 0 {
		return token
	}
	s.Sub(n, s)
	s.FillBytes(sig[32:])
	return token[:dot+1] + base64.RawURLEncoding.EncodeToString(sig)
}

// WebhookHeaders returns the headers webhookd stores with a verified webhook.
// The result is a plain map so callers can convert it to nats.Header.
func WebhookHeaders(env WebhookEnvelope, msgID, keyID string, receivedAt time.Time) map[string][]string {
	h := map[string][]string{
		HeaderMsgID:       {msgID},
		HeaderWebhookType: {env.WebhookType},
		HeaderWebhookCode: {env.WebhookCode},
		HeaderReceivedAt:  {receivedAt.UTC().Format(time.RFC3339Nano)},
	}
	if keyID != "" {
		h[HeaderKeyID] = []string{keyID}
	}
	if env.ItemID != "" {
		h[HeaderItemID] = []string{env.ItemID}
	}
	if env.AccountID != "" {
		h[HeaderAccountID] = []string{env.AccountID}
	}
	if env.Environment != "" {
		h[HeaderEnvironment] = []string{env.Environment}
	}
	return h
}

// WebhookMessage is a message read back from WebhookStream.
type WebhookMessage struct {
	WebhookEnvelope
	MsgID      string
	KeyID      string
	ReceivedAt time.Time
	// Body is the exact body Plaid signed.
	Body []byte
}

// DecodeWebhookMessage reads a message from WebhookStream: its headers (a
// nats.Header converts directly) and data. The headers are authoritative for
// routing; the body is returned untouched for the caller to decode fully.
func DecodeWebhookMessage(header map[string][]string, data []byte) (WebhookMessage, error) {
	get := func(k string) string {
		if v := header[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	m := WebhookMessage{
		WebhookEnvelope: WebhookEnvelope{
			WebhookType: get(HeaderWebhookType),
			WebhookCode: get(HeaderWebhookCode),
			ItemID:      get(HeaderItemID),
			AccountID:   get(HeaderAccountID),
			Environment: get(HeaderEnvironment),
		},
		MsgID: get(HeaderMsgID),
		KeyID: get(HeaderKeyID),
		Body:  data,
	}
	for name, v := range map[string]string{
		HeaderWebhookType: m.WebhookType,
		HeaderWebhookCode: m.WebhookCode,
		HeaderMsgID:       m.MsgID,
		HeaderReceivedAt:  get(HeaderReceivedAt),
	} {
		if strings.TrimSpace(v) == "" {
			return WebhookMessage{}, fmt.Errorf("%w: %s", ErrMissingHeader, name)
		}
	}
	at, err := time.Parse(time.RFC3339Nano, get(HeaderReceivedAt))
	if err != nil {
		return WebhookMessage{}, fmt.Errorf("%w: %s is not RFC 3339", ErrMissingHeader, HeaderReceivedAt)
	}
	m.ReceivedAt = at
	return m, nil
}

// plaidstream's own sync requests share PLAID_WEBHOOKS with Plaid's
// webhooks, so one consumer orders them with the webhooks they relate to.
// They are never signed by Plaid: webhookd cannot produce them (it only
// stores verified bodies), only a client with publish rights on the subject.
const (
	// SyncRequestType is the webhook_type of a plaidstream sync request.
	SyncRequestType = "PLAIDSTREAM"
	// SyncRequestCode asks the fetcher to sync an owner now (registration,
	// an operator's forced sync, the reconciliation sweep).
	SyncRequestCode = "SYNC_REQUESTED"
)

// SyncRequest is the body of a plaidstream sync request.
type SyncRequest struct {
	WebhookType string `json:"webhook_type"`
	WebhookCode string `json:"webhook_code"`
	ItemID      string `json:"item_id,omitempty"`
	AccountID   string `json:"account_id,omitempty"`
	Environment string `json:"environment,omitempty"`
	// Reason says who asked: "registered", "forced", "reconcile", ...
	Reason string `json:"reason"`
	// Unpark un-parks a parked owner before syncing (an operator's forced
	// sync).
	Unpark bool `json:"unpark,omitempty"`
	// ResyncEpoch, when set, asks for a resync: unless the owner's epoch is
	// already at least this, the fetcher raises it to this value, emits
	// plaid.item.resync_started and replays the owner's whole history
	// from an empty cursor.
	ResyncEpoch uint64 `json:"resync_epoch,omitempty"`
}
