// Package tokens encrypts Plaid access tokens and processor tokens at rest
// with AES-256-GCM. A Keyring holds one or more keys by id; the newest seals,
// any of them opens, so keys can be rotated without a flag day. Each sealed
// token names the key that sealed it and is bound to its owner (the item or
// account id) as additional data, so a record copied to another owner does
// not decrypt.
package tokens

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeySize is the size of an AES-256 key in bytes.
const KeySize = 32

// Errors returned by Open.
var (
	// ErrUnknownKey means the sealed token names a key the keyring lacks.
	ErrUnknownKey = errors.New("token sealed with a key that is not configured")
	// ErrDecrypt means authentication failed: a wrong key, a tampered
	// record, or a record bound to another owner.
	ErrDecrypt = errors.New("token does not decrypt")
)

// Sealed is an encrypted token as stored. It holds no plaintext.
type Sealed struct {
	KeyID      string `json:"key_id"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

// Keyring holds AES-256-GCM keys by id, in order; the last is the newest and
// seals new tokens. It is safe for concurrent use (it is immutable).
type Keyring struct {
	aeads  map[string]cipher.AEAD
	newest string
	ids    []string
}

// Key is one raw key and its id.
type Key struct {
	ID    string
	Bytes []byte
}

// NewKeyring builds a keyring from keys, oldest first. Ids must be unique and
// non-empty, keys exactly KeySize bytes.
func NewKeyring(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("token keyring: no key configured")
	}
	k := &Keyring{aeads: make(map[string]cipher.AEAD, len(keys))}
	for _, key := range keys {
		if key.ID == "" || strings.ContainsAny(key.ID, ":, \t\n") {
			return nil, fmt.Errorf("token keyring: key id %q must be non-empty without ':', ',' or white space", key.ID)
		}
		if _, dup := k.aeads[key.ID]; dup {
			return nil, fmt.Errorf("token keyring: key id %q given twice", key.ID)
		}
		if len(key.Bytes) != KeySize {
			return nil, fmt.Errorf("token keyring: key %q is %d bytes, want %d (base64 of 32 random bytes)", key.ID, len(key.Bytes), KeySize)
		}
		block, err := aes.NewCipher(key.Bytes)
		if err != nil {
			return nil, fmt.Errorf("token keyring: key %q: %w", key.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("token keyring: key %q: %w", key.ID, err)
		}
		k.aeads[key.ID] = aead
		k.ids = append(k.ids, key.ID)
	}
	k.newest = k.ids[len(k.ids)-1]
	return k, nil
}

// ParseKeyring reads the key settings: keys is PLAIDSTREAM_TOKEN_KEYS
// ("id1:base64,id2:base64", newest last); single is PLAIDSTREAM_TOKEN_KEY
// (base64 of 32 bytes, key id "0"). Exactly one must be set. Error messages
// never contain key material.
func ParseKeyring(single, keys string) (*Keyring, error) {
	single, keys = strings.TrimSpace(single), strings.TrimSpace(keys)
	switch {
	case single != "" && keys != "":
		return nil, errors.New("token keyring: set PLAIDSTREAM_TOKEN_KEY or PLAIDSTREAM_TOKEN_KEYS, not both")
	case single != "":
		b, err := decodeKey(single)
		if err != nil {
			return nil, fmt.Errorf("token keyring: PLAIDSTREAM_TOKEN_KEY: %w", err)
		}
		return NewKeyring(Key{ID: "0", Bytes: b})
	case keys != "":
		var list []Key
		for i, part := range strings.Split(keys, ",") {
			id, enc, ok := strings.Cut(strings.TrimSpace(part), ":")
			if !ok {
				return nil, fmt.Errorf("token keyring: PLAIDSTREAM_TOKEN_KEYS entry %d: want id:base64", i+1)
			}
			b, err := decodeKey(enc)
			if err != nil {
				return nil, fmt.Errorf("token keyring: PLAIDSTREAM_TOKEN_KEYS key %q: %w", id, err)
			}
			list = append(list, Key{ID: id, Bytes: b})
		}
		return NewKeyring(list...)
	default:
		return nil, errors.New("token keyring: PLAIDSTREAM_TOKEN_KEY (or PLAIDSTREAM_TOKEN_KEYS) is required: base64 of 32 random bytes, e.g. `openssl rand -base64 32`")
	}
}

// ReadKeyFile reads a key file holding PLAIDSTREAM_TOKEN_KEY's value.
func ReadKeyFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token key file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// decodeKey accepts standard or URL base64, padded or not.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not valid base64")
}

// NewestKeyID is the id of the key that seals new tokens.
func (k *Keyring) NewestKeyID() string { return k.newest }

// KeyIDs lists the configured key ids, oldest first.
func (k *Keyring) KeyIDs() []string { return append([]string(nil), k.ids...) }

// Seal encrypts token with the newest key, bound to owner (an item or
// account id): Open must be given the same owner.
func (k *Keyring) Seal(token, owner string) (Sealed, error) {
	aead := k.aeads[k.newest]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return Sealed{}, fmt.Errorf("seal token: %w", err)
	}
	return Sealed{
		KeyID:      k.newest,
		Nonce:      nonce,
		Ciphertext: aead.Seal(nil, nonce, []byte(token), []byte(owner)),
	}, nil
}

// Open decrypts s for owner. It returns ErrUnknownKey or ErrDecrypt; the
// error never contains ciphertext or key material.
func (k *Keyring) Open(s Sealed, owner string) (string, error) {
	aead, ok := k.aeads[s.KeyID]
	if !ok {
		return "", fmt.Errorf("%w: key id %q", ErrUnknownKey, s.KeyID)
	}
	if len(s.Nonce) != aead.NonceSize() {
		return "", fmt.Errorf("%w: bad nonce length", ErrDecrypt)
	}
	plain, err := aead.Open(nil, s.Nonce, s.Ciphertext, []byte(owner))
	if err != nil {
		return "", ErrDecrypt
	}
	return string(plain), nil
}

// Reseal re-encrypts s with the newest key (for key rotation). A token
// already sealed with the newest key is returned unchanged with false.
func (k *Keyring) Reseal(s Sealed, owner string) (Sealed, bool, error) {
	if s.KeyID == k.newest {
		return s, false, nil
	}
	plain, err := k.Open(s, owner)
	if err != nil {
		return Sealed{}, false, err
	}
	out, err := k.Seal(plain, owner)
	return out, err == nil, err
}
