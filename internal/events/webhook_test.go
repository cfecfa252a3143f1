package events_test

import (
	"crypto/elliptic"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/verify/verifytest"
)

func TestDecodeWebhookEnvelope(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    events.WebhookEnvelope
		wantErr error
	}{
		{
			name: "sync updates available",
			body: "{\n  \"environment\": \"sandbox\",\n  \"historical_update_complete\": true,\n  \"initial_update_complete\": true,\n  \"item_id\": \"wz666MBjYWTp2PDzzggYhM6oWWmBb\",\n  \"webhook_code\": \"SYNC_UPDATES_AVAILABLE\",\n  \"webhook_type\": \"TRANSACTIONS\"\n}",
			want: events.WebhookEnvelope{WebhookType: "TRANSACTIONS", WebhookCode: "SYNC_UPDATES_AVAILABLE", ItemID: "wz666MBjYWTp2PDzzggYhM6oWWmBb", Environment: "sandbox"},
		},
		{
			name: "processor webhook carries account_id",
			body: `{"webhook_type":"TRANSACTIONS","webhook_code":"SYNC_UPDATES_AVAILABLE","account_id":"acc_1","environment":"production"}`,
			want: events.WebhookEnvelope{WebhookType: "TRANSACTIONS", WebhookCode: "SYNC_UPDATES_AVAILABLE", AccountID: "acc_1", Environment: "production"},
		},
		{
			name: "item webhook with both ids",
			body: `{"webhook_type":"ITEM","webhook_code":"USER_ACCOUNT_REVOKED","item_id":"i1","account_id":"a1","environment":"sandbox"}`,
			want: events.WebhookEnvelope{WebhookType: "ITEM", WebhookCode: "USER_ACCOUNT_REVOKED", ItemID: "i1", AccountID: "a1", Environment: "sandbox"},
		},
		{
			name: "unknown product without ids passes",
			body: `{"webhook_type":"NEW_PRODUCT","webhook_code":"SOMETHING_HAPPENED","extra":{"nested":[1,2]}}`,
			want: events.WebhookEnvelope{WebhookType: "NEW_PRODUCT", WebhookCode: "SOMETHING_HAPPENED"},
		},
		{
			name: "null ids are absent",
			body: `{"webhook_type":"ITEM","webhook_code":"ERROR","item_id":null,"environment":null}`,
			want: events.WebhookEnvelope{WebhookType: "ITEM", WebhookCode: "ERROR"},
		},
		{name: "not json", body: `{"webhook_type":`, wantErr: events.ErrMalformedWebhook},
		{name: "json array", body: `[1,2]`, wantErr: events.ErrMalformedWebhook},
		{name: "json null", body: `null`, wantErr: events.ErrMalformedWebhook},
		{name: "type not a string", body: `{"webhook_type":7,"webhook_code":"X"}`, wantErr: events.ErrMalformedWebhook},
		{name: "missing code", body: `{"webhook_type":"TRANSACTIONS"}`, wantErr: events.ErrMissingTypeOrCode},
		{name: "empty type", body: `{"webhook_type":"","webhook_code":"X"}`, wantErr: events.ErrMissingTypeOrCode},
		{name: "dot in type", body: `{"webhook_type":"A.B","webhook_code":"X"}`, wantErr: events.ErrUnsafeName},
		{name: "wildcard in code", body: `{"webhook_type":"A","webhook_code":"*"}`, wantErr: events.ErrUnsafeName},
		{name: "full wildcard in code", body: `{"webhook_type":"A","webhook_code":">"}`, wantErr: events.ErrUnsafeName},
		{name: "space in item id", body: `{"webhook_type":"A","webhook_code":"B","item_id":"x y"}`, wantErr: events.ErrUnsafeName},
		{name: "newline in environment", body: `{"webhook_type":"A","webhook_code":"B","environment":"sandbox\r\nX: y"}`, wantErr: events.ErrUnsafeName},
		{name: "control char in account", body: `{"webhook_type":"A","webhook_code":"B","account_id":"a\u0000"}`, wantErr: events.ErrUnsafeName},
		{name: "tab in type", body: `{"webhook_type":"A\tB","webhook_code":"B"}`, wantErr: events.ErrUnsafeName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := events.DecodeWebhookEnvelope([]byte(tt.body))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error: got %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("envelope: got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSafeName(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"SYNC_UPDATES_AVAILABLE", true},
		{"wz666MBjYWTp2PDzzggYhM6oWWmBb", true},
		{"sandbox", true},
		{"ünïcode-ok", true},
		{"", false},
		{"a.b", false},
		{"a*", false},
		{"a>", false},
		{"a b", false},
		{"a\u00a0b", false}, // no-break space
		{"a\x7f", false},
		{"\xff", false},
		{strings.Repeat("a", events.MaxNameLength), true},
		{strings.Repeat("a", events.MaxNameLength+1), false},
	}
	for _, tt := range tests {
		if got := events.SafeName(tt.in); got != tt.want {
			t.Errorf("SafeName(%q): got %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestWebhookMsgID(t *testing.T) {
	a, b := events.WebhookMsgID("token-a"), events.WebhookMsgID("token-b")
	if a == b {
		t.Fatalf("different tokens share msg id %s", a)
	}
	if a != events.WebhookMsgID("token-a") {
		t.Fatal("msg id is not deterministic")
	}
	if len(a) != 64 || strings.Contains(a, "token") {
		t.Fatalf("msg id %q is not a 64-char hash", a)
	}
}

func TestWebhookHeadersRoundTrip(t *testing.T) {
	env := events.WebhookEnvelope{WebhookType: "TRANSACTIONS", WebhookCode: "DEFAULT_UPDATE", ItemID: "item1", Environment: "sandbox"}
	at := time.Date(2026, 11, 22, 1, 2, 3, 456789012, time.FixedZone("X", 3600))
	h := events.WebhookHeaders(env, "msg1", "kid1", at)
	if _, ok := h[events.HeaderAccountID]; ok {
		t.Errorf("account header set for an item webhook: %v", h)
	}
	if got, want := h[events.HeaderReceivedAt][0], "2026-11-22T00:02:03.456789012Z"; got != want {
		t.Errorf("received-at: got %q, want %q", got, want)
	}
	m, err := events.DecodeWebhookMessage(h, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.WebhookEnvelope != env || m.MsgID != "msg1" || m.KeyID != "kid1" || !m.ReceivedAt.Equal(at) || string(m.Body) != `{}` {
		t.Errorf("round trip: got %+v", m)
	}
}

func TestDecodeWebhookMessageMissingHeaders(t *testing.T) {
	full := events.WebhookHeaders(events.WebhookEnvelope{WebhookType: "T", WebhookCode: "C"}, "m", "k", time.Now())
	for _, name := range []string{events.HeaderWebhookType, events.HeaderWebhookCode, events.HeaderMsgID, events.HeaderReceivedAt} {
		t.Run(name, func(t *testing.T) {
			h := map[string][]string{}
			for k, v := range full {
				if k != name {
					h[k] = v
				}
			}
			if _, err := events.DecodeWebhookMessage(h, nil); !errors.Is(err, events.ErrMissingHeader) {
				t.Errorf("got %v, want ErrMissingHeader", err)
			}
		})
	}
	bad := map[string][]string{}
	for k, v := range full {
		bad[k] = v
	}
	bad[events.HeaderReceivedAt] = []string{"yesterday"}
	if _, err := events.DecodeWebhookMessage(bad, nil); !errors.Is(err, events.ErrMissingHeader) {
		t.Errorf("bad time: got %v, want ErrMissingHeader", err)
	}
}

func ExampleWebhookSubject() {
	env, err := events.DecodeWebhookEnvelope([]byte(`{"webhook_type":"TRANSACTIONS","webhook_code":"SYNC_UPDATES_AVAILABLE","item_id":"item-1","environment":"sandbox"}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(events.WebhookSubject(env.WebhookType, env.WebhookCode))
	// Output: plaid.webhooks.TRANSACTIONS.SYNC_UPDATES_AVAILABLE
}

func TestWebhookMsgIDIgnoresSignatureMalleability(t *testing.T) {
	signer, err := verifytest.NewSigner("kid", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"webhook_type":"T","webhook_code":"C"}`)
	token := signer.Sign(body, time.Now())
	dot := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[dot+1:])
	if err != nil {
		t.Fatal(err)
	}
	n := elliptic.P256().Params().N
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(n, s) // the twin signature (r, n-s) verifies too
	s.FillBytes(sig[32:])
	twin := token[:dot+1] + base64.RawURLEncoding.EncodeToString(sig)
	if twin == token {
		t.Fatal("twin equals token")
	}
	if events.WebhookMsgID(twin) != events.WebhookMsgID(token) {
		t.Error("the two spellings of one signature get different msg ids")
	}
	if events.WebhookMsgID(signer.Sign(body, time.Now())) == events.WebhookMsgID(token) {
		t.Error("two signatures of the same body share a msg id")
	}
}
