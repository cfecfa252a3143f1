package fetcher

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/plaidstream/plaidstream/internal/embednats"
	"github.com/plaidstream/plaidstream/internal/items"
)

const newerKey = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=" // base64 of bytes 32..63

// TestItemsRekeyRotatesTheTokenKey: a token sealed under the single key
// (id "0") is re-sealed by `items rekey` once PLAIDSTREAM_TOKEN_KEYS lists a
// newer key; afterwards the newer key alone opens it.
func TestItemsRekeyRotatesTheTokenKey(t *testing.T) {
	ns, err := embednats.Start(embednats.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	env := map[string]string{"NATS_URL": ns.ClientURL(), "PLAIDSTREAM_TOKEN_KEY": testKey}
	getenv := func(k string) string { return env[k] }
	cli := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := runWithInput(context.Background(), append([]string{"items"}, args...), getenv, strings.NewReader("access-sandbox-rotate-me\n"), &out, &errOut); err != nil {
			t.Fatalf("items %v: %v\n%s", args, err, errOut.String())
		}
		if strings.Contains(out.String()+errOut.String(), "access-sandbox-rotate-me") {
			t.Errorf("items %v printed the token", args)
		}
		return out.String()
	}
	keyID := func() string {
		var v items.View
		if err := json.Unmarshal([]byte(cli("get", "item1", "--json")), &v); err != nil {
			t.Fatal(err)
		}
		return v.KeyID
	}

	cli("add", "--item-id", "item1", "--access-token", "-")
	if got := keyID(); got != "0" {
		t.Fatalf("sealed with key %q, want 0", got)
	}
	delete(env, "PLAIDSTREAM_TOKEN_KEY")
	env["PLAIDSTREAM_TOKEN_KEYS"] = "0:" + testKey + ",1:" + newerKey
	if got := cli("rekey"); !strings.Contains(got, "re-sealed 1 token(s) with key 1") {
		t.Errorf("rekey: %q", got)
	}
	if got := cli("rekey"); !strings.Contains(got, "re-sealed 0 token(s)") {
		t.Errorf("a second rekey: %q", got)
	}
	if got := keyID(); got != "1" {
		t.Errorf("after rekey sealed with key %q, want 1", got)
	}
	// The old key can be retired: the newer key alone still opens the token
	// (rekey with only key 1 must find nothing it cannot open).
	env["PLAIDSTREAM_TOKEN_KEYS"] = "1:" + newerKey
	if err := run(context.Background(), []string{"items", "rekey"}, getenv, io.Discard, io.Discard); err != nil {
		t.Errorf("rekey with only the new key: %v", err)
	}
}
