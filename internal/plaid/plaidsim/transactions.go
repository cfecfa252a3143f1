package plaidsim

import (
	"slices"
	"time"
)

// Test users of Plaid's Sandbox the Sim knows.
const (
	userGood    = "user_good"
	userDynamic = "user_transactions_dynamic"
)

type transactionsGetRequest struct {
	StartDate string `json:"start_date"`
	EndDate   string `json:"end_date"`
	Options   *struct {
		AccountIDs                 []string `json:"account_ids"`
		Count                      *int     `json:"count"`
		Offset                     *int     `json:"offset"`
		IncludeOriginalDescription *bool    `json:"include_original_description"`
		PFCVersion                 string   `json:"personal_finance_category_version"`
		DaysRequested              *int     `json:"days_requested"`
	} `json:"options"`
}

type transactionsGetResponse struct {
	Accounts          []Account     `json:"accounts"`
	Transactions      []Transaction `json:"transactions"`
	TotalTransactions int           `json:"total_transactions"`
	Item              itemWire      `json:"item"`
	withRequestID
}

// accountFilter checks account_ids against the item and returns them as a
// set (nil: every account).
func accountFilter(it *item, ids []string) (map[string]bool, *Error) {
	if len(ids) == 0 {
		return nil, nil
	}
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		if it.account(id) == nil {
			return nil, errCode("INVALID_ACCOUNT_ID")
		}
		set[id] = true
	}
	return set, nil
}

// transactionsGet serves /transactions/get: offset pagination over the
// item's current transactions dated within [start_date, end_date], newest
// first.
func (s *Sim) transactionsGet(c *call) (any, *Error) {
	var req transactionsGetRequest
	if err := decodeRequest(c.body, &req); err != nil {
		return nil, err
	}
	start, ok := parseDay(req.StartDate)
	if !ok {
		return nil, errInvalidField("start_date must be a date in the format YYYY-MM-DD")
	}
	end, ok := parseDay(req.EndDate)
	if !ok {
		return nil, errInvalidField("end_date must be a date in the format YYYY-MM-DD")
	}
	if end < start {
		return nil, errInvalidField("end_date must not be before start_date")
	}
	count, offset := 100, 0
	var ro renderOpts
	var ids []string
	if o := req.Options; o != nil {
		if o.Count != nil {
			count = *o.Count
		}
		if o.Offset != nil {
			offset = *o.Offset
		}
		var err *Error
		if ro, err = checkRenderOptions(o.PFCVersion, o.IncludeOriginalDescription, o.DaysRequested); err != nil {
			return nil, err
		}
		ids = o.AccountIDs
	}
	if count < 1 || count > 500 {
		return nil, errInvalidField("options.count must be between 1 and 500")
	}
	if offset < 0 {
		return nil, errInvalidField("options.offset must be at least 0")
	}
	it := c.it
	filter, err := accountFilter(it, ids)
	if err != nil {
		return nil, err
	}
	if it.status == statusNotReady {
		return nil, errCode("PRODUCT_NOT_READY")
	}
	startS, endS := start.String(), end.String()
	var matched []*txnRec
	for _, rec := range it.live() {
		t := &rec.t
		if t.Date < startS || t.Date > endS || (filter != nil && !filter[t.AccountID]) {
			continue
		}
		matched = append(matched, rec)
	}
	// Newest first; among one day, the latest change first.
	slices.SortStableFunc(matched, func(a, b *txnRec) int {
		switch {
		case a.t.Date > b.t.Date:
			return -1
		case a.t.Date < b.t.Date:
			return 1
		case a.seq > b.seq:
			return -1
		case a.seq < b.seq:
			return 1
		}
		return 0
	})
	resp := &transactionsGetResponse{Accounts: []Account{}, Transactions: []Transaction{},
		TotalTransactions: len(matched), Item: s.itemWire(it, false)}
	for _, a := range it.accounts {
		if filter == nil || filter[a.AccountID] {
			resp.Accounts = append(resp.Accounts, *a)
		}
	}
	for i := offset; i < len(matched) && i < offset+count; i++ {
		resp.Transactions = append(resp.Transactions, render(&matched[i].t, ro))
	}
	return resp, nil
}

type recurringGetRequest struct {
	AccountIDs []string `json:"account_ids"`
	Options    *struct {
		PFCVersion string `json:"personal_finance_category_version"`
	} `json:"options"`
}

type recurringGetResponse struct {
	InflowStreams   []TransactionStream `json:"inflow_streams"`
	OutflowStreams  []TransactionStream `json:"outflow_streams"`
	UpdatedDatetime string              `json:"updated_datetime"`
	PFCVersion      string              `json:"personal_finance_category_version,omitempty"`
	withRequestID
}

// transactionsRecurringGet serves /transactions/recurring/get and its
// processor variant (streams of the token's account only).
func (s *Sim) transactionsRecurringGet(c *call) (any, *Error) {
	var req recurringGetRequest
	if err := decodeRequest(c.body, &req); err != nil {
		return nil, err
	}
	var ro renderOpts
	if req.Options != nil {
		var err *Error
		if ro, err = checkRenderOptions(req.Options.PFCVersion, nil, nil); err != nil {
			return nil, err
		}
	}
	it := c.it
	filter, err := accountFilter(it, req.AccountIDs)
	if err != nil {
		return nil, err
	}
	if c.proc != nil {
		filter = map[string]bool{c.proc.accountID: true}
	}
	if it.status == statusNotReady {
		return nil, errCode("PRODUCT_NOT_READY")
	}
	resp := &recurringGetResponse{InflowStreams: []TransactionStream{}, OutflowStreams: []TransactionStream{},
		UpdatedDatetime: it.streamsUpdated.UTC().Format(time.RFC3339), PFCVersion: ro.pfcVersion}
	for _, st := range it.streams {
		if filter != nil && !filter[st.s.AccountID] {
			continue
		}
		if st.inflow {
			resp.InflowStreams = append(resp.InflowStreams, renderStream(&st.s, ro))
		} else {
			resp.OutflowStreams = append(resp.OutflowStreams, renderStream(&st.s, ro))
		}
	}
	return resp, nil
}

type requestIDOnly struct {
	withRequestID
}

// transactionsRefresh serves /transactions/refresh and its processor
// variant: the item's data changes like the Sandbox's (see refreshItem) and
// the webhooks follow.
func (s *Sim) transactionsRefresh(c *call) (any, *Error) {
	s.refreshItem(c.it, &c.out)
	return &requestIDOnly{}, nil
}

// refreshItem refreshes an item like Plaid's Sandbox. For
// user_transactions_dynamic: every pending transaction is posted (its id
// removed, a posted copy added with pending_transaction_id), one to three
// new pending transactions are added, and one earlier posted transaction's
// amount grows by 1.00; then the webhooks fire. For user_good nothing
// changes. An item still NOT_READY is left alone. s.mu is held.
func (s *Sim) refreshItem(it *item, out *outbox) {
	it.lastUpdate = s.now()
	if it.username != userDynamic || it.status == statusNotReady {
		return
	}
	today := dayOf(s.now())
	before := it.head
	var cs changeSet
	for _, rec := range it.live() {
		if rec.t.Pending {
			it.post(rec, today, nil, &cs)
		}
	}
	for range 1 + it.rng.IntN(3) {
		m := s.gen.pick(it.rng)
		acct := it.defaultAccount().AccountID
		t := s.gen.transaction(it.rng, m, acct, AmountFromCents(m.min+it.rng.Int64N(m.max-m.min+1)), today, true)
		t.TransactionID = it.newID()
		it.insert(t, &cs)
	}
	var earlier []*txnRec
	for _, rec := range it.live() {
		if !rec.t.Pending && rec.seq <= before {
			earlier = append(earlier, rec)
		}
	}
	if len(earlier) > 0 {
		rec := earlier[it.rng.IntN(len(earlier))]
		t := rec.t
		if sum, err := t.Amount.Add(AmountFromCents(100)); err == nil {
			t.Amount = sum
			it.update(rec, t, &cs)
		}
	}
	s.notifyChanges(it, &cs, out)
}

type userRefreshRequest struct {
	UserID string `json:"user_id"`
}

type userRefreshResponse struct {
	UserID  string          `json:"user_id"`
	Results []refreshResult `json:"results"`
	withRequestID
}

type refreshResult struct {
	ItemID  string      `json:"item_id"`
	Product string      `json:"product"`
	Error   *PlaidError `json:"error,omitempty"`
}

// userTransactionsRefresh serves /user/transactions/refresh: a refresh of
// each of the user's items, with a per-item error for an item in an error
// state.
func (s *Sim) userTransactionsRefresh(c *call) (any, *Error) {
	var req userRefreshRequest
	if err := decodeRequest(c.body, &req); err != nil {
		return nil, err
	}
	items, ok := s.users[req.UserID]
	if !ok {
		return nil, errCode("INVALID_USER_ID")
	}
	resp := &userRefreshResponse{UserID: req.UserID, Results: []refreshResult{}}
	for _, it := range items {
		if it.removed {
			continue
		}
		r := refreshResult{ItemID: it.id, Product: "transactions"}
		if it.err != nil {
			e := it.err.Body
			e.DocumentationURL = documentationURL(e.ErrorType)
			e.RequestID = newRequestID()
			e.Status = ptr(it.err.Status)
			r.Error = &e
		} else {
			s.refreshItem(it, &c.out)
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}
