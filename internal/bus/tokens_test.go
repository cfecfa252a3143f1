package bus_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/tokens"
)

const (
	testAccessToken    = "access-sandbox-de3ce8ef-33f8-452c-a685-8671031fc0f6"
	testProcessorToken = "processor-sandbox-0asd1-a92nc"
)

func testKey(t *testing.T, id string) tokens.Key {
	t.Helper()
	b := make([]byte, tokens.KeySize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return tokens.Key{ID: id, Bytes: b}
}

func keyring(t *testing.T, keys ...tokens.Key) *tokens.Keyring {
	t.Helper()
	k, err := tokens.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// assertNoPlaintext reads every message of the bucket's stream, history
// included, and fails if one contains a token or a distinctive part of one.
func assertNoPlaintext(ctx context.Context, t *testing.T, js jetstream.JetStream, kv jetstream.KeyValue, secrets ...string) {
	t.Helper()
	st, err := js.Stream(ctx, "KV_"+kv.Bucket())
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, s := range secrets {
			for _, part := range []string{s, s[len(s)-12:]} {
				if bytes.Contains(m.Data, []byte(part)) || strings.Contains(fmt.Sprint(m.Header), part) {
					t.Fatalf("stored message %d contains a token", seq)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no stored messages to check")
	}
}

func TestTokenStoreRoundTripWithoutPlaintextAtRest(t *testing.T) {
	t.Parallel()
	js := startJetStream(t)
	kv := ensureBucket(t, js, events.TokensBucketSpec())
	s := bus.NewTokenStore(kv, keyring(t, testKey(t, "k1")))
	ctx := testContext(t, 10*time.Second)

	if list, err := s.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("list of an empty bucket: %v %v", list, err)
	}
	if n, err := s.Rekey(ctx); err != nil || n != 0 {
		t.Fatalf("rekey of an empty bucket: %d %v", n, err)
	}
	created, err := s.PutItem(ctx, "item1", testAccessToken, "user-1", "sandbox")
	if err != nil || !created {
		t.Fatalf("put: created %v, %v", created, err)
	}
	if created, err = s.PutProcessor(ctx, "acc1", testProcessorToken, "production"); err != nil || !created {
		t.Fatalf("put processor: created %v, %v", created, err)
	}
	c, err := s.Get(ctx, "item.item1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Token.Reveal() != testAccessToken || c.Owner != "item.item1" || c.ID != "item1" || c.Kind != events.OwnerItem ||
		c.UserID != "user-1" || c.Environment != "sandbox" || c.KeyID != "k1" || c.CreatedAt.IsZero() {
		t.Fatalf("get: %+v", c.CredentialInfo)
	}
	p, err := s.Get(ctx, "processor.acc1")
	if err != nil || p.Token.Reveal() != testProcessorToken || p.Kind != events.OwnerProcessor {
		t.Fatalf("get processor: %+v %v", p.CredentialInfo, err)
	}

	// Replacing keeps the creation time and stores the new token only.
	const rotated = "access-sandbox-11111111-2222-3333-4444-555555555555"
	if created, err := s.PutItem(ctx, "item1", rotated, "user-1", "sandbox"); err != nil || created {
		t.Fatalf("replace: created %v, %v", created, err)
	}
	c2, err := s.Get(ctx, "item.item1")
	if err != nil || c2.Token.Reveal() != rotated || !c2.CreatedAt.Equal(c.CreatedAt) || c2.Revision <= c.Revision {
		t.Fatalf("after replace: %+v %v", c2.CredentialInfo, err)
	}

	assertNoPlaintext(ctx, t, js, kv, testAccessToken, testProcessorToken, rotated)

	list, err := s.List(ctx)
	if err != nil || len(list) != 2 || list[0].Owner != "item.item1" || list[1].Owner != "processor.acc1" {
		t.Fatalf("list: %+v %v", list, err)
	}
	if strings.Contains(fmt.Sprintf("%+v", list), "sandbox-1111") {
		t.Fatal("list shows a token")
	}

	if err := s.Delete(ctx, "item.item1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "item.item1"); !errors.Is(err, bus.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := s.Delete(ctx, "item.item1"); !errors.Is(err, bus.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestTokenStoreRejectsBadInputWithoutEchoingTheToken(t *testing.T) {
	t.Parallel()
	js := startJetStream(t)
	s := bus.NewTokenStore(ensureBucket(t, js, events.TokensBucketSpec()), keyring(t, testKey(t, "k1")))
	ctx := testContext(t, 5*time.Second)
	for name, put := range map[string]func() (bool, error){
		"bad item id":     func() (bool, error) { return s.PutItem(ctx, "a.b", testAccessToken, "", "sandbox") },
		"empty token":     func() (bool, error) { return s.PutItem(ctx, "i1", " ", "", "sandbox") },
		"bad environment": func() (bool, error) { return s.PutItem(ctx, "i1", testAccessToken, "", "") },
		"bad user id":     func() (bool, error) { return s.PutItem(ctx, "i1", testAccessToken, "a b", "sandbox") },
		"bad account id":  func() (bool, error) { return s.PutProcessor(ctx, "", testProcessorToken, "sandbox") },
	} {
		_, err := put()
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), "de3ce8ef") || strings.Contains(err.Error(), "0asd1") {
			t.Errorf("%s: error contains the token: %v", name, err)
		}
	}
}

// TestTokenStoreRecordIsBoundToItsKey: a sealed record copied to another
// owner's key does not open.
func TestTokenStoreRecordIsBoundToItsKey(t *testing.T) {
	t.Parallel()
	js := startJetStream(t)
	kv := ensureBucket(t, js, events.TokensBucketSpec())
	s := bus.NewTokenStore(kv, keyring(t, testKey(t, "k1")))
	ctx := testContext(t, 5*time.Second)
	if _, err := s.PutItem(ctx, "victim", testAccessToken, "", "sandbox"); err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, "item.victim")
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		t.Fatal(err)
	}
	rec["owner"] = "item.attacker"
	b, _ := json.Marshal(rec)
	if _, err := kv.Put(ctx, "item.attacker", b); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "item.attacker"); !errors.Is(err, tokens.ErrDecrypt) {
		t.Fatalf("copied record: got %v, want ErrDecrypt", err)
	}
}

func TestTokenStoreRekey(t *testing.T) {
	t.Parallel()
	js := startJetStream(t)
	kv := ensureBucket(t, js, events.TokensBucketSpec())
	ctx := testContext(t, 10*time.Second)
	oldKey, newKey := testKey(t, "old"), testKey(t, "new")
	before := bus.NewTokenStore(kv, keyring(t, oldKey))
	for i := range 3 {
		if _, err := before.PutItem(ctx, fmt.Sprintf("i%d", i), fmt.Sprintf("%s-%d", testAccessToken, i), "", "sandbox"); err != nil {
			t.Fatal(err)
		}
	}
	after := bus.NewTokenStore(kv, keyring(t, oldKey, newKey))
	if _, err := after.PutProcessor(ctx, "acc1", testProcessorToken, "sandbox"); err != nil { // already under "new"
		t.Fatal(err)
	}
	n, err := after.Rekey(ctx)
	if err != nil || n != 3 {
		t.Fatalf("rekey: %d, %v; want 3", n, err)
	}
	if n, err := after.Rekey(ctx); err != nil || n != 0 {
		t.Fatalf("second rekey: %d, %v; want 0", n, err)
	}
	onlyNew := bus.NewTokenStore(kv, keyring(t, newKey))
	list, err := onlyNew.List(ctx)
	if err != nil || len(list) != 4 {
		t.Fatalf("list: %d %v", len(list), err)
	}
	for _, info := range list {
		c, err := onlyNew.Get(ctx, info.Owner)
		if err != nil || c.KeyID != "new" {
			t.Fatalf("%s after rekey, old key retired: %+v %v", info.Owner, c.CredentialInfo, err)
		}
	}
	// With the old key gone before a rekey, the records it sealed are
	// reported, and the rest still counted.
	if _, err := before.PutItem(ctx, "late", testAccessToken, "", "sandbox"); err != nil {
		t.Fatal(err)
	}
	n, err = onlyNew.Rekey(ctx)
	if n != 0 || !errors.Is(err, tokens.ErrUnknownKey) || !strings.Contains(err.Error(), "item.late") {
		t.Fatalf("rekey without the old key: %d, %v", n, err)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := bus.Secret(testAccessToken)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "token", s, "cred", bus.Credential{Token: s})
	j, _ := json.Marshal(bus.Credential{Token: s})
	for _, out := range []string{
		fmt.Sprint(s), fmt.Sprintf("%s %v %q %x %#v %+v", s, s, s, s, s, s),
		fmt.Sprintf("%+v %#v", bus.Credential{Token: s}, bus.Credential{Token: s}),
		logs.String(), string(j),
	} {
		if strings.Contains(out, "de3ce8ef") {
			t.Errorf("token printed: %s", out)
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("no [redacted] in %s", out)
		}
	}
	if s.Reveal() != testAccessToken {
		t.Error("Reveal")
	}
}
