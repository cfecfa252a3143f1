package fetch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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
	// Event is the CloudEvent; Body is its encoding. Event.Data may share
	// its bytes with Body (it is the data member inside it), so the payload
	// is held once: modify neither.
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
	// shared, if set (see prepare), holds what every event of the build
	// repeats, computed once.
	shared *envelopeShared
}

// envelopeShared is what the events of one build have in common, and a
// scratch buffer for their payloads. A prepared envelope is for one
// goroutine.
type envelopeShared struct {
	source   string
	timeJSON []byte // the time attribute as json.Marshal writes it
	subjects map[string]string
	scratch  bytes.Buffer
	enc      *json.Encoder // writes to scratch
	// slab is where bodies are carved from: one allocation for many
	// bodies of about 2 KB, without a size class's rounding for each.
	slab []byte
}

// slabSize is the size of the blocks bodies are carved from.
const slabSize = 64 << 10

// bodyBuffer returns an empty buffer with room for size bytes, carved from
// the slab (or on its own if larger than a slab).
func (sh *envelopeShared) bodyBuffer(size int) []byte {
	if size > slabSize/4 {
		return make([]byte, 0, size)
	}
	if cap(sh.slab)-len(sh.slab) < size {
		sh.slab = make([]byte, 0, slabSize)
	}
	n := len(sh.slab)
	return sh.slab[n : n : n+size]
}

// used marks body, returned by bodyBuffer, as taken from the slab (if it is
// still there: append moves a body that outgrew its room).
func (sh *envelopeShared) used(body []byte) {
	n := len(sh.slab)
	if len(body) > 0 && cap(sh.slab) > n && &sh.slab[:n+1][n] == &body[0] {
		sh.slab = sh.slab[:n+len(body)]
	}
}

// prepare computes the attributes shared by the events of e's build once,
// for a build of many events. It is an optimization only: the messages are
// byte for byte those of an unprepared envelope.
func (e *envelope) prepare() {
	sh := &envelopeShared{source: e.owner.Source(e.environment), subjects: make(map[string]string, 8)}
	sh.enc = json.NewEncoder(&sh.scratch) // escapes HTML, as json.Marshal does
	if t, err := e.now.UTC().MarshalJSON(); err == nil {
		sh.timeJSON = t // else each event's encoding reports the error
	}
	e.shared = sh
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
	var payload []byte
	if sh := e.shared; sh != nil {
		// json.Marshal's bytes plus a newline, in a buffer reused across
		// the build: the body built below keeps the only copy.
		sh.scratch.Reset()
		if err := sh.enc.Encode(data); err != nil {
			return Message{}, fmt.Errorf("fetch: encode %s data: %w", eventType, err)
		}
		payload = bytes.TrimSuffix(sh.scratch.Bytes(), []byte("\n"))
	} else {
		var err error
		if payload, err = json.Marshal(data); err != nil {
			return Message{}, fmt.Errorf("fetch: encode %s data: %w", eventType, err)
		}
	}
	// payload is json.Marshal's output, so it is already what encoding
	// the event would make of it: compact, HTML-escaped, valid.
	return e.build(eventType, entityID, payload, true)
}

// messageFromPayload is message for an already encoded payload.
func (e envelope) messageFromPayload(eventType, entityID string, payload []byte) (Message, error) {
	return e.build(eventType, entityID, payload, false)
}

// build wraps payload in a CloudEvent. The body is json.Marshal(ev), byte
// for byte. When canonical is set, payload must be json.Marshal output,
// which encoding/json's re-encoding of a json.RawMessage (validate, compact,
// escape HTML) leaves unchanged: the body is then appended directly around
// it instead of being marshalled (and the payload re-scanned).
func (e envelope) build(eventType, entityID string, payload []byte, canonical bool) (Message, error) {
	subject, err := e.subject(eventType)
	if err != nil {
		return Message{}, fmt.Errorf("%w: %v", errParams, err)
	}
	id := events.EventID(e.owner, e.epoch, e.scope, eventType, entityID, payload)
	source := ""
	if e.shared != nil {
		source = e.shared.source
	} else {
		source = e.owner.Source(e.environment)
	}
	ev := events.Event{
		SpecVersion:     events.SpecVersion,
		ID:              id,
		Source:          source,
		Type:            eventType,
		Subject:         entityID,
		Time:            e.now.UTC(),
		DataContentType: events.DataContentType,
		ResyncEpoch:     e.epoch,
		UpdateID:        e.updateID,
		Data:            payload,
	}
	if canonical && e.shared != nil && e.shared.timeJSON != nil {
		sh := e.shared
		body, data := appendEvent(sh.bodyBuffer(eventSize(&ev, sh.timeJSON)), &ev, sh.timeJSON)
		sh.used(body)
		ev.Data = data // the copy inside body: the payload is held once
		return Message{Subject: subject, MsgID: id, Event: ev, Body: body[:len(body):len(body)]}, nil
	}
	if e.shared != nil {
		ev.Data = bytes.Clone(payload) // payload is the scratch buffer
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return Message{}, fmt.Errorf("fetch: encode %s event: %w", eventType, err)
	}
	return Message{Subject: subject, MsgID: id, Event: ev, Body: body}, nil
}

// subject is events.SubjectForType for e's owner, remembered per type when
// e is prepared.
func (e envelope) subject(eventType string) (string, error) {
	if e.shared == nil {
		return events.SubjectForType(e.owner.ID, eventType)
	}
	if s, ok := e.shared.subjects[eventType]; ok {
		return s, nil
	}
	s, err := events.SubjectForType(e.owner.ID, eventType)
	if err != nil {
		return "", err
	}
	e.shared.subjects[eventType] = s
	return s, nil
}

// eventSize is the length of appendEvent's output when no string needs
// escaping (else append grows the buffer).
func eventSize(ev *events.Event, timeJSON []byte) int {
	const members = len(`{"specversion":,"id":,"source":,"type":,"subject":,"time":,"datacontenttype":,"dataschema":,"resyncepoch":,"updateid":,"data":}`)
	const quotes, maxUint64Digits = 2 * 7, 20
	return members + quotes + maxUint64Digits + len(timeJSON) + len(ev.SpecVersion) + len(ev.ID) + len(ev.Source) + len(ev.Type) +
		len(ev.Subject) + len(ev.DataContentType) + len(ev.DataSchema) + len(ev.UpdateID) + len(ev.Data)
}

// appendEvent appends what json.Marshal(ev) returns to dst, given the
// encoding of ev.Time (timeJSON) and an ev.Data that encoding/json would
// leave unchanged (see build). It mirrors events.Event's fields: order, names
// and omitempty. It returns the extended buffer and the data's bytes within
// it.
func appendEvent(dst []byte, ev *events.Event, timeJSON []byte) (body, data []byte) {
	dst = append(dst, `{"specversion":`...)
	dst = appendJSONString(dst, ev.SpecVersion)
	dst = append(dst, `,"id":`...)
	dst = appendJSONString(dst, ev.ID)
	dst = append(dst, `,"source":`...)
	dst = appendJSONString(dst, ev.Source)
	dst = append(dst, `,"type":`...)
	dst = appendJSONString(dst, ev.Type)
	if ev.Subject != "" {
		dst = append(dst, `,"subject":`...)
		dst = appendJSONString(dst, ev.Subject)
	}
	dst = append(dst, `,"time":`...)
	dst = append(dst, timeJSON...)
	dst = append(dst, `,"datacontenttype":`...)
	dst = appendJSONString(dst, ev.DataContentType)
	if ev.DataSchema != "" {
		dst = append(dst, `,"dataschema":`...)
		dst = appendJSONString(dst, ev.DataSchema)
	}
	dst = append(dst, `,"resyncepoch":`...)
	dst = strconv.AppendUint(dst, ev.ResyncEpoch, 10)
	if ev.UpdateID != "" {
		dst = append(dst, `,"updateid":`...)
		dst = appendJSONString(dst, ev.UpdateID)
	}
	dst = append(dst, `,"data":`...)
	start := len(dst)
	if ev.Data == nil {
		dst = append(dst, "null"...) // json.RawMessage(nil).MarshalJSON
	} else {
		dst = append(dst, ev.Data...)
	}
	end := len(dst)
	dst = append(dst, '}')
	return dst, dst[start:end:end]
}

// appendJSONString appends s as encoding/json encodes a string (with its
// default HTML escaping). Strings of plain printable ASCII, which is what
// ids, types, sources and Plaid's ids are, are copied as they are; anything
// else is left to encoding/json.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
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
