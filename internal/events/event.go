package events

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The normalized event stream and the dead-letter stream.
const (
	// EventStream stores every normalized event the fetcher publishes.
	EventStream = "PLAID_EVENTS"
	// EventSubjectPrefix starts every subject in EventStream:
	// plaid.events.<owner>.<entity>.<change>, where owner is the item id (the
	// account id for a processor token).
	EventSubjectPrefix = "plaid.events"
	// EventSubjects is the subject filter EventStream captures.
	EventSubjects = EventSubjectPrefix + ".>"
	// EventDuplicateWindow is how long PLAID_EVENTS remembers an event id.
	// It is longer than any redelivery delay of a webhook message, so a
	// re-run after a crash, which re-publishes the same ids, is absorbed.
	EventDuplicateWindow = 10 * time.Minute

	// DLQStream stores what could not be processed, with the reason.
	DLQStream = "PLAID_DLQ"
	// DLQSubjectPrefix starts every subject in DLQStream:
	// plaid.dlq.<source stream>.
	DLQSubjectPrefix = "plaid.dlq"
	// DLQSubjects is the subject filter DLQStream captures.
	DLQSubjects = DLQSubjectPrefix + ".>"
)

// EventStreamSpec defines PLAID_EVENTS.
func EventStreamSpec() StreamSpec {
	return StreamSpec{
		Name:        EventStream,
		Description: "Normalized Plaid transaction, recurring-stream, item and sync events, CloudEvents 1.0 JSON (plaidstream fetcher)",
		Subjects:    []string{EventSubjects},
		Duplicates:  EventDuplicateWindow,
		// Never drop published events to make room: a full stream fails the
		// publish, the webhook message is not acked and is retried.
		RejectWhenFull: true,
	}
}

// DLQStreamSpec defines PLAID_DLQ.
func DLQStreamSpec() StreamSpec {
	return StreamSpec{
		Name:           DLQStream,
		Description:    "Messages plaidstream could not process, with their original headers and the reason",
		Subjects:       []string{DLQSubjects},
		Duplicates:     EventDuplicateWindow,
		RejectWhenFull: true,
	}
}

// DLQSubject is the dead-letter subject for messages from stream.
func DLQSubject(stream string) string { return DLQSubjectPrefix + "." + stream }

// Entities: the third token of an event subject and the middle of its type.
const (
	EntityTransaction     = "transaction"
	EntityRecurringStream = "recurring_stream"
	EntityItem            = "item"
	EntitySync            = "sync"
)

// Event types (CloudEvents "type").
const (
	TypeTransactionAdded    = "plaid.transaction.added"
	TypeTransactionModified = "plaid.transaction.modified"
	TypeTransactionRemoved  = "plaid.transaction.removed"
	// TypeTransactionPosted is a pending transaction that posted within one
	// update: one event carrying the posted transaction, whose
	// pending_transaction_id names the pending one (which is gone).
	TypeTransactionPosted = "plaid.transaction.posted"

	TypeRecurringStreamAdded    = "plaid.recurring_stream.added"
	TypeRecurringStreamModified = "plaid.recurring_stream.modified"
	TypeRecurringStreamRemoved  = "plaid.recurring_stream.removed"

	// TypeSyncCompleted closes one consistent update of an owner's
	// transactions.
	TypeSyncCompleted = "plaid.sync.completed"

	// TypeItemPrefix starts item status events: plaid.item.<status>, the
	// status being an ITEM webhook code in lower case (plaid.item.error,
	// plaid.item.login_repaired, ...) or one of the Item* statuses below.
	TypeItemPrefix = "plaid.item."
)

// Item statuses the fetcher emits on its own (not from an ITEM webhook).
const (
	// ItemStatusRemoved: the item was unregistered; its last event.
	ItemStatusRemoved = "removed"
	// ItemStatusResyncStarted: the item's history is replayed from scratch.
	ItemStatusResyncStarted = "resync_started"
	// ItemStatusRefreshFailed: a user refresh failed for this item.
	ItemStatusRefreshFailed = "refresh_failed"
)

// ItemEventType returns plaid.item.<status> for an ITEM webhook code or an
// Item* status; codes are lowercased.
func ItemEventType(status string) string { return TypeItemPrefix + strings.ToLower(status) }

// SubjectForType returns the subject an event of eventType about owner is
// published on: plaid.events.<owner>.<entity>.<change>. eventType must be
// plaid.<entity>.<change>; owner must be SafeName.
func SubjectForType(owner, eventType string) (string, error) {
	rest, ok := strings.CutPrefix(eventType, "plaid.")
	entity, change, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || !SafeName(owner) || !SafeName(entity) || !SafeName(change) {
		return "", fmt.Errorf("no subject for event type %q of owner %q", eventType, owner)
	}
	return EventSubjectPrefix + "." + owner + "." + entity + "." + change, nil
}

// OwnerKind says whether an owner is an item or a processor token's account.
type OwnerKind string

// Owner kinds.
const (
	OwnerItem      OwnerKind = "item"
	OwnerProcessor OwnerKind = "processor"
)

// Owner is what events are about: an item, or the account of a processor
// token (processor webhooks carry no item id).
type Owner struct {
	Kind OwnerKind
	ID   string
}

// Source is the CloudEvents source: plaid/<environment>/items/<item_id>, or
// plaid/<environment>/processor/<account_id>. It never names a replica.
func (o Owner) Source(environment string) string {
	if o.Kind == OwnerProcessor {
		return "plaid/" + environment + "/processor/" + o.ID
	}
	return "plaid/" + environment + "/items/" + o.ID
}

// CloudEvents attributes we always send.
const (
	SpecVersion     = "1.0"
	DataContentType = "application/json"
)

// Event is a CloudEvents 1.0 event in structured JSON mode, the body of every
// message in PLAID_EVENTS. ResyncEpoch and UpdateID are extension
// attributes.
type Event struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject,omitempty"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	DataSchema      string    `json:"dataschema,omitempty"`
	// ResyncEpoch is the owner's resync epoch: 0 until its first resync.
	ResyncEpoch uint64 `json:"resyncepoch"`
	// UpdateID groups the events of one update; the update's
	// plaid.sync.completed carries the same UpdateID (see docs/events.md).
	UpdateID string          `json:"updateid,omitempty"`
	Data     json.RawMessage `json:"data"`
}

// Errors from DecodeEvent.
var ErrMalformedEvent = errors.New("not a plaidstream CloudEvent")

// DecodeEvent parses a PLAID_EVENTS message body and checks the attributes
// CloudEvents requires.
func DecodeEvent(data []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	switch {
	case e.SpecVersion != SpecVersion:
		return Event{}, fmt.Errorf("%w: specversion %q", ErrMalformedEvent, e.SpecVersion)
	case e.ID == "" || e.Source == "" || e.Type == "":
		return Event{}, fmt.Errorf("%w: id, source and type are required", ErrMalformedEvent)
	}
	return e, nil
}

// hashFields hashes length-prefixed fields, so no two field lists collide by
// concatenation.
func hashFields(fields ...string) string {
	h := sha256.New()
	var n [8]byte
	for _, f := range fields {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// EventID is the deterministic id of an event, also its Nats-Msg-Id: a hash
// of the owner, its resync epoch, the update it belongs to (for transaction
// events its UpdateID, which covers the cursor it started from and the one
// it ended at; for other events what identifies their trigger), the event
// type, the entity id (transaction or stream id, "" for sync and item events)
// and the hash of the normalized payload. A re-run from the same saved
// cursor that sees the same data produces the same ids; distinct updates
// never share ids, so A→B→A changes all arrive.
func EventID(owner Owner, epoch uint64, updateStart, eventType, entityID string, payload []byte) string {
	sum := sha256.Sum256(payload)
	return hashFields(string(owner.Kind), owner.ID, fmt.Sprint(epoch), updateStart, eventType, entityID, hex.EncodeToString(sum[:]))
}

// UpdateID identifies one update: the owner, epoch and the cursors it
// started from and ended at. Two runs of one update that saw the same data
// share it; a re-run that saw more changes does not.
func UpdateID(owner Owner, epoch uint64, startCursor, endCursor string) string {
	return hashFields("update", string(owner.Kind), owner.ID, fmt.Sprint(epoch), startCursor, endCursor)[:32]
}
