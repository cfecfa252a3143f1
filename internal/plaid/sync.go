package plaid

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	// OmitRaw leaves Transaction.Raw nil in the update: each transaction
	// is decoded in one pass, without Transaction.UnmarshalJSON's second
	// pass and its copy of the object into Raw, and the update holds no
	// copy of Plaid's JSON. Callers that publish Raw (the fetcher with
	// FETCHER_KEEP_RAW) leave it false.
	OmitRaw bool
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
		req := TransactionsSyncRequest{AccessToken: accessToken, Cursor: cursor, Count: count, Options: opts.Options}
		if opts.OmitRaw {
			// TransactionsSync, decoded without Raw.
			r := transactionsSyncNoRaw{Added: newPageBuffer(count)}
			if err := c.call(ctx, epTransactionsSync, req, &r, string(accessToken)); err != nil {
				return nil, err
			}
			return &syncPage{status: r.TransactionsUpdateStatus, accounts: r.Accounts, addedNoRaw: r.Added, modifiedNoRaw: r.Modified,
				removed: r.Removed, nextCursor: r.NextCursor, hasMore: r.HasMore, requestID: r.RequestID}, nil
		}
		r, err := c.TransactionsSync(ctx, req)
		if err != nil {
			return nil, err
		}
		return &syncPage{status: r.TransactionsUpdateStatus, accounts: r.Accounts, added: r.Added, modified: r.Modified,
			removed: r.Removed, nextCursor: r.NextCursor, hasMore: r.HasMore, requestID: r.RequestID}, nil
	})
}

// SyncProcessorTransactions is SyncTransactions for a processor token
// (/processor/transactions/sync).
func (c *Client) SyncProcessorTransactions(ctx context.Context, processorToken ProcessorToken, startCursor string, opts SyncOptions) (*SyncUpdate, error) {
	if processorToken == "" {
		return nil, errRequired(epProcessorTransactionsSync, "processor_token")
	}
	return c.syncUpdate(ctx, epProcessorTransactionsSync, startCursor, opts, func(ctx context.Context, cursor string, count int) (*syncPage, error) {
		req := ProcessorTransactionsSyncRequest{ProcessorToken: processorToken, Cursor: cursor, Count: count, Options: opts.Options}
		if opts.OmitRaw {
			// ProcessorTransactionsSync, decoded without Raw.
			r := processorTransactionsSyncNoRaw{Added: newPageBuffer(count)}
			if err := c.call(ctx, epProcessorTransactionsSync, req, &r, string(processorToken)); err != nil {
				return nil, err
			}
			return &syncPage{status: r.TransactionsUpdateStatus, accounts: singleAccount(r.Account), addedNoRaw: r.Added, modifiedNoRaw: r.Modified,
				removed: r.Removed, nextCursor: r.NextCursor, hasMore: r.HasMore, requestID: r.RequestID}, nil
		}
		r, err := c.ProcessorTransactionsSync(ctx, req)
		if err != nil {
			return nil, err
		}
		return &syncPage{status: r.TransactionsUpdateStatus, accounts: singleAccount(r.Account), added: r.Added, modified: r.Modified,
			removed: r.Removed, nextCursor: r.NextCursor, hasMore: r.HasMore, requestID: r.RequestID}, nil
	})
}

// singleAccount is a processor page's account as a list.
func singleAccount(a *AccountBase) []AccountBase {
	if a == nil {
		return nil
	}
	return []AccountBase{*a}
}

// transactionNoRaw is Transaction without its methods: encoding/json
// decodes it in one pass and its Raw stays nil. Same fields, so it converts
// to Transaction.
type transactionNoRaw Transaction

// transactionsSyncNoRaw is TransactionsSyncResponse for SyncOptions.OmitRaw.
type transactionsSyncNoRaw struct {
	TransactionsUpdateStatus TransactionsUpdateStatus `json:"transactions_update_status"`
	Accounts                 []AccountBase            `json:"accounts"`
	Added                    []transactionNoRaw       `json:"added"`
	Modified                 []transactionNoRaw       `json:"modified"`
	Removed                  []RemovedTransaction     `json:"removed"`
	NextCursor               string                   `json:"next_cursor"`
	HasMore                  bool                     `json:"has_more"`
	RequestID                string                   `json:"request_id"`
}

// processorTransactionsSyncNoRaw is ProcessorTransactionsSyncResponse for
// SyncOptions.OmitRaw.
type processorTransactionsSyncNoRaw struct {
	TransactionsUpdateStatus TransactionsUpdateStatus `json:"transactions_update_status"`
	Account                  *AccountBase             `json:"account"`
	Added                    []transactionNoRaw       `json:"added"`
	Modified                 []transactionNoRaw       `json:"modified"`
	Removed                  []RemovedTransaction     `json:"removed"`
	NextCursor               string                   `json:"next_cursor"`
	HasMore                  bool                     `json:"has_more"`
	RequestID                string                   `json:"request_id"`
}

// newPageBuffer is where a page's added transactions are decoded for
// OmitRaw: room for a full page, so encoding/json does not grow the slice
// element by element (an initial sync's pages are all additions). A fresh
// one for every page: encoding/json decodes into the elements it finds
// without clearing them.
func newPageBuffer(count int) []transactionNoRaw {
	return make([]transactionNoRaw, 0, count)
}

// syncPage is what the pager needs of either sync response. Its
// transactions are in added and modified, or (OmitRaw) in addedNoRaw and
// modifiedNoRaw.
type syncPage struct {
	status                    TransactionsUpdateStatus
	accounts                  []AccountBase
	added, modified           []Transaction
	addedNoRaw, modifiedNoRaw []transactionNoRaw
	removed                   []RemovedTransaction
	nextCursor                string
	hasMore                   bool
	requestID                 string
}

// pages collects one pass's transactions page by page and concatenates
// them once at the end, into a slice of the exact size: no repeated
// doubling and copying of a growing update.
type pages struct {
	raw   [][]Transaction
	noRaw [][]transactionNoRaw
	n     int
	in    *interner // for noRaw pages
}

// add adds one page's transactions, raw or noRaw. The strings of noRaw
// ones are interned (raw ones hold a copy of their whole JSON anyway).
func (p *pages) add(raw []Transaction, noRaw []transactionNoRaw) {
	for i := range noRaw {
		p.in.transaction((*Transaction)(&noRaw[i]))
	}
	if len(raw) > 0 {
		p.raw = append(p.raw, raw)
		p.n += len(raw)
	}
	if len(noRaw) > 0 {
		if len(noRaw) < cap(noRaw)/2 {
			noRaw = slices.Clone(noRaw) // do not hold a mostly empty page buffer
		}
		p.noRaw = append(p.noRaw, noRaw)
		p.n += len(noRaw)
	}
}

// all returns the transactions in page order (nil if none). A pass's pages
// are either all raw or all noRaw. Pages are released as they are copied.
func (p *pages) all() []Transaction {
	if p.n == 0 {
		return nil
	}
	out := make([]Transaction, 0, p.n)
	for i, ts := range p.raw {
		out = append(out, ts...)
		p.raw[i] = nil
	}
	for i, ts := range p.noRaw {
		for j := range ts {
			out = append(out, Transaction(ts[j]))
		}
		p.noRaw[i] = nil
	}
	return out
}

// interner makes equal strings of an update share one copy. Much of a
// transaction repeats across an Item's history (account ids, dates,
// currency, merchant, category, counterparty, location), and
// encoding/json allocates every string afresh.
type interner struct {
	m map[string]string
}

// maxInterned bounds an interner's table.
const maxInterned = 1 << 14

func newInterner() *interner { return &interner{m: make(map[string]string, 256)} }

// str returns the interned copy of s.
func (in *interner) str(s string) string {
	if v, ok := in.m[s]; ok {
		return v
	}
	if len(in.m) < maxInterned {
		in.m[s] = s
	}
	return s
}

// ptr interns *p in place.
func (in *interner) ptr(p *string) {
	if p != nil {
		*p = in.str(*p)
	}
}

// transaction interns t's repetitive strings in place. Only string values
// are shared (strings are immutable); no pointer is.
func (in *interner) transaction(t *Transaction) {
	t.AccountID = in.str(t.AccountID)
	t.Date = in.str(t.Date)
	t.Name = in.str(t.Name)
	t.PaymentChannel = in.str(t.PaymentChannel)
	t.PersonalFinanceCategoryIconURL = in.str(t.PersonalFinanceCategoryIconURL)
	t.TransactionType = in.str(t.TransactionType)
	for _, p := range [...]*string{t.ISOCurrencyCode, t.UnofficialCurrencyCode, t.AuthorizedDate, t.MerchantName,
		t.OriginalDescription, t.AccountOwner, t.TransactionCode, t.MerchantEntityID, t.LogoURL, t.Website, t.CategoryID,
		t.Location.Address, t.Location.City, t.Location.Region, t.Location.PostalCode, t.Location.Country, t.Location.StoreNumber,
		t.PaymentMeta.Payee, t.PaymentMeta.Payer, t.PaymentMeta.PaymentMethod, t.PaymentMeta.PaymentProcessor, t.PaymentMeta.Reason} {
		in.ptr(p)
	}
	if c := t.PersonalFinanceCategory; c != nil {
		c.Primary, c.Detailed, c.Version = in.str(c.Primary), in.str(c.Detailed), in.str(c.Version)
		in.ptr(c.ConfidenceLevel)
	}
	if c := t.BusinessFinanceCategory; c != nil {
		c.Primary, c.Detailed = in.str(c.Primary), in.str(c.Detailed)
		in.ptr(c.ConfidenceLevel)
	}
	for i := range t.Counterparties {
		c := &t.Counterparties[i]
		c.Name, c.Type = in.str(c.Name), in.str(c.Type)
		in.ptr(c.Website)
		in.ptr(c.LogoURL)
		in.ptr(c.EntityID)
		in.ptr(c.ConfidenceLevel)
	}
	for i := range t.Category {
		t.Category[i] = in.str(t.Category[i])
	}
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
	in := newInterner()
	added, modified := pages{in: in}, pages{in: in}
	accountIndex := make(map[string]int)
	cursor := startCursor
	for {
		p, err := fetch(ctx, cursor, count)
		if err != nil {
			return nil, err
		}
		onPage()
		u.Pages++
		added.add(p.added, p.addedNoRaw)
		modified.add(p.modified, p.modifiedNoRaw)
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
			u.Added, u.Modified = added.all(), modified.all()
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
