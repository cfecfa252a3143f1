// Package verifytest mints ES256 keys and Plaid-Verification tokens for tests,
// for the Plaid simulator and for the load generator. It signs exactly as Plaid
// does: a compact JWS whose header is {"alg":"ES256","kid":...,"typ":"JWT"} and
// whose payload is {"iat":...,"request_body_sha256":...}.
package verifytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Signer holds one ES256 private key and the kid Plaid would publish it under.
type Signer struct {
	KeyID      string
	PrivateKey *ecdsa.PrivateKey
	// CreatedAt is reported as the JWK's created_at.
	CreatedAt time.Time
}

// NewSigner generates a fresh P-256 key for kid.
func NewSigner(kid string, createdAt time.Time) (*Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate P-256 key: %w", err)
	}
	return &Signer{KeyID: kid, PrivateKey: key, CreatedAt: createdAt}, nil
}

// Claims is the payload of a Plaid-Verification token.
type Claims struct {
	IssuedAt          int64  `json:"iat"`
	RequestBodySHA256 string `json:"request_body_sha256"`
}

// ClaimsFor returns the claims Plaid would sign for body at time iat.
func ClaimsFor(body []byte, iat time.Time) Claims {
	sum := sha256.Sum256(body)
	return Claims{IssuedAt: iat.Unix(), RequestBodySHA256: hex.EncodeToString(sum[:])}
}

// Sign returns a Plaid-Verification token for body issued at iat.
func (s *Signer) Sign(body []byte, iat time.Time) string {
	return s.SignClaims(ClaimsFor(body, iat))
}

// SignClaims signs arbitrary claims with the standard Plaid header.
func (s *Signer) SignClaims(c Claims) string {
	payload, err := json.Marshal(c)
	if err != nil {
		panic(err) // Claims always marshals
	}
	header := fmt.Sprintf(`{"alg":"ES256","kid":%q,"typ":"JWT"}`, s.KeyID)
	return s.SignRaw([]byte(header), payload)
}

// SignRaw signs any protected header and payload bytes with ES256, so tests can
// build tokens with unusual headers that are still genuinely signed.
func (s *Signer) SignRaw(header, payload []byte) string {
	enc := base64.RawURLEncoding
	signingInput := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	digest := sha256.Sum256([]byte(signingInput))
	r, sv, err := ecdsa.Sign(rand.Reader, s.PrivateKey, digest[:])
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	sv.FillBytes(sig[32:])
	return signingInput + "." + enc.EncodeToString(sig)
}

// JWK is a public key in the form /webhook_verification_key/get returns it.
type JWK struct {
	Alg       string `json:"alg"`
	CreatedAt int64  `json:"created_at"`
	Crv       string `json:"crv"`
	ExpiredAt *int64 `json:"expired_at"`
	Kid       string `json:"kid"`
	Kty       string `json:"kty"`
	Use       string `json:"use"`
	X         string `json:"x"`
	Y         string `json:"y"`
}

// JWK returns the signer's public key as Plaid publishes it. expiredAt is nil
// for a live key.
func (s *Signer) JWK(expiredAt *time.Time) JWK {
	k := JWK{
		Alg:       "ES256",
		CreatedAt: s.CreatedAt.Unix(),
		Crv:       "P-256",
		Kid:       s.KeyID,
		Kty:       "EC",
		Use:       "sig",
	}
	point, err := s.PrivateKey.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err) // a generated P-256 key always encodes
	}
	k.X = base64.RawURLEncoding.EncodeToString(point[1:33])
	k.Y = base64.RawURLEncoding.EncodeToString(point[33:65])
	if expiredAt != nil {
		e := expiredAt.Unix()
		k.ExpiredAt = &e
	}
	return k
}
