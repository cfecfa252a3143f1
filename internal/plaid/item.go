package plaid

import "context"

// ItemGetRequest is the body of /item/get.
type ItemGetRequest struct {
	AccessToken AccessToken `json:"access_token"`
}

// ItemGetResponse is the answer of /item/get.
type ItemGetResponse struct {
	Item Item `json:"item"`
	// Status is nil when Plaid sends null or omits it.
	Status    *ItemStatus `json:"status,omitempty"`
	RequestID string      `json:"request_id"`
}

// ItemGet calls /item/get: the Item's products, webhook, consent and current
// error (Item.Error, e.g. ITEM_LOGIN_REQUIRED), and when Plaid last reached
// the institution.
func (c *Client) ItemGet(ctx context.Context, req ItemGetRequest) (*ItemGetResponse, error) {
	if req.AccessToken == "" {
		return nil, errRequired(epItemGet, "access_token")
	}
	var out ItemGetResponse
	if err := c.call(ctx, epItemGet, req, &out, string(req.AccessToken)); err != nil {
		return nil, err
	}
	return &out, nil
}

// ItemRemoveRequest is the body of /item/remove.
type ItemRemoveRequest struct {
	AccessToken AccessToken `json:"access_token"`
	// ReasonCode is optional: FRAUD_FIRST_PARTY, FRAUD_FALSE_IDENTITY,
	// FRAUD_ABUSE, FRAUD_OTHER, CONNECTION_IS_NON_FUNCTIONAL or OTHER.
	ReasonCode string `json:"reason_code,omitempty"`
	// ReasonNote is optional, at most 512 characters.
	ReasonNote string `json:"reason_note,omitempty"`
}

// ItemRemoveResponse is the answer of /item/remove.
type ItemRemoveResponse struct {
	RequestID string `json:"request_id"`
}

// ItemRemove deletes the Item (/item/remove); its access token is invalid
// afterwards (ITEM_NOT_FOUND / INVALID_ACCESS_TOKEN, ClassGone). It changes
// state and is not retried after a 5xx or a lost answer: a retry of a removal
// that did happen would fail with ClassGone.
func (c *Client) ItemRemove(ctx context.Context, req ItemRemoveRequest) (*ItemRemoveResponse, error) {
	if req.AccessToken == "" {
		return nil, errRequired(epItemRemove, "access_token")
	}
	var out ItemRemoveResponse
	if err := c.call(ctx, epItemRemove, req, &out, string(req.AccessToken)); err != nil {
		return nil, err
	}
	return &out, nil
}

// ItemPublicTokenExchangeRequest is the body of /item/public_token/exchange.
type ItemPublicTokenExchangeRequest struct {
	// PublicToken comes from Link (or /sandbox/public_token/create).
	PublicToken PublicToken `json:"public_token"`
}

// ItemPublicTokenExchangeResponse is the answer of
// /item/public_token/exchange.
type ItemPublicTokenExchangeResponse struct {
	AccessToken AccessToken `json:"access_token"`
	ItemID      string      `json:"item_id"`
	RequestID   string      `json:"request_id"`
}

// ItemPublicTokenExchange trades a public token for the Item's access token
// (/item/public_token/exchange). Public tokens are single-use, so it is not
// retried after a 5xx or a lost answer.
func (c *Client) ItemPublicTokenExchange(ctx context.Context, req ItemPublicTokenExchangeRequest) (*ItemPublicTokenExchangeResponse, error) {
	if req.PublicToken == "" {
		return nil, errRequired(epItemPublicTokenExchange, "public_token")
	}
	var out ItemPublicTokenExchangeResponse
	if err := c.call(ctx, epItemPublicTokenExchange, req, &out, string(req.PublicToken)); err != nil {
		return nil, err
	}
	return &out, nil
}

// ProcessorTokenCreateRequest is the body of /processor/token/create.
type ProcessorTokenCreateRequest struct {
	AccessToken AccessToken `json:"access_token"`
	AccountID   string      `json:"account_id"`
	// Processor is the partner's name from Plaid's enumeration, e.g.
	// "dwolla".
	Processor string `json:"processor"`
}

// ProcessorTokenCreateResponse is the answer of /processor/token/create.
type ProcessorTokenCreateResponse struct {
	ProcessorToken ProcessorToken `json:"processor_token"`
	RequestID      string         `json:"request_id"`
}

// ProcessorTokenCreate creates a processor token for one account of an Item
// (/processor/token/create). Not retried after a 5xx or a lost answer.
func (c *Client) ProcessorTokenCreate(ctx context.Context, req ProcessorTokenCreateRequest) (*ProcessorTokenCreateResponse, error) {
	switch {
	case req.AccessToken == "":
		return nil, errRequired(epProcessorTokenCreate, "access_token")
	case req.AccountID == "" || req.Processor == "":
		return nil, errRequired(epProcessorTokenCreate, "account_id and processor")
	}
	var out ProcessorTokenCreateResponse
	if err := c.call(ctx, epProcessorTokenCreate, req, &out, string(req.AccessToken)); err != nil {
		return nil, err
	}
	return &out, nil
}
