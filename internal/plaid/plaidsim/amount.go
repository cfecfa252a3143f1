package plaidsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Amount is an exact decimal amount of money in currency units, the way
// Plaid sends it: a JSON number such as 12.34, -500 or 0.5. The Sim never
// stores an amount as a float, so what a caller puts in comes back out
// digit for digit (trailing fractional zeros dropped, as a JSON encoder of a
// double would: 12.50 is sent as 12.5).
//
// Plaid's amounts are doubles, so an Amount keeps at most 15 significant
// digits (every such decimal survives a round trip through a float64) and
// at most 10 decimal places. The zero value is 0.
type Amount struct {
	units int64 // the value times 10^scale
	scale uint8 // decimal places; units%10 != 0 whenever scale > 0
}

const (
	maxAmountScale = 10
	// maxAmountUnits bounds |units|: 15 significant digits.
	maxAmountUnits = 999_999_999_999_999
)

var errAmountRange = errors.New("amount has more than 15 significant digits or 10 decimal places")

// ParseAmount parses a decimal such as "12.34", "-500", "0.5" or "1.25e2".
func ParseAmount(s string) (Amount, error) {
	orig := s
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	exp := 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 100 || e < -100 {
			return Amount{}, fmt.Errorf("plaidsim: amount %q is not a decimal number", orig)
		}
		exp, s = e, s[:i]
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" && frac == "" || !allDigits(intPart) || !allDigits(frac) || hasDot && frac == "" {
		return Amount{}, fmt.Errorf("plaidsim: amount %q is not a decimal number", orig)
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	scale := len(frac) - exp
	// Drop trailing zeros of the fraction, and fold positive exponents
	// into the digits.
	for scale > 0 && strings.HasSuffix(digits, "0") {
		digits, scale = digits[:len(digits)-1], scale-1
	}
	if digits == "" {
		return Amount{}, nil
	}
	for scale < 0 {
		digits, scale = digits+"0", scale+1
	}
	if scale > maxAmountScale || len(digits) > 15 {
		return Amount{}, fmt.Errorf("plaidsim: amount %q: %w", orig, errAmountRange)
	}
	units, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return Amount{}, fmt.Errorf("plaidsim: amount %q: %w", orig, errAmountRange)
	}
	if neg {
		units = -units
	}
	return Amount{units: units, scale: uint8(scale)}, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// MustAmount is ParseAmount for constants; it panics on a malformed amount.
func MustAmount(s string) Amount {
	a, err := ParseAmount(s)
	if err != nil {
		panic(err)
	}
	return a
}

// AmountFromCents returns cents/100, e.g. AmountFromCents(-1250) is -12.5.
func AmountFromCents(cents int64) Amount {
	return normalizeAmount(cents, 2)
}

func normalizeAmount(units int64, scale uint8) Amount {
	for scale > 0 && units%10 == 0 {
		units /= 10
		scale--
	}
	if units == 0 {
		return Amount{}
	}
	return Amount{units: units, scale: scale}
}

// String formats a as a plain decimal: "12.34", "-500", "0.5".
func (a Amount) String() string {
	s := strconv.FormatInt(a.units, 10)
	if a.scale == 0 {
		return s
	}
	neg := a.units < 0
	if neg {
		s = s[1:]
	}
	if pad := int(a.scale) + 1 - len(s); pad > 0 {
		s = strings.Repeat("0", pad) + s
	}
	s = s[:len(s)-int(a.scale)] + "." + s[len(s)-int(a.scale):]
	if neg {
		s = "-" + s
	}
	return s
}

// IsZero reports whether a is 0.
func (a Amount) IsZero() bool { return a.units == 0 }

// Sign returns -1, 0 or 1.
func (a Amount) Sign() int {
	switch {
	case a.units < 0:
		return -1
	case a.units > 0:
		return 1
	}
	return 0
}

// Neg returns -a.
func (a Amount) Neg() Amount { return Amount{units: -a.units, scale: a.scale} }

// Add returns a+b, exactly. It fails if the sum needs more than 15
// significant digits.
func (a Amount) Add(b Amount) (Amount, error) {
	scale := max(a.scale, b.scale)
	x, okA := rescale(a, scale)
	y, okB := rescale(b, scale)
	if !okA || !okB {
		return Amount{}, errAmountRange
	}
	sum := x + y
	if sum > maxAmountUnits || sum < -maxAmountUnits {
		return Amount{}, errAmountRange
	}
	return normalizeAmount(sum, scale), nil
}

// Cmp compares a and b: -1 if a < b, 0 if equal, 1 if a > b.
func (a Amount) Cmp(b Amount) int {
	d, err := a.Add(b.Neg())
	if err != nil { // too far apart to subtract exactly; compare as floats
		fa, _ := strconv.ParseFloat(a.String(), 64)
		fb, _ := strconv.ParseFloat(b.String(), 64)
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	}
	return d.Sign()
}

// rescale returns a's units at a larger scale.
func rescale(a Amount, scale uint8) (int64, bool) {
	u := a.units
	for s := a.scale; s < scale; s++ {
		if u > maxAmountUnits*10 || u < -maxAmountUnits*10 {
			return 0, false
		}
		u *= 10
	}
	return u, true
}

// cents returns a rounded to cents (half away from zero).
func (a Amount) cents() int64 {
	if a.scale <= 2 {
		u, _ := rescale(a, 2)
		return u
	}
	div := int64(1)
	for s := a.scale; s > 2; s-- {
		div *= 10
	}
	q, r := a.units/div, a.units%div
	if 2*abs64(r) >= div {
		if a.units < 0 {
			q--
		} else {
			q++
		}
	}
	return q
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// MarshalJSON writes a as a JSON number, digit for digit.
func (a Amount) MarshalJSON() ([]byte, error) {
	return []byte(a.String()), nil
}

// UnmarshalJSON reads a JSON number or a string holding a decimal; the
// number's text is parsed exactly, never through a float.
func (a *Amount) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(strings.TrimSpace(s))
	}
	v, err := ParseAmount(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}
