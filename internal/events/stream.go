package events

import "time"

// StreamSpec is the transport-free definition of a JetStream stream we own.
// Each binary creates or updates the streams it uses from these definitions
// (internal/bus maps them to nats.go types), so whichever starts first
// provisions them identically.
type StreamSpec struct {
	Name        string
	Description string
	Subjects    []string
	// Duplicates is JetStream's de-duplication window for Nats-Msg-Id.
	Duplicates time.Duration
	// RejectWhenFull makes a stream at its size limit refuse new messages
	// instead of discarding its oldest ones: acknowledged data is never
	// dropped to make room, and the publisher sees the failure.
	RejectWhenFull bool
}

// WebhookDuplicateWindow is how long PLAID_WEBHOOKS remembers a Nats-Msg-Id.
// A token is only accepted within its 5-minute validity (plus skew), so a
// window longer than that absorbs every exact re-delivery of a signed request.
const WebhookDuplicateWindow = 10 * time.Minute

// WebhookStreamSpec defines PLAID_WEBHOOKS.
func WebhookStreamSpec() StreamSpec {
	return StreamSpec{
		Name:        WebhookStream,
		Description: "Verified Plaid webhooks, exact body bytes (plaidstream webhookd)",
		Subjects:    []string{WebhookSubjects},
		Duplicates:  WebhookDuplicateWindow,
		// A full stream must answer 503 (Plaid retries) rather than drop
		// webhooks we already answered 200 for.
		RejectWhenFull: true,
	}
}
