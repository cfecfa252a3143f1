package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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
	info := TokenInfo{Algorithm: h.alg, KeyID: h.kid, Type: h.typ, BodySHA256: string(c.bodySHA256)}
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
	// onlyPlain is set when alg, kid and typ are the header's only members
	// (Plaid's header). Any other member (jwk, x5c, ..., private ones) sends
	// Verify through jwx's full JWS parser, whose header model is stricter
	// than ours for some registered members.
	onlyPlain bool
}

func parseHeader(data []byte) (header, error) {
	var obj object
	if err := obj.decode(data); err != nil {
		return header{}, fmt.Errorf("header: %w", err)
	}
	h := header{onlyPlain: true}
	for _, m := range obj.members {
		var dst *string
		switch string(m.name) {
		case "alg":
			dst, h.hasAlg = &h.alg, true
		case "kid":
			dst = &h.kid
		case "typ":
			dst = &h.typ
		case "crit":
			h.hasCrit, h.onlyPlain = true, false
			continue
		case "b64":
			h.hasB64, h.onlyPlain = true, false
			continue
		default:
			h.onlyPlain = false
			continue
		}
		s, ok := jsonString(m.value)
		if !ok {
			return header{}, fmt.Errorf("header %s is not a JSON string", m.name)
		}
		*dst = s
	}
	return h, nil
}

// claims holds Plaid's two claims.
type claims struct {
	issuedAt    int64
	hasIssuedAt bool
	bodySHA256  []byte // the claim's decoded string
	hasBodyHash bool
}

func parseClaims(data []byte) (claims, error) {
	var obj object
	if err := obj.decode(data); err != nil {
		return claims{}, fmt.Errorf("payload: %w", err)
	}
	var c claims
	if raw, ok := obj.get("iat"); ok {
		n, err := strconv.ParseInt(string(raw), 10, 64) // rejects 1.0, 1e9, "1", null
		if err != nil {
			return claims{}, errors.New("claim iat is not a JSON integer in the int64 range")
		}
		c.issuedAt, c.hasIssuedAt = n, true
	}
	if raw, ok := obj.get("request_body_sha256"); ok {
		b, ok := jsonStringBytes(raw)
		if !ok {
			return claims{}, errors.New("claim request_body_sha256 is not a JSON string")
		}
		c.bodySHA256, c.hasBodyHash = b, true
	}
	return c, nil
}

// member is one member of a JSON object.
type member struct {
	name  []byte // the name, unescaped
	value []byte // the raw JSON value, without surrounding white space
}

// object holds the members of one JSON object, in order. Values (and names
// without escapes) point into the decoded data. A JOSE header or JWT claims
// set has a handful of members; up to len(buf) of them need no allocation.
type object struct {
	members []member
	buf     [8]member
}

// decode reads data, which must be exactly one JSON object with optional
// white space around it. Unlike json.Unmarshal into a struct it matches names
// case-sensitively (see get) and rejects duplicate names (after unescaping),
// so a member cannot be shadowed by a second spelling. It accepts exactly the
// inputs a json.Decoder walk of the object would. Its errors never quote the
// input.
func (o *object) decode(data []byte) error {
	start := skipSpace(data, 0)
	if start == len(data) || data[start] != '{' {
		return errors.New("not a JSON object")
	}
	end, ok := skipValue(data, start)
	if !ok || !json.Valid(data[start:end]) {
		return errors.New("invalid JSON")
	}
	if skipSpace(data, end) != len(data) {
		return errors.New("data after the JSON object")
	}
	// data[start:end] is a valid JSON object: walk its members.
	o.members = o.buf[:0]
	i := skipSpace(data, start+1)
	for data[i] != '}' {
		nameEnd, _ := skipValue(data, i)
		name, ok := unquote(data[i:nameEnd])
		if !ok {
			return errors.New("invalid JSON")
		}
		i = skipSpace(data, nameEnd)
		i = skipSpace(data, i+1) // ':'
		valueEnd, _ := skipValue(data, i)
		o.members = append(o.members, member{name: name, value: data[i:valueEnd]})
		i = skipSpace(data, valueEnd)
		if data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	if o.hasDuplicate() {
		return errors.New("duplicate member name")
	}
	return nil
}

// hasDuplicate reports whether two members share a name.
func (o *object) hasDuplicate() bool {
	if n := len(o.members); n > 16 {
		seen := make(map[string]struct{}, n)
		for _, m := range o.members {
			if _, dup := seen[string(m.name)]; dup {
				return true
			}
			seen[string(m.name)] = struct{}{}
		}
		return false
	}
	for i, m := range o.members {
		for _, prev := range o.members[:i] {
			if bytes.Equal(m.name, prev.name) {
				return true
			}
		}
	}
	return false
}

// get returns the raw value of the member named exactly name.
func (o *object) get(name string) ([]byte, bool) {
	for _, m := range o.members {
		if string(m.name) == name {
			return m.value, true
		}
	}
	return nil, false
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue returns the end of the JSON value starting at data[i] (which is
// not white space), following strings and nesting only; ok is false if data
// ends first. It does not validate: callers check with json.Valid, or walk
// data already validated.
func skipValue(data []byte, i int) (end int, ok bool) {
	depth := 0
	for i < len(data) {
		switch c := data[i]; c {
		case '"':
			i++
			for i < len(data) && data[i] != '"' {
				if data[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(data) {
				return len(data), false
			}
			i++
		case '{', '[':
			depth++
			i++
		case '}', ']':
			depth--
			i++
		default:
			if depth == 0 {
				// A number or literal: it ends at a delimiter.
				for i < len(data) && !isDelimiter(data[i]) {
					i++
				}
				return i, true
			}
			i++
		}
		if depth <= 0 {
			return i, depth == 0
		}
	}
	return len(data), false
}

func isDelimiter(c byte) bool {
	switch c {
	case ',', '}', ']', ':', ' ', '\t', '\r', '\n', '"', '{', '[':
		return true
	}
	return false
}

// unquote decodes a valid JSON string literal. Without escapes and with valid
// UTF-8 it returns the bytes between the quotes; otherwise it decodes as
// encoding/json does (invalid UTF-8 becomes U+FFFD).
func unquote(lit []byte) ([]byte, bool) {
	if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
		return nil, false
	}
	inner := lit[1 : len(lit)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return inner, true
	}
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return nil, false
	}
	return []byte(s), true
}

// jsonStringBytes decodes raw if it is a JSON string. The result may point
// into raw.
func jsonStringBytes(raw []byte) ([]byte, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return nil, false
	}
	return unquote(raw)
}

// jsonString decodes raw if it is a JSON string.
func jsonString(raw []byte) (string, bool) {
	b, ok := jsonStringBytes(raw)
	return string(b), ok
}
