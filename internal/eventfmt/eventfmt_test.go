package eventfmt_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/eventfmt"
	"github.com/plaidstream/plaidstream/internal/events"
)

func TestLine(t *testing.T) {
	usd, pending := "USD", "p1"
	tx, _ := json.Marshal(events.Transaction{TransactionID: "t1", PendingTransactionID: &pending, Amount: "-12.50", ISOCurrencyCode: &usd, Name: "Payroll", Date: "2026-11-20"})
	done, _ := json.Marshal(events.SyncCompleted{StartCursor: "", EndCursor: "abcdefghijklmnop", Added: 3, Removed: 1, TransactionsUpdateStatus: "HISTORICAL_UPDATE_COMPLETE"})
	item, _ := json.Marshal(events.ItemStatus{Status: "error", Error: json.RawMessage(`{"error_code":"ITEM_LOGIN_REQUIRED"}`), Parked: true})
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		e    events.Event
		want []string
	}{
		{events.Event{Source: "plaid/sandbox/items/item1", Type: events.TypeTransactionPosted, Time: at, Data: tx}, []string{"10:00:00.000", "item1", "p1 → t1", "-12.50 USD", `"Payroll"`}},
		{events.Event{Source: "plaid/sandbox/items/item1", Type: events.TypeTransactionRemoved, Subject: "t9", Time: at, Data: []byte(`{}`)}, []string{"plaid.transaction.removed", "t9"}},
		{events.Event{Source: "plaid/sandbox/items/item1", Type: events.TypeSyncCompleted, Time: at, Data: done}, []string{"+3 ~0 -1", `cursor "" → abcdefghi…`}},
		{events.Event{Source: "plaid/sandbox/processor/acc1", Type: "plaid.item.error", Time: at, ResyncEpoch: 2, Data: item}, []string{"processor/acc1", "ITEM_LOGIN_REQUIRED", "parked", "epoch 2"}},
		{events.Event{Source: "plaid/sandbox/items/item1", Type: events.TypeTransactionAdded, Subject: "t5", Time: at, Data: []byte(`not json`)}, []string{"t5"}},
	} {
		line := eventfmt.Line(c.e)
		for _, w := range c.want {
			if !strings.Contains(line, w) {
				t.Errorf("%s: %q lacks %q", c.e.Type, line, w)
			}
		}
		if strings.Contains(line, "\n") {
			t.Errorf("%s: more than one line: %q", c.e.Type, line)
		}
	}
}
