package plaidsim

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// tokenKind says which token a Plaid endpoint is called with.
type tokenKind int

const (
	tokenNone      tokenKind = iota
	tokenAccess              // access_token
	tokenProcessor           // processor_token
)

// endpoint describes one Plaid API path the Sim serves.
type endpoint struct {
	schema   []field
	token    tokenKind
	itemCall bool // a sticky Item error (ITEM_LOGIN_REQUIRED...) answers instead
	keyFetch bool // counts in KeyFetches
	handle   func(s *Sim, c *call) (any, *Error)
}

// call is one Plaid API request on its way through the Sim.
type call struct {
	r      *http.Request
	body   []byte
	fields map[string]json.RawMessage
	it     *item           // the item the token names
	proc   *processorToken // the processor token, for processor endpoints
	out    outbox          // webhooks to send once the Sim's lock is released
}

// withRequestID is embedded in every success response.
type withRequestID struct {
	RequestID string `json:"request_id"`
}

func (w *withRequestID) setRequestID(id string) { w.RequestID = id }

type requestIDSetter interface{ setRequestID(string) }

// Request schemas shared by several endpoints.
var (
	syncOptionsSchema = []field{
		optional("include_original_description", kBool),
		optional("include_personal_finance_category", kBool),
		optional("include_logo_and_counterparty_beta", kBool),
		optional("personal_finance_category_version", kString),
		optional("days_requested", kInt),
		optional("account_id", kString),
	}
	recurringOptionsSchema = []field{
		optional("include_personal_finance_category", kBool),
		optional("personal_finance_category_version", kString),
	}
)

// plaidEndpoints lists the Plaid API the Sim serves: Plaid's transactions
// product, Items, and the Sandbox flow that creates Items.
func plaidEndpoints() map[string]*endpoint {
	return map[string]*endpoint{
		"/webhook_verification_key/get": {
			schema: []field{required("key_id", kString)}, keyFetch: true,
			handle: (*Sim).webhookVerificationKeyGet,
		},
		"/transactions/sync": {
			schema: []field{required("access_token", kString), optional("cursor", kString), optional("count", kInt),
				optional("options", kObject, syncOptionsSchema...)},
			token: tokenAccess, itemCall: true, handle: (*Sim).transactionsSync,
		},
		"/processor/transactions/sync": {
			schema: []field{required("processor_token", kString), optional("cursor", kString), optional("count", kInt),
				optional("options", kObject, syncOptionsSchema...)},
			token: tokenProcessor, itemCall: true, handle: (*Sim).transactionsSync,
		},
		"/transactions/get": {
			schema: []field{required("access_token", kString), required("start_date", kString), required("end_date", kString),
				optional("options", kObject,
					optional("account_ids", kStrings), optional("count", kInt), optional("offset", kInt),
					optional("include_original_description", kBool), optional("include_personal_finance_category_beta", kBool),
					optional("include_personal_finance_category", kBool), optional("include_logo_and_counterparty_beta", kBool),
					optional("personal_finance_category_version", kString), optional("days_requested", kInt))},
			token: tokenAccess, itemCall: true, handle: (*Sim).transactionsGet,
		},
		"/transactions/recurring/get": {
			schema: []field{required("access_token", kString), optional("account_ids", kStrings),
				optional("options", kObject, recurringOptionsSchema...)},
			token: tokenAccess, itemCall: true, handle: (*Sim).transactionsRecurringGet,
		},
		"/processor/transactions/recurring/get": {
			schema: []field{required("processor_token", kString), optional("options", kObject, recurringOptionsSchema...)},
			token:  tokenProcessor, itemCall: true, handle: (*Sim).transactionsRecurringGet,
		},
		"/transactions/refresh": {
			schema: []field{required("access_token", kString)},
			token:  tokenAccess, itemCall: true, handle: (*Sim).transactionsRefresh,
		},
		"/processor/transactions/refresh": {
			schema: []field{required("processor_token", kString)},
			token:  tokenProcessor, itemCall: true, handle: (*Sim).transactionsRefresh,
		},
		"/user/transactions/refresh": {
			schema: []field{required("user_id", kString)},
			handle: (*Sim).userTransactionsRefresh,
		},
		"/item/get": {
			schema: []field{required("access_token", kString)},
			token:  tokenAccess, handle: (*Sim).itemGet,
		},
		"/item/remove": {
			schema: []field{required("access_token", kString), optional("reason_code", kString), optional("reason_note", kString)},
			token:  tokenAccess, handle: (*Sim).itemRemove,
		},
		"/item/public_token/exchange": {
			schema: []field{required("public_token", kString)},
			handle: (*Sim).itemPublicTokenExchange,
		},
		"/processor/token/create": {
			schema: []field{required("access_token", kString), required("account_id", kString), required("processor", kString)},
			token:  tokenAccess, itemCall: true, handle: (*Sim).processorTokenCreate,
		},
		"/sandbox/public_token/create": {
			schema: []field{required("institution_id", kString), required("initial_products", kStrings),
				optional("options", kObject,
					optional("webhook", kString), optional("override_username", kString), optional("override_password", kString),
					optional("transactions", kObject, optional("start_date", kString), optional("end_date", kString), optional("days_requested", kInt)),
					optional("statements", kObject, required("start_date", kString), required("end_date", kString)),
					optional("income_verification", kObject, optional("income_source_types", kStrings),
						optional("bank_income", kObject, optional("days_requested", kInt)))),
				optional("user_token", kString), optional("user_id", kString)},
			handle: (*Sim).sandboxPublicTokenCreate,
		},
		"/sandbox/item/fire_webhook": {
			schema: []field{required("access_token", kString), required("webhook_code", kString), optional("webhook_type", kString)},
			token:  tokenAccess, handle: (*Sim).sandboxItemFireWebhook,
		},
		"/sandbox/transactions/create": {
			schema: []field{required("access_token", kString), required("transactions", kObjects,
				required("date_transacted", kString), required("date_posted", kString), required("amount", kNumber),
				required("description", kString), optional("iso_currency_code", kString))},
			token: tokenAccess, itemCall: true, handle: (*Sim).sandboxTransactionsCreate,
		},
	}
}

// servePlaid runs a Plaid API request through credentials, request schema,
// token, item-scoped faults, rate limits and sticky item errors, then the
// endpoint's handler, and sends the webhooks the handler queued once the
// Sim's lock is released.
//
// hold (and a Delay fault without a status) delays the answer, not the
// work: the request takes effect at once and only its answer is held back,
// so a caller that gives up meets what Plaid's lost answers leave behind —
// a refresh that happened, a public token already exchanged, an Item
// already removed.
func (s *Sim) servePlaid(w http.ResponseWriter, r *http.Request, ep *endpoint, body []byte, hold time.Duration) {
	answer := func(err *Error) {
		if sleep(r, hold) {
			writeErr(w, err)
		}
	}
	fields, err := s.readPlaidRequest(r, body)
	if err == nil {
		err = checkRequest(fields, ep.schema)
	}
	if err != nil {
		answer(err)
		return
	}
	c := &call{r: r, body: body, fields: fields}

	if ep.token != tokenNone {
		s.mu.Lock()
		err = s.resolveToken(c, ep.token)
		var f *Fault
		if err == nil {
			f = s.takeFaultLocked(r.URL.Path, c.it)
		}
		s.mu.Unlock()
		if err != nil {
			answer(err)
			return
		}
		if f != nil {
			if f.Status == 0 {
				hold += f.Delay
			} else if !s.applyFault(w, r, f) {
				return
			}
		}
	}

	s.mu.Lock()
	resp, err := s.handleLocked(c, ep)
	out := c.out
	s.mu.Unlock()
	s.send(out)
	if err != nil {
		answer(err)
		return
	}
	if !sleep(r, hold) {
		return // the caller gave up; the work is done all the same
	}
	if v, ok := resp.(requestIDSetter); ok {
		id := newRequestID()
		v.setRequestID(id)
		if rec, ok := w.(*statusRecorder); ok {
			rec.requestID = id
		}
	}
	if a, ok := resp.(jsonAppender); ok {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		w.Write(a.appendJSON(make([]byte, 0, 64<<10)))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleLocked runs the checks that need the item's current state, then the
// handler. s.mu is held.
func (s *Sim) handleLocked(c *call, ep *endpoint) (any, *Error) {
	if ep.token != tokenNone {
		// The item may have been removed while a Delay fault held us.
		if err := s.resolveToken(c, ep.token); err != nil {
			return nil, err
		}
		if err := s.checkRateLimit(c.r.URL.Path, c.it); err != nil {
			return nil, err
		}
		if ep.itemCall && c.it.err != nil {
			e := *c.it.err
			return nil, &e
		}
	} else if err := s.checkRateLimit(c.r.URL.Path, nil); err != nil {
		return nil, err
	}
	return ep.handle(s, c)
}

// resolveToken finds the item (and processor token) a request names.
func (s *Sim) resolveToken(c *call, kind tokenKind) *Error {
	switch kind {
	case tokenAccess:
		var tok string
		_ = json.Unmarshal(c.fields["access_token"], &tok) // checked by the schema
		if !strings.HasPrefix(tok, "access-") {
			return newError(http.StatusBadRequest, "INVALID_INPUT", "INVALID_ACCESS_TOKEN",
				"provided access token is in an invalid format. expected format: access-<environment>-<identifier>")
		}
		it, ok := s.accessTokens[tok]
		if !ok {
			return errCode("INVALID_ACCESS_TOKEN")
		}
		if it.removed {
			return errCode("ITEM_NOT_FOUND")
		}
		c.it = it
	case tokenProcessor:
		var tok string
		_ = json.Unmarshal(c.fields["processor_token"], &tok) // checked by the schema
		if !strings.HasPrefix(tok, "processor-") {
			return newError(http.StatusBadRequest, "INVALID_INPUT", "INVALID_PROCESSOR_TOKEN",
				"provided processor token is in an invalid format. expected format: processor-<environment>-<identifier>")
		}
		p, ok := s.processorTokens[tok]
		if !ok {
			return errCode("INVALID_PROCESSOR_TOKEN")
		}
		if p.it.removed {
			return errCode("ITEM_NOT_FOUND")
		}
		c.it, c.proc = p.it, p
	}
	return nil
}
