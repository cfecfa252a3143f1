package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/events"
)

// SyncRequestOptions describe one sync request.
type SyncRequestOptions struct {
	// Environment is the owner's Plaid environment.
	Environment string
	// Reason says who asked: "registered", "forced", "reconcile", "resync".
	Reason string
	// Unpark un-parks a parked owner first.
	Unpark bool
	// ResyncEpoch, if set, asks for a resync to this epoch
	// (events.SyncRequest).
	ResyncEpoch uint64
	// RequestID makes the request idempotent: the same id within the
	// stream's duplicate window is stored once. Required.
	RequestID string
}

// RequestSync stores a plaidstream sync request for owner in
// PLAID_WEBHOOKS, where the fetcher picks it up like a webhook.
func RequestSync(ctx context.Context, js jetstream.JetStream, owner events.Owner, o SyncRequestOptions) (*jetstream.PubAck, error) {
	if o.RequestID == "" {
		return nil, fmt.Errorf("sync request for %s: no request id", owner.ID)
	}
	req := events.SyncRequest{WebhookType: events.SyncRequestType, WebhookCode: events.SyncRequestCode, Environment: o.Environment, Reason: o.Reason, Unpark: o.Unpark, ResyncEpoch: o.ResyncEpoch}
	env := events.WebhookEnvelope{WebhookType: req.WebhookType, WebhookCode: req.WebhookCode, Environment: o.Environment}
	if owner.Kind == events.OwnerProcessor {
		req.AccountID, env.AccountID = owner.ID, owner.ID
	} else {
		req.ItemID, env.ItemID = owner.ID, owner.ID
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := events.DecodeWebhookEnvelope(body); err != nil {
		return nil, fmt.Errorf("sync request for %s: %w", owner.ID, err)
	}
	msgID := "sync-request-" + o.RequestID
	msg := &nats.Msg{
		Subject: events.WebhookSubject(req.WebhookType, req.WebhookCode),
		Data:    body,
		Header:  nats.Header(events.WebhookHeaders(env, msgID, "", time.Now())),
	}
	ack, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(events.WebhookStream))
	if err != nil {
		return nil, fmt.Errorf("request sync of %s: %w", owner.ID, err)
	}
	return ack, nil
}
