package bus_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
)

func TestItemStoreCRUD(t *testing.T) {
	t.Parallel()
	js := startJetStream(t)
	kv := ensureBucket(t, js, events.ItemsBucketSpec())
	s := bus.NewItemStore(kv)
	ctx := testContext(t, 10*time.Second)

	if list, err := s.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("list of an empty bucket: %v %v", list, err)
	}
	if _, _, err := s.Get(ctx, "item.i1"); !errors.Is(err, bus.ErrNotFound) {
		t.Fatalf("get before create: got %v, want ErrNotFound", err)
	}
	rev, err := s.Create(ctx, bus.ItemState{Owner: "item.i1", Environment: "sandbox"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, bus.ItemState{Owner: "item.i1"}); !errors.Is(err, bus.ErrExists) {
		t.Fatalf("second create: got %v, want ErrExists", err)
	}
	st, gotRev, err := s.Get(ctx, "item.i1")
	if err != nil || gotRev != rev || st.Kind != events.OwnerItem || st.CreatedAt.IsZero() || st.Environment != "sandbox" {
		t.Fatalf("get: %+v rev %d (want %d) %v", st, gotRev, rev, err)
	}

	st.Cursor, st.SyncedThroughSeq, st.LastSyncOutcome = "c1", 42, "ok"
	rev2, err := s.Update(ctx, st, rev)
	if err != nil {
		t.Fatal(err)
	}
	st.Cursor = "stale"
	if _, err := s.Update(ctx, st, rev); !errors.Is(err, bus.ErrConflict) {
		t.Fatalf("update at an old revision: got %v, want ErrConflict", err)
	}
	got, _, err := s.Get(ctx, "item.i1")
	if err != nil || got.Cursor != "c1" || got.SyncedThroughSeq != 42 || !got.CreatedAt.Equal(st.CreatedAt) {
		t.Fatalf("after the conflict: %+v %v", got, err)
	}

	// Modify: bookkeeping fields with retries, never the cursor.
	if _, _, err := s.Modify(ctx, "item.i1", func(st *bus.ItemState) error { st.Cursor = "x"; return nil }); !errors.Is(err, bus.ErrSyncFieldChanged) {
		t.Fatalf("modify of the cursor: got %v", err)
	}
	mod, rev3, err := s.Modify(ctx, "item.i1", func(st *bus.ItemState) error { st.Parked, st.ParkedReason = true, "ITEM_LOGIN_REQUIRED"; return nil })
	if err != nil || rev3 <= rev2 || !mod.Parked || mod.Cursor != "c1" {
		t.Fatalf("modify: %+v rev %d %v", mod, rev3, err)
	}

	if _, err := s.Create(ctx, bus.ItemState{Owner: "processor.a1", Kind: events.OwnerProcessor}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, bus.ItemState{Owner: "processor.a2", Kind: events.OwnerItem}); err == nil {
		t.Error("a kind that contradicts the key was stored")
	}
	if _, err := s.Create(ctx, bus.ItemState{Owner: "item.a:b"}); !errors.Is(err, events.ErrBadOwner) {
		t.Errorf("unsafe owner: got %v", err)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].State.Owner != "item.i1" || list[0].Revision != rev3 || list[1].State.Owner != "processor.a1" {
		t.Fatalf("list: %+v", list)
	}

	if err := s.Delete(ctx, "item.i1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(ctx, "item.i1"); !errors.Is(err, bus.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := s.Update(ctx, got, rev3); !errors.Is(err, bus.ErrConflict) {
		t.Fatalf("update of a deleted owner: got %v, want ErrConflict", err)
	}
	if _, err := s.Create(ctx, bus.ItemState{Owner: "item.i1"}); err != nil {
		t.Fatalf("re-create after delete: %v", err)
	}
	if list, err := s.List(ctx); err != nil || len(list) != 2 {
		t.Fatalf("list after re-create: %d %v", len(list), err)
	}
}

func TestItemStoreRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	js := startJetStream(t)
	kv := ensureBucket(t, js, events.ItemsBucketSpec())
	ctx := testContext(t, 5*time.Second)
	if _, err := kv.Put(ctx, "item.i1", []byte(`{"v":2,"owner":"item.i1"}`)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bus.NewItemStore(kv).Get(ctx, "item.i1"); !errors.Is(err, bus.ErrUnsupportedSchema) {
		t.Fatalf("got %v, want ErrUnsupportedSchema", err)
	}
}

// TestItemStoreCursorCASNeverInterleaves: workers that each read the state,
// advance the cursor and save it by compare-and-set produce one linear
// history — every successful save started from the previous one.
func TestItemStoreCursorCASNeverInterleaves(t *testing.T) {
	t.Parallel()
	js := startJetStream(t)
	s := bus.NewItemStore(ensureBucket(t, js, events.ItemsBucketSpec()))
	ctx := testContext(t, 10*time.Second)
	if _, err := s.Create(ctx, bus.ItemState{Owner: "item.i1", Cursor: "0"}); err != nil {
		t.Fatal(err)
	}
	const workers, rounds = 4, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	saved := map[string]string{} // new cursor -> the cursor it advanced from
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				st, rev, err := s.Get(ctx, "item.i1")
				if err != nil {
					t.Error(err)
					return
				}
				from := st.Cursor
				st.Cursor = fmt.Sprintf("w%d-r%d", w, r)
				if _, err := s.Update(ctx, st, rev); errors.Is(err, bus.ErrConflict) {
					continue
				} else if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				saved[st.Cursor] = from
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	final, _, err := s.Get(ctx, "item.i1")
	if err != nil {
		t.Fatal(err)
	}
	// Walk back from the final cursor: every save must chain to "0" and
	// the chain must contain every successful save exactly once.
	n := 0
	for c := final.Cursor; c != "0"; n++ {
		from, ok := saved[c]
		if !ok || n > len(saved) {
			t.Fatalf("cursor %q was saved without advancing from a saved cursor", c)
		}
		c = from
	}
	if n != len(saved) {
		t.Fatalf("chain of %d saves, but %d succeeded: two saves advanced from the same cursor", n, len(saved))
	}
}
