package events_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/events"
)

// benchBody is a SYNC_UPDATES_AVAILABLE body exactly as Plaid sends it
// (keys sorted, two-space indent).
var benchBody = []byte(`{
  "environment": "sandbox",
  "historical_update_complete": true,
  "initial_update_complete": true,
  "item_id": "wz666MBjYWTp2PDzzggYhM6oWWmBb",
  "webhook_code": "SYNC_UPDATES_AVAILABLE",
  "webhook_type": "TRANSACTIONS"
}`)

// benchToken is a Plaid-shaped compact ES256 token (the signature need not
// verify for id derivation).
const benchToken = "eyJhbGciOiJFUzI1NiIsImtpZCI6IjZjNTUxNmUxLTkyZGMtNDc5ZS1hOGZmLTVhNTE5OTJlMDAwMSIsInR5cCI6IkpXVCJ9." +
	"eyJpYXQiOjE3OTU4NDU2MDAsInJlcXVlc3RfYm9keV9zaGEyNTYiOiI0ZjJkZDVjOWRmMDkwOWQ1YmQ4OTc1MzBjMjQxOGY0ZGJhOTNlYzlmMDkxNmFmMjgwODRhYTU0YzQyMjc4YjM4In0." +
	"8Zt5rYbmvGq1wYzGk0vVJm0m2mXbq0l3w5Qm7k1eD0Yk6kqgR6cQ9l9b0c2m3n4o5p6q7r8s9t0u1v2w3x4y5z6A7B8C9D0E1F2G3H4I5J6K7L8"

// BenchmarkDecodeWebhookEnvelope is webhookd's envelope decoding of a
// verified body: routing fields and the subject-safety checks.
func BenchmarkDecodeWebhookEnvelope(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.DecodeWebhookEnvelope(benchBody); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWebhookMsgID is the Nats-Msg-Id derivation from the token
// (low-s canonical form, SHA-256).
func BenchmarkWebhookMsgID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = events.WebhookMsgID(benchToken)
	}
}

// BenchmarkWebhookHeaders builds the headers webhookd stores with a webhook.
func BenchmarkWebhookHeaders(b *testing.B) {
	env, err := events.DecodeWebhookEnvelope(benchBody)
	if err != nil {
		b.Fatal(err)
	}
	id, now := events.WebhookMsgID(benchToken), time.Now()
	b.ReportAllocs()
	for b.Loop() {
		_ = events.WebhookHeaders(env, id, "kid", now)
	}
}

// BenchmarkDecodeWebhookMessage is the fetcher's decoding of a stored
// webhook message.
func BenchmarkDecodeWebhookMessage(b *testing.B) {
	env, err := events.DecodeWebhookEnvelope(benchBody)
	if err != nil {
		b.Fatal(err)
	}
	h := events.WebhookHeaders(env, events.WebhookMsgID(benchToken), "kid", time.Now())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.DecodeWebhookMessage(h, benchBody); err != nil {
			b.Fatal(err)
		}
	}
}

// benchEvent is a plaid.transaction.added CloudEvent with a typical payload.
func benchEvent(b *testing.B) events.Event {
	high := "VERY_HIGH"
	pfc := &events.PersonalFinanceCategory{Primary: "FOOD_AND_DRINK", Detailed: "FOOD_AND_DRINK_COFFEE", ConfidenceLevel: &high, Version: "v1"}
	usd, merchant := "USD", "Starbucks"
	data, err := json.Marshal(events.Transaction{
		SchemaVersion: 1, TransactionID: "lPNjeW1nR6CDn5okmGQ6hEpMo4lLNoSrzqDje", AccountID: "BxBXxLj1m4HMXBm9WZZmCWVbPjX16EHwv99vp",
		ItemID: "wz666MBjYWTp2PDzzggYhM6oWWmBb", Amount: "4.33", Direction: "outflow", ISOCurrencyCode: &usd,
		Date: "2026-11-20", Name: "Starbucks", MerchantName: &merchant, PaymentChannel: "in store", PersonalFinanceCategory: pfc,
	})
	if err != nil {
		b.Fatal(err)
	}
	return events.Event{
		SpecVersion: events.SpecVersion, ID: "3f1c0a4e9b7d2c8e5a6b1d0f9e8c7b6a5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a",
		Source: "plaid/sandbox/items/wz666MBjYWTp2PDzzggYhM6oWWmBb", Type: events.TypeTransactionAdded,
		Subject: "lPNjeW1nR6CDn5okmGQ6hEpMo4lLNoSrzqDje", Time: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		DataContentType: events.DataContentType, UpdateID: "0123456789abcdef0123456789abcdef", Data: data,
	}
}

// BenchmarkEncodeEvent encodes one CloudEvent envelope around an already
// encoded payload, as every published event is.
func BenchmarkEncodeEvent(b *testing.B) {
	e := benchEvent(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeEvent is a consumer's decoding of one event body.
func BenchmarkDecodeEvent(b *testing.B) {
	body, err := json.Marshal(benchEvent(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.DecodeEvent(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEventID is the deterministic id of one event.
func BenchmarkEventID(b *testing.B) {
	e := benchEvent(b)
	owner := events.Owner{Kind: events.OwnerItem, ID: "wz666MBjYWTp2PDzzggYhM6oWWmBb"}
	b.ReportAllocs()
	for b.Loop() {
		_ = events.EventID(owner, 0, "cursor", e.Type, e.Subject, e.Data)
	}
}
