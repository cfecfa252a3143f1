package fetch

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/plaidstream/plaidstream/internal/events"
)

// ItemParams describes one item status event.
type ItemParams struct {
	// Owner is the item, or the processor token's account.
	Owner events.Owner
	// Environment is Plaid's environment, part of the event's source.
	Environment string
	// Epoch is the owner's resync epoch.
	Epoch uint64
	// Now is the event's time; it is not part of its id.
	Now time.Time
	// Status is the ITEM webhook code (any case; unknown codes pass
	// through) or one of events.ItemStatus*. The event type is
	// plaid.item.<status in lower case>.
	Status string
	// Error is Plaid's error object, from the webhook or the failed call;
	// nil for none.
	Error json.RawMessage
	// Parked says whether the fetcher stopped syncing the owner.
	Parked bool
	// Webhook is the ITEM webhook body that caused the event; nil for none.
	Webhook json.RawMessage
	// TriggerID identifies what caused the event, e.g. the webhook
	// message's Nats-Msg-Id, or for a failed sync something as unique
	// (its trigger's id and the sync's start cursor). It scopes the
	// event's id, so it is required: two triggers with the same status and
	// payload must not share an id.
	TriggerID string
}

// BuildItemEvent builds a plaid.item.<status> event. Its id is
// events.EventID over the owner, epoch, TriggerID, type, no entity and the
// payload; it has no CloudEvents subject and no updateid. Error and Webhook
// must be JSON (they are embedded as they are, compacted).
func BuildItemEvent(p ItemParams) (Message, error) {
	if err := checkScope(p.Owner, p.Environment, p.Now); err != nil {
		return Message{}, err
	}
	if p.TriggerID == "" {
		return Message{}, fmt.Errorf("%w: item event without a trigger id", errParams)
	}
	status := strings.ToLower(p.Status)
	if !events.SafeName(status) {
		return Message{}, fmt.Errorf("%w: item status %q", errParams, p.Status)
	}
	itemID, accountID := ownerIDs(p.Owner)
	env := envelope{owner: p.Owner, environment: p.Environment, epoch: p.Epoch, now: p.Now, scope: p.TriggerID}
	return env.message(events.ItemEventType(status), "", events.ItemStatus{
		SchemaVersion: events.SchemaVersion,
		ItemID:        itemID,
		AccountID:     accountID,
		Status:        status,
		Error:         nonEmpty(p.Error),
		Parked:        p.Parked,
		Webhook:       nonEmpty(p.Webhook),
	})
}

// nonEmpty turns a blank or null RawMessage into nil, so omitempty omits
// it (a blank one would fail to encode).
func nonEmpty(b json.RawMessage) json.RawMessage {
	if s := strings.TrimSpace(string(b)); s == "" || s == "null" {
		return nil
	}
	return b
}
