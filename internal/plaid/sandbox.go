package plaid

import (
	"context"
	"errors"
)

// Sandbox test users (Plaid's override_username values) that matter to
// transactions. Any password works.
const (
	// SandboxUserGood gives an Item with static transactions.
	SandboxUserGood = "user_good"
	// SandboxUserTransactionsDynamic gives an Item whose transactions
	// change on every /transactions/refresh, and the only kind of Item
	// /sandbox/transactions/create accepts.
	SandboxUserTransactionsDynamic = "user_transactions_dynamic"
)

// SandboxPublicTokenCreateRequestOptionsTransactions is Plaid's
// SandboxPublicTokenCreateRequestOptionsTransactions.
type SandboxPublicTokenCreateRequestOptionsTransactions struct {
	StartDate     string `json:"start_date,omitempty"`
	EndDate       string `json:"end_date,omitempty"`
	DaysRequested int    `json:"days_requested,omitempty"`
}

// SandboxPublicTokenCreateRequestOptions is Plaid's
// SandboxPublicTokenCreateRequestOptions (the fields plaidstream uses).
type SandboxPublicTokenCreateRequestOptions struct {
	// Webhook is the URL the Item's webhooks go to.
	Webhook string `json:"webhook,omitempty"`
	// OverrideUsername picks the test user, e.g. SandboxUserGood.
	OverrideUsername string                                              `json:"override_username,omitempty"`
	OverridePassword string                                              `json:"override_password,omitempty"`
	Transactions     *SandboxPublicTokenCreateRequestOptionsTransactions `json:"transactions,omitempty"`
}

// SandboxPublicTokenCreateRequest is the body of
// /sandbox/public_token/create.
type SandboxPublicTokenCreateRequest struct {
	// InstitutionID is a sandbox institution, e.g. "ins_109508".
	InstitutionID string `json:"institution_id"`
	// InitialProducts is e.g. []string{"transactions"}; at least one.
	InitialProducts []string                                `json:"initial_products"`
	Options         *SandboxPublicTokenCreateRequestOptions `json:"options,omitempty"`
	// UserID attaches the Item to a Plaid user, so that several Items share
	// one user for /user/transactions/refresh.
	UserID string `json:"user_id,omitempty"`
}

// SandboxPublicTokenCreateResponse is the answer of
// /sandbox/public_token/create.
type SandboxPublicTokenCreateResponse struct {
	PublicToken PublicToken `json:"public_token"`
	RequestID   string      `json:"request_id"`
}

// SandboxPublicTokenCreate creates a sandbox Item without Link
// (/sandbox/public_token/create); exchange the public token with
// ItemPublicTokenExchange. Sandbox only. Not retried after a 5xx or a lost
// answer: each call creates an Item.
func (c *Client) SandboxPublicTokenCreate(ctx context.Context, req SandboxPublicTokenCreateRequest) (*SandboxPublicTokenCreateResponse, error) {
	if req.InstitutionID == "" || len(req.InitialProducts) == 0 {
		return nil, errRequired(epSandboxPublicTokenCreate, "institution_id and initial_products")
	}
	var out SandboxPublicTokenCreateResponse
	if err := c.call(ctx, epSandboxPublicTokenCreate, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SandboxItemFireWebhookRequest is the body of /sandbox/item/fire_webhook.
type SandboxItemFireWebhookRequest struct {
	AccessToken AccessToken `json:"access_token"`
	// WebhookType is optional, e.g. "TRANSACTIONS" or "ITEM".
	WebhookType string `json:"webhook_type,omitempty"`
	// WebhookCode is e.g. "SYNC_UPDATES_AVAILABLE", "DEFAULT_UPDATE",
	// "RECURRING_TRANSACTIONS_UPDATE", "ERROR".
	WebhookCode string `json:"webhook_code"`
}

// SandboxItemFireWebhookResponse is the answer of /sandbox/item/fire_webhook.
type SandboxItemFireWebhookResponse struct {
	WebhookFired bool   `json:"webhook_fired"`
	RequestID    string `json:"request_id"`
}

// SandboxItemFireWebhook makes Plaid send the Item's webhook URL a webhook
// (/sandbox/item/fire_webhook). Sandbox only.
func (c *Client) SandboxItemFireWebhook(ctx context.Context, req SandboxItemFireWebhookRequest) (*SandboxItemFireWebhookResponse, error) {
	switch {
	case req.AccessToken == "":
		return nil, errRequired(epSandboxItemFireWebhook, "access_token")
	case req.WebhookCode == "":
		return nil, errRequired(epSandboxItemFireWebhook, "webhook_code")
	}
	var out SandboxItemFireWebhookResponse
	if err := c.call(ctx, epSandboxItemFireWebhook, req, &out, string(req.AccessToken)); err != nil {
		return nil, err
	}
	return &out, nil
}

// CustomSandboxTransaction is Plaid's CustomSandboxTransaction: a transaction
// for /sandbox/transactions/create.
type CustomSandboxTransaction struct {
	// DateTransacted and DatePosted are YYYY-MM-DD, today or at most 14
	// days back, posted not before transacted.
	DateTransacted string `json:"date_transacted"`
	DatePosted     string `json:"date_posted"`
	// Amount is positive for money out, negative for money in.
	Amount      Decimal `json:"amount"`
	Description string  `json:"description"`
	// ISOCurrencyCode defaults to USD.
	ISOCurrencyCode string `json:"iso_currency_code,omitempty"`
}

// SandboxTransactionsCreateRequest is the body of
// /sandbox/transactions/create.
type SandboxTransactionsCreateRequest struct {
	AccessToken AccessToken `json:"access_token"`
	// Transactions: at most 10 per call.
	Transactions []CustomSandboxTransaction `json:"transactions"`
}

// SandboxTransactionsCreateResponse is the answer of
// /sandbox/transactions/create.
type SandboxTransactionsCreateResponse struct {
	RequestID string `json:"request_id"`
}

// SandboxTransactionsCreate adds transactions to a sandbox Item of the test
// user SandboxUserTransactionsDynamic (/sandbox/transactions/create); Plaid
// fires the webhooks a refresh would. Sandbox only. Not retried after a 5xx
// or a lost answer: a repeat would add the transactions twice.
func (c *Client) SandboxTransactionsCreate(ctx context.Context, req SandboxTransactionsCreateRequest) (*SandboxTransactionsCreateResponse, error) {
	switch {
	case req.AccessToken == "":
		return nil, errRequired(epSandboxTransactionsCreate, "access_token")
	case len(req.Transactions) == 0:
		return nil, errors.New("plaid /sandbox/transactions/create: no transactions")
	}
	var out SandboxTransactionsCreateResponse
	if err := c.call(ctx, epSandboxTransactionsCreate, req, &out, string(req.AccessToken)); err != nil {
		return nil, err
	}
	return &out, nil
}
