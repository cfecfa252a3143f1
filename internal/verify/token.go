package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Limits on attacker-controlled input. Plaid's tokens are about 300 bytes and
// its kids are UUIDs; the limits bound the work and memory a forged header can
// cost (the negative cache holds up to maxUnknownKeys kids).
const (
	maxTokenLen = 8 << 10
	maxKeyIDLen = 256
)

// TokenInfo is what [Inspect] reads from a token without verifying it.
type TokenInfo struct {
	Algorithm string    // header alg
	KeyID     string    // header kid
	Type      string    // header typ; Plaid sends "JWT"
	IssuedAt  time.Time // claim iat in UTC; zero if absent
	// BodySHA256 is the request_body_sha256 claim as sent: the lowercase hex
	// SHA-256 of the body the token was issued for.
	BodySHA256 string
}

// Inspect decodes token WITHOUT verifying its signature, key or claims, for
// diagnostics (the offline `webhookd verify` tool, logs of rejected requests
// kept by an operator). Never act on its result.
//
// It returns an error wrapping [ErrMissingHeader] for an empty token and
// [ErrMalformed] when token is not a compact JWS with a JSON object header and
// payload, or when alg, kid, typ or request_body_sha256 is present but not a
// JSON string, or iat is present but not a JSON integer. Absent members are
// reported as zero values.
func Inspect(token string) (TokenInfo, error) {
	if token == "" {
		return TokenInfo{}, ErrMissingHeader
	}
	tok, err := parseCompact(token)
	if err != nil {
		return TokenInfo{}, err
	}
	h, err := parseHeader(tok.header)
	if err != nil {
		return TokenInfo{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	c, err := parseClaims(tok.payload)
	if err != nil {
		return TokenInfo{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	info := TokenInfo{Algorithm: h.alg, KeyID: h.kid, Type: h.typ, BodySHA256: c.bodySHA256}
	if c.hasIssuedAt {
		info.IssuedAt = time.Unix(c.issuedAt, 0).UTC()
	}
	return info, nil
}

// compactJWS is a compact JWS split into its decoded parts.
type compactJWS struct {
	header, payload, signature []byte
}

// parseCompact splits and decodes a compact JWS. It accepts only the compact
// serialization (three base64url parts without padding, in the canonical
// encoding), so every accepted token string maps to exactly one
// (header, payload, signature) triple.
func parseCompact(token string) (compactJWS, error) {
	if len(token) > maxTokenLen {
		return compactJWS{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxTokenLen)
	}
	if strings.HasPrefix(strings.TrimSpace(token), "{") {
		return compactJWS{}, fmt.Errorf("%w: JWS JSON serialization is not accepted, only compact", ErrMalformed)
	}
	// base64.Encoding ignores '\r' and '\n', so check the alphabet first.
	for i := 0; i < len(token); i++ {
		if !isCompactByte(token[i]) {
			return compactJWS{}, fmt.Errorf("%w: byte outside the base64url alphabet", ErrMalformed)
		}
	}
	h, rest, ok1 := strings.Cut(token, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s, ".") {
		return compactJWS{}, fmt.Errorf("%w: not three dot-separated parts", ErrMalformed)
	}
	var tok compactJWS
	var err error
	if tok.header, err = decodeSegment(h); err != nil {
		return compactJWS{}, fmt.Errorf("%w: header is not base64url", ErrMalformed)
	}
	if tok.payload, err = decodeSegment(p); err != nil {
		return compactJWS{}, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	if tok.signature, err = decodeSegment(s); err != nil {
		return compactJWS{}, fmt.Errorf("%w: signature is not base64url", ErrMalformed)
	}
	return tok, nil
}

func isCompactByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.'
}

// decodeSegment decodes unpadded base64url and rejects non-canonical
// encodings (non-zero trailing bits).
func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.Strict().DecodeString(s)
}

// header holds the members of a JOSE header this package looks at.
type header struct {
	alg, kid, typ string
	hasAlg        bool
	// crit and b64 change how a JWS must be processed (RFC 7515 §4.1.11,
	// RFC 7797); Plaid uses neither, so their presence is rejected.
	hasCrit, hasB64 bool
}

func parseHeader(data []byte) (header, error) {
	m, err := decodeObject(data)
	if err != nil {
		return header{}, fmt.Errorf("header: %w", err)
	}
	var h header
	for _, f := range []struct {
		name string
		dst  *string
		has  *bool
	}{
		{"alg", &h.alg, &h.hasAlg},
		{"kid", &h.kid, nil},
		{"typ", &h.typ, nil},
	} {
		raw, ok := m[f.name]
		if !ok {
			continue
		}
		s, ok := jsonString(raw)
		if !ok {
			return header{}, fmt.Errorf("header %s is not a JSON string", f.name)
		}
		*f.dst = s
		if f.has != nil {
			*f.has = true
		}
	}
	_, h.hasCrit = m["crit"]
	_, h.hasB64 = m["b64"]
	return h, nil
}

// claims holds Plaid's two claims.
type claims struct {
	issuedAt    int64
	hasIssuedAt bool
	bodySHA256  string
	hasBodyHash bool
}

func parseClaims(data []byte) (claims, error) {
	m, err := decodeObject(data)
	if err != nil {
		return claims{}, fmt.Errorf("payload: %w", err)
	}
	var c claims
	if raw, ok := m["iat"]; ok {
		n, err := strconv.ParseInt(string(raw), 10, 64) // rejects 1.0, 1e9, "1", null
		if err != nil {
			return claims{}, errors.New("claim iat is not a JSON integer in the int64 range")
		}
		c.issuedAt, c.hasIssuedAt = n, true
	}
	if raw, ok := m["request_body_sha256"]; ok {
		s, ok := jsonString(raw)
		if !ok {
			return claims{}, errors.New("claim request_body_sha256 is not a JSON string")
		}
		c.bodySHA256, c.hasBodyHash = s, true
	}
	return c, nil
}

// decodeObject decodes one JSON object into its members. Unlike
// json.Unmarshal into a struct it matches names case-sensitively and rejects
// duplicate names, so a member cannot be shadowed by a second spelling. Its
// errors never quote the input.
func decodeObject(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	m := make(map[string]json.RawMessage, 4)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, errors.New("invalid JSON")
		}
		name, ok := t.(string)
		if !ok {
			return nil, errors.New("invalid JSON")
		}
		if _, dup := m[name]; dup {
			return nil, errors.New("duplicate member name")
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, errors.New("invalid JSON")
		}
		m[name] = raw
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, errors.New("invalid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return m, nil
}

// jsonString decodes raw if it is a JSON string.
func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}
