package fetch

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/events"
)

func itemParams() ItemParams {
	return ItemParams{Owner: itemOwner, Environment: "sandbox", Now: fixedNow, Status: "LOGIN_REPAIRED", TriggerID: "msg-1"}
}

func TestBuildItemEvent(t *testing.T) {
	tests := []struct {
		name        string
		change      func(*ItemParams)
		wantType    string
		wantSubject string
		wantData    string
	}{
		{name: "webhook code lowercased", change: func(*ItemParams) {},
			wantType: "plaid.item.login_repaired", wantSubject: "plaid.events.item-1.item.login_repaired",
			wantData: `{"schema_version":1,"item_id":"item-1","status":"login_repaired","parked":false}`},
		{name: "unknown code passes through", change: func(p *ItemParams) { p.Status = "SOME_NEW_CODE" },
			wantType: "plaid.item.some_new_code", wantSubject: "plaid.events.item-1.item.some_new_code",
			wantData: `{"schema_version":1,"item_id":"item-1","status":"some_new_code","parked":false}`},
		{name: "fetcher's own status", change: func(p *ItemParams) { p.Status = events.ItemStatusRemoved },
			wantType: "plaid.item.removed", wantSubject: "plaid.events.item-1.item.removed",
			wantData: `{"schema_version":1,"item_id":"item-1","status":"removed","parked":false}`},
		{name: "processor owner, error and webhook compacted, parked", change: func(p *ItemParams) {
			p.Owner, p.Status, p.Parked = processorOwner, "ERROR", true
			p.Error = json.RawMessage("{\n  \"error_code\": \"ITEM_LOGIN_REQUIRED\"\n}")
			p.Webhook = json.RawMessage(`{"webhook_code": "ERROR"}`)
		},
			wantType: "plaid.item.error", wantSubject: "plaid.events.acct-9.item.error",
			wantData: `{"schema_version":1,"account_id":"acct-9","status":"error","error":{"error_code":"ITEM_LOGIN_REQUIRED"},"parked":true,"webhook":{"webhook_code":"ERROR"}}`},
		{name: "null error is omitted", change: func(p *ItemParams) { p.Error = json.RawMessage("null") },
			wantType: "plaid.item.login_repaired", wantSubject: "plaid.events.item-1.item.login_repaired",
			wantData: `{"schema_version":1,"item_id":"item-1","status":"login_repaired","parked":false}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := itemParams()
			tc.change(&p)
			m, err := BuildItemEvent(p)
			if err != nil {
				t.Fatal(err)
			}
			checkMessages(t, []Message{m}, p.Owner, "sandbox", 0, fixedNow)
			if m.Event.Type != tc.wantType || m.Subject != tc.wantSubject || string(m.Event.Data) != tc.wantData {
				t.Errorf("got type %s subject %s data %s\nwant type %s subject %s data %s", m.Event.Type, m.Subject, m.Event.Data, tc.wantType, tc.wantSubject, tc.wantData)
			}
			if m.Event.Subject != "" || m.Event.UpdateID != "" {
				t.Errorf("CloudEvents subject %q, updateid %q; want none", m.Event.Subject, m.Event.UpdateID)
			}
			if want := events.EventID(p.Owner, p.Epoch, p.TriggerID, tc.wantType, "", []byte(tc.wantData)); m.MsgID != want {
				t.Errorf("id %s, want %s", m.MsgID, want)
			}
		})
	}
}

// TestBuildItemEventIDs: the trigger scopes the id; the time does not.
func TestBuildItemEventIDs(t *testing.T) {
	base, err := BuildItemEvent(itemParams())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*ItemParams)
		same   bool
	}{
		{name: "later observation", change: func(p *ItemParams) { p.Now = p.Now.Add(time.Hour) }, same: true},
		{name: "status in another case", change: func(p *ItemParams) { p.Status = "login_repaired" }, same: true},
		{name: "another trigger", change: func(p *ItemParams) { p.TriggerID = "msg-2" }, same: false},
		{name: "another epoch", change: func(p *ItemParams) { p.Epoch = 1 }, same: false},
		{name: "parked", change: func(p *ItemParams) { p.Parked = true }, same: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := itemParams()
			tc.change(&p)
			m, err := BuildItemEvent(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.MsgID == base.MsgID; got != tc.same {
				t.Errorf("same id: %v, want %v", got, tc.same)
			}
		})
	}
}

func TestBuildItemEventInvalid(t *testing.T) {
	tests := []struct {
		name   string
		change func(*ItemParams)
	}{
		{name: "no trigger id", change: func(p *ItemParams) { p.TriggerID = "" }},
		{name: "status with a dot", change: func(p *ItemParams) { p.Status = "a.b" }},
		{name: "empty status", change: func(p *ItemParams) { p.Status = "" }},
		{name: "error not JSON", change: func(p *ItemParams) { p.Error = json.RawMessage("{oops") }},
		{name: "webhook not JSON", change: func(p *ItemParams) { p.Webhook = json.RawMessage("<xml/>") }},
		{name: "zero time", change: func(p *ItemParams) { p.Now = time.Time{} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := itemParams()
			tc.change(&p)
			if m, err := BuildItemEvent(p); err == nil {
				t.Errorf("got %s, want an error", m.Body)
			}
		})
	}
}
