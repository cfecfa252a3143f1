//go:build unix

package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/fetch"
	"github.com/plaidstream/plaidstream/internal/plaid"
)

// owner is something events are about: an item, or a processor token's
// account.
type owner struct {
	label       string // for messages: A, B, ...
	kind        events.OwnerKind
	id          string // item id, or the processor token's account id
	itemID      string // the plaidsim item whose data it sees
	accessToken string
	accounts    []string // an item's account ids, first the one /sim/ adds to
	source      string   // CloudEvents source
	// streams is set once its recurring streams were announced (a
	// RECURRING_TRANSACTIONS_UPDATE); only then are they compared.
	streams bool
	removed bool
}

func (o *owner) String() string { return fmt.Sprintf("%s (%s %s)", o.label, o.kind, o.id) }

// simItem is plaidsim's ground truth about an item (GET /sim/items/{id}).
type simItem struct {
	Transactions   []json.RawMessage `json:"transactions"`
	InflowStreams  []json.RawMessage `json:"inflow_streams"`
	OutflowStreams []json.RawMessage `json:"outflow_streams"`
}

// expectation is what the consumer must hold for an owner: payloads as the
// fetcher normalizes them, decoded for comparison.
type expectation struct {
	txns    map[string]any
	streams map[string]any // nil: not compared
}

// expect derives an owner's expectation from its item's ground truth.
func expect(o *owner, it *simItem) (expectation, error) {
	eo := events.Owner{Kind: o.kind, ID: o.id}
	want := expectation{txns: map[string]any{}}
	for _, raw := range it.Transactions {
		var tx plaid.Transaction
		if err := json.Unmarshal(raw, &tx); err != nil {
			return want, fmt.Errorf("ground truth transaction: %w", err)
		}
		if o.kind == events.OwnerProcessor && tx.AccountID != o.id {
			continue
		}
		v, err := decoded(fetch.NormalizeTransaction(tx, eo, false))
		if err != nil {
			return want, err
		}
		want.txns[tx.TransactionID] = v
	}
	if !o.streams {
		return want, nil
	}
	want.streams = map[string]any{}
	for _, list := range []struct {
		flow    string
		streams []json.RawMessage
	}{{events.StreamInflow, it.InflowStreams}, {events.StreamOutflow, it.OutflowStreams}} {
		for _, raw := range list.streams {
			var st plaid.TransactionStream
			if err := json.Unmarshal(raw, &st); err != nil {
				return want, fmt.Errorf("ground truth stream: %w", err)
			}
			if strings.EqualFold(st.Status, fetch.StreamTombstoned) || (o.kind == events.OwnerProcessor && st.AccountID != o.id) {
				continue
			}
			v, err := decoded(fetch.NormalizeStream(st, list.flow, eo, false))
			if err != nil {
				return want, err
			}
			want.streams[st.StreamID] = v
		}
	}
	return want, nil
}

// decoded is v as JSON decoded generically, numbers kept as their text, so
// two payloads compare field by field and exactly.
func decoded(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return decodeJSON(b)
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// canonicalJSON is b re-encoded with sorted keys and no space.
func canonicalJSON(b []byte) (string, error) {
	v, err := decodeJSON(b)
	if err != nil {
		return "", err
	}
	out, err := json.Marshal(v)
	return string(out), err
}

// diffOwner lists how the consumer's state of o differs from want.
func diffOwner(o *owner, got *ownerDump, want expectation) []string {
	if got == nil {
		return []string{fmt.Sprintf("%v: not in the consumer's store", o)}
	}
	var diffs []string
	if len(got.Pending) > 0 {
		diffs = append(diffs, fmt.Sprintf("%v: %d updates still buffered", o, len(got.Pending)))
	}
	diffs = append(diffs, diffSet(o, "transaction", got.Transactions, want.txns)...)
	if want.streams != nil {
		diffs = append(diffs, diffSet(o, "recurring stream", got.RecurringStreams, want.streams)...)
	}
	return diffs
}

func diffSet(o *owner, what string, got map[string]json.RawMessage, want map[string]any) []string {
	var diffs []string
	for _, id := range sortedKeys(want) {
		raw, ok := got[id]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%v: %s %s missing", o, what, id))
			continue
		}
		g, err := decodeJSON(raw)
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("%v: %s %s: unreadable: %v", o, what, id, err))
			continue
		}
		if !reflect.DeepEqual(g, want[id]) {
			diffs = append(diffs, fmt.Sprintf("%v: %s %s differs: %s", o, what, id, fieldDiff(g, want[id])))
		}
	}
	for _, id := range sortedKeys(got) {
		if _, ok := want[id]; !ok {
			diffs = append(diffs, fmt.Sprintf("%v: %s %s is not in the ground truth", o, what, id))
		}
	}
	return diffs
}

// fieldDiff names the top-level fields that differ, got then want.
func fieldDiff(got, want any) string {
	g, gok := got.(map[string]any)
	w, wok := want.(map[string]any)
	if !gok || !wok {
		return fmt.Sprintf("got %v, want %v", got, want)
	}
	var parts []string
	for _, k := range sortedKeys(union(g, w)) {
		if !reflect.DeepEqual(g[k], w[k]) {
			parts = append(parts, fmt.Sprintf("%s: got %v, want %v", k, g[k], w[k]))
		}
	}
	return strings.Join(parts, "; ")
}

func union(a, b map[string]any) map[string]any {
	u := make(map[string]any, len(a)+len(b))
	for k := range a {
		u[k] = nil
	}
	for k := range b {
		u[k] = nil
	}
	return u
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// delivery is one webhook plaidsim sent (GET /sim/webhooks).
type delivery struct {
	URL      string          `json:"url"`
	Body     json.RawMessage `json:"body"`
	Attempts []struct {
		At     time.Time `json:"at"`
		Status int       `json:"status"`
		Error  string    `json:"error"`
	} `json:"attempts"`
	Delivered bool `json:"delivered"`
	GaveUp    bool `json:"gave_up"`
}

func (s *stack) deliveries() []delivery {
	s.t.Helper()
	var out struct {
		Deliveries []delivery `json:"deliveries"`
	}
	s.sim(http.MethodGet, "/sim/webhooks", nil, &out)
	return out.Deliveries
}

// attemptsWithStatus counts webhook attempts answered with status.
func attemptsWithStatus(ds []delivery, status int) int {
	n := 0
	for _, d := range ds {
		for _, a := range d.Attempts {
			if a.Status == status {
				n++
			}
		}
	}
	return n
}

// storedWebhooks counts the bodies stored in PLAID_WEBHOOKS (canonical
// JSON), skipping plaidstream's own sync requests.
func (s *stack) storedWebhooks(ctx context.Context) (map[string]int, int, error) {
	cons, err := s.js.OrderedConsumer(ctx, events.WebhookStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, 0, err
	}
	bodies := map[string]int{}
	total := 0
	for {
		batch, err := cons.FetchNoWait(500)
		if err != nil {
			return nil, 0, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			total++
			if m.Headers().Get(events.HeaderWebhookType) == events.SyncRequestType {
				continue
			}
			c, err := canonicalJSON(m.Data())
			if err != nil {
				return nil, 0, fmt.Errorf("stored webhook is not JSON: %w", err)
			}
			bodies[c]++
		}
		if err := batch.Error(); err != nil {
			return nil, 0, err
		}
		if n == 0 {
			return bodies, total, nil
		}
	}
}
