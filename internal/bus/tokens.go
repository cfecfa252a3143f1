package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/secret"
	"github.com/plaidstream/plaidstream/internal/tokens"
)

// Secret is a plaintext Plaid token in memory: every way of printing it
// gives "[redacted]" (internal/secret).
type Secret = secret.Secret

// TokenSchemaVersion is the schema version of credential records in
// PLAID_TOKENS.
const TokenSchemaVersion = 1

// tokenRecord is a credential as stored. It holds only the sealed token;
// the sealed form is bound to the record's key (events.OwnerKey), so a
// record copied to another owner's key does not open.
type tokenRecord struct {
	V           int              `json:"v"`
	Owner       string           `json:"owner"`
	Kind        events.OwnerKind `json:"kind"`
	Sealed      tokens.Sealed    `json:"sealed"`
	UserID      string           `json:"user_id,omitempty"`
	Environment string           `json:"environment"`
	CreatedAt   time.Time        `json:"created_at"`
	UpdatedAt   time.Time        `json:"updated_at"`
}

// CredentialInfo describes a stored credential without its token.
type CredentialInfo struct {
	// Owner is the events.OwnerKey, ID the item or account id.
	Owner string
	Kind  events.OwnerKind
	ID    string
	// UserID is Plaid's user_id for the item, when given.
	UserID      string
	Environment string
	// KeyID names the keyring key the token is sealed with.
	KeyID     string
	CreatedAt time.Time
	UpdatedAt time.Time
	Revision  uint64
}

// Credential is a stored credential with its token opened.
type Credential struct {
	CredentialInfo
	Token Secret
}

// TokenStore keeps access tokens and processor tokens in PLAID_TOKENS,
// sealed with AES-256-GCM (internal/tokens). Plaintext never reaches the
// bucket, a log or an error. It is safe for concurrent use.
type TokenStore struct {
	kv   jetstream.KeyValue
	ring *tokens.Keyring
	now  func() time.Time
}

// NewTokenStore returns a store over kv (from EnsureBucket with
// events.TokensBucketSpec()) sealing with ring's newest key.
func NewTokenStore(kv jetstream.KeyValue, ring *tokens.Keyring) *TokenStore {
	return &TokenStore{kv: kv, ring: ring, now: time.Now}
}

// PutItem stores itemID's access token, replacing any earlier one (keeping
// its creation time). created reports whether the item was new.
func (s *TokenStore) PutItem(ctx context.Context, itemID, accessToken, userID, environment string) (created bool, err error) {
	owner, err := events.OwnerKey(events.OwnerItem, itemID)
	if err != nil {
		return false, err
	}
	if userID != "" && !events.SafeName(userID) {
		return false, fmt.Errorf("credential %s: user id is not a safe name", owner)
	}
	return s.put(ctx, owner, events.OwnerItem, accessToken, userID, environment)
}

// PutProcessor stores accountID's processor token, replacing any earlier
// one. created reports whether the account was new.
func (s *TokenStore) PutProcessor(ctx context.Context, accountID, processorToken, environment string) (created bool, err error) {
	owner, err := events.OwnerKey(events.OwnerProcessor, accountID)
	if err != nil {
		return false, err
	}
	return s.put(ctx, owner, events.OwnerProcessor, processorToken, "", environment)
}

func (s *TokenStore) put(ctx context.Context, owner string, kind events.OwnerKind, token, userID, environment string) (bool, error) {
	if strings.TrimSpace(token) == "" {
		return false, fmt.Errorf("credential %s: empty token", owner)
	}
	if !events.SafeName(environment) {
		return false, fmt.Errorf("credential %s: environment must be a safe name such as sandbox or production", owner)
	}
	const attempts = 5
	for range attempts {
		sealed, err := s.ring.Seal(token, owner)
		if err != nil {
			return false, fmt.Errorf("credential %s: %w", owner, err)
		}
		now := s.now().UTC()
		rec := tokenRecord{V: TokenSchemaVersion, Owner: owner, Kind: kind, Sealed: sealed, UserID: userID, Environment: environment, CreatedAt: now, UpdatedAt: now}
		e, err := s.kv.Get(ctx, owner)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err := s.kv.Create(ctx, owner, mustJSON(rec))
			if isWrongLastSequence(err) {
				continue // someone created it meanwhile: replace theirs
			}
			if err != nil {
				return false, fmt.Errorf("store credential %s: %w", owner, err)
			}
			return true, nil
		case err != nil:
			return false, fmt.Errorf("store credential %s: %w", owner, err)
		}
		old, err := decodeToken(owner, e.Value())
		if err != nil {
			return false, err
		}
		rec.CreatedAt = old.CreatedAt
		_, err = s.kv.Update(ctx, owner, mustJSON(rec), e.Revision())
		if isWrongLastSequence(err) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("store credential %s: %w", owner, err)
		}
		return false, nil
	}
	return false, fmt.Errorf("store credential %s: %d attempts: %w", owner, attempts, ErrConflict)
}

// Get returns owner's credential (owner is an events.OwnerKey) with its
// token opened, or ErrNotFound. A token that does not open returns an error
// wrapping tokens.ErrUnknownKey or tokens.ErrDecrypt.
func (s *TokenStore) Get(ctx context.Context, owner string) (Credential, error) {
	if _, err := ownerKey(owner); err != nil {
		return Credential{}, err
	}
	e, err := s.kv.Get(ctx, owner)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Credential{}, fmt.Errorf("credential %s: %w", owner, ErrNotFound)
	}
	if err != nil {
		return Credential{}, fmt.Errorf("get credential %s: %w", owner, err)
	}
	rec, err := decodeToken(owner, e.Value())
	if err != nil {
		return Credential{}, err
	}
	plain, err := s.ring.Open(rec.Sealed, owner)
	if err != nil {
		return Credential{}, fmt.Errorf("credential %s: %w", owner, err)
	}
	return Credential{CredentialInfo: rec.info(e.Revision()), Token: Secret(plain)}, nil
}

// Info describes owner's credential without opening its token (no token
// key needed), or returns ErrNotFound.
func (s *TokenStore) Info(ctx context.Context, owner string) (CredentialInfo, error) {
	if _, err := ownerKey(owner); err != nil {
		return CredentialInfo{}, err
	}
	e, err := s.kv.Get(ctx, owner)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return CredentialInfo{}, fmt.Errorf("credential %s: %w", owner, ErrNotFound)
	}
	if err != nil {
		return CredentialInfo{}, fmt.Errorf("get credential %s: %w", owner, err)
	}
	rec, err := decodeToken(owner, e.Value())
	if err != nil {
		return CredentialInfo{}, err
	}
	return rec.info(e.Revision()), nil
}

// Delete removes owner's credential and every older revision of it. It
// returns ErrNotFound if there is none.
func (s *TokenStore) Delete(ctx context.Context, owner string) error {
	if _, err := ownerKey(owner); err != nil {
		return err
	}
	if _, err := s.kv.Get(ctx, owner); errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("credential %s: %w", owner, ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("delete credential %s: %w", owner, err)
	}
	if err := s.kv.Purge(ctx, owner); err != nil {
		return fmt.Errorf("delete credential %s: %w", owner, err)
	}
	return nil
}

// List describes every stored credential, sorted by owner, without opening
// any token.
func (s *TokenStore) List(ctx context.Context) ([]CredentialInfo, error) {
	entries, err := latestEntries(ctx, s.kv)
	if err != nil {
		return nil, err
	}
	out := make([]CredentialInfo, 0, len(entries))
	for _, e := range entries {
		rec, err := decodeToken(e.Key(), e.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, rec.info(e.Revision()))
	}
	slices.SortFunc(out, func(a, b CredentialInfo) int { return strings.Compare(a.Owner, b.Owner) })
	return out, nil
}

// Rekey re-seals every credential not yet sealed with the keyring's newest
// key, each by compare-and-set (a concurrent Put wins and is already under
// the newest key). It returns how many it re-sealed. Records it cannot open
// are skipped and reported together in the error; the others are still
// re-sealed. Once it returns n with a nil error, older keys can be retired.
func (s *TokenStore) Rekey(ctx context.Context) (int, error) {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("rekey: list credentials: %w", err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("rekey: %w", err)
	}
	n := 0
	var errs []error
	for _, owner := range keys {
		changed, err := s.rekeyOne(ctx, owner)
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if changed {
			n++
		}
	}
	return n, errors.Join(errs...)
}

func (s *TokenStore) rekeyOne(ctx context.Context, owner string) (bool, error) {
	const attempts = 5
	for range attempts {
		e, err := s.kv.Get(ctx, owner)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return false, nil // deleted meanwhile
		}
		if err != nil {
			return false, fmt.Errorf("rekey %s: %w", owner, err)
		}
		rec, err := decodeToken(owner, e.Value())
		if err != nil {
			return false, fmt.Errorf("rekey: %w", err)
		}
		sealed, changed, err := s.ring.Reseal(rec.Sealed, owner)
		if err != nil {
			return false, fmt.Errorf("rekey %s: %w", owner, err)
		}
		if !changed {
			return false, nil
		}
		rec.Sealed = sealed
		rec.UpdatedAt = s.now().UTC()
		_, err = s.kv.Update(ctx, owner, mustJSON(rec), e.Revision())
		if isWrongLastSequence(err) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("rekey %s: %w", owner, err)
		}
		return true, nil
	}
	return false, fmt.Errorf("rekey %s: %d attempts: %w", owner, attempts, ErrConflict)
}

func (r tokenRecord) info(rev uint64) CredentialInfo {
	o, _ := events.ParseOwnerKey(r.Owner) // checked by decodeToken
	return CredentialInfo{
		Owner: r.Owner, Kind: r.Kind, ID: o.ID, UserID: r.UserID, Environment: r.Environment,
		KeyID: r.Sealed.KeyID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Revision: rev,
	}
}

func decodeToken(key string, b []byte) (tokenRecord, error) {
	var r tokenRecord
	if err := json.Unmarshal(b, &r); err != nil {
		// json's syntax errors quote no input, but keep them generic anyway.
		return tokenRecord{}, fmt.Errorf("decode credential %s: not a credential record", key)
	}
	switch {
	case r.V > TokenSchemaVersion:
		return tokenRecord{}, fmt.Errorf("credential %s: version %d: %w", key, r.V, ErrUnsupportedSchema)
	case r.V < 1:
		return tokenRecord{}, fmt.Errorf("decode credential %s: no schema version", key)
	case r.Owner != key:
		return tokenRecord{}, fmt.Errorf("decode credential %s: record names owner %q", key, r.Owner)
	}
	o, err := events.ParseOwnerKey(key)
	if err != nil || o.Kind != r.Kind {
		return tokenRecord{}, fmt.Errorf("decode credential %s: kind %q does not match the key", key, r.Kind)
	}
	return r, nil
}

// mustJSON marshals a record whose fields cannot fail to encode.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
