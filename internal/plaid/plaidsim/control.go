package plaidsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// The /sim/ control API: JSON over HTTP, no Plaid credentials, errors as
// PlaidError bodies with the simulator's own codes. Each route calls the Go
// API method of the same name. docs/plaidsim.md documents every route.

// simRoute is one /sim/ route. Path segments in braces are parameters.
type simRoute struct {
	method  string
	pattern []string
	handle  func(s *Sim, w http.ResponseWriter, r *http.Request, p map[string]string, body []byte)
}

func route(method, pattern string, h func(s *Sim, w http.ResponseWriter, r *http.Request, p map[string]string, body []byte)) simRoute {
	return simRoute{method: method, pattern: strings.Split(strings.Trim(pattern, "/"), "/"), handle: h}
}

// simRoutes lists the control API.
func simRoutes() []simRoute {
	return []simRoute{
		route(http.MethodPost, "/sim/users", (*Sim).simCreateUser),
		route(http.MethodPost, "/sim/items", (*Sim).simCreateItem),
		route(http.MethodGet, "/sim/items/{item_id}", (*Sim).simItem),
		route(http.MethodPost, "/sim/items/{item_id}/transactions", (*Sim).simAddTransactions),
		route(http.MethodPatch, "/sim/items/{item_id}/transactions/{transaction_id}", (*Sim).simModifyTransaction),
		route(http.MethodDelete, "/sim/items/{item_id}/transactions/{transaction_id}", (*Sim).simRemoveTransaction),
		route(http.MethodPost, "/sim/items/{item_id}/transactions/{transaction_id}/post", (*Sim).simPostTransaction),
		route(http.MethodPost, "/sim/items/{item_id}/mutate", (*Sim).simMutate),
		route(http.MethodPost, "/sim/items/{item_id}/refresh", (*Sim).simRefresh),
		route(http.MethodPost, "/sim/items/{item_id}/advance", (*Sim).simAdvance),
		route(http.MethodPost, "/sim/items/{item_id}/webhook", (*Sim).simSetItemWebhook),
		route(http.MethodPut, "/sim/items/{item_id}/recurring_streams/{stream_id}", (*Sim).simPutStream),
		route(http.MethodDelete, "/sim/items/{item_id}/recurring_streams/{stream_id}", (*Sim).simRemoveStream),
		route(http.MethodPost, "/sim/items/{item_id}/error", (*Sim).simSetError),
		route(http.MethodDelete, "/sim/items/{item_id}/error", (*Sim).simClearError),
		route(http.MethodPost, "/sim/faults", (*Sim).simInjectFault),
		route(http.MethodDelete, "/sim/faults", (*Sim).simClearFaults),
		route(http.MethodPost, "/sim/processor_tokens/{processor_token}/webhook", (*Sim).simSetProcessorWebhook),
		route(http.MethodPost, "/sim/keys/rotate", (*Sim).simRotateKey),
		route(http.MethodPost, "/sim/keys/{kid}/expire", (*Sim).simExpireKey),
		route(http.MethodGet, "/sim/webhooks", (*Sim).simWebhooks),
		route(http.MethodPost, "/sim/webhooks/send", func(s *Sim, w http.ResponseWriter, r *http.Request, _ map[string]string, body []byte) {
			s.simWebhooksSend(w, r, body)
		}),
	}
}

// serveSim routes a /sim/ request.
func (s *Sim) serveSim(w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var allow []string
	for _, rt := range s.routes {
		p, ok := matchRoute(rt.pattern, segs)
		if !ok {
			continue
		}
		if rt.method != r.Method {
			allow = append(allow, rt.method)
			continue
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
		if err != nil {
			writeError(w, http.StatusBadRequest, errInvalidBody())
			return
		}
		rt.handle(s, w, r, p, body)
		return
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, &PlaidError{
			ErrorType: "INVALID_REQUEST", ErrorCode: "METHOD_NOT_ALLOWED",
			ErrorMessage: "this route accepts " + strings.Join(allow, ", "),
		})
		return
	}
	writeError(w, http.StatusNotFound, errNotFound())
}

func matchRoute(pattern, segs []string) (map[string]string, bool) {
	if len(pattern) != len(segs) {
		return nil, false
	}
	var p map[string]string
	for i, seg := range pattern {
		if strings.HasPrefix(seg, "{") {
			if segs[i] == "" {
				return nil, false
			}
			if p == nil {
				p = make(map[string]string)
			}
			p[strings.Trim(seg, "{}")] = segs[i]
			continue
		}
		if seg != segs[i] {
			return nil, false
		}
	}
	return p, true
}

// decodeStrict decodes a /sim/ request body into v, rejecting unknown
// fields and trailing data. An empty body leaves v as it is when
// emptyOK.
func decodeStrict(body []byte, v any, emptyOK bool) *Error {
	if len(bytes.TrimSpace(body)) == 0 && emptyOK {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return newError(http.StatusBadRequest, "INVALID_REQUEST", "UNKNOWN_FIELDS",
				"the following fields are not recognized by this endpoint: "+strings.Trim(name, `"`))
		}
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return &Error{Status: http.StatusBadRequest, Body: *errInvalidBody()}
		}
		return errInvalidField(strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); err != io.EOF {
		return &Error{Status: http.StatusBadRequest, Body: *errInvalidBody()}
	}
	return nil
}

// writeResult writes the result of a Go API call.
func writeResult(w http.ResponseWriter, v any, err error) {
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = newError(http.StatusInternalServerError, "API_ERROR", "INTERNAL_SERVER_ERROR", err.Error())
		}
		writeErr(w, e)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Sim) simCreateUser(w http.ResponseWriter, _ *http.Request, _ map[string]string, body []byte) {
	var req CreateUserRequest
	if err := decodeStrict(body, &req, false); err != nil {
		writeErr(w, err)
		return
	}
	out, err := s.CreateUser(req)
	writeResult(w, out, err)
}

func (s *Sim) simCreateItem(w http.ResponseWriter, _ *http.Request, _ map[string]string, body []byte) {
	var req ItemOptions
	if err := decodeStrict(body, &req, true); err != nil {
		writeErr(w, err)
		return
	}
	out, err := s.CreateItem(req)
	writeResult(w, out, err)
}

func (s *Sim) simItem(w http.ResponseWriter, _ *http.Request, p map[string]string, _ []byte) {
	out, err := s.Item(p["item_id"])
	writeResult(w, out, err)
}

type transactionsAnswer struct {
	Transactions []Transaction `json:"transactions"`
}

func (s *Sim) simAddTransactions(w http.ResponseWriter, _ *http.Request, p map[string]string, body []byte) {
	var items []json.RawMessage
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		if err := json.Unmarshal(trimmed, &items); err != nil {
			writeError(w, http.StatusBadRequest, errInvalidBody())
			return
		}
	case len(trimmed) > 0 && trimmed[0] == '{':
		items = []json.RawMessage{trimmed}
	default:
		writeError(w, http.StatusBadRequest, errInvalidBody())
		return
	}
	args := make([]any, len(items))
	for i, it := range items {
		args[i] = it
	}
	out, err := s.AddTransactions(p["item_id"], args...)
	if out == nil {
		out = []Transaction{}
	}
	writeResult(w, transactionsAnswer{Transactions: out}, err)
}

func (s *Sim) simModifyTransaction(w http.ResponseWriter, _ *http.Request, p map[string]string, body []byte) {
	out, err := s.ModifyTransaction(p["item_id"], p["transaction_id"], json.RawMessage(body))
	writeResult(w, out, err)
}

func (s *Sim) simRemoveTransaction(w http.ResponseWriter, _ *http.Request, p map[string]string, _ []byte) {
	err := s.RemoveTransaction(p["item_id"], p["transaction_id"])
	writeResult(w, map[string]string{"transaction_id": p["transaction_id"]}, err)
}

func (s *Sim) simPostTransaction(w http.ResponseWriter, _ *http.Request, p map[string]string, body []byte) {
	var o PostOptions
	if err := decodeStrict(body, &o, true); err != nil {
		writeErr(w, err)
		return
	}
	out, err := s.PostTransaction(p["item_id"], p["transaction_id"], o)
	writeResult(w, out, err)
}

func (s *Sim) simMutate(w http.ResponseWriter, _ *http.Request, p map[string]string, body []byte) {
	var o MutateOptions
	if err := decodeStrict(body, &o, false); err != nil {
		writeErr(w, err)
		return
	}
	out, err := s.Mutate(p["item_id"], o)
	writeResult(w, out, err)
}

type itemStatusAnswer struct {
	ItemID                   string `json:"item_id"`
	TransactionsUpdateStatus string `json:"transactions_update_status"`
}

func (s *Sim) simRefresh(w http.ResponseWriter, _ *http.Request, p map[string]string, _ []byte) {
	err := s.RefreshItem(p["item_id"])
	writeResult(w, map[string]string{"item_id": p["item_id"]}, err)
}

func (s *Sim) simAdvance(w http.ResponseWriter, _ *http.Request, p map[string]string, _ []byte) {
	status, err := s.AdvanceReadiness(p["item_id"])
	writeResult(w, itemStatusAnswer{ItemID: p["item_id"], TransactionsUpdateStatus: status}, err)
}

type webhookRequest struct {
	Webhook string `json:"webhook"`
}

func (s *Sim) simSetItemWebhook(w http.ResponseWriter, _ *http.Request, p map[string]string, body []byte) {
	var req webhookRequest
	if err := decodeStrict(body, &req, false); err != nil {
		writeErr(w, err)
		return
	}
	err := s.SetItemWebhook(p["item_id"], req.Webhook)
	writeResult(w, map[string]string{"item_id": p["item_id"], "webhook": req.Webhook}, err)
}

func (s *Sim) simPutStream(w http.ResponseWriter, _ *http.Request, p map[string]string, body []byte) {
	var in StreamInput
	if err := decodeStrict(body, &in, false); err != nil {
		writeErr(w, err)
		return
	}
	out, err := s.PutRecurringStream(p["item_id"], p["stream_id"], in)
	writeResult(w, out, err)
}

type removeStreamRequest struct {
	Tombstone bool `json:"tombstone"`
}

func (s *Sim) simRemoveStream(w http.ResponseWriter, r *http.Request, p map[string]string, body []byte) {
	var req removeStreamRequest
	if err := decodeStrict(body, &req, true); err != nil {
		writeErr(w, err)
		return
	}
	if r.URL.Query().Get("tombstone") == "true" {
		req.Tombstone = true
	}
	err := s.RemoveRecurringStream(p["item_id"], p["stream_id"], req.Tombstone)
	writeResult(w, map[string]any{"stream_id": p["stream_id"], "tombstoned": req.Tombstone}, err)
}

type setErrorRequest struct {
	ErrorCode string `json:"error_code"`
}

type itemErrorAnswer struct {
	ItemID string        `json:"item_id"`
	Error  *webhookError `json:"error"`
}

func (s *Sim) simSetError(w http.ResponseWriter, _ *http.Request, p map[string]string, body []byte) {
	var req setErrorRequest
	if err := decodeStrict(body, &req, false); err != nil {
		writeErr(w, err)
		return
	}
	if req.ErrorCode == "" {
		writeErr(w, newError(http.StatusBadRequest, "INVALID_REQUEST", "MISSING_FIELDS", "the following required fields are missing: error_code"))
		return
	}
	if err := s.SetItemError(p["item_id"], req.ErrorCode); err != nil {
		writeResult(w, nil, err)
		return
	}
	e, _ := plaidError(req.ErrorCode)
	writeResult(w, itemErrorAnswer{ItemID: p["item_id"], Error: e.forWebhook()}, nil)
}

func (s *Sim) simClearError(w http.ResponseWriter, _ *http.Request, p map[string]string, _ []byte) {
	err := s.ClearItemError(p["item_id"])
	writeResult(w, itemErrorAnswer{ItemID: p["item_id"]}, err)
}

// faultRequest is the body of POST /sim/faults.
type faultRequest struct {
	Path         string      `json:"path"`
	ItemID       string      `json:"item_id,omitempty"`
	Count        int         `json:"count"`
	Status       int         `json:"status,omitempty"`
	ErrorCode    string      `json:"error_code,omitempty"`
	Error        *PlaidError `json:"error,omitempty"`
	Delay        Duration    `json:"delay,omitempty"`
	MutateAtPage int         `json:"mutate_at_page,omitempty"`
}

func (s *Sim) simInjectFault(w http.ResponseWriter, _ *http.Request, _ map[string]string, body []byte) {
	var req faultRequest
	if err := decodeStrict(body, &req, false); err != nil {
		writeErr(w, err)
		return
	}
	if req.Path == "" {
		writeErr(w, newError(http.StatusBadRequest, "INVALID_REQUEST", "MISSING_FIELDS", "the following required fields are missing: path"))
		return
	}
	if _, ok := s.endpoints[req.Path]; !ok {
		writeErr(w, errInvalidField("path must be a Plaid endpoint plaidsim serves"))
		return
	}
	if req.Status != 0 && (req.Status < 400 || req.Status > 599) {
		writeErr(w, errInvalidField("status must be an HTTP error status (400-599)"))
		return
	}
	if req.Count < 0 || req.Delay < 0 {
		writeErr(w, errInvalidField("count and delay must not be negative"))
		return
	}
	f := Fault{Count: req.Count, Status: req.Status, Error: req.Error, ErrorCode: req.ErrorCode,
		Delay: time.Duration(req.Delay), ItemID: req.ItemID, MutateAtPage: req.MutateAtPage}
	if err := s.InjectFault(req.Path, f); err != nil {
		writeErr(w, errInvalidField(strings.TrimPrefix(err.Error(), "plaidsim: inject fault: ")))
		return
	}
	if req.Count == 0 {
		req.Count = 1
	}
	writeResult(w, req, nil)
}

func (s *Sim) simClearFaults(w http.ResponseWriter, _ *http.Request, _ map[string]string, _ []byte) {
	s.ClearFaults()
	writeResult(w, map[string]bool{"cleared": true}, nil)
}

func (s *Sim) simSetProcessorWebhook(w http.ResponseWriter, _ *http.Request, p map[string]string, body []byte) {
	var req webhookRequest
	if err := decodeStrict(body, &req, false); err != nil {
		writeErr(w, err)
		return
	}
	err := s.SetProcessorWebhook(p["processor_token"], req.Webhook)
	writeResult(w, map[string]string{"webhook": req.Webhook}, err)
}

type keyAnswer struct {
	Kid       string `json:"kid"`
	ExpiredAt *int64 `json:"expired_at,omitempty"`
}

func (s *Sim) simRotateKey(w http.ResponseWriter, _ *http.Request, _ map[string]string, _ []byte) {
	kid, err := s.RotateKey()
	writeResult(w, keyAnswer{Kid: kid}, err)
}

func (s *Sim) simExpireKey(w http.ResponseWriter, _ *http.Request, p map[string]string, _ []byte) {
	kid := p["kid"]
	if err := s.ExpireKey(kid); err != nil {
		writeErr(w, errUnknown("key", kid))
		return
	}
	s.mu.Lock()
	at := s.keys[kid].expiredAt.Unix()
	s.mu.Unlock()
	writeResult(w, keyAnswer{Kid: kid, ExpiredAt: &at}, nil)
}

type deliveriesAnswer struct {
	Deliveries []WebhookDelivery `json:"deliveries"`
}

func (s *Sim) simWebhooks(w http.ResponseWriter, _ *http.Request, _ map[string]string, _ []byte) {
	d := s.WebhookDeliveries()
	if d == nil {
		d = []WebhookDelivery{}
	}
	writeResult(w, deliveriesAnswer{Deliveries: d}, nil)
}
