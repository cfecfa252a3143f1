package plaidspec

import (
	"bytes"
	"testing"
)

func TestDocumentVersion(t *testing.T) {
	want := []byte("\n  version: " + Version + "\n")
	if !bytes.Contains(Document(), want) {
		t.Errorf("embedded document does not declare info.version %s", Version)
	}
}
