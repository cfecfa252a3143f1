package secret_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plaidstream/plaidstream/internal/secret"
)

func TestNeverPrints(t *testing.T) {
	s := secret.Secret("s3cr3t")
	var out []string
	for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x"} {
		out = append(out, fmt.Sprintf(verb, s))
	}
	j, _ := json.Marshal(struct{ S secret.Secret }{s})
	out = append(out, string(j))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "s", s, "cfg", struct{ S secret.Secret }{s})
	out = append(out, buf.String())
	for _, o := range out {
		if strings.Contains(o, "s3cr3t") {
			t.Errorf("printed the secret: %s", o)
		}
	}
	if s.Reveal() != "s3cr3t" {
		t.Errorf("Reveal: got %q", s.Reveal())
	}
}

func TestFromFileOrEnv(t *testing.T) {
	env := func(k string) string { return map[string]string{"X_SECRET": "from-env"}[k] }
	if s, err := secret.FromFileOrEnv("", "X_SECRET", env); err != nil || s.Reveal() != "from-env" {
		t.Errorf("env: got %q, %v", s.Reveal(), err)
	}
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("  from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := secret.FromFileOrEnv(file, "X_SECRET", env); err != nil || s.Reveal() != "from-file" {
		t.Errorf("file: got %q, %v", s.Reveal(), err)
	}
	if _, err := secret.FromFileOrEnv(filepath.Join(t.TempDir(), "missing"), "X_SECRET", env); err == nil {
		t.Error("missing file: got nil error")
	}
}
