package events_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/events"
)

func TestSubjectForType(t *testing.T) {
	tests := []struct {
		owner, typ, want string
		wantErr          bool
	}{
		{"item1", events.TypeTransactionAdded, "plaid.events.item1.transaction.added", false},
		{"item1", events.TypeTransactionPosted, "plaid.events.item1.transaction.posted", false},
		{"acct9", events.TypeRecurringStreamRemoved, "plaid.events.acct9.recurring_stream.removed", false},
		{"item1", events.TypeSyncCompleted, "plaid.events.item1.sync.completed", false},
		{"item1", events.ItemEventType("LOGIN_REPAIRED"), "plaid.events.item1.item.login_repaired", false},
		{"item1", events.ItemEventType(events.ItemStatusResyncStarted), "plaid.events.item1.item.resync_started", false},
		{"item.1", events.TypeTransactionAdded, "", true},
		{"item1", "plaid.transaction", "", true},
		{"item1", "other.transaction.added", "", true},
		{"item1", "plaid.item.bad code", "", true},
	}
	for _, tt := range tests {
		got, err := events.SubjectForType(tt.owner, tt.typ)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("SubjectForType(%q, %q): got %q, %v; want %q (error %v)", tt.owner, tt.typ, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestSource(t *testing.T) {
	if got := (events.Owner{Kind: events.OwnerItem, ID: "i1"}).Source("sandbox"); got != "plaid/sandbox/items/i1" {
		t.Errorf("item source: got %q", got)
	}
	if got := (events.Owner{Kind: events.OwnerProcessor, ID: "a1"}).Source("production"); got != "plaid/production/processor/a1" {
		t.Errorf("processor source: got %q", got)
	}
}

func TestEventIDIsDeterministicAndDistinct(t *testing.T) {
	item := events.Owner{Kind: events.OwnerItem, ID: "i1"}
	base := events.EventID(item, 0, "cursorA", events.TypeTransactionAdded, "t1", []byte(`{"a":1}`))
	if base != events.EventID(item, 0, "cursorA", events.TypeTransactionAdded, "t1", []byte(`{"a":1}`)) {
		t.Fatal("EventID is not deterministic")
	}
	variants := map[string]string{
		"processor owner": events.EventID(events.Owner{Kind: events.OwnerProcessor, ID: "i1"}, 0, "cursorA", events.TypeTransactionAdded, "t1", []byte(`{"a":1}`)),
		"other epoch":     events.EventID(item, 1, "cursorA", events.TypeTransactionAdded, "t1", []byte(`{"a":1}`)),
		"other cursor":    events.EventID(item, 0, "cursorB", events.TypeTransactionAdded, "t1", []byte(`{"a":1}`)),
		"other type":      events.EventID(item, 0, "cursorA", events.TypeTransactionModified, "t1", []byte(`{"a":1}`)),
		"other entity":    events.EventID(item, 0, "cursorA", events.TypeTransactionAdded, "t2", []byte(`{"a":1}`)),
		"other payload":   events.EventID(item, 0, "cursorA", events.TypeTransactionAdded, "t1", []byte(`{"a":2}`)),
		"shifted fields":  events.EventID(item, 0, "cursorAt", events.TypeTransactionAdded, "1", []byte(`{"a":1}`)),
	}
	for name, id := range variants {
		if id == base {
			t.Errorf("%s: same id as the base event", name)
		}
	}
	if len(base) != 64 {
		t.Errorf("id length: got %d, want 64", len(base))
	}
	if events.UpdateID(item, 0, "a", "b") == events.UpdateID(item, 0, "a", "c") {
		t.Error("updates with different end cursors share an update id")
	}
}

func TestDirectionOf(t *testing.T) {
	tests := map[string]string{
		"12.34": events.DirectionDebit, "-0.5": events.DirectionCredit, "0": events.DirectionNone,
		"0.00": events.DirectionNone, "-0.00": events.DirectionNone, "100": events.DirectionDebit,
		"-1234567.891": events.DirectionCredit, "0.001": events.DirectionDebit,
	}
	for in, want := range tests {
		if got := events.DirectionOf(in); got != want {
			t.Errorf("DirectionOf(%q): got %q, want %q", in, got, want)
		}
	}
}

func TestEventRoundTrip(t *testing.T) {
	data, _ := json.Marshal(events.RemovedTransaction{SchemaVersion: events.SchemaVersion, TransactionID: "t1", AccountID: "a1", ItemID: "i1"})
	e := events.Event{
		SpecVersion: events.SpecVersion, ID: "id1", Source: "plaid/sandbox/items/i1",
		Type: events.TypeTransactionRemoved, Subject: "t1", Time: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC),
		DataContentType: events.DataContentType, ResyncEpoch: 2, UpdateID: "u1", Data: data,
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var attrs map[string]any
	_ = json.Unmarshal(b, &attrs)
	for _, k := range []string{"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "resyncepoch", "updateid", "data"} {
		if _, ok := attrs[k]; !ok {
			t.Errorf("encoded event lacks %q: %s", k, b)
		}
	}
	got, err := events.DecodeEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != e.ID || got.ResyncEpoch != 2 || !got.Time.Equal(e.Time) || string(got.Data) != string(data) {
		t.Errorf("round trip: got %+v", got)
	}
	for _, bad := range []string{`{}`, `{"specversion":"0.3","id":"x","source":"s","type":"t"}`, `{"specversion":"1.0","source":"s","type":"t"}`, `nope`} {
		if _, err := events.DecodeEvent([]byte(bad)); !errors.Is(err, events.ErrMalformedEvent) {
			t.Errorf("DecodeEvent(%s): got %v, want ErrMalformedEvent", bad, err)
		}
	}
}

func TestStreamSpecs(t *testing.T) {
	for _, s := range []events.StreamSpec{events.WebhookStreamSpec(), events.EventStreamSpec(), events.DLQStreamSpec()} {
		if !s.RejectWhenFull {
			t.Errorf("%s discards stored messages when full", s.Name)
		}
		if s.Duplicates < 5*time.Minute {
			t.Errorf("%s duplicate window %v is shorter than a redelivery", s.Name, s.Duplicates)
		}
	}
	if got := events.DLQSubject(events.WebhookStream); got != "plaid.dlq.PLAID_WEBHOOKS" {
		t.Errorf("DLQ subject: got %q", got)
	}
}
