package plaidsim

import (
	"net/http"
	"regexp"
	"slices"
	"time"
)

type fireWebhookRequest struct {
	WebhookCode string `json:"webhook_code"`
	WebhookType string `json:"webhook_type"`
}

type fireWebhookResponse struct {
	WebhookFired bool `json:"webhook_fired"`
	withRequestID
}

// fireWebhookTypes maps the codes /sandbox/item/fire_webhook accepts to
// their webhook_type, the default when the request names none. The codes
// mapped to "" belong to products the Sim does not simulate.
var fireWebhookTypes = map[string]string{
	"DEFAULT_UPDATE":                 "TRANSACTIONS",
	"SYNC_UPDATES_AVAILABLE":         "TRANSACTIONS",
	"RECURRING_TRANSACTIONS_UPDATE":  "TRANSACTIONS",
	"NEW_ACCOUNTS_AVAILABLE":         "ITEM",
	"USER_PERMISSION_REVOKED":        "ITEM",
	"USER_ACCOUNT_REVOKED":           "ITEM",
	"PENDING_DISCONNECT":             "ITEM",
	"LOGIN_REPAIRED":                 "ITEM",
	"ERROR":                          "ITEM",
	"SMS_MICRODEPOSITS_VERIFICATION": "",
	"AUTHORIZATION_GRANTED":          "",
	"PRODUCT_READY":                  "",
}

var webhookTypes = []string{"AUTH", "HOLDINGS", "INVESTMENTS_TRANSACTIONS", "ITEM", "LIABILITIES", "TRANSACTIONS", "ASSETS"}

// sandboxItemFireWebhook serves /sandbox/item/fire_webhook: it sends the
// named webhook to the item's webhook URL without changing the item.
// SYNC_UPDATES_AVAILABLE carries the item's current readiness flags, ERROR
// the item's error (ITEM_LOGIN_REQUIRED if it has none), DEFAULT_UPDATE
// new_transactions 0.
func (s *Sim) sandboxItemFireWebhook(c *call) (any, *Error) {
	var req fireWebhookRequest
	if err := decodeRequest(c.body, &req); err != nil {
		return nil, err
	}
	wantType, ok := fireWebhookTypes[req.WebhookCode]
	if !ok {
		return nil, errInvalidField("webhook_code is not a webhook code /sandbox/item/fire_webhook can fire")
	}
	if req.WebhookType != "" && !slices.Contains(webhookTypes, req.WebhookType) {
		return nil, errInvalidField("webhook_type is not a valid webhook type")
	}
	if wantType == "" {
		return nil, newError(http.StatusBadRequest, "SANDBOX_ERROR", "SANDBOX_PRODUCT_NOT_ENABLED",
			"The product of webhook "+req.WebhookCode+" is not enabled on this item")
	}
	if req.WebhookType != "" && req.WebhookType != wantType {
		return nil, errInvalidField("webhook_code " + req.WebhookCode + " is not a " + req.WebhookType + " webhook")
	}
	it := c.it
	if it.webhook == "" {
		return nil, errCode("SANDBOX_WEBHOOK_INVALID")
	}
	body := map[string]any{"webhook_type": wantType, "webhook_code": req.WebhookCode, "item_id": it.id}
	switch req.WebhookCode {
	case "DEFAULT_UPDATE":
		body["new_transactions"], body["error"] = 0, nil
	case "SYNC_UPDATES_AVAILABLE":
		body["initial_update_complete"], body["historical_update_complete"] = it.syncFlags()
		it.userFields(body)
	case "RECURRING_TRANSACTIONS_UPDATE":
		ids := []string{}
		for _, a := range it.accounts {
			ids = append(ids, a.AccountID)
		}
		body["account_ids"] = ids
	case "ERROR":
		e := it.err
		if e == nil {
			e = errCode("ITEM_LOGIN_REQUIRED")
		}
		body["error"] = e.forWebhook()
		it.userFields(body)
	case "USER_PERMISSION_REVOKED":
		body["error"] = errCode("USER_PERMISSION_REVOKED").forWebhook()
		it.userFields(body)
	case "USER_ACCOUNT_REVOKED":
		body["account_id"] = it.accounts[0].AccountID
		it.userFields(body)
	case "PENDING_DISCONNECT":
		body["reason"] = "INSTITUTION_TOKEN_EXPIRATION"
		body["disconnect_time"] = s.now().Add(7 * 24 * time.Hour).UTC().Format(time.RFC3339)
		it.userFields(body)
	case "NEW_ACCOUNTS_AVAILABLE":
		body["error"] = nil
		it.userFields(body)
	case "LOGIN_REPAIRED":
		it.userFields(body)
	}
	s.queue(&c.out, it, it.webhook, body)
	return &fireWebhookResponse{WebhookFired: true}, nil
}

type sandboxTransactionsCreateRequest struct {
	Transactions []struct {
		DateTransacted  string `json:"date_transacted"`
		DatePosted      string `json:"date_posted"`
		Amount          Amount `json:"amount"`
		Description     string `json:"description"`
		IsoCurrencyCode string `json:"iso_currency_code"`
	} `json:"transactions"`
}

var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

// sandboxError is the shape of /sandbox/transactions/create's documented
// 400 answers: display_message repeats error_message, and status is sent.
func sandboxError(message string) *Error {
	e := errInvalidField(message)
	e.Body.DisplayMessage = ptr(message)
	e.Body.Status = ptr(http.StatusBadRequest)
	return e
}

// sandboxTransactionsCreate serves /sandbox/transactions/create: up to 10
// posted transactions, dated within the last 14 days, added to the item's
// depository account; only for user_transactions_dynamic items. The
// webhooks of a change follow.
func (s *Sim) sandboxTransactionsCreate(c *call) (any, *Error) {
	var req sandboxTransactionsCreateRequest
	if err := decodeRequest(c.body, &req); err != nil {
		return nil, err
	}
	it := c.it
	if it.username != userDynamic {
		return nil, errInvalidField("transactions can only be created for Items of the test user user_transactions_dynamic")
	}
	if len(req.Transactions) > 10 {
		return nil, sandboxError("The request contains too many transactions.")
	}
	if len(req.Transactions) == 0 {
		return nil, errInvalidField("transactions must contain at least one transaction")
	}
	today := dayOf(s.now())
	for _, t := range req.Transactions {
		tr, ok1 := parseDay(t.DateTransacted)
		po, ok2 := parseDay(t.DatePosted)
		if !ok1 || !ok2 || tr > today || po > today || tr < today-14 || po < today-14 || po < tr {
			return nil, sandboxError("Transaction and posted dates must be within the last 14 days. The posted date cannot be before the transaction date.")
		}
		if t.IsoCurrencyCode != "" && !currencyPattern.MatchString(t.IsoCurrencyCode) {
			return nil, errInvalidField("iso_currency_code must be an ISO-4217 currency code")
		}
	}
	acct := it.defaultAccount().AccountID
	var cs changeSet
	for _, in := range req.Transactions {
		cur := s.gen.usd
		if in.IsoCurrencyCode != "" && in.IsoCurrencyCode != "USD" {
			cur = ptr(in.IsoCurrencyCode)
		}
		t := Transaction{
			AccountID:       acct,
			Amount:          in.Amount,
			AuthorizedDate:  ptr(in.DateTransacted),
			Counterparties:  []Counterparty{},
			Date:            in.DatePosted,
			IsoCurrencyCode: cur,
			Name:            in.Description,
			PaymentChannel:  "other",
			TransactionID:   it.newID(),
		}
		it.insert(t, &cs)
	}
	s.notifyChanges(it, &cs, &c.out)
	return &requestIDOnly{}, nil
}
