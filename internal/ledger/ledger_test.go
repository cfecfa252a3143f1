package ledger_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/ledger"
)

const src = "plaid/sandbox/items/item1"

func txEvent(id, typ, update, txID string, pendingID *string) events.Event {
	data, _ := json.Marshal(events.Transaction{TransactionID: txID, PendingTransactionID: pendingID, Amount: "1.00"})
	return events.Event{ID: id, Source: src, Type: typ, Subject: txID, Time: time.Now(), UpdateID: update, Data: data}
}

func completed(id, update, start, end string, epoch uint64) events.Event {
	data, _ := json.Marshal(events.SyncCompleted{StartCursor: start, EndCursor: end})
	return events.Event{ID: id, Source: src, Type: events.TypeSyncCompleted, UpdateID: update, ResyncEpoch: epoch, Data: data}
}

func itemEvent(id, status string, epoch uint64) events.Event {
	data, _ := json.Marshal(events.ItemStatus{Status: status})
	return events.Event{ID: id, Source: src, Type: events.ItemEventType(status), ResyncEpoch: epoch, Data: data}
}

func TestUpdatesApplyAtomicallyOnce(t *testing.T) {
	l := ledger.New()
	l.Apply(txEvent("e1", events.TypeTransactionAdded, "u1", "t1", nil))
	l.Apply(txEvent("e2", events.TypeTransactionAdded, "u1", "p1", nil))
	if o := l.Owner(src); len(o.Transactions) != 0 {
		t.Fatalf("applied before plaid.sync.completed: %v", o.Transactions)
	}
	l.Apply(completed("c1", "u1", "", "A", 0))
	// An interrupted run's leftovers (u-dead) are dropped by the next completion.
	l.Apply(txEvent("e3", events.TypeTransactionAdded, "u-dead", "ghost", nil))
	pending := "p1"
	l.Apply(txEvent("e4", events.TypeTransactionPosted, "u2", "t2", &pending))
	l.Apply(txEvent("e5", events.TypeTransactionRemoved, "u2", "t1", nil))
	if l.Apply(txEvent("e5", events.TypeTransactionRemoved, "u2", "t1", nil)) {
		t.Error("a duplicate id was applied")
	}
	l.Apply(completed("c2", "u2", "A", "B", 0))
	o := l.Owner(src)
	if len(o.Transactions) != 1 || o.Transactions["t2"] == nil {
		t.Errorf("transactions %v, want only t2", o.Transactions)
	}
	if o.Updates != 2 || o.Gaps != 0 {
		t.Errorf("updates %d gaps %d, want 2 and 0", o.Updates, o.Gaps)
	}
	l.Apply(completed("c3", "u3", "Z", "C", 0)) // does not start at B
	if o.Gaps != 1 {
		t.Errorf("gaps %d, want 1", o.Gaps)
	}
}

func TestResyncAndRemovalResetTheOwner(t *testing.T) {
	l := ledger.New()
	l.Apply(txEvent("e1", events.TypeTransactionAdded, "u1", "t1", nil))
	l.Apply(completed("c1", "u1", "", "A", 0))
	l.Apply(itemEvent("r1", events.ItemStatusResyncStarted, 1))
	if o := l.Owner(src); len(o.Transactions) != 0 || o.Epoch != 1 {
		t.Fatalf("after resync_started: %+v", o)
	}
	l.Apply(txEvent("e2", events.TypeTransactionAdded, "u2", "t1", nil))
	l.Apply(completed("c2", "u2", "", "B", 1)) // from "": no gap after a resync
	if o := l.Owner(src); len(o.Transactions) != 1 || o.Gaps != 0 {
		t.Errorf("after the replay: %+v", o)
	}
	l.Apply(itemEvent("x1", events.ItemStatusRemoved, 1))
	if o := l.Owner(src); !o.Removed || len(o.Transactions) != 0 {
		t.Errorf("after removed: %+v", o)
	}
}
