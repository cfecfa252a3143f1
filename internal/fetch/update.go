package fetch

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid"
)

// UpdateParams says whose update BuildUpdateEvents is building and when it
// was observed.
type UpdateParams struct {
	// Owner is the item, or the processor token's account, that was synced.
	Owner events.Owner
	// Environment is Plaid's environment, "sandbox" or "production"; it is
	// part of every event's source.
	Environment string
	// Epoch is the owner's resync epoch (0 until its first resync).
	Epoch uint64
	// Now is when the fetcher observed the update: every event's time. It is
	// not part of any id.
	Now time.Time
	// KeepRaw copies Plaid's whole transaction object into each
	// transaction payload's raw field.
	KeepRaw bool
}

// BuildUpdateEvents turns one complete /transactions/sync update (the
// pager's SyncUpdate) into the messages to publish, in order:
//
//  1. plaid.transaction.posted, one per pending transaction that posted
//     within this update, in the order of the posted transactions in Added;
//  2. plaid.transaction.added, in Plaid's order;
//  3. plaid.transaction.modified, in Plaid's order;
//  4. plaid.transaction.removed, in Plaid's order;
//  5. one plaid.sync.completed closing the update.
//
// A posted pair is a transaction in Added whose pending_transaction_id is in
// Removed of the same update: it becomes one posted event carrying the
// posted transaction, and neither an added nor a removed event. A pair split
// across two updates stays a removed event in one and an added event in the
// other. A pending_transaction_id not in Removed is a plain added event.
//
// Plaid reports net changes, so an id appears at most once per update; the
// rules for inputs that break that are chosen so that applying the events in
// order gives what Plaid's own rule gives (upsert Added and Modified, then
// delete Removed):
//
//   - A transaction id both upserted (Added or Modified) and in Removed ends
//     deleted: its added or modified event comes before its removed event.
//     Such an id is never paired as a pending id: the pair would hide the
//     removal behind an upsert that follows it.
//   - A pending id named by two posted transactions pairs with the first;
//     the second is a plain added event.
//   - An id listed twice (say on two pages) yields two events if the two
//     entries differ (applied in order, the later wins) and one if they are
//     identical: events with equal ids are emitted once, so the counts in
//     plaid.sync.completed are always the number of distinct events a
//     consumer receives.
//
// Every event's id is events.EventID over the owner, epoch, the update (its
// updateid: start and end cursors), type, entity id (the transaction id; ""
// for sync.completed) and the payload; the CloudEvents subject is the
// transaction id (the posted one for posted events).
//
// The update is identified by both cursors, not the start cursor alone: a
// run that crashed after publishing part of an update, followed by a re-run
// from the same saved cursor that saw more changes, must not share ids, or
// JetStream would drop the re-run's copies of the first run's events and a
// consumer applying the re-run's update (by updateid) would miss them. A
// re-run that saw the same data has the same cursors and so the same ids.
//
// An update that changed nothing and did not move the cursor yields no
// messages (nil); one that only moved the cursor yields only
// plaid.sync.completed.
func BuildUpdateEvents(u *plaid.SyncUpdate, p UpdateParams) ([]Message, error) {
	if u == nil {
		return nil, fmt.Errorf("%w: nil update", errParams)
	}
	if err := checkScope(p.Owner, p.Environment, p.Now); err != nil {
		return nil, err
	}
	if len(u.Added) == 0 && len(u.Modified) == 0 && len(u.Removed) == 0 && u.NextCursor == u.StartCursor {
		return nil, nil
	}
	updateID := events.UpdateID(p.Owner, p.Epoch, u.StartCursor, u.NextCursor)
	env := envelope{
		owner:       p.Owner,
		environment: p.Environment,
		epoch:       p.Epoch,
		now:         p.Now,
		scope:       updateID,
		updateID:    updateID,
	}
	env.prepare()
	b := &updateBuilder{env: env, seen: make(map[string]bool, len(u.Added)+len(u.Modified)+len(u.Removed)+1)}

	removed := make(map[string]bool, len(u.Removed))
	for _, r := range u.Removed {
		removed[r.TransactionID] = true
	}
	upserted := make(map[string]bool, len(u.Added)+len(u.Modified))
	for _, t := range u.Added {
		upserted[t.TransactionID] = true
	}
	for _, t := range u.Modified {
		upserted[t.TransactionID] = true
	}
	paired := make(map[string]bool)      // pending ids consumed by a posted event
	posted := make([]bool, len(u.Added)) // which Added entries are posted events
	for i, t := range u.Added {
		if t.PendingTransactionID == nil {
			continue
		}
		pid := *t.PendingTransactionID
		if pid == "" || !removed[pid] || upserted[pid] || paired[pid] {
			continue
		}
		paired[pid] = true
		posted[i] = true
	}

	// The events in publication order, then encoded (in parallel for a
	// large update: each message depends on its own item only), then
	// de-duplicated and counted in order.
	items := make([]item, 0, len(u.Added)+len(u.Modified)+len(u.Removed))
	for i := range u.Added {
		if posted[i] {
			items = append(items, item{eventType: events.TypeTransactionPosted, txn: &u.Added[i], count: &b.counts.Posted})
		}
	}
	for i := range u.Added {
		if !posted[i] {
			items = append(items, item{eventType: events.TypeTransactionAdded, txn: &u.Added[i], count: &b.counts.Added})
		}
	}
	for i := range u.Modified {
		items = append(items, item{eventType: events.TypeTransactionModified, txn: &u.Modified[i], count: &b.counts.Modified})
	}
	for i := range u.Removed {
		if !paired[u.Removed[i].TransactionID] {
			items = append(items, item{eventType: events.TypeTransactionRemoved, removed: &u.Removed[i], count: &b.counts.Removed})
		}
	}
	msgs, errs := encodeItems(env, items, p)
	b.msgs = msgs[:0] // kept messages are compacted in place
	for i := range items {
		if errs[i] != nil {
			return nil, errs[i]
		}
		b.keep(msgs[i], items[i].count)
	}

	itemID, accountID := ownerIDs(p.Owner)
	done := b.counts
	done.SchemaVersion = events.SchemaVersion
	done.ItemID, done.AccountID = itemID, accountID
	done.StartCursor, done.EndCursor = u.StartCursor, u.NextCursor
	done.TransactionsUpdateStatus = string(u.UpdateStatus)
	b.add(events.TypeSyncCompleted, "", done, nil)
	if b.err != nil {
		return nil, b.err
	}
	return b.msgs, nil
}

// updateBuilder collects an update's messages, dropping repeated ids and
// counting what it keeps.
type updateBuilder struct {
	env    envelope
	seen   map[string]bool
	msgs   []Message
	counts events.SyncCompleted
	err    error
}

// add appends one event unless its id is already in the update, and then
// increments *count (if not nil).
func (b *updateBuilder) add(eventType, entityID string, data any, count *int) {
	if b.err != nil {
		return
	}
	m, err := b.env.message(eventType, entityID, data)
	if err != nil {
		b.err = err
		return
	}
	b.keep(m, count)
}

// keep appends m unless its id is already in the update, and then
// increments *count (if not nil).
func (b *updateBuilder) keep(m Message, count *int) {
	if b.seen[m.MsgID] {
		return
	}
	b.seen[m.MsgID] = true
	b.msgs = append(b.msgs, m)
	if count != nil {
		*count++
	}
}

// item is one transaction event of an update before it is encoded.
type item struct {
	eventType string
	txn       *plaid.Transaction        // added, posted, modified
	removed   *plaid.RemovedTransaction // removed
	count     *int                      // its counter in plaid.sync.completed
}

// parallelItems is the smallest share of an update worth a goroutine.
const parallelItems = 2048

// encodeItems returns the message of each item (errs[i] set instead if it
// could not be built; items after the first failure may be left empty). A
// large update is split into consecutive ranges encoded on GOMAXPROCS
// goroutines, each with its own prepared envelope; the messages are the same
// as sequential encoding's, byte for byte. msgs has room for one more
// message.
func encodeItems(env envelope, items []item, p UpdateParams) (msgs []Message, errs []error) {
	msgs = make([]Message, len(items), len(items)+1)
	errs = make([]error, len(items))
	workers := min(runtime.GOMAXPROCS(0), len(items)/parallelItems)
	if workers <= 1 {
		encodeRange(env, items, msgs, errs, p)
		return msgs, errs
	}
	var wg sync.WaitGroup
	size := (len(items) + workers - 1) / workers
	for lo := 0; lo < len(items); lo += size {
		hi := min(lo+size, len(items))
		wenv := env
		wenv.prepare() // scratch buffers are per goroutine
		wg.Go(func() { encodeRange(wenv, items[lo:hi], msgs[lo:hi], errs[lo:hi], p) })
	}
	wg.Wait()
	return msgs, errs
}

// encodeRange encodes items into msgs, stopping at the first error. The
// transaction payload is normalized into one scratch value, sharing the
// transaction's strings and Raw: it is encoded at once and then overwritten.
func encodeRange(env envelope, items []item, msgs []Message, errs []error, p UpdateParams) {
	var txn events.Transaction
	for i, it := range items {
		var err error
		if t := it.txn; t != nil {
			normalizeTransaction(&txn, t, p.Owner, true)
			if p.KeepRaw {
				txn.Raw = rawShared(t.Raw)
			}
			msgs[i], err = env.message(it.eventType, t.TransactionID, &txn)
		} else {
			r := it.removed
			msgs[i], err = env.message(it.eventType, r.TransactionID, NormalizeRemovedTransaction(*r, p.Owner))
		}
		if err != nil {
			errs[i] = err
			return
		}
	}
}
