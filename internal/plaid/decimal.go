package plaid

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// maxDecimalExponent bounds the exponent a Decimal accepts. JSON allows any
// exponent, but 1e999999999 would make Rat and Plain allocate gigabytes; no
// amount Plaid sends comes anywhere near it.
const maxDecimalExponent = 1000

// Decimal is an exact decimal number: the text of a JSON number exactly as
// Plaid sent it, e.g. "72.1", "-0.10" or "1e2". Plaid declares amounts as
// JSON numbers of format double, and decoding them into float64 would round
// some of them (12.345678901234567 has more digits than a float64 keeps), so
// money is carried as text from the wire to the events and never through a
// float.
//
// The zero value is the number 0. A Decimal marshals back to JSON as its text,
// unchanged; String returns the same text. Use Sign for the direction of an
// amount, Rat or Cmp for arithmetic and comparison, and Plain for a rendering
// without exponent.
type Decimal struct {
	text string // a valid JSON number; "" means 0
}

// ParseDecimal parses s, which must be a JSON number (RFC 8259 §6: optional
// minus, integer part without leading zeros, optional fraction, optional
// exponent). Exponents beyond ±1000 are rejected. The text is kept verbatim.
func ParseDecimal(s string) (Decimal, error) {
	if _, _, _, _, err := splitNumber(s); err != nil {
		return Decimal{}, err
	}
	return Decimal{text: s}, nil
}

// MustParseDecimal is ParseDecimal for literals known to be valid; it panics
// if s is not a JSON number.
func MustParseDecimal(s string) Decimal {
	d, err := ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

// String returns the number's JSON text as received, e.g. "1e2" stays "1e2".
// The zero value gives "0".
func (d Decimal) String() string {
	if d.text == "" {
		return "0"
	}
	return d.text
}

// Sign returns -1, 0 or +1 for a negative, zero or positive number. "-0" and
// "0.00" are 0. For a Plaid transaction amount, +1 means money left the
// account and -1 that it came in.
func (d Decimal) Sign() int {
	neg, intPart, frac, _, _ := splitNumber(d.String())
	if strings.Trim(intPart+frac, "0") == "" {
		return 0
	}
	if neg {
		return -1
	}
	return 1
}

// IsZero reports whether the number is zero, whatever its text.
func (d Decimal) IsZero() bool { return d.Sign() == 0 }

// Rat returns the exact value as a new big.Rat.
func (d Decimal) Rat() *big.Rat {
	r, ok := new(big.Rat).SetString(d.String())
	if !ok { // unreachable: the text was validated
		panic(fmt.Sprintf("plaid: Decimal with invalid text %q", d.text))
	}
	return r
}

// Cmp compares d and e by value: -1 if d < e, 0 if equal ("1.0" equals "1"
// and "1e0"), +1 if d > e.
func (d Decimal) Cmp(e Decimal) int { return d.Rat().Cmp(e.Rat()) }

// Plain returns the number without an exponent, keeping every digit that was
// sent, trailing zeros included: "1e2" → "100", "1.5E-3" → "0.0015",
// "-0.10" → "-0.10", "72.1" → "72.1".
func (d Decimal) Plain() string {
	neg, intPart, frac, exp, _ := splitNumber(d.String())
	digits := intPart + frac
	point := len(intPart) + exp // position of the decimal point in digits
	var whole, fraction string
	switch {
	case point <= 0:
		whole, fraction = "0", strings.Repeat("0", -point)+digits
	case point >= len(digits):
		whole = digits + strings.Repeat("0", point-len(digits))
	default:
		whole, fraction = digits[:point], digits[point:]
	}
	whole = strings.TrimLeft(whole, "0")
	if whole == "" {
		whole = "0"
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	b.WriteString(whole)
	if fraction != "" {
		b.WriteByte('.')
		b.WriteString(fraction)
	}
	return b.String()
}

// MarshalJSON writes the number's text unchanged.
func (d Decimal) MarshalJSON() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalJSON accepts a JSON number and keeps its text. JSON null leaves d
// unchanged, as encoding/json does for other types; a string, even one that
// holds digits, is an error (Plaid's schema says number).
func (d *Decimal) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	v, err := ParseDecimal(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

var errNotANumber = errors.New("plaid: not a JSON number")

// splitNumber validates s as a JSON number and splits it into sign, integer
// digits, fraction digits and exponent. Error texts never quote s: a value
// that is not a number could be anything.
func splitNumber(s string) (neg bool, intPart, frac string, exp int, err error) {
	rest := s
	if strings.HasPrefix(rest, "-") {
		neg, rest = true, rest[1:]
	}
	n := leadingDigits(rest)
	if n == 0 || (n > 1 && rest[0] == '0') {
		return false, "", "", 0, errNotANumber
	}
	intPart, rest = rest[:n], rest[n:]
	if strings.HasPrefix(rest, ".") {
		rest = rest[1:]
		n = leadingDigits(rest)
		if n == 0 {
			return false, "", "", 0, errNotANumber
		}
		frac, rest = rest[:n], rest[n:]
	}
	if rest != "" && (rest[0] == 'e' || rest[0] == 'E') {
		rest = rest[1:]
		sign := ""
		if rest != "" && (rest[0] == '+' || rest[0] == '-') {
			sign, rest = rest[:1], rest[1:]
		}
		n = leadingDigits(rest)
		if n == 0 || n != len(rest) {
			return false, "", "", 0, errNotANumber
		}
		e, perr := strconv.Atoi(sign + rest)
		if perr != nil || e > maxDecimalExponent || e < -maxDecimalExponent {
			return false, "", "", 0, fmt.Errorf("plaid: JSON number exponent beyond ±%d", maxDecimalExponent)
		}
		exp, rest = e, ""
	}
	if rest != "" {
		return false, "", "", 0, errNotANumber
	}
	return neg, intPart, frac, exp, nil
}

func leadingDigits(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
