package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
)

// PublicKey is a Plaid webhook verification key as /webhook_verification_key/get
// returns it (Plaid's JWKPublicKey).
type PublicKey struct {
	KeyID     string // kid
	Algorithm string // alg, "ES256"
	Curve     string // crv, "P-256"
	KeyType   string // kty, "EC"
	Use       string // use, "sig"
	X, Y      string // base64url big-endian coordinates
	CreatedAt int64  // Unix seconds
	ExpiredAt *int64 // Unix seconds; nil while the key is live
}

// KeyFetcher fetches the key for one kid. It returns an error wrapping
// [ErrUnknownKey] when Plaid says the kid does not exist (HTTP 400
// INVALID_WEBHOOK_VERIFICATION_KEY_ID); any other error is a fetch failure.
// The returned key's KeyID must equal kid.
//
// A Verifier calls FetchKey with the context of the Verify call that needed
// the key; concurrent Verify calls for the same kid share that one call.
type KeyFetcher interface {
	FetchKey(ctx context.Context, kid string) (PublicKey, error)
}

// StaticKeys is a [KeyFetcher] over a fixed set of keys, as used by the
// offline `webhookd verify` tool. A kid not in the set yields an error
// wrapping [ErrUnknownKey]; if a kid appears twice the first key wins.
type StaticKeys []PublicKey

// FetchKey returns the key whose KeyID is kid.
func (s StaticKeys) FetchKey(_ context.Context, kid string) (PublicKey, error) {
	for _, k := range s {
		if k.KeyID == kid {
			return k, nil
		}
	}
	return PublicKey{}, fmt.Errorf("%w: kid %q is not in the static key set", ErrUnknownKey, kid)
}

// ParseJWK decodes a Plaid verification key given either as a bare JWK
// ({"alg":"ES256","kid":...}) or as a whole /webhook_verification_key/get
// response ({"key":{...},"request_id":...}). Member names are case-sensitive
// and may not repeat; unknown members are ignored.
//
// kid, kty, crv, alg, x and y are required, use is optional. The key must be
// usable by a [Verifier]: kty "EC", crv "P-256", alg "ES256", use "sig" if
// present, and (x, y) a point on P-256. created_at must be a JSON integer if
// present; expired_at must be null or a JSON integer. The errors do not wrap
// this package's sentinels.
func ParseJWK(data []byte) (PublicKey, error) {
	obj := new(object)
	if err := obj.decode(data); err != nil {
		return PublicKey{}, fmt.Errorf("parse jwk: %w", err)
	}
	if raw, ok := obj.get("key"); ok {
		obj = new(object)
		if err := obj.decode(raw); err != nil {
			return PublicKey{}, fmt.Errorf("parse jwk: member key: %w", err)
		}
	}
	var k PublicKey
	for _, f := range []struct {
		name     string
		dst      *string
		required bool
	}{
		{"kid", &k.KeyID, true},
		{"kty", &k.KeyType, true},
		{"crv", &k.Curve, true},
		{"alg", &k.Algorithm, true},
		{"x", &k.X, true},
		{"y", &k.Y, true},
		{"use", &k.Use, false},
	} {
		raw, ok := obj.get(f.name)
		if !ok {
			if f.required {
				return PublicKey{}, fmt.Errorf("parse jwk: member %s is missing", f.name)
			}
			continue
		}
		s, ok := jsonString(raw)
		if !ok {
			return PublicKey{}, fmt.Errorf("parse jwk: member %s is not a JSON string", f.name)
		}
		*f.dst = s
	}
	if raw, ok := obj.get("created_at"); ok {
		var err error
		if k.CreatedAt, err = strconv.ParseInt(string(raw), 10, 64); err != nil {
			return PublicKey{}, errors.New("parse jwk: member created_at is not a JSON integer")
		}
	}
	if raw, ok := obj.get("expired_at"); ok && string(raw) != "null" {
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return PublicKey{}, errors.New("parse jwk: member expired_at is neither null nor a JSON integer")
		}
		k.ExpiredAt = &n
	}
	if _, err := ecdsaKey(k); err != nil {
		return PublicKey{}, fmt.Errorf("parse jwk: %w", err)
	}
	return k, nil
}

// ecdsaKey converts k to a P-256 public key after checking that it is an
// ES256 signing key and that its point is on the curve. Its errors do not
// wrap this package's sentinels.
func ecdsaKey(k PublicKey) (*ecdsa.PublicKey, error) {
	switch {
	case k.KeyType != "EC":
		return nil, fmt.Errorf("key %q: kty %q, want EC", k.KeyID, k.KeyType)
	case k.Curve != "P-256":
		return nil, fmt.Errorf("key %q: crv %q, want P-256", k.KeyID, k.Curve)
	case k.Algorithm != "ES256":
		return nil, fmt.Errorf("key %q: alg %q, want ES256", k.KeyID, k.Algorithm)
	case k.Use != "" && k.Use != "sig":
		return nil, fmt.Errorf("key %q: use %q, want sig", k.KeyID, k.Use)
	}
	const size = 32 // bytes per P-256 coordinate
	point := make([]byte, 1+2*size)
	point[0] = 4 // SEC 1 uncompressed point: 0x04 || X || Y
	for i, c := range []struct{ name, b64 string }{{"x", k.X}, {"y", k.Y}} {
		b, err := base64.RawURLEncoding.Strict().DecodeString(c.b64)
		if err != nil || len(b) == 0 || len(b) > size {
			return nil, fmt.Errorf("key %q: %s is not a base64url P-256 coordinate", k.KeyID, c.name)
		}
		// RFC 7518 §6.2.1.2 asks for the full 32 bytes; accept a shorter
		// big-endian encoding as the same number. The curve check below
		// still applies.
		end := 1 + (i+1)*size
		copy(point[end-len(b):end], b)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, fmt.Errorf("key %q: (x, y) is not a point on P-256", k.KeyID)
	}
	return pub, nil
}
