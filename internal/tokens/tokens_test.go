package tokens_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/plaidstream/plaidstream/internal/tokens"
)

func randomKey(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, tokens.KeySize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

const accessToken = "access-sandbox-de3ce8ef-33f8-452c-a685-8671031fc0f6"

func TestSealOpenRoundTripWithoutPlaintextAtRest(t *testing.T) {
	k, err := tokens.NewKeyring(tokens.Key{ID: "0", Bytes: randomKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := k.Seal(accessToken, "item-1")
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := json.Marshal(s)
	if bytes.Contains(stored, []byte(accessToken)) || bytes.Contains(stored, []byte("de3ce8ef")) {
		t.Fatalf("stored record contains the token: %s", stored)
	}
	got, err := k.Open(s, "item-1")
	if err != nil || got != accessToken {
		t.Fatalf("open: got %q, %v; want the token", got, err)
	}
	again, _ := k.Seal(accessToken, "item-1")
	if bytes.Equal(again.Ciphertext, s.Ciphertext) {
		t.Error("two seals of one token produced the same ciphertext (nonce reuse)")
	}
}

func TestOpenFailures(t *testing.T) {
	key := randomKey(t)
	k, _ := tokens.NewKeyring(tokens.Key{ID: "0", Bytes: key})
	other, _ := tokens.NewKeyring(tokens.Key{ID: "0", Bytes: randomKey(t)})
	s, _ := k.Seal(accessToken, "item-1")
	tampered := s
	tampered.Ciphertext = append([]byte(nil), s.Ciphertext...)
	tampered.Ciphertext[0] ^= 1
	unknown := s
	unknown.KeyID = "9"
	shortNonce := s
	shortNonce.Nonce = s.Nonce[:4]

	tests := []struct {
		name    string
		ring    *tokens.Keyring
		sealed  tokens.Sealed
		owner   string
		wantErr error
	}{
		{"another owner", k, s, "item-2", tokens.ErrDecrypt},
		{"wrong key with the same id", other, s, "item-1", tokens.ErrDecrypt},
		{"tampered ciphertext", k, tampered, "item-1", tokens.ErrDecrypt},
		{"unknown key id", k, unknown, "item-1", tokens.ErrUnknownKey},
		{"bad nonce", k, shortNonce, "item-1", tokens.ErrDecrypt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.ring.Open(tt.sealed, tt.owner)
			if !errors.Is(err, tt.wantErr) || got != "" {
				t.Fatalf("got %q, %v; want %v", got, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(key)) {
				t.Error("error contains key material")
			}
		})
	}
}

func TestRotation(t *testing.T) {
	oldKey, newKey := randomKey(t), randomKey(t)
	before, _ := tokens.NewKeyring(tokens.Key{ID: "old", Bytes: oldKey})
	sealedOld, _ := before.Seal(accessToken, "item-1")

	after, err := tokens.NewKeyring(tokens.Key{ID: "old", Bytes: oldKey}, tokens.Key{ID: "new", Bytes: newKey})
	if err != nil {
		t.Fatal(err)
	}
	if after.NewestKeyID() != "new" {
		t.Fatalf("newest: got %q, want new", after.NewestKeyID())
	}
	if got, err := after.Open(sealedOld, "item-1"); err != nil || got != accessToken {
		t.Fatalf("old token under the rotated keyring: got %q, %v", got, err)
	}
	resealed, changed, err := after.Reseal(sealedOld, "item-1")
	if err != nil || !changed || resealed.KeyID != "new" {
		t.Fatalf("reseal: got key %q changed %v err %v", resealed.KeyID, changed, err)
	}
	if _, changed, _ := after.Reseal(resealed, "item-1"); changed {
		t.Error("resealing a token already under the newest key changed it")
	}
	onlyNew, _ := tokens.NewKeyring(tokens.Key{ID: "new", Bytes: newKey})
	if got, err := onlyNew.Open(resealed, "item-1"); err != nil || got != accessToken {
		t.Errorf("after dropping the old key: got %q, %v", got, err)
	}
}

func TestParseKeyring(t *testing.T) {
	k1, k2 := randomKey(t), randomKey(t)
	std := base64.StdEncoding.EncodeToString(k1)
	raw := base64.RawURLEncoding.EncodeToString(k2)
	tests := []struct {
		name       string
		single     string
		keys       string
		wantNewest string
		wantErr    bool
	}{
		{"single key is id 0", std, "", "0", false},
		{"url base64 without padding", raw, "", "0", false},
		{"list, newest last", "", "a:" + std + ", b:" + raw, "b", false},
		{"both set", std, "a:" + std, "", true},
		{"neither set", "", "", "", true},
		{"short key", base64.StdEncoding.EncodeToString(k1[:16]), "", "", true},
		{"not base64", "!!!", "", "", true},
		{"entry without id", "", std, "", true},
		{"duplicate id", "", "a:" + std + ",a:" + raw, "", true},
		{"empty id", "", ":" + std, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := tokens.ParseKeyring(tt.single, tt.keys)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error: got %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				for _, secret := range []string{std, raw} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %q contains key material", err)
					}
				}
				return
			}
			if k.NewestKeyID() != tt.wantNewest {
				t.Errorf("newest: got %q, want %q", k.NewestKeyID(), tt.wantNewest)
			}
		})
	}
}

func ExampleKeyring_Seal() {
	key := make([]byte, tokens.KeySize) // use 32 random bytes in real life
	k, err := tokens.NewKeyring(tokens.Key{ID: "0", Bytes: key})
	if err != nil {
		panic(err)
	}
	sealed, _ := k.Seal("access-sandbox-123", "item-1")
	token, _ := k.Open(sealed, "item-1")
	fmt.Println(sealed.KeyID, token)
	// Output: 0 access-sandbox-123
}
