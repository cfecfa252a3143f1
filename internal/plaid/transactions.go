package plaid

import (
	"context"
	"fmt"
)

// TransactionsUpdateStatus is Plaid's TransactionsUpdateStatus enum: how far
// Plaid's own pull of an Item's transactions has come.
type TransactionsUpdateStatus string

// The values of TransactionsUpdateStatus.
const (
	UpdateStatusUnknown            TransactionsUpdateStatus = "TRANSACTIONS_UPDATE_STATUS_UNKNOWN"
	UpdateStatusNotReady           TransactionsUpdateStatus = "NOT_READY"
	UpdateStatusInitialComplete    TransactionsUpdateStatus = "INITIAL_UPDATE_COMPLETE"
	UpdateStatusHistoricalComplete TransactionsUpdateStatus = "HISTORICAL_UPDATE_COMPLETE"
)

// MaxSyncCount is the largest count /transactions/sync accepts, and the
// pager's default: fewer pages mean fewer chances of
// TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION.
const MaxSyncCount = 500

// TransactionsSyncRequestOptions is Plaid's TransactionsSyncRequestOptions.
// Zero fields are not sent. Plaid rejects "options": null, so a nil
// *TransactionsSyncRequestOptions omits the field entirely.
type TransactionsSyncRequestOptions struct {
	// IncludeOriginalDescription adds original_description to transactions.
	IncludeOriginalDescription *bool `json:"include_original_description,omitempty"`
	// PersonalFinanceCategoryVersion is "v1" or "v2".
	PersonalFinanceCategoryVersion string `json:"personal_finance_category_version,omitempty"`
	// DaysRequested (1–730) applies only while Transactions is not yet
	// initialized on the Item.
	DaysRequested int `json:"days_requested,omitempty"`
	// AccountID restricts the update to one account. It starts a separate
	// update stream with its own cursors; never mix cursors of the two.
	AccountID string `json:"account_id,omitempty"`
}

// TransactionsSyncRequest is the body of /transactions/sync.
type TransactionsSyncRequest struct {
	AccessToken AccessToken `json:"access_token"`
	// Cursor is the next_cursor of the last complete update; empty (not
	// sent) for the Item's whole history.
	Cursor string `json:"cursor,omitempty"`
	// Count is 1–500; 0 is not sent and Plaid uses 100.
	Count   int                             `json:"count,omitempty"`
	Options *TransactionsSyncRequestOptions `json:"options,omitempty"`
}

// TransactionsSyncResponse is one page of /transactions/sync.
type TransactionsSyncResponse struct {
	TransactionsUpdateStatus TransactionsUpdateStatus `json:"transactions_update_status"`
	// Accounts lists the accounts that have transactions in this page.
	Accounts []AccountBase `json:"accounts"`
	// Added, Modified and Removed are each ordered by ascending last
	// modification.
	Added    []Transaction        `json:"added"`
	Modified []Transaction        `json:"modified"`
	Removed  []RemovedTransaction `json:"removed"`
	// NextCursor is empty while the Item's transactions are not ready.
	NextCursor string `json:"next_cursor"`
	HasMore    bool   `json:"has_more"`
	RequestID  string `json:"request_id"`
}

// TransactionsSync fetches one page of /transactions/sync. Most callers want
// SyncTransactions, which pages through a whole update.
func (c *Client) TransactionsSync(ctx context.Context, req TransactionsSyncRequest) (*TransactionsSyncResponse, error) {
	if err := checkSyncCount(epTransactionsSync, req.Count); err != nil {
		return nil, err
	}
	if req.AccessToken == "" {
		return nil, errRequired(epTransactionsSync, "access_token")
	}
	var out TransactionsSyncResponse
	if err := c.call(ctx, epTransactionsSync, req, &out, string(req.AccessToken)); err != nil {
		return nil, err
	}
	return &out, nil
}

// ProcessorTransactionsSyncRequest is the body of
// /processor/transactions/sync.
type ProcessorTransactionsSyncRequest struct {
	ProcessorToken ProcessorToken                  `json:"processor_token"`
	Cursor         string                          `json:"cursor,omitempty"`
	Count          int                             `json:"count,omitempty"`
	Options        *TransactionsSyncRequestOptions `json:"options,omitempty"`
}

// ProcessorTransactionsSyncResponse is one page of
// /processor/transactions/sync: like TransactionsSyncResponse, but with the
// token's single account (nil if Plaid sends null) instead of a list.
type ProcessorTransactionsSyncResponse struct {
	TransactionsUpdateStatus TransactionsUpdateStatus `json:"transactions_update_status"`
	Account                  *AccountBase             `json:"account"`
	Added                    []Transaction            `json:"added"`
	Modified                 []Transaction            `json:"modified"`
	Removed                  []RemovedTransaction     `json:"removed"`
	NextCursor               string                   `json:"next_cursor"`
	HasMore                  bool                     `json:"has_more"`
	RequestID                string                   `json:"request_id"`
}

// ProcessorTransactionsSync fetches one page of /processor/transactions/sync.
// Most callers want SyncProcessorTransactions.
func (c *Client) ProcessorTransactionsSync(ctx context.Context, req ProcessorTransactionsSyncRequest) (*ProcessorTransactionsSyncResponse, error) {
	if err := checkSyncCount(epProcessorTransactionsSync, req.Count); err != nil {
		return nil, err
	}
	if req.ProcessorToken == "" {
		return nil, errRequired(epProcessorTransactionsSync, "processor_token")
	}
	var out ProcessorTransactionsSyncResponse
	if err := c.call(ctx, epProcessorTransactionsSync, req, &out, string(req.ProcessorToken)); err != nil {
		return nil, err
	}
	return &out, nil
}

func checkSyncCount(ep endpoint, count int) error {
	if count < 0 || count > MaxSyncCount {
		return fmt.Errorf("plaid %s: count %d out of range 1–%d", ep.path, count, MaxSyncCount)
	}
	return nil
}

// TransactionsGetRequestOptions is Plaid's TransactionsGetRequestOptions.
// Zero fields are not sent.
type TransactionsGetRequestOptions struct {
	AccountIDs []string `json:"account_ids,omitempty"`
	// Count is 1–500 (Plaid's default 100).
	Count int `json:"count,omitempty"`
	// Offset is the number of transactions to skip.
	Offset                         int    `json:"offset,omitempty"`
	IncludeOriginalDescription     *bool  `json:"include_original_description,omitempty"`
	PersonalFinanceCategoryVersion string `json:"personal_finance_category_version,omitempty"`
	DaysRequested                  int    `json:"days_requested,omitempty"`
}

// TransactionsGetRequest is the body of /transactions/get (legacy; the
// fetcher uses sync).
type TransactionsGetRequest struct {
	AccessToken AccessToken `json:"access_token"`
	// StartDate and EndDate are YYYY-MM-DD, both inclusive.
	StartDate string                         `json:"start_date"`
	EndDate   string                         `json:"end_date"`
	Options   *TransactionsGetRequestOptions `json:"options,omitempty"`
}

// TransactionsGetResponse is one page of /transactions/get.
type TransactionsGetResponse struct {
	Accounts []AccountBase `json:"accounts"`
	// Transactions are in reverse chronological order.
	Transactions      []Transaction `json:"transactions"`
	TotalTransactions int           `json:"total_transactions"`
	Item              Item          `json:"item"`
	RequestID         string        `json:"request_id"`
}

// TransactionsGet fetches one page of /transactions/get. Before Plaid's
// first pull of the Item it fails with PRODUCT_NOT_READY (ClassRetry).
func (c *Client) TransactionsGet(ctx context.Context, req TransactionsGetRequest) (*TransactionsGetResponse, error) {
	switch {
	case req.AccessToken == "":
		return nil, errRequired(epTransactionsGet, "access_token")
	case req.StartDate == "" || req.EndDate == "":
		return nil, errRequired(epTransactionsGet, "start_date and end_date")
	}
	var out TransactionsGetResponse
	if err := c.call(ctx, epTransactionsGet, req, &out, string(req.AccessToken)); err != nil {
		return nil, err
	}
	return &out, nil
}

// TransactionsGetAll pages through /transactions/get with offset pagination,
// from req's offset until total_transactions are collected, 500 per page
// unless req sets a count. The response holds every transaction, and the
// accounts, Item, total and request_id of the last page.
//
// Offset pages are not a snapshot: a change between two pages can shift
// transactions across the page boundary (a duplicate or a miss). Plaid's
// answer to that is /transactions/sync; this helper exists for tools and
// migrations.
func (c *Client) TransactionsGetAll(ctx context.Context, req TransactionsGetRequest) (*TransactionsGetResponse, error) {
	var opts TransactionsGetRequestOptions
	if req.Options != nil {
		opts = *req.Options
	}
	if opts.Count == 0 {
		opts.Count = 500
	}
	req.Options = &opts
	var all *TransactionsGetResponse
	for {
		page, err := c.TransactionsGet(ctx, req)
		if err != nil {
			return nil, err
		}
		if all == nil {
			all = page
		} else {
			all.Transactions = append(all.Transactions, page.Transactions...)
			all.Accounts, all.Item, all.TotalTransactions, all.RequestID = page.Accounts, page.Item, page.TotalTransactions, page.RequestID
		}
		opts.Offset += len(page.Transactions)
		if len(page.Transactions) == 0 || opts.Offset >= page.TotalTransactions {
			return all, nil
		}
	}
}

// TransactionsRecurringGetRequestOptions is Plaid's
// TransactionsRecurringGetRequestOptions.
type TransactionsRecurringGetRequestOptions struct {
	// PersonalFinanceCategoryVersion is "v1" or "v2".
	PersonalFinanceCategoryVersion string `json:"personal_finance_category_version,omitempty"`
}

// TransactionsRecurringGetRequest is the body of /transactions/recurring/get.
type TransactionsRecurringGetRequest struct {
	AccessToken AccessToken `json:"access_token"`
	// AccountIDs restricts the streams to these accounts; nil means all
	// active accounts.
	AccountIDs []string                                `json:"account_ids,omitempty"`
	Options    *TransactionsRecurringGetRequestOptions `json:"options,omitempty"`
}

// TransactionsRecurringGetResponse is the answer of
// /transactions/recurring/get and /processor/transactions/recurring/get.
type TransactionsRecurringGetResponse struct {
	InflowStreams  []TransactionStream `json:"inflow_streams"`
	OutflowStreams []TransactionStream `json:"outflow_streams"`
	// UpdatedDatetime is when Plaid last updated the streams (date-time).
	UpdatedDatetime                string `json:"updated_datetime"`
	PersonalFinanceCategoryVersion string `json:"personal_finance_category_version,omitempty"`
	RequestID                      string `json:"request_id"`
}

// TransactionsRecurringGet calls /transactions/recurring/get: the Item's
// recurring inflow and outflow streams (an add-on product; call it after the
// historical update is complete).
func (c *Client) TransactionsRecurringGet(ctx context.Context, req TransactionsRecurringGetRequest) (*TransactionsRecurringGetResponse, error) {
	if req.AccessToken == "" {
		return nil, errRequired(epTransactionsRecurringGet, "access_token")
	}
	var out TransactionsRecurringGetResponse
	if err := c.call(ctx, epTransactionsRecurringGet, req, &out, string(req.AccessToken)); err != nil {
		return nil, err
	}
	return &out, nil
}

// ProcessorTransactionsRecurringGetRequest is the body of
// /processor/transactions/recurring/get.
type ProcessorTransactionsRecurringGetRequest struct {
	ProcessorToken ProcessorToken                          `json:"processor_token"`
	Options        *TransactionsRecurringGetRequestOptions `json:"options,omitempty"`
}

// ProcessorTransactionsRecurringGet calls
// /processor/transactions/recurring/get.
func (c *Client) ProcessorTransactionsRecurringGet(ctx context.Context, req ProcessorTransactionsRecurringGetRequest) (*TransactionsRecurringGetResponse, error) {
	if req.ProcessorToken == "" {
		return nil, errRequired(epProcessorTransactionsRecurringGet, "processor_token")
	}
	var out TransactionsRecurringGetResponse
	if err := c.call(ctx, epProcessorTransactionsRecurringGet, req, &out, string(req.ProcessorToken)); err != nil {
		return nil, err
	}
	return &out, nil
}

// TransactionsRefreshRequest is the body of /transactions/refresh.
type TransactionsRefreshRequest struct {
	AccessToken AccessToken `json:"access_token"`
}

// TransactionsRefreshResponse is the answer of /transactions/refresh and
// /processor/transactions/refresh.
type TransactionsRefreshResponse struct {
	RequestID string `json:"request_id"`
}

// TransactionsRefresh asks Plaid to pull the Item's transactions from the
// institution now (/transactions/refresh). The results arrive later as
// webhooks. It is billed per call and therefore not retried after a 5xx or a
// lost answer (see Client); Plaid allows 2 per minute per Item.
func (c *Client) TransactionsRefresh(ctx context.Context, req TransactionsRefreshRequest) (*TransactionsRefreshResponse, error) {
	if req.AccessToken == "" {
		return nil, errRequired(epTransactionsRefresh, "access_token")
	}
	var out TransactionsRefreshResponse
	if err := c.call(ctx, epTransactionsRefresh, req, &out, string(req.AccessToken)); err != nil {
		return nil, err
	}
	return &out, nil
}

// ProcessorTransactionsRefreshRequest is the body of
// /processor/transactions/refresh.
type ProcessorTransactionsRefreshRequest struct {
	ProcessorToken ProcessorToken `json:"processor_token"`
}

// ProcessorTransactionsRefresh is TransactionsRefresh for a processor token
// (/processor/transactions/refresh); not retried after a 5xx either.
func (c *Client) ProcessorTransactionsRefresh(ctx context.Context, req ProcessorTransactionsRefreshRequest) (*TransactionsRefreshResponse, error) {
	if req.ProcessorToken == "" {
		return nil, errRequired(epProcessorTransactionsRefresh, "processor_token")
	}
	var out TransactionsRefreshResponse
	if err := c.call(ctx, epProcessorTransactionsRefresh, req, &out, string(req.ProcessorToken)); err != nil {
		return nil, err
	}
	return &out, nil
}

// UserTransactionsRefreshRequest is the body of /user/transactions/refresh.
type UserTransactionsRefreshRequest struct {
	// UserID is Plaid's user id ("usr_…").
	UserID string `json:"user_id"`
}

// UserTransactionsRefreshResponse is the answer of /user/transactions/refresh.
type UserTransactionsRefreshResponse struct {
	RequestID string `json:"request_id"`
	UserID    string `json:"user_id,omitempty"`
	// Results has one entry per Item: the refresh succeeds or fails per Item.
	Results []RefreshResult `json:"results,omitempty"`
}

// UserTransactionsRefresh refreshes every Item of a Plaid user
// (/user/transactions/refresh). A 200 can still carry per-Item failures in
// Results. Not retried after a 5xx or a lost answer.
func (c *Client) UserTransactionsRefresh(ctx context.Context, req UserTransactionsRefreshRequest) (*UserTransactionsRefreshResponse, error) {
	if req.UserID == "" {
		return nil, errRequired(epUserTransactionsRefresh, "user_id")
	}
	var out UserTransactionsRefreshResponse
	if err := c.call(ctx, epUserTransactionsRefresh, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// errRequired reports a required request field left empty; such a request
// is never sent (Classify: ClassBug).
func errRequired(ep endpoint, field string) error {
	return fmt.Errorf("plaid %s: %s is required", ep.path, field)
}
