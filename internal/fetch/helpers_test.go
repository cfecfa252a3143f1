package fetch

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid"
)

var (
	itemOwner      = events.Owner{Kind: events.OwnerItem, ID: "item-1"}
	processorOwner = events.Owner{Kind: events.OwnerProcessor, ID: "acct-9"}
	fixedNow       = time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC)
)

func updateParams() UpdateParams {
	return UpdateParams{Owner: itemOwner, Environment: "sandbox", Epoch: 0, Now: fixedNow}
}

// txn is a minimal transaction with the given id and amount text.
func txn(id, amount string) plaid.Transaction {
	return plaid.Transaction{
		TransactionID:  id,
		AccountID:      "acc-1",
		Amount:         plaid.MustParseDecimal(amount),
		Date:           "2026-11-20",
		Name:           "txn " + id,
		PaymentChannel: "online",
	}
}

// posted is a posted transaction replacing pendingID.
func posted(id, pendingID, amount string) plaid.Transaction {
	t := txn(id, amount)
	t.PendingTransactionID = &pendingID
	return t
}

func removed(id string) plaid.RemovedTransaction {
	return plaid.RemovedTransaction{TransactionID: id, AccountID: "acc-1"}
}

// summary is "type:subject" of each message, for order checks.
func summary(msgs []Message) []string {
	out := make([]string, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, strings.TrimPrefix(m.Event.Type, "plaid.")+":"+m.Event.Subject)
	}
	return out
}

// checkMessages checks what every message must satisfy: its body decodes as
// a valid event equal to Event, MsgID is the id, the NATS subject matches
// the type, source, epoch and time are the build's, and data is the compact
// JSON the id was computed over.
func checkMessages(t *testing.T, msgs []Message, owner events.Owner, env string, epoch uint64, now time.Time) {
	t.Helper()
	ids := make(map[string]bool)
	for i, m := range msgs {
		e, err := events.DecodeEvent(m.Body)
		if err != nil {
			t.Fatalf("message %d: DecodeEvent: %v\n%s", i, err, m.Body)
		}
		again, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, m.Body) {
			t.Errorf("message %d: body does not round-trip:\ngot  %s\nwant %s", i, again, m.Body)
		}
		if e.ID != m.MsgID || m.Event.ID != m.MsgID {
			t.Errorf("message %d: id %q, event id %q, MsgID %q; want all equal", i, e.ID, m.Event.ID, m.MsgID)
		}
		if ids[m.MsgID] {
			t.Errorf("message %d: id %s repeats within one build", i, m.MsgID)
		}
		ids[m.MsgID] = true
		wantSubject, err := events.SubjectForType(owner.ID, e.Type)
		if err != nil || m.Subject != wantSubject {
			t.Errorf("message %d: subject %q, want %q (%v)", i, m.Subject, wantSubject, err)
		}
		if got, want := e.Source, owner.Source(env); got != want {
			t.Errorf("message %d: source %q, want %q", i, got, want)
		}
		if e.ResyncEpoch != epoch {
			t.Errorf("message %d: resyncepoch %d, want %d", i, e.ResyncEpoch, epoch)
		}
		if !e.Time.Equal(now) || e.Time.Location() != time.UTC {
			t.Errorf("message %d: time %v, want %v in UTC", i, e.Time, now)
		}
		if e.DataContentType != events.DataContentType {
			t.Errorf("message %d: datacontenttype %q", i, e.DataContentType)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, e.Data); err != nil || !bytes.Equal(compact.Bytes(), e.Data) {
			t.Errorf("message %d: data is not compact JSON (%v)", i, err)
		}
	}
}

// data decodes a message's data into v.
func data[T any](t *testing.T, m Message) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(m.Event.Data, &v); err != nil {
		t.Fatalf("decode %s data: %v", m.Event.Type, err)
	}
	return v
}
