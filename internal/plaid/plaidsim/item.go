package plaidsim

import (
	"math/rand/v2"
	"time"
)

// Transactions update statuses, in the order an Item goes through them.
const (
	statusNotReady   = "NOT_READY"
	statusInitial    = "INITIAL_UPDATE_COMPLETE"
	statusHistorical = "HISTORICAL_UPDATE_COMPLETE"
)

// txnRec is one transaction of an item with its place in the item's change
// sequence. A removed transaction stays as a tombstone so later syncs can
// report it.
type txnRec struct {
	t       Transaction
	created uint64 // sequence number of the change that created it
	seq     uint64 // sequence number of its latest change
	deleted bool
}

// logEntry is one change in an item's log. The log is ordered by seq; an
// entry whose rec has changed again since (rec.seq != seq) is stale and
// skipped.
type logEntry struct {
	seq uint64
	rec *txnRec
}

// stream is a recurring transaction stream of an item.
type stream struct {
	s      TransactionStream
	inflow bool
}

// processorToken is a token /processor/token/create handed out for one
// account of an item.
type processorToken struct {
	token         string
	it            *item
	accountID     string
	webhook       string
	syncActivated bool // it called /processor/transactions/sync once
}

// item is one simulated Item with all its data. Every field is guarded by
// the Sim's mutex.
type item struct {
	ordinal         int
	id              string
	userID          string
	username        string
	institutionID   string
	institutionName string
	products        []string
	webhook         string
	createdAt       time.Time
	rng             *rand.Rand // ids and content of everything created later

	accounts []*Account
	kinds    map[string]string // account_id → checking, savings, credit

	txns     map[string]*txnRec // by transaction_id, tombstones included
	log      []logEntry
	head     uint64            // latest sequence number
	acctHead map[string]uint64 // latest sequence number touching each account

	// staged holds generated transactions not yet visible: [0] the last 30
	// days (revealed at INITIAL_UPDATE_COMPLETE), [1] the rest (revealed at
	// HISTORICAL_UPDATE_COMPLETE).
	staged        [2][]Transaction
	status        string
	delays        ReadinessDelays
	timer         *simTimer
	syncActivated bool // /transactions/sync was called once; SYNC_UPDATES_AVAILABLE may fire

	err     *Error // sticky item error, e.g. ITEM_LOGIN_REQUIRED
	removed bool   // /item/remove was called

	streams        []*stream
	streamsUpdated time.Time

	lastUpdate      time.Time // status.transactions.last_successful_update
	lastWebhookAt   time.Time
	lastWebhookCode string

	processors []*processorToken
}

func (it *item) account(id string) *Account {
	for _, a := range it.accounts {
		if a.AccountID == id {
			return a
		}
	}
	return nil
}

// accountIndex returns id's position in it.accounts, or -1.
func (it *item) accountIndex(id string) int {
	for i, a := range it.accounts {
		if a.AccountID == id {
			return i
		}
	}
	return -1
}

// defaultAccount is where transactions go when nobody says otherwise: the
// first depository account.
func (it *item) defaultAccount() *Account {
	for _, a := range it.accounts {
		if a.Type == "depository" {
			return a
		}
	}
	return it.accounts[0]
}

func (it *item) newID() string { return newPlaidID(it.rng) }

// changeSet records what one operation changed on an item, for the
// webhooks that follow it.
type changeSet struct {
	added   map[string]int      // account_id → transactions created
	removed map[string][]string // account_id → transaction_ids removed
	changed map[string]bool     // account_id → anything changed
	order   []string            // accounts in the order they changed
}

func (cs *changeSet) touch(acct string) {
	if cs.changed == nil {
		cs.changed = make(map[string]bool)
		cs.added = make(map[string]int)
		cs.removed = make(map[string][]string)
	}
	if !cs.changed[acct] {
		cs.changed[acct] = true
		cs.order = append(cs.order, acct)
	}
}

func (cs *changeSet) empty() bool { return len(cs.changed) == 0 }

func (cs *changeSet) totalAdded() int {
	n := 0
	for _, c := range cs.added {
		n += c
	}
	return n
}

func (cs *changeSet) allRemoved() []string {
	var ids []string
	for _, acct := range cs.order {
		ids = append(ids, cs.removed[acct]...)
	}
	return ids
}

func (it *item) appendLog(rec *txnRec) {
	it.log = append(it.log, logEntry{seq: rec.seq, rec: rec})
	it.acctHead[rec.t.AccountID] = rec.seq
	// Every rec has exactly one live entry, so the rest are stale; drop
	// them once they outnumber the live ones.
	if stale := len(it.log) - len(it.txns); stale > 1024 && stale > len(it.txns) {
		live := it.log[:0]
		for _, e := range it.log {
			if e.seq == e.rec.seq {
				live = append(live, e)
			}
		}
		clear(it.log[len(live):])
		it.log = live
	}
}

// insert adds a new transaction.
func (it *item) insert(t Transaction, cs *changeSet) *txnRec {
	it.head++
	rec := &txnRec{t: t, created: it.head, seq: it.head}
	it.txns[t.TransactionID] = rec
	it.appendLog(rec)
	cs.touch(t.AccountID)
	cs.added[t.AccountID]++
	return rec
}

// update replaces a transaction's content (its id and account stay).
func (it *item) update(rec *txnRec, t Transaction, cs *changeSet) {
	it.head++
	rec.t, rec.seq = t, it.head
	it.appendLog(rec)
	cs.touch(t.AccountID)
}

// remove deletes a transaction, leaving a tombstone.
func (it *item) remove(rec *txnRec, cs *changeSet) {
	it.head++
	rec.deleted, rec.seq = true, it.head
	it.appendLog(rec)
	cs.touch(rec.t.AccountID)
	cs.removed[rec.t.AccountID] = append(cs.removed[rec.t.AccountID], rec.t.TransactionID)
}

// post turns a pending transaction into a posted one the way Plaid does:
// the pending id is removed and a new posted transaction, pointing back at
// it through pending_transaction_id, is added. change may adjust the posted
// copy (amount, date) before it is added.
func (it *item) post(rec *txnRec, postedOn day, change func(*Transaction), cs *changeSet) *txnRec {
	posted := rec.t
	posted.TransactionID = it.newID()
	posted.Pending = false
	posted.PendingTransactionID = ptr(rec.t.TransactionID)
	if posted.AuthorizedDate == nil {
		posted.AuthorizedDate = ptr(rec.t.Date)
	}
	posted.Date = postedOn.String()
	if change != nil {
		change(&posted)
	}
	it.remove(rec, cs)
	return it.insert(posted, cs)
}

// live returns the current transactions in change order.
func (it *item) live() []*txnRec {
	out := make([]*txnRec, 0, len(it.txns))
	for _, e := range it.log {
		if e.seq == e.rec.seq && !e.rec.deleted {
			out = append(out, e.rec)
		}
	}
	return out
}

// renderOpts are the request options that shape the transactions sent.
type renderOpts struct {
	pfcVersion          string // personal_finance_category_version; "" means v1
	originalDescription bool   // include_original_description
}

// render returns t as sent for a request with options o.
func render(t *Transaction, o renderOpts) Transaction {
	out := *t
	if !o.originalDescription {
		out.OriginalDescription = nil
	}
	if t.PersonalFinanceCategory != nil {
		p := *t.PersonalFinanceCategory
		p.Version = o.pfcVersion
		if p.Version == "" {
			p.Version = "v1"
		}
		out.PersonalFinanceCategory = &p
	}
	if out.Counterparties == nil {
		out.Counterparties = []Counterparty{}
	}
	return out
}

// renderStream returns a stream as sent.
func renderStream(s *TransactionStream, o renderOpts) TransactionStream {
	out := *s
	if s.PersonalFinanceCategory != nil {
		p := *s.PersonalFinanceCategory
		p.Version = o.pfcVersion
		if p.Version == "" {
			p.Version = "v1"
		}
		out.PersonalFinanceCategory = &p
	}
	if out.TransactionIDs == nil {
		out.TransactionIDs = []string{}
	}
	return out
}
