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

// RequestSync stores a plaidstream sync request for owner in
// PLAID_WEBHOOKS, where the fetcher picks it up like a webhook. requestID
// makes it idempotent: the same id within the duplicate window is stored
// once.
func RequestSync(ctx context.Context, js jetstream.JetStream, owner events.Owner, environment, reason string, unpark bool, requestID string) (*jetstream.PubAck, error) {
	req := events.SyncRequest{WebhookType: events.SyncRequestType, WebhookCode: events.SyncRequestCode, Environment: environment, Reason: reason, Unpark: unpark}
	env := events.WebhookEnvelope{WebhookType: req.WebhookType, WebhookCode: req.WebhookCode, Environment: environment}
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
	msgID := "sync-request-" + requestID
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
