package fetch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid"
)

// The JSON Schemas of the PLAID_EVENTS contract live in the repository's
// schemas directory; their $id URLs are identifiers, never fetched.
const (
	schemaDir      = "../../schemas"
	schemaBaseURL  = "https://plaidstream.dev/schemas/"
	envelopeSchema = "cloudevent.schema.json"
)

// dataSchemaOf is the schema of each event type's data. Every Type*
// constant of internal/events must be here (TestSchemaCoversEventTypes).
var dataSchemaOf = map[string]string{
	events.TypeTransactionAdded:        "transaction.schema.json",
	events.TypeTransactionModified:     "transaction.schema.json",
	events.TypeTransactionPosted:       "transaction.schema.json",
	events.TypeTransactionRemoved:      "removed_transaction.schema.json",
	events.TypeRecurringStreamAdded:    "recurring_stream.schema.json",
	events.TypeRecurringStreamModified: "recurring_stream.schema.json",
	events.TypeRecurringStreamRemoved:  "removed_recurring_stream.schema.json",
	events.TypeSyncCompleted:           "sync_completed.schema.json",
	events.TypeItemPrefix:              "item_status.schema.json", // plaid.item.<status>
}

// dataSchemaFor returns the data schema file of eventType.
func dataSchemaFor(eventType string) string {
	if strings.HasPrefix(eventType, events.TypeItemPrefix) {
		return dataSchemaOf[events.TypeItemPrefix]
	}
	return dataSchemaOf[eventType]
}

var (
	schemasOnce sync.Once
	schemas     map[string]*jsonschema.Schema // by file name
	schemasErr  error
)

// loadSchemas compiles every schemas/*.schema.json (draft 2020-12, format
// assertions on), each registered under its $id, which must be
// schemaBaseURL + its file name.
func loadSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	schemasOnce.Do(func() { schemas, schemasErr = compileSchemas() })
	if schemasErr != nil {
		t.Fatal(schemasErr)
	}
	return schemas
}

func compileSchemas() (map[string]*jsonschema.Schema, error) {
	files, err := filepath.Glob(filepath.Join(schemaDir, "*.schema.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no schemas in %s", schemaDir)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	// Refuse to load anything that is not registered below: the $ids are
	// not fetched.
	c.UseLoader(jsonschema.SchemeURLLoader{})
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		name := filepath.Base(f)
		obj, _ := doc.(map[string]any)
		if got, want := obj["$schema"], "https://json-schema.org/draft/2020-12/schema"; got != want {
			return nil, fmt.Errorf("%s: $schema %v, want %s", name, got, want)
		}
		if got, want := obj["$id"], schemaBaseURL+name; got != want {
			return nil, fmt.Errorf("%s: $id %v, want %s", name, got, want)
		}
		if err := c.AddResource(schemaBaseURL+name, doc); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		names = append(names, name)
	}
	out := make(map[string]*jsonschema.Schema, len(names))
	for _, name := range names {
		s, err := c.Compile(schemaBaseURL + name)
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", name, err)
		}
		out[name] = s
	}
	return out, nil
}

// compileFragment compiles a part of a schema, e.g.
// "cloudevent.schema.json#/properties/type".
func compileFragment(t *testing.T, loc string) *jsonschema.Schema {
	t.Helper()
	loadSchemas(t) // the files must compile as a whole first
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(jsonschema.SchemeURLLoader{})
	files, err := filepath.Glob(filepath.Join(schemaDir, "*.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource(schemaBaseURL+filepath.Base(f), doc); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Compile(schemaBaseURL + loc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// decodeInstance decodes JSON the way the validator wants it (numbers as
// json.Number, so no precision is lost).
func decodeInstance(t *testing.T, b []byte) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// validateEvent validates an event body against the envelope schema (which
// selects the data schema by type), and its data directly against the data
// schema of its type.
func validateEvent(t *testing.T, body []byte) {
	t.Helper()
	s := loadSchemas(t)
	if err := s[envelopeSchema].Validate(decodeInstance(t, body)); err != nil {
		t.Errorf("event does not match %s: %v\n%s", envelopeSchema, err, body)
		return
	}
	var ev events.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	name := dataSchemaFor(ev.Type)
	if name == "" {
		t.Errorf("no data schema for type %q", ev.Type)
		return
	}
	if err := s[name].Validate(decodeInstance(t, ev.Data)); err != nil {
		t.Errorf("%s data does not match %s: %v\n%s", ev.Type, name, err, ev.Data)
	}
	checkCrossFields(t, ev)
}

// checkCrossFields checks what the contract says but JSON Schema cannot
// express: the CloudEvents subject is the entity's id, an item event's
// status is its type's last part, and the owner named in data is the one in
// source.
func checkCrossFields(t *testing.T, ev events.Event) {
	t.Helper()
	var d struct {
		TransactionID string `json:"transaction_id"`
		StreamID      string `json:"stream_id"`
		Status        string `json:"status"`
		ItemID        string `json:"item_id"`
		AccountID     string `json:"account_id"`
	}
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(ev.Source, "/")
	if len(parts) != 4 {
		t.Fatalf("source %q", ev.Source)
	}
	owner := parts[3]
	switch {
	case parts[2] == "items" && d.ItemID != owner:
		t.Errorf("%s: item_id %q, source %q", ev.Type, d.ItemID, ev.Source)
	case parts[2] == "processor" && (ev.Type == events.TypeSyncCompleted || strings.HasPrefix(ev.Type, events.TypeItemPrefix)) && d.AccountID != owner:
		t.Errorf("%s: account_id %q, source %q", ev.Type, d.AccountID, ev.Source)
	}
	switch {
	case strings.HasPrefix(ev.Type, "plaid.transaction."):
		if ev.Subject != d.TransactionID {
			t.Errorf("%s: subject %q, transaction_id %q", ev.Type, ev.Subject, d.TransactionID)
		}
	case strings.HasPrefix(ev.Type, "plaid.recurring_stream."):
		if ev.Subject != d.StreamID {
			t.Errorf("%s: subject %q, stream_id %q", ev.Type, ev.Subject, d.StreamID)
		}
	case strings.HasPrefix(ev.Type, events.TypeItemPrefix):
		if events.ItemEventType(d.Status) != ev.Type {
			t.Errorf("%s: status %q", ev.Type, d.Status)
		}
	}
}

// TestSchemasCompile: every schema file is draft 2020-12, has the $id of
// its file name and compiles (which validates it against the meta-schema),
// and the envelope refers to a data schema for every type.
func TestSchemasCompile(t *testing.T) {
	s := loadSchemas(t)
	for _, name := range dataSchemaOf {
		if s[name] == nil {
			t.Errorf("%s is missing", name)
		}
	}
	if s[envelopeSchema] == nil {
		t.Fatalf("%s is missing", envelopeSchema)
	}
}

// goldenEvents returns every event body in testdata/*.golden.json (the
// "event" of each golden message) and every recurring snapshot's stream
// payloads, by file.
func goldenEvents(t *testing.T) (evs map[string][]json.RawMessage, streams map[string][]json.RawMessage) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	evs, streams = make(map[string][]json.RawMessage), make(map[string][]json.RawMessage)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		name := filepath.Base(f)
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case []any:
				for _, e := range v {
					walk(e)
				}
			case map[string]any:
				if ev, ok := v["event"]; ok {
					if _, ok := v["msg_id"]; ok {
						b, err := json.Marshal(ev)
						if err != nil {
							t.Fatal(err)
						}
						evs[name] = append(evs[name], b)
						return
					}
				}
				if ss, ok := v["streams"].(map[string]any); ok {
					for _, id := range sortedKeys(ss) {
						b, err := json.Marshal(ss[id])
						if err != nil {
							t.Fatal(err)
						}
						streams[name] = append(streams[name], b)
					}
				}
				for _, k := range sortedKeys(v) {
					walk(v[k])
				}
			}
		}
		walk(doc)
	}
	return evs, streams
}

// TestSchemaGoldenEvents validates every event of the golden files, and the
// stream payloads of the golden snapshots (the data of the streams' last
// added or modified events).
func TestSchemaGoldenEvents(t *testing.T) {
	evs, streams := goldenEvents(t)
	want := map[string]int{
		"sync_example.golden.json":        4,
		"sync_example_posted.golden.json": 3,
		"recurring_example.golden.json":   6,
		"item_error.golden.json":          1,
	}
	for name, n := range want {
		if len(evs[name]) != n {
			t.Errorf("%s: %d events, want %d", name, len(evs[name]), n)
		}
	}
	for name, list := range evs {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: new golden file; add its event count to this test", name)
		}
		for i, b := range list {
			t.Run(fmt.Sprintf("%s/%d", name, i), func(t *testing.T) { validateEvent(t, b) })
		}
	}
	if len(streams["recurring_example.golden.json"]) == 0 {
		t.Error("no snapshot streams found in recurring_example.golden.json")
	}
	rs := loadSchemas(t)["recurring_stream.schema.json"]
	for name, list := range streams {
		for i, b := range list {
			if err := rs.Validate(decodeInstance(t, b)); err != nil {
				t.Errorf("%s snapshot stream %d: %v\n%s", name, i, err, b)
			}
		}
	}
}

// fullTransaction is a transaction with every field the normalizer copies,
// decoded from Plaid's JSON (so Raw is set), with the given amount text.
func fullTransaction(t *testing.T, id, pendingID, amount string) plaid.Transaction {
	t.Helper()
	pending := "null"
	if pendingID != "" {
		pending = strconv.Quote(pendingID)
	}
	body := `{
	  "transaction_id": "` + id + `", "account_id": "acc-full", "amount": ` + amount + `,
	  "iso_currency_code": null, "unofficial_currency_code": "BTC",
	  "date": "2026-11-20", "datetime": "2026-11-20T08:15:00Z",
	  "authorized_date": "2026-11-19", "authorized_datetime": "2026-11-19T23:59:59Z",
	  "pending": false, "pending_transaction_id": ` + pending + `,
	  "name": "Café & Co <3", "merchant_name": "Café & Co", "original_description": "CAFE&CO 123",
	  "account_owner": "Alex", "payment_channel": "in store",
	  "payment_meta": {"reference_number": "r1", "ppd_id": "p", "payee": "x", "by_order_of": "y",
	    "payer": "z", "payment_method": "ACH", "payment_processor": "Stripe", "reason": "rent"},
	  "location": {"address": "1 Main St", "city": "Poway", "region": "CA", "postal_code": "92064",
	    "country": "US", "lat": 32.9590680000000001, "lon": -1.17037666e2, "store_number": "17"},
	  "transaction_code": "purchase", "check_number": "1001",
	  "personal_finance_category": {"primary": "FOOD_AND_DRINK", "detailed": "FOOD_AND_DRINK_COFFEE",
	    "confidence_level": "HIGH", "version": "v2"},
	  "counterparties": [
	    {"name": "Café & Co", "type": "merchant", "website": null, "logo_url": null},
	    {"name": "Stripe", "type": "payment_terminal", "website": "stripe.com", "logo_url": "https://l/s.png",
	     "entity_id": "e1", "confidence_level": "LOW", "account_numbers": {"bacs": {"account": "1", "sort_code": "2"}}}
	  ],
	  "merchant_entity_id": "m1", "logo_url": "https://l/c.png", "website": "cafe.example",
	  "future_field": {"n": [1, 2.50]}
	}`
	var tx plaid.Transaction
	if err := json.Unmarshal([]byte(body), &tx); err != nil {
		t.Fatalf("decode full transaction: %v", err)
	}
	return tx
}

// generatedMessages builds events of every type, for items and processor
// tokens, with and without raw, with the amounts normalization is tested
// with, through the package's builders.
func generatedMessages(t *testing.T) []Message {
	t.Helper()
	var all []Message
	keep := func(msgs []Message, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, msgs...)
	}
	owners := []struct {
		owner events.Owner
		env   string
		epoch uint64
	}{
		{itemOwner, "sandbox", 0},
		{processorOwner, "production", 7},
	}
	amounts := []string{"1234567.891", "-0.10", "1e2", "-1.5E-3", "0.1000000000000000055511151231257827",
		"-92233720368547758080.01", "0", "0.00", "-0.00", "0e5", "5", "-12.50"}
	for _, o := range owners {
		for _, keepRaw := range []bool{false, true} {
			p := UpdateParams{Owner: o.owner, Environment: o.env, Epoch: o.epoch, Now: fixedNow, KeepRaw: keepRaw}
			// Posted pairs, plain added, modified, removed.
			u := &plaid.SyncUpdate{
				StartCursor: "c-start",
				NextCursor:  "c-end",
				Added: []plaid.Transaction{
					posted("t2", "p1", "-12.50"),
					fullTransaction(t, "t3", "p3", "42.00"),
					txn("a1", "1"),
					fullTransaction(t, "a2", "", "-7"),
					posted("a3", "not-removed", "3"), // pending id not removed: plain added
				},
				Modified:     []plaid.Transaction{txn("m1", "2"), fullTransaction(t, "m2", "", "0")},
				Removed:      []plaid.RemovedTransaction{removed("p1"), removed("p3"), {TransactionID: "r1", AccountID: "acc-7"}},
				UpdateStatus: plaid.UpdateStatusHistoricalComplete,
			}
			for i, a := range amounts {
				u.Added = append(u.Added, txn(fmt.Sprintf("amt%d", i), a))
			}
			keep(BuildUpdateEvents(u, p))
			// The example page of Plaid's spec, with Plaid's own raw object.
			keep(BuildUpdateEvents(syncExampleUpdate(t, ""), p))
			// An update that only moved the cursor, from the whole history.
			keep(BuildUpdateEvents(&plaid.SyncUpdate{NextCursor: "c1", UpdateStatus: plaid.UpdateStatusNotReady}, p))
			// An update without a status.
			keep(BuildUpdateEvents(sampleUpdate(), p))

			// Recurring: the spec example from nothing, then a change of
			// every kind; and hand-made streams with empty amounts.
			rp := RecurringParams{Owner: o.owner, Environment: o.env, Epoch: o.epoch, Now: fixedNow, KeepRaw: keepRaw}
			first, msgs, err := DiffRecurring(Snapshot{}, recurringExample(t), rp)
			keep(msgs, err)
			cur := recurringExample(t)
			last := plaid.MustParseDecimal("-1000.50")
			cur.InflowStreams[0].LastAmount.Amount = &last
			cur.OutflowStreams[0].Status = StreamTombstoned
			cur.OutflowStreams = cur.OutflowStreams[:1]
			_, msgs, err = DiffRecurring(first, cur, rp)
			keep(msgs, err)
			bare := stream("s-bare", "9.99")
			bare.AverageAmount, bare.LastAmount, bare.TransactionIDs = plaid.TransactionStreamAmount{}, plaid.TransactionStreamAmount{}, nil
			next := "2026-12-01"
			rich := stream("s-rich", "-2500")
			rich.PredictedNextDate, rich.Status = &next, "EARLY_DETECTION"
			rich.PersonalFinanceCategory = &plaid.PersonalFinanceCategory{Primary: "INCOME", Detailed: "INCOME_WAGES"}
			s1, msgs, err := DiffRecurring(Snapshot{}, &plaid.TransactionsRecurringGetResponse{
				InflowStreams: []plaid.TransactionStream{rich}, OutflowStreams: []plaid.TransactionStream{bare},
			}, rp)
			keep(msgs, err)
			_, msgs, err = DiffRecurring(s1, outflows(withTxn(bare, "tx-2")), rp)
			keep(msgs, err)
		}

		// Item events: every status the fetcher emits itself, ITEM webhook
		// codes, and an unknown one; with and without error and webhook.
		webhook := []byte(`{"webhook_type":"ITEM","webhook_code":"ERROR","item_id":"item-1","error":{"error_type":"ITEM_ERROR","error_code":"ITEM_LOGIN_REQUIRED","error_message":"m","display_message":null,"request_id":"r","status":400},"environment":"sandbox"}`)
		plaidErr, err := json.Marshal(&plaid.Error{ErrorType: "ITEM_ERROR", ErrorCode: "ITEM_NOT_FOUND", ErrorMessage: "gone"})
		if err != nil {
			t.Fatal(err)
		}
		statuses := []string{events.ItemStatusRemoved, events.ItemStatusResyncStarted, events.ItemStatusRefreshFailed,
			"ERROR", "LOGIN_REPAIRED", "PENDING_EXPIRATION", "PENDING_DISCONNECT", "USER_PERMISSION_REVOKED",
			"USER_ACCOUNT_REVOKED", "WEBHOOK_UPDATE_ACKNOWLEDGED", "NEW_ACCOUNTS_AVAILABLE", "Some_New_Code_2"}
		for i, status := range statuses {
			ip := ItemParams{Owner: o.owner, Environment: o.env, Epoch: o.epoch, Now: fixedNow, Status: status, TriggerID: fmt.Sprint("msg-", i)}
			switch i % 3 {
			case 1:
				ip.Error, ip.Parked, ip.Webhook = json.RawMessage(`{"error_type":"ITEM_ERROR","error_code":"ITEM_LOGIN_REQUIRED"}`), true, webhook
			case 2:
				ip.Error, ip.Parked = plaidErr, true
			}
			m, err := BuildItemEvent(ip)
			keep([]Message{m}, err)
		}
	}
	return all
}

// TestSchemaGeneratedEvents validates every event of a generated set that
// covers every event type, both owner kinds and raw payloads.
func TestSchemaGeneratedEvents(t *testing.T) {
	msgs := generatedMessages(t)
	seen := make(map[string]int)
	for i, m := range msgs {
		seen[m.Event.Type]++
		t.Run(fmt.Sprintf("%d_%s", i, m.Event.Type), func(t *testing.T) { validateEvent(t, m.Body) })
	}
	for typ := range dataSchemaOf {
		if typ == events.TypeItemPrefix {
			continue
		}
		if seen[typ] == 0 {
			t.Errorf("the generated set has no %s event", typ)
		}
	}
	t.Logf("validated %d generated events: %v", len(msgs), seen)
}

// eventConstants parses internal/events and returns the values of its
// Type* and ItemStatus* string constants, so a type added there without
// its schema fails this test.
func eventConstants(t *testing.T) (types, itemStatuses map[string]string) {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join("..", "events", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	types, itemStatuses = make(map[string]string), make(map[string]string)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range file.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					switch n := name.Name; {
					case strings.HasPrefix(n, "Type"):
						types[n] = v
					case strings.HasPrefix(n, "ItemStatus"):
						itemStatuses[n] = v
					}
				}
			}
		}
	}
	if len(types) < 9 || len(itemStatuses) < 3 {
		t.Fatalf("found only types %v and item statuses %v in internal/events", types, itemStatuses)
	}
	return types, itemStatuses
}

// TestSchemaCoversEventTypes: every event type constant of internal/events
// (and plaid.item.<status> for every status) is accepted by the envelope's
// type, selects a data schema, and nothing else is accepted.
func TestSchemaCoversEventTypes(t *testing.T) {
	typeSchema := compileFragment(t, envelopeSchema+"#/properties/type")
	envelope := loadSchemas(t)[envelopeSchema]
	types, itemStatuses := eventConstants(t)

	var accepted []string
	for name, typ := range types {
		if _, ok := dataSchemaOf[typ]; !ok {
			t.Errorf("%s = %q has no data schema in this test's dataSchemaOf (and maybe none in %s)", name, typ, envelopeSchema)
		}
		if typ != events.TypeItemPrefix {
			accepted = append(accepted, typ)
		}
	}
	if types["TypeItemPrefix"] != events.TypeItemPrefix {
		t.Errorf("TypeItemPrefix = %q", types["TypeItemPrefix"])
	}
	for _, st := range itemStatuses {
		accepted = append(accepted, events.ItemEventType(st))
	}
	for _, code := range []string{"ERROR", "LOGIN_REPAIRED", "PENDING_EXPIRATION", "PENDING_DISCONNECT",
		"USER_PERMISSION_REVOKED", "USER_ACCOUNT_REVOKED", "WEBHOOK_UPDATE_ACKNOWLEDGED", "NEW_ACCOUNTS_AVAILABLE"} {
		accepted = append(accepted, events.ItemEventType(code))
	}
	slices.Sort(accepted)
	for _, typ := range accepted {
		if err := typeSchema.Validate(typ); err != nil {
			t.Errorf("type %q rejected: %v", typ, err)
		}
		// The type must select a data schema: an event of this type with
		// empty data is invalid, with the data's required fields named.
		ev := map[string]any{
			"specversion": "1.0", "id": "x", "source": "plaid/sandbox/items/item-1", "type": typ,
			"subject": "s", "time": "2026-11-22T10:00:00Z", "datacontenttype": "application/json",
			"resyncepoch": json.Number("0"), "updateid": "u", "data": map[string]any{},
		}
		err := envelope.Validate(ev)
		if err == nil || !strings.Contains(err.Error(), "schema_version") {
			t.Errorf("type %q with data {}: %v; want its data schema's missing properties", typ, err)
		}
	}
	for _, typ := range []string{"", "plaid.transaction", "plaid.transaction.deleted", "plaid.item.", "plaid.item.Error",
		"plaid.item.a.b", "plaid.item.login-repaired", "plaid.sync.started", "com.example.plaid.transaction.added",
		"plaid.transaction.added "} {
		if err := typeSchema.Validate(typ); err == nil {
			t.Errorf("type %q accepted", typ)
		}
	}
}

// mutate returns a copy of an event's JSON with change applied to it
// (decoded as the validator decodes it).
func mutate(t *testing.T, body []byte, change func(ev map[string]any)) any {
	t.Helper()
	ev := decodeInstance(t, body).(map[string]any)
	change(ev)
	return ev
}

func dataOf(ev map[string]any) map[string]any { return ev["data"].(map[string]any) }

// TestSchemaRejects: the schemas reject what breaks the contract, and accept
// what the versioning policy allows (new optional fields and extensions).
func TestSchemaRejects(t *testing.T) {
	byKind := make(map[string][]byte)
	for _, m := range generatedMessages(t) {
		kind := m.Event.Type
		if strings.HasPrefix(kind, events.TypeItemPrefix) {
			kind = events.TypeItemPrefix
		}
		if strings.HasPrefix(m.Event.Source, "plaid/production/processor/") {
			kind = "processor " + kind
		}
		if _, ok := byKind[kind]; !ok {
			byKind[kind] = m.Body
		}
	}
	added := events.TypeTransactionAdded
	tests := []struct {
		name   string
		kind   string // a key of byKind
		change func(ev map[string]any)
		valid  bool
	}{
		// transaction data
		{name: "amount as a number", kind: added, change: func(ev map[string]any) { dataOf(ev)["amount"] = json.Number("72.1") }},
		{name: "amount with exponent", kind: added, change: func(ev map[string]any) { dataOf(ev)["amount"] = "1e2" }},
		{name: "amount with plus sign", kind: added, change: func(ev map[string]any) { dataOf(ev)["amount"] = "+1.00" }},
		{name: "amount without integer part", kind: added, change: func(ev map[string]any) { dataOf(ev)["amount"] = ".5" }},
		{name: "amount empty", kind: added, change: func(ev map[string]any) { dataOf(ev)["amount"] = "" }},
		{name: "bad direction", kind: added, change: func(ev map[string]any) { dataOf(ev)["direction"] = "out" }},
		{name: "direction against the sign", kind: added, change: func(ev map[string]any) {
			dataOf(ev)["amount"], dataOf(ev)["direction"] = "72.1", "credit"
		}},
		{name: "credit for a zero amount", kind: added, change: func(ev map[string]any) {
			dataOf(ev)["amount"], dataOf(ev)["direction"] = "-0.00", "credit"
		}},
		{name: "debit for a negative amount", kind: added, change: func(ev map[string]any) {
			dataOf(ev)["amount"], dataOf(ev)["direction"] = "-0.01", "debit"
		}},
		{name: "missing transaction_id", kind: added, change: func(ev map[string]any) { delete(dataOf(ev), "transaction_id") }},
		{name: "empty transaction_id", kind: added, change: func(ev map[string]any) { dataOf(ev)["transaction_id"] = "" }},
		{name: "missing nullable field", kind: added, change: func(ev map[string]any) { delete(dataOf(ev), "merchant_name") }},
		{name: "schema_version 2", kind: added, change: func(ev map[string]any) { dataOf(ev)["schema_version"] = json.Number("2") }},
		{name: "pending as a string", kind: added, change: func(ev map[string]any) { dataOf(ev)["pending"] = "false" }},
		{name: "counterparties null", kind: added, change: func(ev map[string]any) { dataOf(ev)["counterparties"] = nil }},
		{name: "location without lat", kind: added, change: func(ev map[string]any) {
			delete(dataOf(ev)["location"].(map[string]any), "lat")
		}},
		{name: "lat as a number", kind: added, change: func(ev map[string]any) {
			dataOf(ev)["location"].(map[string]any)["lat"] = json.Number("32.5")
		}},
		{name: "date not a date", kind: added, change: func(ev map[string]any) { dataOf(ev)["date"] = "20/11/2026" }},
		{name: "item owner without item_id", kind: added, change: func(ev map[string]any) { delete(dataOf(ev), "item_id") }},
		{name: "processor owner with item_id", kind: "processor " + added, change: func(ev map[string]any) { dataOf(ev)["item_id"] = "item-1" }},
		{name: "posted without pending_transaction_id", kind: events.TypeTransactionPosted, change: func(ev map[string]any) {
			dataOf(ev)["pending_transaction_id"] = nil
		}},
		{name: "added with a pending_transaction_id", kind: added, change: func(ev map[string]any) {
			dataOf(ev)["pending_transaction_id"] = "p-9"
		}, valid: true},
		{name: "new optional data field", kind: added, change: func(ev map[string]any) { dataOf(ev)["new_field"] = map[string]any{"x": true} }, valid: true},
		{name: "zero amount, direction none", kind: added, change: func(ev map[string]any) {
			dataOf(ev)["amount"], dataOf(ev)["direction"] = "-0", "none"
		}, valid: true},

		// envelope
		{name: "specversion 0.3", kind: added, change: func(ev map[string]any) { ev["specversion"] = "0.3" }},
		{name: "missing id", kind: added, change: func(ev map[string]any) { delete(ev, "id") }},
		{name: "empty id", kind: added, change: func(ev map[string]any) { ev["id"] = "" }},
		{name: "unknown environment", kind: added, change: func(ev map[string]any) { ev["source"] = "plaid/development/items/item-1" }},
		{name: "source with a replica", kind: added, change: func(ev map[string]any) { ev["source"] = "plaid/sandbox/items/item-1/replica-2" }},
		{name: "source of another kind", kind: added, change: func(ev map[string]any) { ev["source"] = "plaid/sandbox/users/u-1" }},
		{name: "unknown type", kind: added, change: func(ev map[string]any) { ev["type"] = "plaid.transaction.deleted" }},
		{name: "missing time", kind: added, change: func(ev map[string]any) { delete(ev, "time") }},
		{name: "time not RFC 3339", kind: added, change: func(ev map[string]any) { ev["time"] = "22/11/2026 10:00" }},
		{name: "other content type", kind: added, change: func(ev map[string]any) { ev["datacontenttype"] = "text/plain" }},
		{name: "missing resyncepoch", kind: added, change: func(ev map[string]any) { delete(ev, "resyncepoch") }},
		{name: "negative resyncepoch", kind: added, change: func(ev map[string]any) { ev["resyncepoch"] = json.Number("-1") }},
		{name: "resyncepoch as a string", kind: added, change: func(ev map[string]any) { ev["resyncepoch"] = "0" }},
		{name: "resyncepoch beyond a CloudEvents Integer", kind: added, change: func(ev map[string]any) { ev["resyncepoch"] = json.Number("2147483648") }},
		{name: "missing data", kind: added, change: func(ev map[string]any) { delete(ev, "data") }},
		{name: "data_base64 instead of data", kind: added, change: func(ev map[string]any) {
			ev["data_base64"] = "e30="
			delete(ev, "data")
		}},
		{name: "attribute name not lower case", kind: added, change: func(ev map[string]any) { ev["updateID"] = "x" }},
		{name: "transaction event without subject", kind: added, change: func(ev map[string]any) { delete(ev, "subject") }},
		{name: "transaction event without updateid", kind: added, change: func(ev map[string]any) { delete(ev, "updateid") }},
		{name: "extension attribute", kind: added, change: func(ev map[string]any) { ev["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" }, valid: true},
		{name: "dataschema", kind: added, change: func(ev map[string]any) { ev["dataschema"] = schemaBaseURL + "transaction.schema.json" }, valid: true},
		{name: "largest resyncepoch", kind: added, change: func(ev map[string]any) { ev["resyncepoch"] = json.Number("2147483647") }, valid: true},

		// other payloads
		{name: "removed without account_id", kind: events.TypeTransactionRemoved, change: func(ev map[string]any) { delete(dataOf(ev), "account_id") }},
		{name: "removed transaction_id as a number", kind: events.TypeTransactionRemoved, change: func(ev map[string]any) {
			dataOf(ev)["transaction_id"] = json.Number("1")
		}},
		{name: "stream flow sideways", kind: events.TypeRecurringStreamAdded, change: func(ev map[string]any) { dataOf(ev)["flow"] = "sideways" }},
		{name: "added TOMBSTONED stream", kind: events.TypeRecurringStreamAdded, change: func(ev map[string]any) { dataOf(ev)["status"] = "TOMBSTONED" }},
		{name: "stream amount as a number", kind: events.TypeRecurringStreamAdded, change: func(ev map[string]any) {
			dataOf(ev)["last_amount"].(map[string]any)["amount"] = json.Number("12")
		}},
		{name: "stream transaction_ids null", kind: events.TypeRecurringStreamAdded, change: func(ev map[string]any) { dataOf(ev)["transaction_ids"] = nil }},
		{name: "stream without subject", kind: events.TypeRecurringStreamModified, change: func(ev map[string]any) { delete(ev, "subject") }},
		{name: "removed stream without stream_id", kind: events.TypeRecurringStreamRemoved, change: func(ev map[string]any) { delete(dataOf(ev), "stream_id") }},
		{name: "sync with a negative count", kind: events.TypeSyncCompleted, change: func(ev map[string]any) { dataOf(ev)["removed"] = json.Number("-1") }},
		{name: "sync without end_cursor", kind: events.TypeSyncCompleted, change: func(ev map[string]any) { delete(dataOf(ev), "end_cursor") }},
		{name: "sync naming two owners", kind: events.TypeSyncCompleted, change: func(ev map[string]any) { dataOf(ev)["account_id"] = "acct-9" }},
		{name: "processor sync without account_id", kind: "processor " + events.TypeSyncCompleted, change: func(ev map[string]any) { delete(dataOf(ev), "account_id") }},
		{name: "sync without updateid", kind: events.TypeSyncCompleted, change: func(ev map[string]any) { delete(ev, "updateid") }},
		{name: "item status upper case", kind: events.TypeItemPrefix, change: func(ev map[string]any) { dataOf(ev)["status"] = "ERROR" }},
		{name: "item without parked", kind: events.TypeItemPrefix, change: func(ev map[string]any) { delete(dataOf(ev), "parked") }},
		{name: "item error as a string", kind: events.TypeItemPrefix, change: func(ev map[string]any) { dataOf(ev)["error"] = "ITEM_LOGIN_REQUIRED" }},
		{name: "item event with sync data", kind: events.TypeItemPrefix, change: func(ev map[string]any) {
			ev["data"] = decodeInstance(t, []byte(`{"schema_version":1,"item_id":"item-1","start_cursor":"","end_cursor":"c","added":0,"modified":0,"removed":0,"posted":0,"transactions_update_status":""}`))
		}},
		{name: "item event without updateid", kind: events.TypeItemPrefix, change: func(map[string]any) {}, valid: true},
	}
	envelope := loadSchemas(t)[envelopeSchema]
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, ok := byKind[tc.kind]
			if !ok {
				t.Fatalf("no generated %s event", tc.kind)
			}
			ev := mutate(t, body, tc.change)
			err := envelope.Validate(ev)
			switch {
			case tc.valid && err != nil:
				t.Errorf("rejected: %v", err)
			case !tc.valid && err == nil:
				b, _ := json.Marshal(ev)
				t.Errorf("accepted:\n%s", b)
			case err != nil:
				t.Logf("rejected: %v", err)
			}
		})
	}
}
