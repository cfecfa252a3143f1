package asyncapitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"

	"github.com/plaidstream/plaidstream/internal/events"
)

const (
	docFile   = "../../docs/asyncapi.yaml"
	schemaDir = "../../schemas"
	eventsDir = "../events"
	busDir    = "../bus"
	goldens   = "../fetch/testdata/*.golden.json"

	// specFile is the official AsyncAPI 3.0.0 JSON Schema (see its README).
	specFile = "testdata/asyncapi-specs/3.0.0.json"
	specID   = "http://asyncapi.com/definitions/3.0.0/asyncapi.json"

	// docURL is where the document is registered with the JSON Schema
	// compiler. Its relative refs ("../schemas/x.schema.json") then resolve
	// to the $ids of the schemas/ files
	// ("https://plaidstream.dev/schemas/x.schema.json"), under which those
	// are registered. Nothing is fetched.
	docURL        = "https://plaidstream.dev/docs/asyncapi.yaml"
	schemaBaseURL = "https://plaidstream.dev/schemas/"

	// The document's channels, by key.
	webhooksChannel    = "webhooks"
	eventsChannel      = "events"
	deadLettersChannel = "deadLetters"

	// cloudEventsContentType is the Content-Type header internal/fetchjs
	// sets on every event.
	cloudEventsContentType = "application/cloudevents+json"
)

// knownItemCodes are the ITEM webhook codes the document describes with a
// message of their own; the fetcher passes any other code through as
// plaid.item.<code in lower case>.
var knownItemCodes = []string{
	"ERROR", "LOGIN_REPAIRED", "PENDING_EXPIRATION", "PENDING_DISCONNECT",
	"USER_PERMISSION_REVOKED", "USER_ACCOUNT_REVOKED", "NEW_ACCOUNTS_AVAILABLE",
	"WEBHOOK_UPDATE_ACKNOWLEDGED",
}

// unknownItemCode stands for an ITEM webhook code Plaid adds tomorrow.
const unknownItemCode = "SOME_NEW_CODE"

// TestDocumentIsValidAsyncAPI validates the document against the official
// AsyncAPI 3.0.0 JSON Schema, and checks that the schema does reject broken
// copies of it.
func TestDocumentIsValidAsyncAPI(t *testing.T) {
	spec := compileSpec(t)
	doc := loadDoc(t)
	if err := spec.Validate(doc); err != nil {
		t.Fatalf("%s is not a valid AsyncAPI 3.0.0 document:\n%v", docFile, err)
	}

	tests := []struct {
		name   string
		change func(doc map[string]any)
	}{
		{name: "AsyncAPI 2 operation action", change: func(doc map[string]any) { object(t, doc, "operations", "publishEvent")["action"] = "publish" }},
		{name: "operation without a channel", change: func(doc map[string]any) { delete(object(t, doc, "operations", "publishEvent"), "channel") }},
		{name: "unknown channel field", change: func(doc map[string]any) { object(t, doc, "channels", eventsChannel)["subject"] = "plaid.events.>" }},
		{name: "info without version", change: func(doc map[string]any) { delete(object(t, doc, "info"), "version") }},
		{name: "server without protocol", change: func(doc map[string]any) { delete(object(t, doc, "servers", "nats"), "protocol") }},
		{name: "parameter with a schema", change: func(doc map[string]any) {
			object(t, doc, "channels", eventsChannel, "parameters", "entity")["schema"] = map[string]any{"type": "string"}
		}},
		{name: "payload type not a type", change: func(doc map[string]any) {
			object(t, doc, "components", "schemas", "syncRequest")["type"] = "struct"
		}},
		{name: "message with a messageId (AsyncAPI 2)", change: func(doc map[string]any) {
			object(t, doc, "components", "messages", "plaidWebhook")["messageId"] = "plaidWebhook"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			broken := clone(t, doc).(map[string]any)
			tc.change(broken)
			if err := spec.Validate(broken); err == nil {
				t.Errorf("the AsyncAPI 3.0.0 schema accepts a document with %s", tc.name)
			}
		})
	}
}

// TestRefsResolve follows every $ref of the document and of the files it
// reaches: each must be relative (nothing may be fetched) and name an
// existing file and JSON pointer. Every schemas/*.schema.json must be
// reached.
func TestRefsResolve(t *testing.T) {
	start, err := filepath.Abs(docFile)
	if err != nil {
		t.Fatal(err)
	}
	loaded := make(map[string]any)
	load := func(path string) (any, error) {
		if v, ok := loaded[path]; ok {
			return v, nil
		}
		v, err := loadFile(path)
		if err != nil {
			return nil, err
		}
		loaded[path] = v
		return v, nil
	}
	queue, seen, refs := []string{start}, map[string]bool{start: true}, 0
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		v, err := load(path)
		if err != nil {
			t.Fatal(err)
		}
		name := relName(path)
		walkRefs(v, "", func(at, ref string) {
			refs++
			file, frag, _ := strings.Cut(ref, "#")
			u, err := url.Parse(file)
			if err != nil || u.Scheme != "" || u.Host != "" || strings.HasPrefix(file, "/") {
				t.Errorf("%s#%s: $ref %q is not a relative reference; validators would fetch it", name, at, ref)
				return
			}
			target := path
			if file != "" {
				target = filepath.Join(filepath.Dir(path), filepath.FromSlash(u.Path))
			}
			tv, err := load(target)
			if err != nil {
				t.Errorf("%s#%s: dangling $ref %q: %v", name, at, ref, err)
				return
			}
			if _, err := lookupPointer(tv, frag); err != nil {
				t.Errorf("%s#%s: dangling $ref %q: %v", name, at, ref, err)
				return
			}
			if !seen[target] {
				seen[target] = true
				queue = append(queue, target)
			}
		})
	}
	files, err := filepath.Glob(filepath.Join(schemaDir, "*.schema.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no schemas in %s: %v", schemaDir, err)
	}
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		if !seen[abs] {
			t.Errorf("%s is not reached from %s: describe the messages it is the payload of", f, docFile)
		}
	}
	t.Logf("%d $refs in %d files resolve", refs, len(seen))
}

// TestEveryEventTypeHasAMessage: every event type internal/events can emit
// (its Type* constants, plaid.item.<status> for its ItemStatus* constants and
// the known ITEM webhook codes, and the plaid.item.<status> family for
// unknown codes) is the name of exactly one message of the events channel,
// and every message there is one of them. The constants are read with
// go/ast, so a new one fails this test until the document describes it.
func TestEveryEventTypeHasAMessage(t *testing.T) {
	doc := loadDoc(t)
	byName := make(map[string]message)
	for _, m := range channelMessages(t, doc, eventsChannel) {
		name, _ := m.obj["name"].(string)
		if name == "" {
			t.Errorf("message %s has no name; name it by its event type", m.ptr)
			continue
		}
		if other, ok := byName[name]; ok {
			t.Errorf("messages %s and %s are both named %s", other.ptr, m.ptr, name)
		}
		byName[name] = m
	}

	consts := stringConsts(t, eventsDir)
	// The parser must read the package the code compiles.
	for name, want := range map[string]string{
		"TypeTransactionAdded": events.TypeTransactionAdded,
		"TypeItemPrefix":       events.TypeItemPrefix,
		"ItemStatusRemoved":    events.ItemStatusRemoved,
		"EventSubjects":        events.EventSubjects,
	} {
		if got := consts[name]; got != want {
			t.Fatalf("go/ast read %s = %q from %s, the compiled package has %q", name, got, eventsDir, want)
		}
	}

	// want maps each event type to where it comes from. The lists below
	// break the build when a constant is renamed; the go/ast scan catches
	// the constants nobody listed.
	want := make(map[string]string)
	for _, typ := range []string{
		events.TypeTransactionAdded, events.TypeTransactionModified, events.TypeTransactionRemoved,
		events.TypeTransactionPosted, events.TypeRecurringStreamAdded, events.TypeRecurringStreamModified,
		events.TypeRecurringStreamRemoved, events.TypeSyncCompleted,
	} {
		want[typ] = "internal/events"
	}
	for _, st := range []string{events.ItemStatusRemoved, events.ItemStatusResyncStarted, events.ItemStatusRefreshFailed} {
		want[events.ItemEventType(st)] = "internal/events item status " + st
	}
	for _, code := range knownItemCodes {
		want[events.ItemEventType(code)] = "ITEM webhook code " + code
	}
	addresses := channelAddresses(t, doc)
	filters := jetstreamSubjects(t, doc)
	for _, name := range sortedKeys(consts) {
		v := consts[name]
		isType := strings.HasPrefix(name, "Type")
		switch {
		case strings.HasPrefix(name, "ItemStatus"):
			want[events.ItemEventType(v)] = "events." + name
		case !strings.HasPrefix(v, "plaid."):
			if isType {
				t.Errorf("events.%s = %q is not a plaid.* event type", name, v)
			}
		case strings.HasSuffix(v, ".>"):
			// A stream's subject filter (TestChannelsMatchStreams).
			if !slices.Contains(filters, v) {
				t.Errorf("events.%s = %q is no channel's x-jetstream subject filter", name, v)
			}
			if isType {
				t.Errorf("events.%s = %q: an event type cannot be a subject filter", name, v)
			}
		case !isType && isSubjectPrefix(v, addresses):
			// A subject prefix of a described channel.
		case strings.HasSuffix(v, "."):
			// A family of event types: plaid.item.<status>.
			want[v+"<status>"] = "events." + name
		case isType:
			want[v] = "events." + name
		default:
			want[v] = "events." + name + ", not a prefix of any channel address either"
		}
	}

	for _, typ := range sortedKeys(want) {
		if _, ok := byName[typ]; !ok {
			t.Errorf("event type %s (%s) has no message named %s in channel %s of %s", typ, want[typ], typ, eventsChannel, docFile)
		}
	}
	for _, name := range sortedKeys(byName) {
		if _, ok := want[name]; !ok {
			t.Errorf("message %s (%s) is no event type the code emits", name, byName[name].ptr)
		}
	}
}

// TestEventMessagesAcceptTheirEvents validates a real event of every type
// (the golden events of internal/fetch, item events derived from them, and
// each of those for a processor token too) against the events channel's
// messages: exactly the message named by the event's type accepts it. Its
// subject must match the channel address and its Nats-Msg-Id the message
// headers.
func TestEventMessagesAcceptTheirEvents(t *testing.T) {
	doc := loadDoc(t)
	v := newValidator(t, doc)
	msgs := channelMessages(t, doc, eventsChannel)
	payloads := make(map[string]*jsonschema.Schema, len(msgs))
	headers := make(map[string]*jsonschema.Schema, len(msgs))
	var names []string
	for _, m := range msgs {
		name, _ := m.obj["name"].(string)
		names = append(names, name)
		payloads[name] = v.compile(t, m.ptr+"/payload")
		headers[name] = v.compile(t, m.ptr+"/headers")
	}
	channel := object(t, doc, "channels", eventsChannel)

	samples := sampleEvents(t, names)
	for _, s := range samples {
		typ, _ := s.event["type"].(string)
		t.Run(s.name, func(t *testing.T) {
			var matched []string
			for _, name := range names {
				if payloads[name].Validate(s.event) == nil {
					matched = append(matched, name)
				}
			}
			if len(matched) != 1 || matched[0] != s.message {
				err := payloads[s.message].Validate(s.event)
				t.Errorf("event of type %s matches messages %v, want only %s (its own says: %v)", typ, matched, s.message, err)
			}
			if id, _ := s.event["id"].(string); s.msgID != id {
				t.Errorf("Nats-Msg-Id %q, event id %q; want them equal", s.msgID, id)
			}
			h := map[string]any{"Nats-Msg-Id": s.msgID, "Content-Type": cloudEventsContentType}
			if err := headers[s.message].Validate(h); err != nil {
				t.Errorf("headers %v rejected: %v", h, err)
			}
			params, ok := matchAddress(t, channel, s.subject)
			if !ok {
				t.Fatalf("subject %q does not match the address of channel %s", s.subject, eventsChannel)
			}
			if got, want := params["entity"]+"."+params["change"], strings.TrimPrefix(typ, "plaid."); got != want {
				t.Errorf("subject %q has entity.change %q, type %s; want %q", s.subject, got, typ, want)
			}
		})
	}
	t.Logf("validated %d events against %d messages", len(samples), len(names))
}

// TestChannelAddressesMatchSubjects matches the subjects internal/events
// builds against the channel addresses and their parameters.
func TestChannelAddressesMatchSubjects(t *testing.T) {
	doc := loadDoc(t)
	type testCase struct {
		name    string
		channel string
		subject string
		params  map[string]string
	}
	tests := []testCase{
		{
			name: "transactions webhook", channel: webhooksChannel,
			subject: events.WebhookSubject("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE"),
			params:  map[string]string{"webhook_type": "TRANSACTIONS", "webhook_code": "SYNC_UPDATES_AVAILABLE"},
		},
		{
			name: "item webhook", channel: webhooksChannel,
			subject: events.WebhookSubject("ITEM", "LOGIN_REPAIRED"),
			params:  map[string]string{"webhook_type": "ITEM", "webhook_code": "LOGIN_REPAIRED"},
		},
		{
			name: "sync request", channel: webhooksChannel,
			subject: events.WebhookSubject(events.SyncRequestType, events.SyncRequestCode),
			params:  map[string]string{"webhook_type": events.SyncRequestType, "webhook_code": events.SyncRequestCode},
		},
		{
			name: "dead letter of a webhook", channel: deadLettersChannel,
			subject: events.DLQSubject(events.WebhookStream),
			params:  map[string]string{"source_stream": events.WebhookStream},
		},
	}
	for _, m := range channelMessages(t, doc, eventsChannel) {
		name, _ := m.obj["name"].(string)
		typ := strings.Replace(name, "<status>", strings.ToLower(unknownItemCode), 1)
		entity, change, _ := strings.Cut(strings.TrimPrefix(typ, "plaid."), ".")
		for _, owner := range []string{"eVBnVMp7zdTJLkRNr33Rs6zr7KNJqBFL9DrE6", "acct-9"} {
			subject, err := events.SubjectForType(owner, typ)
			if err != nil {
				t.Errorf("message %s: %v", name, err)
				continue
			}
			tests = append(tests, testCase{
				name: typ + " of " + owner, channel: eventsChannel, subject: subject,
				params: map[string]string{"owner_id": owner, "entity": entity, "change": change},
			})
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			channel := object(t, doc, "channels", tc.channel)
			got, ok := matchAddress(t, channel, tc.subject)
			if !ok {
				t.Fatalf("subject %q does not match address %q", tc.subject, channel["address"])
			}
			for _, k := range sortedKeys(tc.params) {
				if got[k] != tc.params[k] {
					t.Errorf("subject %q: parameter %s = %q, want %q", tc.subject, k, got[k], tc.params[k])
				}
			}
			for k, val := range got {
				if enum := stringList(object(t, channel, "parameters", k)["enum"]); enum != nil && !slices.Contains(enum, val) {
					t.Errorf("subject %q: parameter %s = %q is not in its enum %v", tc.subject, k, val, enum)
				}
			}
		})
	}

	// The entity parameter lists exactly the Entity* constants.
	var entities []string
	for name, v := range stringConsts(t, eventsDir) {
		if strings.HasPrefix(name, "Entity") {
			entities = append(entities, v)
		}
	}
	slices.Sort(entities)
	enum := stringList(object(t, doc, "channels", eventsChannel, "parameters", "entity")["enum"])
	slices.Sort(enum)
	if !slices.Equal(enum, entities) {
		t.Errorf("parameter entity of channel %s: enum %v, want the Entity* constants %v", eventsChannel, enum, entities)
	}
}

// TestDeadLetterSubjectsAreDescribed finds every events.DLQSubject(...) call
// in the code and requires its stream in the source_stream enum of the
// dead-letter channel.
func TestDeadLetterSubjectsAreDescribed(t *testing.T) {
	doc := loadDoc(t)
	enum := stringList(object(t, doc, "channels", deadLettersChannel, "parameters", "source_stream")["enum"])
	consts := stringConsts(t, eventsDir)
	found := 0
	inspectCode(t, func(pos token.Position, n ast.Node) {
		call, ok := n.(*ast.CallExpr)
		if !ok || !isSelector(call.Fun, "events", "DLQSubject") || len(call.Args) != 1 {
			return
		}
		found++
		arg, ok := call.Args[0].(*ast.SelectorExpr)
		stream, known := "", false
		if ok && isSelector(arg, "events", arg.Sel.Name) {
			stream, known = consts[arg.Sel.Name]
		}
		switch {
		case !known:
			t.Errorf("%s: events.DLQSubject of something other than an events constant; describe its stream in %s and teach this test", pos, docFile)
		case !slices.Contains(enum, stream):
			t.Errorf("%s: dead letters of %s are published, but source_stream of channel %s lists only %v", pos, stream, deadLettersChannel, enum)
		}
	})
	if found == 0 {
		t.Error("found no events.DLQSubject call; who publishes dead letters now?")
	}
}

// TestSyncRequestReasonsAreDescribed collects the sync request reasons the
// code writes as literals (Reason fields of SyncRequestOptions and
// SyncRequest, and the reason argument of the items service's Sync) and
// requires them to be exactly the reason enum of the syncRequest schema.
func TestSyncRequestReasonsAreDescribed(t *testing.T) {
	doc := loadDoc(t)
	enum := stringList(object(t, doc, "components", "schemas", "syncRequest", "properties", "reason")["enum"])
	found := make(map[string]string) // reason -> where
	add := func(pos token.Position, e ast.Expr) {
		if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			v, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			found[v] = pos.String()
		}
	}
	inspectCode(t, func(pos token.Position, n ast.Node) {
		switch n := n.(type) {
		case *ast.CompositeLit:
			if name := typeName(n.Type); name != "SyncRequestOptions" && name != "SyncRequest" {
				return
			}
			for _, e := range n.Elts {
				if kv, ok := e.(*ast.KeyValueExpr); ok {
					if key, ok := kv.Key.(*ast.Ident); ok && key.Name == "Reason" {
						add(pos, kv.Value)
					}
				}
			}
		case *ast.CallExpr:
			// items.Service.Sync(ctx, owner, reason)
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Sync" && len(n.Args) == 3 {
				add(pos, n.Args[2])
			}
		}
	})
	for _, r := range sortedKeys(found) {
		if !slices.Contains(enum, r) {
			t.Errorf("%s: sync request reason %q is not in the reason enum %v of %s", found[r], r, enum, docFile)
		}
	}
	for _, r := range enum {
		if _, ok := found[r]; !ok {
			t.Errorf("reason %q of %s: the code never writes it (found %v)", r, docFile, sortedKeys(found))
		}
	}
}

// TestChannelsMatchStreams compares each channel's x-jetstream extension
// with the stream spec of internal/events, and requires a channel for every
// stream spec.
func TestChannelsMatchStreams(t *testing.T) {
	doc := loadDoc(t)
	specs := map[string]events.StreamSpec{
		webhooksChannel:    events.WebhookStreamSpec(),
		eventsChannel:      events.EventStreamSpec(),
		deadLettersChannel: events.DLQStreamSpec(),
	}
	// A new stream spec needs a channel (and a line above).
	for _, fn := range funcsReturning(t, eventsDir, "StreamSpec") {
		if !slices.Contains([]string{"WebhookStreamSpec", "EventStreamSpec", "DLQStreamSpec"}, fn) {
			t.Errorf("events.%s defines a stream %s does not describe", fn, docFile)
		}
	}
	channels := object(t, doc, "channels")
	for _, key := range sortedKeys(channels) {
		if _, ok := specs[key]; !ok {
			t.Errorf("channel %s belongs to no stream spec of internal/events", key)
		}
	}
	for _, key := range sortedKeys(specs) {
		spec := specs[key]
		t.Run(spec.Name, func(t *testing.T) {
			channel := object(t, doc, "channels", key)
			x := object(t, channel, "x-jetstream")
			if got := x["stream"]; got != spec.Name {
				t.Errorf("x-jetstream.stream %v, want %s", got, spec.Name)
			}
			if got := stringList(x["subjects"]); !slices.Equal(got, spec.Subjects) {
				t.Errorf("x-jetstream.subjects %v, want %v", got, spec.Subjects)
			}
			window, _ := x["duplicateWindow"].(string)
			if d, err := time.ParseDuration(window); err != nil || d != spec.Duplicates {
				t.Errorf("x-jetstream.duplicateWindow %q, want %v", window, spec.Duplicates)
			}
			discard := "old"
			if spec.RejectWhenFull {
				discard = "new"
			}
			if got := x["discard"]; got != discard {
				t.Errorf("x-jetstream.discard %v, want %s", got, discard)
			}
			if title := channel["title"]; title != spec.Name {
				t.Errorf("title %v, want the stream name %s", title, spec.Name)
			}
			address, _ := channel["address"].(string)
			subject := regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(address, "x")
			captured := false
			for _, f := range spec.Subjects {
				captured = captured || subjectMatches(f, subject)
			}
			if !captured {
				t.Errorf("address %q is outside the stream's subjects %v", address, spec.Subjects)
			}
		})
	}
}

// TestHeadersAreDescribed: every header constant of internal/events is a
// property of the webhook message headers, every Plaidstream-Dlq-* constant
// (internal/bus today) one of the dead-letter headers, and the headers
// internal/events builds validate.
func TestHeadersAreDescribed(t *testing.T) {
	doc := loadDoc(t)
	webhookProps := object(t, doc, "components", "schemas", "plaidWebhookHeaders", "properties")
	dlqProps := object(t, doc, "components", "schemas", "deadLetterHeaders", "properties")
	dlqConsts := 0
	for _, dir := range []string{eventsDir, busDir} {
		for name, v := range stringConsts(t, dir) {
			switch {
			case strings.HasPrefix(v, "Plaidstream-Dlq-"):
				dlqConsts++
				if _, ok := dlqProps[v]; !ok {
					t.Errorf("%s.%s = %q is not a header of deadLetterHeaders", filepath.Base(dir), name, v)
				}
			case dir == eventsDir && strings.HasPrefix(name, "Header"):
				if _, ok := webhookProps[v]; !ok {
					t.Errorf("events.%s = %q is not a header of plaidWebhookHeaders", name, v)
				}
			}
		}
	}
	if dlqConsts < 7 {
		t.Errorf("found %d Plaidstream-Dlq-* header constants in %s and %s, want at least 7", dlqConsts, eventsDir, busDir)
	}

	v := newValidator(t, doc)
	webhookHeaders := v.compile(t, "/components/schemas/plaidWebhookHeaders")
	syncHeaders := v.compile(t, "/components/schemas/syncRequestHeaders")
	at := time.Date(2026, 11, 22, 11, 0, 0, 120000000, time.FixedZone("CET", 3600))
	token := "eyJhbGciOiJFUzI1NiIsImtpZCI6ImtpZC0xIiwidHlwIjoiSldUIn0.eyJpYXQiOjE3OTUzMzgwMDB9.c2ln"
	tests := []struct {
		name   string
		schema *jsonschema.Schema
		header map[string][]string
	}{
		{name: "item webhook", schema: webhookHeaders, header: events.WebhookHeaders(
			events.WebhookEnvelope{WebhookType: "TRANSACTIONS", WebhookCode: "SYNC_UPDATES_AVAILABLE", ItemID: "item-1", Environment: "sandbox"},
			events.WebhookMsgID(token), "kid-1", at)},
		{name: "processor webhook", schema: webhookHeaders, header: events.WebhookHeaders(
			events.WebhookEnvelope{WebhookType: "TRANSACTIONS", WebhookCode: "SYNC_UPDATES_AVAILABLE", AccountID: "acct-9", Environment: "production"},
			events.WebhookMsgID(token), "kid-1", at)},
		{name: "webhook without ids", schema: webhookHeaders, header: events.WebhookHeaders(
			events.WebhookEnvelope{WebhookType: "INCOME", WebhookCode: "INCOME_VERIFICATION"},
			events.WebhookMsgID(token), "kid-1", at)},
		// internal/bus.RequestSync: Nats-Msg-Id "sync-request-<request id>", no key id.
		{name: "sync request", schema: syncHeaders, header: events.WebhookHeaders(
			events.WebhookEnvelope{WebhookType: events.SyncRequestType, WebhookCode: events.SyncRequestCode, ItemID: "item-1", Environment: "sandbox"},
			"sync-request-forced-item.item-1-3f9a", "", at)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := flatHeaders(t, tc.header)
			if err := tc.schema.Validate(h); err != nil {
				t.Errorf("headers %v rejected: %v", h, err)
			}
		})
	}
}

// TestPayloadsTheCodeBuilds validates webhook bodies the code accepts and
// sync requests it builds against the webhooks channel's messages.
func TestPayloadsTheCodeBuilds(t *testing.T) {
	doc := loadDoc(t)
	v := newValidator(t, doc)
	webhook := v.compile(t, "/components/messages/plaidWebhook/payload")
	syncRequest := v.compile(t, "/components/messages/syncRequested/payload")

	bodies := map[string]string{
		"transactions":    `{"webhook_type": "TRANSACTIONS", "webhook_code": "SYNC_UPDATES_AVAILABLE", "item_id": "item-1", "initial_update_complete": true, "historical_update_complete": false, "environment": "production"}`,
		"item error":      `{"webhook_type": "ITEM", "webhook_code": "ERROR", "item_id": "item-1", "error": {"error_type": "ITEM_ERROR", "error_code": "ITEM_LOGIN_REQUIRED"}, "environment": "sandbox"}`,
		"processor":       `{"webhook_type": "TRANSACTIONS", "webhook_code": "SYNC_UPDATES_AVAILABLE", "account_id": "acct-9", "environment": "sandbox"}`,
		"null item id":    `{"webhook_type": "ITEM", "webhook_code": "WEBHOOK_UPDATE_ACKNOWLEDGED", "item_id": null, "new_webhook_url": "https://example.com/plaid/webhook"}`,
		"no ids":          `{"webhook_type": "INCOME", "webhook_code": "INCOME_VERIFICATION", "environment": "production"}`,
		"unicode in code": `{"webhook_type": "ITEM", "webhook_code": "ÉTAT_INCONNU", "item_id": "item-1"}`,
	}
	for _, name := range sortedKeys(bodies) {
		body := []byte(bodies[name])
		t.Run("webhook "+name, func(t *testing.T) {
			if _, err := events.DecodeWebhookEnvelope(body); err != nil {
				t.Fatalf("DecodeWebhookEnvelope: %v", err)
			}
			if err := webhook.Validate(decodeJSON(t, body)); err != nil {
				t.Errorf("a body webhookd stores is rejected: %v\n%s", err, body)
			}
		})
	}
	// Bodies webhookd refuses are outside the contract too.
	for name, body := range map[string]string{
		"no code":          `{"webhook_type": "ITEM", "item_id": "item-1"}`,
		"dot in the code":  `{"webhook_type": "ITEM", "webhook_code": "A.B"}`,
		"space in item id": `{"webhook_type": "ITEM", "webhook_code": "ERROR", "item_id": "item 1"}`,
	} {
		t.Run("refused webhook "+name, func(t *testing.T) {
			if _, err := events.DecodeWebhookEnvelope([]byte(body)); err == nil {
				t.Fatalf("DecodeWebhookEnvelope accepts %s", body)
			}
			if err := webhook.Validate(decodeJSON(t, []byte(body))); err == nil {
				t.Errorf("a body webhookd refuses is accepted: %s", body)
			}
		})
	}

	requests := map[string]events.SyncRequest{
		"registered": {Reason: "registered", ItemID: "item-1", Environment: "sandbox"},
		"forced":     {Reason: "forced", AccountID: "acct-9", Environment: "production", Unpark: true},
		"resync":     {Reason: "resync", ItemID: "item-1", Environment: "production", Unpark: true, ResyncEpoch: 3},
		"reconcile":  {Reason: "reconcile", ItemID: "item-1", Environment: "sandbox"},
	}
	for _, name := range sortedKeys(requests) {
		req := requests[name]
		req.WebhookType, req.WebhookCode = events.SyncRequestType, events.SyncRequestCode
		t.Run("sync request "+name, func(t *testing.T) {
			body, err := json.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			if err := syncRequest.Validate(decodeJSON(t, body)); err != nil {
				t.Errorf("rejected: %v\n%s", err, body)
			}
		})
	}
}

// TestExamples validates every message example against its message's
// headers and payload, and checks what the schemas cannot: an event's
// Nats-Msg-Id is its id, a webhook's headers agree with its body, a dead
// letter's Nats-Msg-Id names the original.
func TestExamples(t *testing.T) {
	doc := loadDoc(t)
	v := newValidator(t, doc)
	count := 0
	for _, channel := range []string{webhooksChannel, eventsChannel, deadLettersChannel} {
		for _, m := range channelMessages(t, doc, channel) {
			examples, _ := m.obj["examples"].([]any)
			for i, e := range examples {
				count++
				ex, _ := e.(map[string]any)
				t.Run(fmt.Sprintf("%s_%d", m.ptr[strings.LastIndexByte(m.ptr, '/')+1:], i), func(t *testing.T) {
					headers, _ := ex["headers"].(map[string]any)
					if _, ok := m.obj["headers"]; ok {
						if err := v.compile(t, m.ptr+"/headers").Validate(ex["headers"]); err != nil {
							t.Errorf("headers rejected: %v", err)
						}
					}
					if err := v.compile(t, m.ptr+"/payload").Validate(ex["payload"]); err != nil {
						t.Errorf("payload rejected: %v", err)
					}
					body := encodeJSON(t, ex["payload"])
					switch channel {
					case eventsChannel:
						ev, err := events.DecodeEvent(body)
						if err != nil {
							t.Fatalf("DecodeEvent: %v", err)
						}
						if name := m.obj["name"]; ev.Type != name {
							t.Errorf("type %s in an example of message %v", ev.Type, name)
						}
						if headers["Nats-Msg-Id"] != ev.ID {
							t.Errorf("Nats-Msg-Id %v, id %s; want them equal", headers["Nats-Msg-Id"], ev.ID)
						}
					case webhooksChannel:
						h := make(map[string][]string)
						for k, val := range headers {
							h[k] = []string{fmt.Sprint(val)}
						}
						wm, err := events.DecodeWebhookMessage(h, body)
						if err != nil {
							t.Fatalf("DecodeWebhookMessage: %v", err)
						}
						env, err := events.DecodeWebhookEnvelope(body)
						if err != nil {
							t.Fatalf("DecodeWebhookEnvelope: %v", err)
						}
						if wm.WebhookEnvelope != env {
							t.Errorf("headers say %+v, body %+v", wm.WebhookEnvelope, env)
						}
					case deadLettersChannel:
						want := fmt.Sprintf("dlq-%v-%v", headers["Plaidstream-Dlq-Stream"], headers["Plaidstream-Dlq-Sequence"])
						if got := headers["Nats-Msg-Id"]; got != want {
							t.Errorf("Nats-Msg-Id %v, want %s", got, want)
						}
					}
				})
			}
		}
	}
	if count < 4 {
		t.Errorf("found %d message examples, want at least 4", count)
	}
}

// TestOperationsSendEveryMessage: plaidstream sends every message of every
// channel, each through exactly one send operation on its channel.
func TestOperationsSendEveryMessage(t *testing.T) {
	doc := loadDoc(t)
	sent := make(map[string][]string) // message ref -> operations
	operations := object(t, doc, "operations")
	for _, id := range sortedKeys(operations) {
		op := object(t, operations, id)
		if op["action"] != "send" {
			t.Errorf("operation %s: action %v, want send (plaidstream publishes everything described here)", id, op["action"])
		}
		channelRef, _ := object(t, op, "channel")["$ref"].(string)
		for _, r := range op["messages"].([]any) {
			ref, _ := r.(map[string]any)["$ref"].(string)
			if !strings.HasPrefix(ref, channelRef+"/messages/") {
				t.Errorf("operation %s on %s sends %s, a message of another channel", id, channelRef, ref)
			}
			sent[ref] = append(sent[ref], id)
		}
	}
	channels := object(t, doc, "channels")
	for _, key := range sortedKeys(channels) {
		for _, name := range sortedKeys(object(t, channels, key, "messages")) {
			ref := "#/channels/" + key + "/messages/" + name
			if ops := sent[ref]; len(ops) != 1 {
				t.Errorf("message %s is sent by operations %v, want exactly one", ref, ops)
			}
		}
	}
}

// --- the document ---

// loadDoc reads docs/asyncapi.yaml as JSON Schema instances are decoded.
func loadDoc(t *testing.T) map[string]any {
	t.Helper()
	v, err := loadFile(docFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is not a YAML mapping", docFile)
	}
	return doc
}

// loadFile reads a JSON or YAML file; numbers become json.Number, YAML
// duplicate keys are errors.
func loadFile(path string) (any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if ext := filepath.Ext(path); ext == ".yaml" || ext == ".yml" {
		if b, err = yaml.YAMLToJSONStrict(b); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// object returns v[keys[0]][keys[1]]..., failing the test unless every step
// is an object. Local $refs on the way are followed.
func object(t *testing.T, v any, keys ...string) map[string]any {
	t.Helper()
	cur, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("not an object: %v", v)
	}
	for i, k := range keys {
		next, ok := cur[k].(map[string]any)
		if !ok {
			t.Fatalf("%s: not an object", strings.Join(keys[:i+1], "."))
		}
		cur = next
	}
	return cur
}

// message is a message of a channel, its $refs followed.
type message struct {
	ptr string // JSON pointer of the message object in the document
	obj map[string]any
}

// channelMessages returns the messages of a channel, in key order.
func channelMessages(t *testing.T, doc map[string]any, channel string) []message {
	t.Helper()
	msgs := object(t, doc, "channels", channel, "messages")
	var out []message
	for _, key := range sortedKeys(msgs) {
		ptr := "/channels/" + channel + "/messages/" + key
		v := msgs[key]
		for range 8 {
			m, ok := v.(map[string]any)
			ref, isRef := m["$ref"].(string)
			if !ok || !isRef {
				break
			}
			if !strings.HasPrefix(ref, "#/") {
				t.Fatalf("%s: message $ref %q is not local", ptr, ref)
			}
			ptr = strings.TrimPrefix(ref, "#")
			var err error
			if v, err = lookupPointer(doc, ptr); err != nil {
				t.Fatalf("message $ref %q: %v", ref, err)
			}
		}
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: not a message object", ptr)
		}
		out = append(out, message{ptr: ptr, obj: m})
	}
	if len(out) == 0 {
		t.Fatalf("channel %s has no messages", channel)
	}
	return out
}

// channelAddresses returns every channel's address.
func channelAddresses(t *testing.T, doc map[string]any) []string {
	t.Helper()
	var out []string
	channels := object(t, doc, "channels")
	for _, key := range sortedKeys(channels) {
		a, _ := object(t, channels, key)["address"].(string)
		out = append(out, a)
	}
	return out
}

// jetstreamSubjects returns the subject filters of every channel's
// x-jetstream extension.
func jetstreamSubjects(t *testing.T, doc map[string]any) []string {
	t.Helper()
	var out []string
	channels := object(t, doc, "channels")
	for _, key := range sortedKeys(channels) {
		out = append(out, stringList(object(t, channels, key, "x-jetstream")["subjects"])...)
	}
	return out
}

// isSubjectPrefix reports whether prefix is a literal leading part of one of
// the addresses, ending at a token boundary.
func isSubjectPrefix(prefix string, addresses []string) bool {
	for _, a := range addresses {
		if !strings.ContainsAny(prefix, "{}") && strings.HasPrefix(a, prefix+".") {
			return true
		}
	}
	return false
}

// matchAddress matches a NATS subject against a channel's address, each
// {parameter} standing for one subject token. It returns the parameters'
// values. Every parameter in the address must be described in the channel's
// parameters and vice versa.
func matchAddress(t *testing.T, channel map[string]any, subject string) (map[string]string, bool) {
	t.Helper()
	address, _ := channel["address"].(string)
	var names []string
	var b strings.Builder
	b.WriteString("^")
	rest := address
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			t.Fatalf("address %q: unclosed {", address)
		}
		b.WriteString(regexp.QuoteMeta(rest[:i]))
		b.WriteString(`([^.*>\s]+)`)
		names = append(names, rest[i+1:i+j])
		rest = rest[i+j+1:]
	}
	b.WriteString("$")
	params, _ := channel["parameters"].(map[string]any)
	described := sortedKeys(params)
	if got := slices.Sorted(slices.Values(names)); !slices.Equal(got, described) {
		t.Fatalf("address %q has parameters %v, the channel describes %v", address, got, described)
	}
	m := regexp.MustCompile(b.String()).FindStringSubmatch(subject)
	if m == nil {
		return nil, false
	}
	out := make(map[string]string, len(names))
	for i, n := range names {
		out[n] = m[i+1]
	}
	return out, true
}

// subjectMatches reports whether a NATS subject filter (with * and >)
// matches subject.
func subjectMatches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range f {
		switch {
		case tok == ">":
			return len(s) > i
		case i >= len(s):
			return false
		case tok != "*" && tok != s[i]:
			return false
		}
	}
	return len(f) == len(s)
}

// --- JSON Schema ---

// compileSpec compiles the vendored AsyncAPI 3.0.0 JSON Schema. It embeds
// every definition under its $id and refers only to the draft-07
// meta-schema, which the library ships.
func compileSpec(t *testing.T) *jsonschema.Schema {
	t.Helper()
	spec, err := loadFile(specFile)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.AssertFormat()
	c.UseLoader(jsonschema.SchemeURLLoader{}) // never fetch
	if err := c.AddResource(specID, spec); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(specID)
	if err != nil {
		t.Fatalf("compile %s: %v", specFile, err)
	}
	return s
}

// validator compiles schemas inside the document: message payloads and
// headers, with their $refs to schemas/.
type validator struct {
	c *jsonschema.Compiler
}

func newValidator(t *testing.T, doc map[string]any) *validator {
	t.Helper()
	c := jsonschema.NewCompiler()
	// An AsyncAPI Schema Object is a superset of JSON Schema draft-07; the
	// schemas/ files declare draft 2020-12 themselves.
	c.DefaultDraft(jsonschema.Draft7)
	c.AssertFormat()
	c.UseLoader(jsonschema.SchemeURLLoader{}) // never fetch
	files, err := filepath.Glob(filepath.Join(schemaDir, "*.schema.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no schemas in %s: %v", schemaDir, err)
	}
	for _, f := range files {
		v, err := loadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource(schemaBaseURL+filepath.Base(f), v); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.AddResource(docURL, doc); err != nil {
		t.Fatal(err)
	}
	return &validator{c: c}
}

// compile compiles the schema at a JSON pointer of the document.
func (v *validator) compile(t *testing.T, ptr string) *jsonschema.Schema {
	t.Helper()
	s, err := v.c.Compile(docURL + "#" + ptr)
	if err != nil {
		t.Fatalf("compile %s#%s: %v", docFile, ptr, err)
	}
	return s
}

// walkRefs calls fn for every "$ref" string in v, with the JSON pointer of
// the object holding it, in a stable order.
func walkRefs(v any, at string, fn func(at, ref string)) {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			fn(at, ref)
		}
		for _, k := range sortedKeys(v) {
			walkRefs(v[k], at+"/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(k), fn)
		}
	case []any:
		for i, e := range v {
			walkRefs(e, at+"/"+strconv.Itoa(i), fn)
		}
	}
}

// lookupPointer resolves a URI fragment holding a JSON pointer ("" is the
// whole document).
func lookupPointer(doc any, frag string) (any, error) {
	frag, err := url.PathUnescape(frag)
	if err != nil {
		return nil, err
	}
	if frag == "" {
		return doc, nil
	}
	if !strings.HasPrefix(frag, "/") {
		return nil, fmt.Errorf("fragment %q is not a JSON pointer", frag)
	}
	cur := doc
	for _, tok := range strings.Split(frag[1:], "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("no %q in %s", tok, frag)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("no index %q in %s", tok, frag)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("%q of %s is inside a scalar", tok, frag)
		}
	}
	return cur, nil
}

// --- sample events ---

// sample is one event to validate, and the message that must accept it.
type sample struct {
	name    string
	message string // the name of the message that must accept it
	subject string
	msgID   string
	event   map[string]any
}

// sampleEvents returns one event per message name: the first golden event
// of internal/fetch of that type, or for item statuses without one, the
// golden item event with its status changed; and each again for a processor
// token.
func sampleEvents(t *testing.T, names []string) []sample {
	t.Helper()
	byType := make(map[string]sample)
	files, err := filepath.Glob(goldens)
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden events in %s: %v", goldens, err)
	}
	for _, f := range files {
		v, err := loadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		walkGolden(v, func(subject, msgID string, ev map[string]any) {
			typ, _ := ev["type"].(string)
			if _, ok := byType[typ]; !ok {
				byType[typ] = sample{name: typ + " from " + filepath.Base(f), message: typ, subject: subject, msgID: msgID, event: ev}
			}
		})
	}
	itemBase, ok := byType[events.ItemEventType("ERROR")]
	if !ok {
		t.Fatalf("no %s event in %s", events.ItemEventType("ERROR"), goldens)
	}
	var out []sample
	for _, name := range names {
		s, ok := byType[name]
		if !ok && strings.HasPrefix(name, events.TypeItemPrefix) {
			typ := name
			if strings.Contains(name, "<") {
				typ = events.ItemEventType(unknownItemCode)
			}
			s = withType(t, itemBase, typ)
			s.name, s.message = typ+" derived from "+itemBase.name, name
		}
		if s.event == nil {
			t.Errorf("no golden event of type %s in %s", name, goldens)
			continue
		}
		out = append(out, s, processorVariant(t, s))
	}
	return out
}

// walkGolden calls fn for every {subject, msg_id, event} object in v.
func walkGolden(v any, fn func(subject, msgID string, ev map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		subject, ok1 := v["subject"].(string)
		msgID, ok2 := v["msg_id"].(string)
		ev, ok3 := v["event"].(map[string]any)
		if ok1 && ok2 && ok3 {
			fn(subject, msgID, ev)
			return
		}
		for _, k := range sortedKeys(v) {
			walkGolden(v[k], fn)
		}
	case []any:
		for _, e := range v {
			walkGolden(e, fn)
		}
	}
}

// withType returns a copy of an item event with another type (and status),
// a new id and its subject.
func withType(t *testing.T, s sample, typ string) sample {
	t.Helper()
	ev := clone(t, s.event).(map[string]any)
	ev["type"] = typ
	object(t, ev, "data")["status"] = strings.TrimPrefix(typ, events.TypeItemPrefix)
	owner := ownerOf(t, ev)
	ev["id"] = events.EventID(owner, 0, "asyncapitest", typ, "", encodeJSON(t, ev["data"]))
	subject, err := events.SubjectForType(owner.ID, typ)
	if err != nil {
		t.Fatal(err)
	}
	return sample{subject: subject, msgID: ev["id"].(string), event: ev}
}

// processorVariant returns a copy of an item's event as a processor token's
// account would have it: no item_id, and account_id naming the owner on
// sync and item events.
func processorVariant(t *testing.T, s sample) sample {
	t.Helper()
	const account = "acct-9"
	ev := clone(t, s.event).(map[string]any)
	typ, _ := ev["type"].(string)
	ev["source"] = events.Owner{Kind: events.OwnerProcessor, ID: account}.Source("sandbox")
	data := object(t, ev, "data")
	delete(data, "item_id")
	if typ == events.TypeSyncCompleted || strings.HasPrefix(typ, events.TypeItemPrefix) {
		data["account_id"] = account
	}
	owner := events.Owner{Kind: events.OwnerProcessor, ID: account}
	ev["id"] = events.EventID(owner, 0, "asyncapitest", typ, "", encodeJSON(t, data))
	subject, err := events.SubjectForType(account, typ)
	if err != nil {
		t.Fatal(err)
	}
	return sample{name: s.name + " (processor)", message: s.message, subject: subject, msgID: ev["id"].(string), event: ev}
}

// ownerOf reads the owner from an event's source.
func ownerOf(t *testing.T, ev map[string]any) events.Owner {
	t.Helper()
	src, _ := ev["source"].(string)
	parts := strings.Split(src, "/")
	if len(parts) != 4 {
		t.Fatalf("source %q", src)
	}
	kind := events.OwnerItem
	if parts[2] == "processor" {
		kind = events.OwnerProcessor
	}
	return events.Owner{Kind: kind, ID: parts[3]}
}

// --- Go source ---

// stringConsts returns the string constants declared in the non-test Go
// files of dir, by name, evaluating concatenations of literals and of other
// constants of the package.
func stringConsts(t *testing.T, dir string) map[string]string {
	t.Helper()
	exprs := make(map[string]ast.Expr)
	for _, f := range parseDir(t, dir) {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i < len(vs.Values) {
						exprs[name.Name] = vs.Values[i]
					}
				}
			}
		}
	}
	var eval func(e ast.Expr, depth int) (string, bool)
	eval = func(e ast.Expr, depth int) (string, bool) {
		if depth > 32 {
			return "", false
		}
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind == token.STRING {
				s, err := strconv.Unquote(e.Value)
				return s, err == nil
			}
		case *ast.Ident:
			if x, ok := exprs[e.Name]; ok {
				return eval(x, depth+1)
			}
		case *ast.ParenExpr:
			return eval(e.X, depth+1)
		case *ast.BinaryExpr:
			if e.Op == token.ADD {
				a, ok1 := eval(e.X, depth+1)
				b, ok2 := eval(e.Y, depth+1)
				return a + b, ok1 && ok2
			}
		}
		return "", false
	}
	out := make(map[string]string)
	for name, e := range exprs {
		if v, ok := eval(e, 0); ok {
			out[name] = v
		}
	}
	if len(out) == 0 {
		t.Fatalf("no string constants in %s", dir)
	}
	return out
}

// funcsReturning returns the names of the top-level functions of dir whose
// only result is the named type.
func funcsReturning(t *testing.T, dir, typ string) []string {
	t.Helper()
	var out []string
	for _, f := range parseDir(t, dir) {
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Recv != nil || fd.Type.Results == nil || len(fd.Type.Results.List) != 1 {
				continue
			}
			if id, ok := fd.Type.Results.List[0].Type.(*ast.Ident); ok && id.Name == typ {
				out = append(out, fd.Name.Name)
			}
		}
	}
	return out
}

// parseDir parses the non-test Go files of dir.
func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	fset := token.NewFileSet()
	var out []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}

// inspectCode calls fn for every node of the non-test Go files under
// internal/ and cmd/, with the node's position.
func inspectCode(t *testing.T, fn func(pos token.Position, n ast.Node)) {
	t.Helper()
	for _, root := range []string{"../../internal", "../../cmd"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if n != nil {
					fn(fset.Position(n.Pos()), n)
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// typeName is the name of a type expression: T, pkg.T or &T's T.
func typeName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return e.Sel.Name
	case *ast.StarExpr:
		return typeName(e.X)
	}
	return ""
}

// isSelector reports whether e is pkg.name.
func isSelector(e ast.Expr, pkg, name string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == pkg
}

// --- small helpers ---

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// stringList returns v as a list of strings (nil unless it is one).
func stringList(v any) []string {
	list, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil
		}
		out = append(out, s)
	}
	return out
}

// flatHeaders turns NATS-style headers into the object a headers schema
// validates; every header must have exactly one value.
func flatHeaders(t *testing.T, h map[string][]string) map[string]any {
	t.Helper()
	out := make(map[string]any, len(h))
	for k, v := range h {
		if len(v) != 1 {
			t.Fatalf("header %s has %d values, want 1", k, len(v))
		}
		out[k] = v[0]
	}
	return out
}

func encodeJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// clone deep-copies a decoded JSON value.
func clone(t *testing.T, v any) any {
	t.Helper()
	return decodeJSON(t, encodeJSON(t, v))
}

// relName is path relative to the repository root, for messages.
func relName(path string) string {
	root, err := filepath.Abs("../..")
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(root, path); err == nil {
		return filepath.ToSlash(rel)
	}
	return path
}
