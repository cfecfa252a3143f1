package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/plaidstream/plaidstream/internal/plaid"
)

func TestStoreSurvivesARestartMidUpdate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.json")
	evs := update(t, 0, "", "c1", []plaid.Transaction{txn(t, "t1", "1", false, ""), txn(t, "t2", "2", false, "")}, nil)

	f := newFeeder(t)
	f.apply(evs[0])
	if err := SaveStore(path, f.s); err != nil {
		t.Fatal(err)
	}
	// The process stops after acking evs[0]; a new one loads the store and
	// gets evs[0] again (a lost ack) and the rest.
	s, err := LoadStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Apply(1, evs[0]); r.Outcome != Duplicate {
		t.Errorf("redelivered evs[0]: %s, want duplicate", r.Outcome)
	}
	if r := s.Apply(10, evs[0]); r.Outcome != Duplicate {
		t.Errorf("a copy of evs[0] at a new sequence: %s, want duplicate (the buffered update remembers its ids)", r.Outcome)
	}
	s.Apply(11, evs[1])
	if r := s.Apply(12, evs[2]); r.Outcome != Applied || r.Incomplete {
		t.Errorf("completion: %+v, want applied and complete", r)
	}
	wantIDs(t, s.Owners[itemSrc], "t1", "t2")
}

func TestSaveStoreReplacesTheFileWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "store.json")
	f := newFeeder(t)
	f.apply(update(t, 0, "", "c1", []plaid.Transaction{txn(t, "t1", "1", false, "")}, nil)...)
	for range 3 {
		if err := SaveStore(path, f.s); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "store.json" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only store.json (no temporary files left)", names)
	}
	s, err := LoadStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.StreamSeq != f.s.StreamSeq || len(s.Owners[itemSrc].Transactions) != 1 {
		t.Errorf("loaded stream_seq %d with %d transactions, want %d and 1", s.StreamSeq, len(s.Owners[itemSrc].Transactions), f.s.StreamSeq)
	}
}

func TestLoadStore(t *testing.T) {
	dir := t.TempDir()
	missing, err := LoadStore(filepath.Join(dir, "none.json"))
	if err != nil || missing.StreamSeq != 0 || len(missing.Owners) != 0 {
		t.Errorf("missing file: %+v, %v; want an empty store", missing, err)
	}
	other := filepath.Join(dir, "other.json")
	if err := os.WriteFile(other, []byte(`{"version": 99}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadStore(other); err == nil {
		t.Error("a store of another version loaded without error")
	}
	torn := filepath.Join(dir, "torn.json")
	if err := os.WriteFile(torn, []byte(`{"version": 1, "owners": {`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadStore(torn); err == nil {
		t.Error("a torn store loaded without error")
	}
}
