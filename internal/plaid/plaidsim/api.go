package plaidsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The simulator's own API, for tests in the same process. Every method has
// a /sim/ HTTP twin (docs/plaidsim.md). Methods fail with an *Error, the
// answer the HTTP twin sends. Changes are visible to /transactions/sync when
// a method returns; the webhooks they cause are delivered asynchronously.

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("200ms", "1m30s").
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"5s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Sim API errors: PlaidError bodies with the simulator's own codes.
func errUnknown(what, id string) *Error {
	return newError(http.StatusNotFound, "INVALID_REQUEST", "UNKNOWN_"+strings.ToUpper(what), "no "+strings.ReplaceAll(what, "_", " ")+" "+id)
}

func errItemRemoved(id string) *Error {
	return newError(http.StatusBadRequest, "INVALID_REQUEST", "ITEM_REMOVED", "item "+id+" was removed with /item/remove")
}

// CreatedItem is what CreateItem and POST /sim/items answer.
type CreatedItem struct {
	ItemID      string    `json:"item_id"`
	AccessToken string    `json:"access_token"`
	Accounts    []Account `json:"accounts"`
}

// CreateItem creates an item and an access token for it, as if a user had
// linked it in Link and its public token had been exchanged.
func (s *Sim) CreateItem(o ItemOptions) (*CreatedItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.createItemWithToken(o)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (s *Sim) createItemWithToken(o ItemOptions) (*CreatedItem, *Error) {
	o.products = nil
	it, err := s.createItem(o)
	if err != nil {
		return nil, err
	}
	c := &CreatedItem{ItemID: it.id, AccessToken: s.newAccessToken(it), Accounts: []Account{}}
	for _, a := range it.accounts {
		c.Accounts = append(c.Accounts, *a)
	}
	return c, nil
}

// CreateUserRequest is the body of POST /sim/users.
type CreateUserRequest struct {
	// UserID is the user's id; empty makes one up (usr_...).
	UserID string `json:"user_id,omitempty"`
	// Items are created in order, all for this user (their own user_id
	// fields are ignored).
	Items []ItemOptions `json:"items"`
}

// CreatedUser is what CreateUser and POST /sim/users answer.
type CreatedUser struct {
	UserID string        `json:"user_id"`
	Items  []CreatedItem `json:"items"`
}

// CreateUser creates a user owning several items (for
// /user/transactions/refresh). A user id that exists gets the new items
// added.
func (s *Sim) CreateUser(req CreateUserRequest) (*CreatedUser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.UserID == "" {
		req.UserID = "usr_" + randomString(14)
	}
	out := &CreatedUser{UserID: req.UserID, Items: []CreatedItem{}}
	if _, ok := s.users[req.UserID]; !ok {
		s.users[req.UserID] = nil
	}
	for _, o := range req.Items {
		o.UserID = req.UserID
		c, err := s.createItemWithToken(o)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, *c)
	}
	return out, nil
}

// ItemState is the ground truth about an item: what a complete sync from an
// empty cursor would return right now (transactions rendered with default
// options), its streams, and its simulation state.
type ItemState struct {
	ItemID                   string              `json:"item_id"`
	UserID                   string              `json:"user_id,omitempty"`
	Username                 string              `json:"username"`
	InstitutionID            string              `json:"institution_id"`
	Webhook                  string              `json:"webhook,omitempty"`
	TransactionsUpdateStatus string              `json:"transactions_update_status"`
	SyncActivated            bool                `json:"sync_activated"`
	Error                    *PlaidError         `json:"error"`
	Removed                  bool                `json:"removed"`
	Head                     uint64              `json:"head"`
	Accounts                 []Account           `json:"accounts"`
	Transactions             []Transaction       `json:"transactions"`
	InflowStreams            []TransactionStream `json:"inflow_streams"`
	OutflowStreams           []TransactionStream `json:"outflow_streams"`
}

// Item returns the ground truth about an item. Transactions are in the
// order of their latest change.
func (s *Sim) Item(itemID string) (*ItemState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[itemID]
	if !ok {
		return nil, errUnknown("item", itemID)
	}
	st := &ItemState{
		ItemID: it.id, UserID: it.userID, Username: it.username, InstitutionID: it.institutionID,
		Webhook: it.webhook, TransactionsUpdateStatus: it.status, SyncActivated: it.syncActivated,
		Removed: it.removed, Head: it.head,
		Accounts: []Account{}, Transactions: []Transaction{},
		InflowStreams: []TransactionStream{}, OutflowStreams: []TransactionStream{},
	}
	if it.err != nil {
		e := it.err.Body
		st.Error = &e
	}
	for _, a := range it.accounts {
		st.Accounts = append(st.Accounts, *a)
	}
	for _, rec := range it.live() {
		st.Transactions = append(st.Transactions, render(&rec.t, renderOpts{}))
	}
	for _, x := range it.streams {
		if x.inflow {
			st.InflowStreams = append(st.InflowStreams, renderStream(&x.s, renderOpts{}))
		} else {
			st.OutflowStreams = append(st.OutflowStreams, renderStream(&x.s, renderOpts{}))
		}
	}
	return st, nil
}

// change runs f on a live item with the lock held and sends the webhooks
// it queued afterwards.
func (s *Sim) change(itemID string, f func(it *item, out *outbox) *Error) error {
	var out outbox
	s.mu.Lock()
	it, ok := s.items[itemID]
	var err *Error
	switch {
	case !ok:
		err = errUnknown("item", itemID)
	case it.removed:
		err = errItemRemoved(itemID)
	default:
		err = f(it, &out)
	}
	s.mu.Unlock()
	s.send(out)
	if err != nil {
		return err
	}
	return nil
}

// jsonObject marshals v (or takes it as is if it is JSON bytes) into the
// fields of a JSON object.
func jsonObject(v any) (map[string]json.RawMessage, *Error) {
	var raw []byte
	switch b := v.(type) {
	case json.RawMessage:
		raw = b
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return nil, errInvalidField("not encodable as JSON: " + err.Error())
		}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, &Error{Status: http.StatusBadRequest, Body: *errInvalidBody()}
	}
	return m, nil
}

// transactionFromFields decodes a Transaction from JSON fields, rejecting
// unknown ones.
func transactionFromFields(m map[string]json.RawMessage) (Transaction, *Error) {
	raw, _ := json.Marshal(m)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var t Transaction
	if err := dec.Decode(&t); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return t, newError(http.StatusBadRequest, "INVALID_REQUEST", "UNKNOWN_FIELDS",
				"the following fields are not recognized by this endpoint: "+strings.Trim(name, `"`))
		}
		return t, errInvalidField("transaction: " + err.Error())
	}
	return t, nil
}

// checkTransaction validates a transaction's content.
func checkTransaction(t *Transaction) *Error {
	if _, ok := parseDay(t.Date); !ok {
		return errInvalidField("date must be a date in the format YYYY-MM-DD")
	}
	for name, d := range map[string]*string{"authorized_date": t.AuthorizedDate} {
		if d != nil {
			if _, ok := parseDay(*d); !ok {
				return errInvalidField(name + " must be a date in the format YYYY-MM-DD")
			}
		}
	}
	for name, d := range map[string]*string{"datetime": t.Datetime, "authorized_datetime": t.AuthorizedDatetime} {
		if d != nil {
			if _, err := time.Parse(time.RFC3339, *d); err != nil {
				return errInvalidField(name + " must be an RFC 3339 date-time")
			}
		}
	}
	switch t.PaymentChannel {
	case "online", "in store", "other":
	default:
		return errInvalidField("payment_channel must be one of online, in store, other")
	}
	if (t.IsoCurrencyCode == nil) == (t.UnofficialCurrencyCode == nil) {
		return errInvalidField("exactly one of iso_currency_code and unofficial_currency_code must be set")
	}
	if t.PersonalFinanceCategory != nil && (t.PersonalFinanceCategory.Primary == "" || t.PersonalFinanceCategory.Detailed == "") {
		return errInvalidField("personal_finance_category needs primary and detailed")
	}
	for _, cp := range t.Counterparties {
		if cp.Name == "" || cp.Type == "" {
			return errInvalidField("counterparties need a name and a type")
		}
	}
	return nil
}

// AddTransactions adds transactions to an item. Each is given as its Plaid
// fields (a Transaction, a map, or JSON bytes of an object) over a plain
// template: the item's first depository account, today's date, name "SIM
// TRANSACTION", USD, payment_channel other, no merchant. amount is required
// (a JSON number or a decimal string); transaction_id is assigned;
// pending may be true. It returns the transactions as added.
func (s *Sim) AddTransactions(itemID string, txns ...any) ([]Transaction, error) {
	var added []Transaction
	err := s.change(itemID, func(it *item, out *outbox) *Error {
		var ts []Transaction
		for _, v := range txns {
			m, err := jsonObject(v)
			if err != nil {
				return err
			}
			if raw, ok := m["amount"]; !ok || isNull(raw) {
				return newError(http.StatusBadRequest, "INVALID_REQUEST", "MISSING_FIELDS", "the following required fields are missing: amount")
			}
			if raw, ok := m["transaction_id"]; ok && !isNull(raw) && string(raw) != `""` {
				return errInvalidField("transaction_id is assigned by the simulator")
			}
			base := Transaction{
				AccountID: it.defaultAccount().AccountID, Date: dayOf(s.now()).String(), Name: "SIM TRANSACTION",
				IsoCurrencyCode: ptr("USD"), PaymentChannel: "other", Counterparties: []Counterparty{},
			}
			if raw, ok := m["unofficial_currency_code"]; ok && !isNull(raw) {
				base.IsoCurrencyCode = nil
			}
			fields, _ := jsonObject(base)
			for k, v := range m {
				fields[k] = v
			}
			delete(fields, "transaction_id")
			t, err := transactionFromFields(fields)
			if err != nil {
				return err
			}
			if it.account(t.AccountID) == nil {
				return errCode("INVALID_ACCOUNT_ID")
			}
			if err := checkTransaction(&t); err != nil {
				return err
			}
			if t.Pending && t.PendingTransactionID != nil {
				return errInvalidField("a pending transaction has no pending_transaction_id")
			}
			ts = append(ts, t)
		}
		var cs changeSet
		for _, t := range ts {
			t.TransactionID = it.newID()
			rec := it.insert(t, &cs)
			added = append(added, render(&rec.t, renderOpts{}))
		}
		s.notifyChanges(it, &cs, out)
		return nil
	})
	return added, err
}

// liveTxn finds a current (not removed) transaction of it.
func liveTxn(it *item, txnID string) (*txnRec, *Error) {
	rec, ok := it.txns[txnID]
	if !ok || rec.deleted {
		return nil, errUnknown("transaction", txnID)
	}
	return rec, nil
}

// ModifyTransaction changes fields of a transaction; patch holds Plaid
// fields (a map, a struct or JSON bytes of an object) merged over the
// current content. transaction_id, account_id, pending and
// pending_transaction_id cannot change (post a pending transaction with
// PostTransaction). It returns the transaction as modified.
func (s *Sim) ModifyTransaction(itemID, txnID string, patch any) (Transaction, error) {
	var out Transaction
	err := s.change(itemID, func(it *item, ob *outbox) *Error {
		rec, err := liveTxn(it, txnID)
		if err != nil {
			return err
		}
		m, err := jsonObject(patch)
		if err != nil {
			return err
		}
		for _, k := range []string{"transaction_id", "account_id", "pending", "pending_transaction_id"} {
			if _, ok := m[k]; ok {
				return errInvalidField(k + " cannot be modified")
			}
		}
		fields, _ := jsonObject(rec.t)
		for k, v := range m {
			fields[k] = v
		}
		if raw := fields["amount"]; isNull(raw) {
			return errInvalidField("amount must not be null")
		}
		t, err := transactionFromFields(fields)
		if err != nil {
			return err
		}
		if err := checkTransaction(&t); err != nil {
			return err
		}
		var cs changeSet
		it.update(rec, t, &cs)
		s.notifyChanges(it, &cs, ob)
		out = render(&rec.t, renderOpts{})
		return nil
	})
	return out, err
}

// RemoveTransaction removes a transaction; the next sync reports it in
// removed.
func (s *Sim) RemoveTransaction(itemID, txnID string) error {
	return s.change(itemID, func(it *item, out *outbox) *Error {
		rec, err := liveTxn(it, txnID)
		if err != nil {
			return err
		}
		var cs changeSet
		it.remove(rec, &cs)
		s.notifyChanges(it, &cs, out)
		return nil
	})
}

// PostOptions adjust the posted copy of a pending transaction.
type PostOptions struct {
	// Amount, if set, is the posted amount (tips, holds).
	Amount *Amount `json:"amount,omitempty"`
	// Date is the posted date; default today.
	Date string `json:"date,omitempty"`
}

// PostTransaction posts a pending transaction like Plaid: the pending id is
// removed and a new posted transaction with pending_transaction_id = that
// id is added. It returns the posted transaction.
func (s *Sim) PostTransaction(itemID, pendingID string, o PostOptions) (Transaction, error) {
	var out Transaction
	err := s.change(itemID, func(it *item, ob *outbox) *Error {
		rec, err := liveTxn(it, pendingID)
		if err != nil {
			return err
		}
		if !rec.t.Pending {
			return newError(http.StatusBadRequest, "INVALID_REQUEST", "NOT_PENDING", "transaction "+pendingID+" is not pending")
		}
		on := dayOf(s.now())
		if o.Date != "" {
			d, ok := parseDay(o.Date)
			if !ok {
				return errInvalidField("date must be a date in the format YYYY-MM-DD")
			}
			on = d
		}
		var cs changeSet
		posted := it.post(rec, on, func(t *Transaction) {
			if o.Amount != nil {
				t.Amount = *o.Amount
			}
		}, &cs)
		s.notifyChanges(it, &cs, ob)
		out = render(&posted.t, renderOpts{})
		return nil
	})
	return out, err
}

// MutateOptions is a seeded storm of changes (POST /sim/items/{id}/mutate).
type MutateOptions struct {
	// Seed orders and shapes the changes; the same seed on the same item
	// state gives the same changes.
	Seed int64 `json:"seed"`
	// Add new transactions (a third of them pending), dated within the
	// last 30 days.
	Add int `json:"add"`
	// Modify random current transactions (amount and sometimes name).
	Modify int `json:"modify"`
	// Remove random current transactions.
	Remove int `json:"remove"`
	// Post random pending transactions (skipped when none is pending).
	Post int `json:"post"`
}

// PostedPair names a pending transaction and its posted successor.
type PostedPair struct {
	PendingTransactionID string `json:"pending_transaction_id"`
	TransactionID        string `json:"transaction_id"`
}

// MutateResult lists what a storm did, in order within each kind. An id
// can appear in several lists (added, then modified or removed).
type MutateResult struct {
	Added    []string     `json:"added"`
	Modified []string     `json:"modified"`
	Removed  []string     `json:"removed"`
	Posted   []PostedPair `json:"posted"`
	Head     uint64       `json:"head"`
}

// Mutate applies a seeded storm of changes in random order, then fires one
// set of webhooks for all of them.
func (s *Sim) Mutate(itemID string, o MutateOptions) (*MutateResult, error) {
	res := &MutateResult{Added: []string{}, Modified: []string{}, Removed: []string{}, Posted: []PostedPair{}}
	if o.Add < 0 || o.Modify < 0 || o.Remove < 0 || o.Post < 0 || o.Add+o.Modify+o.Remove+o.Post > 1_000_000 {
		return nil, errInvalidField("add, modify, remove and post must be between 0 and 1000000 in all")
	}
	err := s.change(itemID, func(it *item, out *outbox) *Error {
		r := rand.New(rand.NewPCG(uint64(o.Seed), 0x9e3779b97f4a7c15))
		ops := make([]byte, 0, o.Add+o.Modify+o.Remove+o.Post)
		ops = append(ops, bytes.Repeat([]byte{'a'}, o.Add)...)
		ops = append(ops, bytes.Repeat([]byte{'m'}, o.Modify)...)
		ops = append(ops, bytes.Repeat([]byte{'r'}, o.Remove)...)
		ops = append(ops, bytes.Repeat([]byte{'p'}, o.Post)...)
		r.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })

		live := it.live()
		var pending []*txnRec
		for _, rec := range live {
			if rec.t.Pending {
				pending = append(pending, rec)
			}
		}
		drop := func(list []*txnRec, rec *txnRec) []*txnRec {
			if i := slices.Index(list, rec); i >= 0 {
				list[i] = list[len(list)-1]
				list = list[:len(list)-1]
			}
			return list
		}
		today := dayOf(s.now())
		var cs changeSet
		for _, op := range ops {
			switch op {
			case 'a':
				m := s.gen.pick(r)
				acct := it.accounts[r.IntN(len(it.accounts))].AccountID
				pend := r.IntN(3) == 0
				t := s.gen.transaction(r, m, acct, AmountFromCents(m.min+r.Int64N(m.max-m.min+1)), today-day(r.IntN(30)), pend)
				t.TransactionID = it.newID()
				rec := it.insert(t, &cs)
				live = append(live, rec)
				if pend {
					pending = append(pending, rec)
				}
				res.Added = append(res.Added, t.TransactionID)
			case 'm':
				if len(live) == 0 {
					continue
				}
				rec := live[r.IntN(len(live))]
				t := rec.t
				if sum, err := t.Amount.Add(AmountFromCents(r.Int64N(2001) - 1000)); err == nil && !sum.IsZero() {
					t.Amount = sum
				}
				if r.IntN(4) == 0 {
					t.Name = t.Name + " *"
				}
				it.update(rec, t, &cs)
				res.Modified = append(res.Modified, t.TransactionID)
			case 'r':
				if len(live) == 0 {
					continue
				}
				rec := live[r.IntN(len(live))]
				live = drop(live, rec)
				pending = drop(pending, rec)
				it.remove(rec, &cs)
				res.Removed = append(res.Removed, rec.t.TransactionID)
			case 'p':
				if len(pending) == 0 {
					continue
				}
				rec := pending[r.IntN(len(pending))]
				pending = drop(pending, rec)
				live = drop(live, rec)
				posted := it.post(rec, today, nil, &cs)
				live = append(live, posted)
				res.Posted = append(res.Posted, PostedPair{PendingTransactionID: rec.t.TransactionID, TransactionID: posted.t.TransactionID})
			}
		}
		res.Head = it.head
		s.notifyChanges(it, &cs, out)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// StreamInput is a recurring stream to create or replace: Plaid's
// TransactionStream fields plus its direction.
type StreamInput struct {
	TransactionStream
	// Direction is inflow or outflow; empty picks inflow for a negative
	// average_amount, else outflow.
	Direction string `json:"direction,omitempty"`
}

var (
	frequencies    = []string{"UNKNOWN", "WEEKLY", "BIWEEKLY", "SEMI_MONTHLY", "MONTHLY", "ANNUALLY"}
	streamStatuses = []string{"UNKNOWN", "MATURE", "EARLY_DETECTION", "TOMBSTONED"}
)

// PutRecurringStream creates or replaces the stream streamID (in.StreamID
// is ignored) and fires RECURRING_TRANSACTIONS_UPDATE for its account.
// account_id, description, frequency, first_date and last_date are
// required; status defaults to MATURE.
func (s *Sim) PutRecurringStream(itemID, streamID string, in StreamInput) (TransactionStream, error) {
	var out TransactionStream
	err := s.change(itemID, func(it *item, ob *outbox) *Error {
		st := in.TransactionStream
		st.StreamID = streamID
		var missing []string
		for name, v := range map[string]string{"account_id": st.AccountID, "description": st.Description,
			"frequency": st.Frequency, "first_date": st.FirstDate, "last_date": st.LastDate} {
			if v == "" {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			return newError(http.StatusBadRequest, "INVALID_REQUEST", "MISSING_FIELDS",
				"the following required fields are missing: "+strings.Join(missing, ", "))
		}
		if it.account(st.AccountID) == nil {
			return errCode("INVALID_ACCOUNT_ID")
		}
		if !slices.Contains(frequencies, st.Frequency) {
			return errInvalidField("frequency must be one of " + strings.Join(frequencies, ", "))
		}
		if st.Status == "" {
			st.Status = "MATURE"
		}
		if !slices.Contains(streamStatuses, st.Status) {
			return errInvalidField("status must be one of " + strings.Join(streamStatuses, ", "))
		}
		for _, d := range []*string{&st.FirstDate, &st.LastDate, st.PredictedNextDate} {
			if d != nil {
				if _, ok := parseDay(*d); !ok {
					return errInvalidField("stream dates must be in the format YYYY-MM-DD")
				}
			}
		}
		if st.TransactionIDs == nil {
			st.TransactionIDs = []string{}
		}
		inflow := st.AverageAmount.Amount.Sign() < 0
		switch in.Direction {
		case "":
		case "inflow":
			inflow = true
		case "outflow":
			inflow = false
		default:
			return errInvalidField("direction must be inflow or outflow")
		}
		accounts := []string{st.AccountID}
		i := slices.IndexFunc(it.streams, func(x *stream) bool { return x.s.StreamID == streamID })
		if i >= 0 {
			if old := it.streams[i].s.AccountID; old != st.AccountID {
				accounts = append(accounts, old)
			}
			it.streams[i] = &stream{s: st, inflow: inflow}
		} else {
			it.streams = append(it.streams, &stream{s: st, inflow: inflow})
		}
		it.streamsUpdated = s.now()
		s.notifyRecurring(it, accounts, ob)
		out = renderStream(&st, renderOpts{})
		return nil
	})
	return out, err
}

// RemoveRecurringStream removes a stream, or with tombstone marks it
// TOMBSTONED and inactive the way Plaid reports a stream that stopped, and
// fires RECURRING_TRANSACTIONS_UPDATE.
func (s *Sim) RemoveRecurringStream(itemID, streamID string, tombstone bool) error {
	return s.change(itemID, func(it *item, out *outbox) *Error {
		i := slices.IndexFunc(it.streams, func(x *stream) bool { return x.s.StreamID == streamID })
		if i < 0 {
			return errUnknown("stream", streamID)
		}
		acct := it.streams[i].s.AccountID
		if tombstone {
			it.streams[i].s.Status = "TOMBSTONED"
			it.streams[i].s.IsActive = false
		} else {
			it.streams = slices.Delete(it.streams, i, i+1)
		}
		it.streamsUpdated = s.now()
		s.notifyRecurring(it, []string{acct}, out)
		return nil
	})
}

// SetItemError puts the item in an error state with one of Plaid's error
// codes (e.g. ITEM_LOGIN_REQUIRED): every transactions call on it answers
// that error until ClearItemError (/item/get still answers, with the error
// in item.error), and ITEM / ERROR fires.
func (s *Sim) SetItemError(itemID, code string) error {
	e, ok := plaidError(code)
	if !ok {
		return errInvalidField("error_code " + code + " is not an error code plaidsim knows")
	}
	return s.change(itemID, func(it *item, out *outbox) *Error {
		it.err = e
		s.notifyItemError(it, e, out)
		return nil
	})
}

// ClearItemError ends the item's error state; if it was
// ITEM_LOGIN_REQUIRED, ITEM / LOGIN_REPAIRED fires.
func (s *Sim) ClearItemError(itemID string) error {
	return s.change(itemID, func(it *item, out *outbox) *Error {
		if it.err != nil && it.err.Body.ErrorCode == "ITEM_LOGIN_REQUIRED" {
			s.notifyLoginRepaired(it, out)
		}
		it.err = nil
		return nil
	})
}

// AdvanceReadiness moves a NOT_READY item to its next readiness step now
// (instead of waiting for its delay) and returns the new status. An item
// already complete is left as it is.
func (s *Sim) AdvanceReadiness(itemID string) (string, error) {
	var status string
	err := s.change(itemID, func(it *item, out *outbox) *Error {
		s.advanceReadiness(it, out)
		status = it.status
		return nil
	})
	return status, err
}

// RefreshItem does what /transactions/refresh does, without credentials.
func (s *Sim) RefreshItem(itemID string) error {
	return s.change(itemID, func(it *item, out *outbox) *Error {
		s.refreshItem(it, out)
		return nil
	})
}

// SetItemWebhook changes the item's webhook URL (Plaid's
// /item/webhook/update) and fires ITEM / WEBHOOK_UPDATE_ACKNOWLEDGED to the
// new URL. An empty URL turns webhooks off.
func (s *Sim) SetItemWebhook(itemID, url string) error {
	if url != "" && !validWebhookURL(url) {
		return errInvalidField("webhook must be an absolute http or https URL")
	}
	return s.change(itemID, func(it *item, out *outbox) *Error {
		it.webhook = url
		s.queue(out, it, url, map[string]any{
			"webhook_type": "ITEM", "webhook_code": "WEBHOOK_UPDATE_ACKNOWLEDGED", "item_id": it.id,
			"new_webhook_url": url, "error": nil,
		})
		return nil
	})
}

// SetProcessorWebhook sets the webhook URL of a processor token (Plaid's
// /processor/token/webhook/update, which is outside the endpoints plaidsim
// serves) and fires PROCESSOR_TOKEN / WEBHOOK_UPDATE_ACKNOWLEDGED to it.
// The token then gets the processor variants of the transactions webhooks.
func (s *Sim) SetProcessorWebhook(processorToken, url string) error {
	if url != "" && !validWebhookURL(url) {
		return errInvalidField("webhook must be an absolute http or https URL")
	}
	var out outbox
	s.mu.Lock()
	p, ok := s.processorTokens[processorToken]
	if ok {
		p.webhook = url
		s.queue(&out, nil, url, map[string]any{
			"webhook_type": "PROCESSOR_TOKEN", "webhook_code": "WEBHOOK_UPDATE_ACKNOWLEDGED",
			"account_id": p.accountID, "new_webhook_url": url, "error": nil,
		})
	}
	s.mu.Unlock()
	if !ok {
		return newError(http.StatusNotFound, "INVALID_REQUEST", "UNKNOWN_PROCESSOR_TOKEN", "no such processor token")
	}
	s.send(out)
	return nil
}

// WebhookDeliveries returns every webhook the Sim sent (not those of
// SendWebhook), with each attempt, in the order they were sent.
func (s *Sim) WebhookDeliveries() []WebhookDelivery {
	return s.sender.Deliveries()
}
