package fetch

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidspec"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

var (
	specOnce sync.Once
	spec     *plaidspec.Spec
	specErr  error
)

// specExample decodes Plaid's example-1 200 answer of path into v.
func specExample(t *testing.T, path string, v any) {
	t.Helper()
	specOnce.Do(func() { spec, specErr = plaidspec.Load() })
	if specErr != nil {
		t.Fatal(specErr)
	}
	raw, err := spec.ResponseExample(path, 200, "example-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %s example: %v", path, err)
	}
}

// goldenMessage is how a message appears in a golden file: the NATS
// subject and Nats-Msg-Id, then the event body as published.
type goldenMessage struct {
	Subject string          `json:"subject"`
	MsgID   string          `json:"msg_id"`
	Event   json.RawMessage `json:"event"`
}

// checkGolden compares v, indented, with testdata/name; -update rewrites it.
func checkGolden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/fetch -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output; review the diff and run with -update if intended:\ngot\n%s", path, got)
	}
}

func goldenMessages(msgs []Message) []goldenMessage {
	out := make([]goldenMessage, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, goldenMessage{Subject: m.Subject, MsgID: m.MsgID, Event: m.Body})
	}
	return out
}

// syncExampleUpdate is Plaid's /transactions/sync example as one update
// from startCursor.
func syncExampleUpdate(t *testing.T, startCursor string) *plaid.SyncUpdate {
	t.Helper()
	var r plaid.TransactionsSyncResponse
	specExample(t, "/transactions/sync", &r)
	return &plaid.SyncUpdate{
		StartCursor:  startCursor,
		NextCursor:   r.NextCursor,
		Added:        r.Added,
		Modified:     r.Modified,
		Removed:      r.Removed,
		Accounts:     r.Accounts,
		UpdateStatus: r.TransactionsUpdateStatus,
		Pages:        1,
		RequestIDs:   []string{r.RequestID},
	}
}

// TestGoldenSyncExample: Plaid's example page as it is. Its added
// transaction names a pending id that is not in its removed list, so there
// is no posted pair: one added, one modified, one removed, sync.completed.
func TestGoldenSyncExample(t *testing.T) {
	u := syncExampleUpdate(t, "cursor-before-example")
	msgs, err := BuildUpdateEvents(u, updateParams())
	if err != nil {
		t.Fatal(err)
	}
	checkMessages(t, msgs, itemOwner, "sandbox", 0, fixedNow)
	want := []string{
		"transaction.added:lPNjeW1nR6CDn5okmGQ6hEpMo4lLNoSrzqDje",
		"transaction.modified:yhnUVvtcGGcCKU0bcz8PDQr5ZUxUXebUvbKC0",
		"transaction.removed:CmdQTNgems8BT1B7ibkoUXVPyAeehT3Tmzk0l",
		"sync.completed:",
	}
	if got := summary(msgs); !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	checkGolden(t, "sync_example.golden.json", goldenMessages(msgs))
}

// TestGoldenSyncExamplePosted: the example with its removed entry being the
// added transaction's pending id, for a processor token, keeping raw: one
// posted event, the modified one, sync.completed with posted 1.
func TestGoldenSyncExamplePosted(t *testing.T) {
	var r plaid.ProcessorTransactionsSyncResponse
	specExample(t, "/processor/transactions/sync", &r)
	r.Removed[0].TransactionID = *r.Added[0].PendingTransactionID
	u := &plaid.SyncUpdate{
		StartCursor:  "cursor-before-example",
		NextCursor:   r.NextCursor,
		Added:        r.Added,
		Modified:     r.Modified,
		Removed:      r.Removed,
		UpdateStatus: r.TransactionsUpdateStatus,
	}
	p := updateParams()
	p.Owner, p.Environment, p.Epoch, p.KeepRaw = processorOwner, "production", 3, true
	msgs, err := BuildUpdateEvents(u, p)
	if err != nil {
		t.Fatal(err)
	}
	checkMessages(t, msgs, processorOwner, "production", 3, fixedNow)
	want := []string{
		"transaction.posted:lPNjeW1nR6CDn5okmGQ6hEpMo4lLNoSrzqDje",
		"transaction.modified:yhnUVvtcGGcCKU0bcz8PDQr5ZUxUXebUvbKC0",
		"sync.completed:",
	}
	if got := summary(msgs); !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	checkGolden(t, "sync_example_posted.golden.json", goldenMessages(msgs))
}

// recurringExample is Plaid's /transactions/recurring/get example.
func recurringExample(t *testing.T) *plaid.TransactionsRecurringGetResponse {
	t.Helper()
	var r plaid.TransactionsRecurringGetResponse
	specExample(t, "/transactions/recurring/get", &r)
	return &r
}

// TestGoldenRecurringExample: the example's three streams against no
// snapshot (three added), then a second answer in which the payroll stream's
// last amount changed, ConEd became TOMBSTONED, Costco disappeared and a new
// stream appeared already TOMBSTONED (modified, removed, removed; the new
// one emits nothing). The snapshots are golden too: they are what the
// fetcher stores.
func TestGoldenRecurringExample(t *testing.T) {
	p := RecurringParams{Owner: itemOwner, Environment: "sandbox", Now: fixedNow}
	first, msgs1, err := DiffRecurring(Snapshot{}, recurringExample(t), p)
	if err != nil {
		t.Fatal(err)
	}
	checkMessages(t, msgs1, itemOwner, "sandbox", 0, fixedNow)
	want1 := []string{
		"recurring_stream.added:SrBNJZDuUMweodmPmSOeOImwsWt53ZXfJQAfC",
		"recurring_stream.added:no86Eox18VHMvaOVL7gPUM9ap3aR1LsAVZ5nc",
		"recurring_stream.added:no86Eox18VHMvaOVL7gPUM9ap3aR1LsAVZ5nd",
	}
	if got := summary(msgs1); !slices.Equal(got, want1) {
		t.Fatalf("first diff: events %q, want %q", got, want1)
	}

	cur := recurringExample(t)
	lastAmount := plaid.MustParseDecimal("-1000.50")
	cur.InflowStreams[0].LastAmount.Amount = &lastAmount
	cur.OutflowStreams[0].Status = StreamTombstoned
	newbie := cur.OutflowStreams[1]
	newbie.StreamID, newbie.Status = "brand-new-but-dead", StreamTombstoned
	cur.OutflowStreams = []plaid.TransactionStream{cur.OutflowStreams[0], newbie}
	second, msgs2, err := DiffRecurring(first, cur, p)
	if err != nil {
		t.Fatal(err)
	}
	checkMessages(t, msgs2, itemOwner, "sandbox", 0, fixedNow)
	want2 := []string{
		"recurring_stream.modified:no86Eox18VHMvaOVL7gPUM9ap3aR1LsAVZ5nc",
		"recurring_stream.removed:SrBNJZDuUMweodmPmSOeOImwsWt53ZXfJQAfC",
		"recurring_stream.removed:no86Eox18VHMvaOVL7gPUM9ap3aR1LsAVZ5nd",
	}
	if got := summary(msgs2); !slices.Equal(got, want2) {
		t.Fatalf("second diff: events %q, want %q", got, want2)
	}
	checkGolden(t, "recurring_example.golden.json", map[string]any{
		"first_events":    goldenMessages(msgs1),
		"first_snapshot":  first,
		"second_events":   goldenMessages(msgs2),
		"second_snapshot": second,
	})
}

// TestGoldenItemEvent: an ITEM ERROR webhook that parks the item.
func TestGoldenItemEvent(t *testing.T) {
	webhook := []byte("{\n  \"webhook_type\": \"ITEM\",\n  \"webhook_code\": \"ERROR\",\n  \"item_id\": \"item-1\",\n  \"error\": {\n    \"error_type\": \"ITEM_ERROR\",\n    \"error_code\": \"ITEM_LOGIN_REQUIRED\",\n    \"error_message\": \"the login details of this item have changed (credentials, MFA, or required user action) and a user login is required to update this information. use Link's update mode to restore the item to a good state\",\n    \"display_message\": \"The provided credentials were not correct. Please try again.\",\n    \"request_id\": \"\",\n    \"status\": 400\n  },\n  \"environment\": \"production\"\n}")
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(webhook, &env); err != nil {
		t.Fatal(err)
	}
	m, err := BuildItemEvent(ItemParams{
		Owner: itemOwner, Environment: "production", Epoch: 1, Now: fixedNow,
		Status: "ERROR", Error: env.Error, Parked: true, Webhook: webhook,
		TriggerID: events.WebhookMsgID("header.payload.signature"),
	})
	if err != nil {
		t.Fatal(err)
	}
	checkMessages(t, []Message{m}, itemOwner, "production", 1, fixedNow)
	checkGolden(t, "item_error.golden.json", goldenMessages([]Message{m}))
}
