package fetch

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/plaidstream/plaidstream/internal/events"
)

// Message is one event ready to publish to PLAID_EVENTS.
type Message struct {
	// Subject is the NATS subject, plaid.events.<owner>.<entity>.<change>.
	Subject string
	// MsgID is the Nats-Msg-Id header: the event's id.
	MsgID string
	// Event is the CloudEvent; Body is its encoding.
	Event events.Event
	// Body is the message payload: Event as structured-mode CloudEvents
	// JSON.
	Body []byte
}

// errParams is wrapped by every error about a builder's parameters: they are
// programming or configuration errors, never worth a retry.
var errParams = errors.New("fetch: invalid parameters")

// checkScope validates what every event is built from.
func checkScope(owner events.Owner, environment string, now time.Time) error {
	switch {
	case owner.Kind != events.OwnerItem && owner.Kind != events.OwnerProcessor:
		return fmt.Errorf("%w: owner kind %q", errParams, owner.Kind)
	case !events.SafeName(owner.ID) || strings.Contains(owner.ID, "/"):
		// "/" would make the CloudEvents source ambiguous.
		return fmt.Errorf("%w: owner id %q is not a safe subject token", errParams, owner.ID)
	case environment != "sandbox" && environment != "production":
		return fmt.Errorf("%w: environment %q (want sandbox or production)", errParams, environment)
	case now.IsZero():
		return fmt.Errorf("%w: zero observation time", errParams)
	}
	return nil
}

// envelope holds the attributes shared by the events of one build.
type envelope struct {
	owner       events.Owner
	environment string
	epoch       uint64
	now         time.Time
	// scope is the "update start" of EventID: the sync's start cursor, the
	// previous recurring snapshot's hash, or an item event's trigger id.
	scope    string
	updateID string
}

// message encodes data and wraps it in a CloudEvent of eventType about
// entityID (the CloudEvents subject; "" for none).
//
// Payloads are encoded with encoding/json's defaults. The encoding is
// deterministic (struct fields in declaration order, map keys sorted) and
// stable under re-encoding: HTML-significant characters are already
// escaped, so a payload kept as json.RawMessage and encoded again, as a
// stored Snapshot is, keeps its exact bytes and so its id.
func (e envelope) message(eventType, entityID string, data any) (Message, error) {
	payload, err := json.Marshal(data)
	if err != nil {
		return Message{}, fmt.Errorf("fetch: encode %s data: %w", eventType, err)
	}
	return e.messageFromPayload(eventType, entityID, payload)
}

// messageFromPayload is message for an already encoded payload.
func (e envelope) messageFromPayload(eventType, entityID string, payload []byte) (Message, error) {
	subject, err := events.SubjectForType(e.owner.ID, eventType)
	if err != nil {
		return Message{}, fmt.Errorf("%w: %v", errParams, err)
	}
	id := events.EventID(e.owner, e.epoch, e.scope, eventType, entityID, payload)
	ev := events.Event{
		SpecVersion:     events.SpecVersion,
		ID:              id,
		Source:          e.owner.Source(e.environment),
		Type:            eventType,
		Subject:         entityID,
		Time:            e.now.UTC(),
		DataContentType: events.DataContentType,
		ResyncEpoch:     e.epoch,
		UpdateID:        e.updateID,
		Data:            payload,
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return Message{}, fmt.Errorf("fetch: encode %s event: %w", eventType, err)
	}
	return Message{Subject: subject, MsgID: id, Event: ev, Body: body}, nil
}

// ownerIDs returns the item_id and account_id fields of owner-level
// payloads: an item owner fills item_id, a processor owner account_id.
func ownerIDs(owner events.Owner) (itemID, accountID string) {
	if owner.Kind == events.OwnerItem {
		return owner.ID, ""
	}
	return "", owner.ID
}

// itemIDOf is the item_id of entity payloads: the owner's id for items,
// absent for processor tokens.
func itemIDOf(owner events.Owner) string {
	itemID, _ := ownerIDs(owner)
	return itemID
}
