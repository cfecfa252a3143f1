package plaid

import (
	"context"
	"errors"
	"fmt"
)

// DefaultMaxSyncRestarts is how often the pager restarts an update after
// TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION when SyncOptions does not say.
const DefaultMaxSyncRestarts = 3

// SyncOptions tunes SyncTransactions and SyncProcessorTransactions.
type SyncOptions struct {
	// Count is the page size, 1–500; 0 means 500 (MaxSyncCount). Fewer
	// pages mean fewer chances of a mutation during pagination.
	Count int
	// MaxRestarts bounds the restarts after
	// TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION; 0 means
	// DefaultMaxSyncRestarts, a negative value means none.
	MaxRestarts int
	// Options is sent with every page. Note that options.account_id selects
	// a separate update stream with its own cursors.
	Options *TransactionsSyncRequestOptions
	// OnPage, if set, is called after each page arrives, with the number of
	// pages received so far in this call (restarts included, so it only
	// grows): a heartbeat for long updates, e.g. to extend a JetStream
	// message's ack deadline. It runs on the calling goroutine.
	OnPage func(page int)
}

// SyncUpdate is one complete, consistent update of an Item's (or a processor
// token's) transactions: the concatenation of every page from StartCursor
// until has_more was false, all from one pass without a mutation in
// between.
//
// Apply it in full, then persist NextCursor: the pager itself persists
// nothing. Applying means upserting Added and Modified by transaction_id and
// deleting Removed; a pending transaction that posted appears as its pending
// id in Removed and the posted transaction (pending_transaction_id set) in
// Added, possibly on different pages of the update.
type SyncUpdate struct {
	// StartCursor is the cursor the update started from ("" = whole
	// history).
	StartCursor string
	// NextCursor is the cursor for the next update. It is "" while Plaid has
	// no transactions for the Item yet (UpdateStatus NOT_READY); sync from
	// "" again then.
	NextCursor string
	Added      []Transaction
	Modified   []Transaction
	Removed    []RemovedTransaction
	// Accounts are the accounts with transactions in the update, each once
	// (as of the latest page that listed it), in order of first appearance.
	// For a processor token it is the token's account, if Plaid sent one.
	Accounts []AccountBase
	// UpdateStatus is the last page's transactions_update_status.
	UpdateStatus TransactionsUpdateStatus
	// Pages is the number of pages in this update.
	Pages int
	// Restarts is how often the update was restarted from StartCursor
	// because the data changed during pagination.
	Restarts int
	// RequestIDs are Plaid's request_id of each page, for support tickets.
	RequestIDs []string
}

// SyncTransactions pages through /transactions/sync from startCursor ("" for
// the Item's whole history) until has_more is false, and returns the whole
// update. Each page is retried as the Client retries reads.
//
// If a page fails with TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION, the
// pages fetched so far are discarded and the update restarts from
// startCursor, as Plaid requires, at most opts.MaxRestarts times. When the
// restarts run out, the error wraps the last mutation error: Classify gives
// ClassRestartSync, and the caller should retry later. Any other error ends
// the call with nothing applied; the caller's stored cursor is still valid.
func (c *Client) SyncTransactions(ctx context.Context, accessToken AccessToken, startCursor string, opts SyncOptions) (*SyncUpdate, error) {
	if accessToken == "" {
		return nil, errRequired(epTransactionsSync, "access_token")
	}
	return c.syncUpdate(ctx, epTransactionsSync, startCursor, opts, func(ctx context.Context, cursor string, count int) (*syncPage, error) {
		r, err := c.TransactionsSync(ctx, TransactionsSyncRequest{AccessToken: accessToken, Cursor: cursor, Count: count, Options: opts.Options})
		if err != nil {
			return nil, err
		}
		return &syncPage{r.TransactionsUpdateStatus, r.Accounts, r.Added, r.Modified, r.Removed, r.NextCursor, r.HasMore, r.RequestID}, nil
	})
}

// SyncProcessorTransactions is SyncTransactions for a processor token
// (/processor/transactions/sync).
func (c *Client) SyncProcessorTransactions(ctx context.Context, processorToken ProcessorToken, startCursor string, opts SyncOptions) (*SyncUpdate, error) {
	if processorToken == "" {
		return nil, errRequired(epProcessorTransactionsSync, "processor_token")
	}
	return c.syncUpdate(ctx, epProcessorTransactionsSync, startCursor, opts, func(ctx context.Context, cursor string, count int) (*syncPage, error) {
		r, err := c.ProcessorTransactionsSync(ctx, ProcessorTransactionsSyncRequest{ProcessorToken: processorToken, Cursor: cursor, Count: count, Options: opts.Options})
		if err != nil {
			return nil, err
		}
		var accounts []AccountBase
		if r.Account != nil {
			accounts = []AccountBase{*r.Account}
		}
		return &syncPage{r.TransactionsUpdateStatus, accounts, r.Added, r.Modified, r.Removed, r.NextCursor, r.HasMore, r.RequestID}, nil
	})
}

// syncPage is what the pager needs of either sync response.
type syncPage struct {
	status     TransactionsUpdateStatus
	accounts   []AccountBase
	added      []Transaction
	modified   []Transaction
	removed    []RemovedTransaction
	nextCursor string
	hasMore    bool
	requestID  string
}

// syncUpdate is the pager shared by both sync endpoints.
func (c *Client) syncUpdate(ctx context.Context, ep endpoint, startCursor string, opts SyncOptions,
	fetch func(ctx context.Context, cursor string, count int) (*syncPage, error)) (*SyncUpdate, error) {
	count := opts.Count
	if count == 0 {
		count = MaxSyncCount
	}
	if err := checkSyncCount(ep, count); err != nil {
		return nil, err
	}
	maxRestarts := opts.MaxRestarts
	switch {
	case maxRestarts == 0:
		maxRestarts = DefaultMaxSyncRestarts
	case maxRestarts < 0:
		maxRestarts = 0
	}

	received := 0
	for restarts := 0; ; restarts++ {
		u, err := syncPass(ctx, startCursor, count, fetch, func() {
			received++
			if opts.OnPage != nil {
				opts.OnPage(received)
			}
		})
		if err == nil {
			u.Restarts = restarts
			return u, nil
		}
		var e *Error
		if !errors.As(err, &e) || e.ErrorCode != ErrorCodeSyncMutation {
			return nil, err
		}
		if restarts >= maxRestarts {
			return nil, fmt.Errorf("plaid %s: data kept changing during pagination, gave up after %d restarts: %w", ep.path, restarts, err)
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("plaid %s: %w", ep.path, err)
		}
	}
}

// syncPass fetches one update from startCursor, page by page, calling
// onPage after each.
func syncPass(ctx context.Context, startCursor string, count int,
	fetch func(ctx context.Context, cursor string, count int) (*syncPage, error), onPage func()) (*SyncUpdate, error) {
	u := &SyncUpdate{StartCursor: startCursor}
	accountIndex := make(map[string]int)
	cursor := startCursor
	for {
		p, err := fetch(ctx, cursor, count)
		if err != nil {
			return nil, err
		}
		onPage()
		u.Pages++
		u.Added = append(u.Added, p.added...)
		u.Modified = append(u.Modified, p.modified...)
		u.Removed = append(u.Removed, p.removed...)
		for _, a := range p.accounts {
			if i, ok := accountIndex[a.AccountID]; ok {
				u.Accounts[i] = a
				continue
			}
			accountIndex[a.AccountID] = len(u.Accounts)
			u.Accounts = append(u.Accounts, a)
		}
		u.UpdateStatus = p.status
		u.NextCursor = p.nextCursor
		u.RequestIDs = append(u.RequestIDs, p.requestID)
		if !p.hasMore {
			return u, nil
		}
		if p.nextCursor == cursor || p.nextCursor == "" {
			// Plaid promised more but gave no new position; asking again
			// would loop forever, and "" would restart from the whole
			// history.
			return nil, fmt.Errorf("plaid: sync page (request_id %s) has has_more true but did not advance the cursor", p.requestID)
		}
		cursor = p.nextCursor
	}
}
