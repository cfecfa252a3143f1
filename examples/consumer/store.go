package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// LoadStore reads the store at path; a missing file is an empty store.
func LoadStore(path string) (*Store, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return NewStore(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read store: %w", err)
	}
	s := NewStore()
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("read store %s: %w", path, err)
	}
	if s.Version != StoreVersion {
		return nil, fmt.Errorf("store %s has version %d; this program reads %d", path, s.Version, StoreVersion)
	}
	s.reindex()
	return s, nil
}

// SaveStore writes s to path atomically and durably: a reader (or this
// program after a crash) sees the previous version or this one, never a
// mix, and once SaveStore returns the new version survives a power cut.
// That is what makes it safe to ack the messages applied in s right after.
//
// A real service writes to its database in one transaction instead; the
// rule is the same: commit, then ack.
func SaveStore(path string, s *Store) (err error) {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode store: %w", err)
	}
	dir := filepath.Dir(path)
	// The temporary file lives next to the store: rename is atomic only
	// within one file system.
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write store: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("write store: %w", err)
	}
	// The data must be on disk before the rename makes it the store, or a
	// crash could leave a store file that is empty or torn.
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync store: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("replace store: %w", err)
	}
	// And the rename itself must be on disk before we ack.
	return syncDir(dir)
}

// syncDir flushes a directory's entries (the rename) to disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync store directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync store directory: %w", err)
	}
	return nil
}
