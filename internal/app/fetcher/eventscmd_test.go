package fetcher

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/fetch"
	"github.com/plaidstream/plaidstream/internal/fetchjs"
	"github.com/plaidstream/plaidstream/internal/natstest"
)

// TestEventsTailFiltersAndPrints: `fetcher events tail --all` prints stored
// events, filtered by item and type pattern, readably or as JSON lines.
func TestEventsTailFiltersAndPrints(t *testing.T) {
	natsURL, js := natstest.Start(t)
	ctx := context.Background()
	if _, err := bus.EnsureStream(ctx, js, events.EventStreamSpec(), bus.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct{ item, status string }{{"item1", "ERROR"}, {"item2", "LOGIN_REPAIRED"}, {"item1", "PENDING_EXPIRATION"}} {
		msg, err := fetch.BuildItemEvent(fetch.ItemParams{Owner: events.Owner{Kind: events.OwnerItem, ID: m.item}, Environment: "sandbox", Now: time.Now(), Status: m.status, TriggerID: m.item + m.status})
		if err != nil {
			t.Fatal(err)
		}
		if err := (fetchjs.Publisher{JS: js}).Publish(ctx, []fetch.Message{msg}); err != nil {
			t.Fatal(err)
		}
	}
	getenv := func(k string) string { return map[string]string{"NATS_URL": natsURL}[k] }
	tail := func(want int, args ...string) []string {
		t.Helper()
		var out syncBuffer
		tctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- run(tctx, append([]string{"events", "tail", "--all"}, args...), getenv, &out, &out) }()
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(out.String(), "\n") < want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("events tail %v: %v", args, err)
		}
		return strings.Split(strings.TrimSpace(out.String()), "\n")
	}
	lines := tail(2, "--item", "item1")
	if len(lines) != 2 || !strings.Contains(lines[0], "plaid.item.error") || !strings.Contains(lines[1], "plaid.item.pending_expiration") {
		t.Errorf("--item item1: %q", lines)
	}
	lines = tail(1, "--type", "plaid.item.login_*", "--json")
	var e events.Event
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &e) != nil || e.Type != "plaid.item.login_repaired" {
		t.Errorf("--type plaid.item.login_* --json: %q", lines)
	}
	if err := run(ctx, []string{"events", "tail", "--item", "bad.id"}, getenv, &syncBuffer{}, &syncBuffer{}); err == nil {
		t.Error("an unsafe item id was accepted")
	}
}
