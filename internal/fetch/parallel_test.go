package fetch

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/plaidstream/plaidstream/internal/plaid"
)

// TestLargeUpdateEncodesLikeSequential: an update large enough to be encoded
// on several goroutines gives the same messages, byte for byte and in the
// same order, as encoding it on one.
func TestLargeUpdateEncodesLikeSequential(t *testing.T) {
	n := 3*parallelItems + 17
	u := &plaid.SyncUpdate{StartCursor: "a", NextCursor: "b"}
	for i := range n {
		u.Added = append(u.Added, txn(fmt.Sprintf("t%05d", i), fmt.Sprintf("%d.%02d", i, i%100)))
	}
	for i := range 50 {
		u.Removed = append(u.Removed, removed(fmt.Sprintf("r%03d", i)))
	}
	p := updateParams()
	got, err := BuildUpdateEvents(u, p)
	if err != nil {
		t.Fatal(err)
	}
	// The same transactions in updates small enough to be encoded on one
	// goroutine.
	want := make([]Message, 0, len(got))
	for i := 0; i < n; i += parallelItems / 2 {
		part := &plaid.SyncUpdate{StartCursor: "a", NextCursor: "b", Added: u.Added[i:min(i+parallelItems/2, n)]}
		msgs, err := BuildUpdateEvents(part, p)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, msgs[:len(msgs)-1]...) // without its sync.completed
	}
	if len(got) != n+50+1 {
		t.Fatalf("%d messages, want %d", len(got), n+50+1)
	}
	for i := range n {
		// Ids are scoped by the update, so compare the payloads and order.
		if got[i].Event.Subject != want[i].Event.Subject || !bytes.Equal(got[i].Event.Data, want[i].Event.Data) {
			t.Fatalf("message %d differs: %s vs %s", i, got[i].Event.Subject, want[i].Event.Subject)
		}
	}
}
