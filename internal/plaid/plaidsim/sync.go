package plaidsim

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"sort"
)

// A sync cursor says where in an item's change sequence a caller stands.
// It encodes:
//
//   - the item (ordinal and a hash of its id) and the account stream
//     (0 for the whole item, else 1 + the account's index);
//   - pos: the sequence number up to which changes were delivered;
//   - start and head: the sequence numbers at the start of the update the
//     cursor belongs to and the item's head when its first page was
//     served; page: how many pages of that update were served.
//
// A cursor with pos == head is final (has_more was false); an update from it
// covers the changes in (pos, item head at its first page]. A cursor with
// pos < head is mid-update; its next page covers changes in (pos, head] and
// reports each as its net change since start.
type cursor struct {
	ordinal  uint64
	itemHash uint32
	account  uint64
	start    uint64
	pos      uint64
	head     uint64
	page     uint64
}

const cursorVersion = 1

func itemHash(id string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return h.Sum32()
}

// encode returns the cursor as opaque standard base64 (well under Plaid's
// 256-character bound: at most 66 characters).
func (c cursor) encode() string {
	b := make([]byte, 0, 48)
	b = append(b, cursorVersion)
	b = binary.AppendUvarint(b, c.ordinal)
	b = binary.BigEndian.AppendUint32(b, c.itemHash)
	for _, v := range []uint64{c.account, c.start, c.pos, c.head, c.page} {
		b = binary.AppendUvarint(b, v)
	}
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return base64.StdEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, bool) {
	var c cursor
	if len(s) > 256 {
		return c, false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) < 6 || b[0] != cursorVersion {
		return c, false
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return c, false
	}
	r := body[1:]
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(r)
		if n <= 0 {
			return 0, false
		}
		r = r[n:]
		return v, true
	}
	var ok bool
	if c.ordinal, ok = next(); !ok || len(r) < 4 {
		return c, false
	}
	c.itemHash, r = binary.BigEndian.Uint32(r[:4]), r[4:]
	for _, p := range []*uint64{&c.account, &c.start, &c.pos, &c.head, &c.page} {
		if *p, ok = next(); !ok {
			return c, false
		}
	}
	if len(r) != 0 || c.pos > c.head || c.start > c.pos {
		return c, false
	}
	return c, true
}

type syncRequest struct {
	Cursor  string       `json:"cursor"`
	Count   *int         `json:"count"`
	Options *syncOptions `json:"options"`
}

type syncOptions struct {
	IncludeOriginalDescription *bool  `json:"include_original_description"`
	PFCVersion                 string `json:"personal_finance_category_version"`
	DaysRequested              *int   `json:"days_requested"`
	AccountID                  string `json:"account_id"`
}

type syncResponse struct {
	TransactionsUpdateStatus string               `json:"transactions_update_status"`
	Accounts                 []Account            `json:"accounts"`
	Added                    []Transaction        `json:"added"`
	Modified                 []Transaction        `json:"modified"`
	Removed                  []RemovedTransaction `json:"removed"`
	NextCursor               string               `json:"next_cursor"`
	HasMore                  bool                 `json:"has_more"`
	withRequestID
}

type processorSyncResponse struct {
	TransactionsUpdateStatus string               `json:"transactions_update_status"`
	Account                  *Account             `json:"account"`
	Added                    []Transaction        `json:"added"`
	Modified                 []Transaction        `json:"modified"`
	Removed                  []RemovedTransaction `json:"removed"`
	NextCursor               string               `json:"next_cursor"`
	HasMore                  bool                 `json:"has_more"`
	withRequestID
}

// checkRenderOptions validates the options shared by the transactions
// endpoints.
func checkRenderOptions(pfcVersion string, includeOriginal *bool, daysRequested *int) (renderOpts, *Error) {
	o := renderOpts{pfcVersion: pfcVersion, originalDescription: includeOriginal != nil && *includeOriginal}
	if pfcVersion != "" && pfcVersion != "v1" && pfcVersion != "v2" {
		return o, errInvalidField("options.personal_finance_category_version must be one of v1, v2")
	}
	if daysRequested != nil && (*daysRequested < 1 || *daysRequested > 730) {
		return o, errInvalidField("options.days_requested must be between 1 and 730")
	}
	return o, nil
}

// transactionsSync serves /transactions/sync and
// /processor/transactions/sync.
func (s *Sim) transactionsSync(c *call) (any, *Error) {
	var req syncRequest
	if err := decodeRequest(c.body, &req); err != nil {
		return nil, err
	}
	count := 100
	if req.Count != nil {
		count = *req.Count
	}
	if count < 1 || count > 500 {
		return nil, errInvalidField("count must be between 1 and 500")
	}
	var opts syncOptions
	if req.Options != nil {
		opts = *req.Options
	}
	ro, err := checkRenderOptions(opts.PFCVersion, opts.IncludeOriginalDescription, opts.DaysRequested)
	if err != nil {
		return nil, err
	}
	it := c.it
	accountID := opts.AccountID
	if c.proc != nil {
		if accountID != "" && accountID != c.proc.accountID {
			return nil, errCode("INVALID_ACCOUNT_ID")
		}
		accountID = c.proc.accountID
		c.proc.syncActivated = true
	} else {
		it.syncActivated = true
	}
	var stream uint64
	if accountID != "" {
		i := it.accountIndex(accountID)
		if i < 0 {
			return nil, errCode("INVALID_ACCOUNT_ID")
		}
		stream = uint64(i) + 1
	}

	page, err := s.syncPage(c, it, stream, req.Cursor, count, ro)
	if err != nil {
		return nil, err
	}
	if c.proc != nil {
		return &processorSyncResponse{
			TransactionsUpdateStatus: page.status, Account: ptr(*it.account(accountID)),
			Added: page.added, Modified: page.modified, Removed: page.removed,
			NextCursor: page.next, HasMore: page.more,
		}, nil
	}
	return &syncResponse{
		TransactionsUpdateStatus: page.status, Accounts: page.accounts,
		Added: page.added, Modified: page.modified, Removed: page.removed,
		NextCursor: page.next, HasMore: page.more,
	}, nil
}

// syncResult is one page of a sync update.
type syncResult struct {
	status   string
	accounts []Account
	added    []Transaction
	modified []Transaction
	removed  []RemovedTransaction
	next     string
	more     bool
}

// syncPage computes one page of the update a cursor asks for. stream is 0
// for the whole item, else 1 + the account's index. s.mu is held.
func (s *Sim) syncPage(c *call, it *item, stream uint64, rawCursor string, count int, ro renderOpts) (*syncResult, *Error) {
	res := &syncResult{status: it.status,
		accounts: []Account{}, added: []Transaction{}, modified: []Transaction{}, removed: []RemovedTransaction{}}
	if it.status == statusNotReady {
		// Plaid: empty arrays and an empty next_cursor until the first pull
		// is done; the call still activates SYNC_UPDATES_AVAILABLE.
		return res, nil
	}
	cur := cursor{ordinal: uint64(it.ordinal), itemHash: itemHash(it.id), account: stream}
	if rawCursor != "" {
		got, ok := decodeCursor(rawCursor)
		if !ok {
			return nil, errInvalidField("cursor is not a valid cursor")
		}
		if got.ordinal != cur.ordinal || got.itemHash != cur.itemHash {
			return nil, errInvalidField("cursor does not belong to this item")
		}
		if got.account != stream {
			return nil, errInvalidField("cursor was not created with the same options.account_id; each account_id is a separate update stream with its own cursor")
		}
		cur = got
	}
	accountID := ""
	if stream > 0 {
		accountID = it.accounts[stream-1].AccountID
	}
	streamHead := it.head
	if accountID != "" {
		streamHead = it.acctHead[accountID]
	}

	if cur.pos < cur.head {
		// A later page of an update. A mutate-at-page fault changes the
		// data now, so the check below fails the way Plaid's does.
		if f := s.takeMutateFault(c.r.URL.Path, it, int(cur.page)+1); f != nil {
			s.mutateForFault(it, accountID, &c.out)
			if accountID != "" {
				streamHead = it.acctHead[accountID]
			} else {
				streamHead = it.head
			}
		}
		if streamHead > cur.head {
			return nil, errCode("TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION")
		}
	} else {
		// The first page of a new update.
		cur.start, cur.head, cur.page = cur.pos, it.head, 0
	}

	// Walk the log from the first change after pos.
	i := sort.Search(len(it.log), func(i int) bool { return it.log[i].seq > cur.pos })
	qualifies := func(e logEntry) bool {
		if e.seq > cur.head || e.seq != e.rec.seq {
			return false
		}
		if accountID != "" && e.rec.t.AccountID != accountID {
			return false
		}
		// Created and removed since the update's start: nothing to report.
		return !(e.rec.deleted && e.rec.created > cur.start)
	}
	var touched map[string]bool
	n := 0
	last := cur.pos
	for ; i < len(it.log) && it.log[i].seq <= cur.head && n < count; i++ {
		e := it.log[i]
		if !qualifies(e) {
			continue
		}
		rec := e.rec
		switch {
		case rec.deleted:
			res.removed = append(res.removed, RemovedTransaction{AccountID: rec.t.AccountID, TransactionID: rec.t.TransactionID})
		case rec.created > cur.start:
			res.added = append(res.added, render(&rec.t, ro))
		default:
			res.modified = append(res.modified, render(&rec.t, ro))
		}
		if touched == nil {
			touched = make(map[string]bool)
		}
		touched[rec.t.AccountID] = true
		n++
		last = e.seq
	}
	more := false
	for ; i < len(it.log) && it.log[i].seq <= cur.head; i++ {
		if qualifies(it.log[i]) {
			more = true
			break
		}
	}
	for _, a := range it.accounts {
		if touched[a.AccountID] {
			res.accounts = append(res.accounts, *a)
		}
	}
	next := cur
	if more {
		next.pos, next.page = last, cur.page+1
	} else {
		next.start, next.pos, next.page = cur.head, cur.head, 0
	}
	res.next, res.more = next.encode(), more
	return res, nil
}

// mutateForFault adds one posted transaction dated today to the item (to
// accountID, or the default account), a real change with its webhooks.
// s.mu is held.
func (s *Sim) mutateForFault(it *item, accountID string, out *outbox) {
	acct := it.defaultAccount()
	if accountID != "" {
		acct = it.account(accountID)
	}
	var cs changeSet
	t := s.gen.transaction(it.rng, s.gen.pick(it.rng), acct.AccountID, AmountFromCents(100+it.rng.Int64N(5000)), dayOf(s.now()), false)
	t.TransactionID = it.newID()
	it.insert(t, &cs)
	s.notifyChanges(it, &cs, out)
}

// String describes a cursor, for test failures.
func (c cursor) String() string {
	return fmt.Sprintf("cursor{item %d/%08x account %d start %d pos %d head %d page %d}",
		c.ordinal, c.itemHash, c.account, c.start, c.pos, c.head, c.page)
}
