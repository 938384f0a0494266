package mxctrl

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// This file reproduces the few C library behaviours md-mx-ctrl's output
// depends on (strings end at the first NUL byte: proto.CString): replies are parsed with
// sscanf("%d %lf ..."), and floats are printed with printf("%15.2f"), which
// spells infinities and NaNs differently from Go.

// isCSpace is C isspace in the C locale.
func isCSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// scanValue is one sscanf conversion result: I for %d, F for %lf.
type scanValue struct {
	I int32
	F float64
}

// cscan parses s as sscanf(s, format) does for a format made only of %d and
// %lf directives separated by spaces; verbs lists them in order, 'd' or 'f'.
// It returns one value per verb (zero where sscanf stopped before reaching
// it, which is what the original's stack happens to hold) and sscanf's
// return value: the number of conversions done, or -1 when the input ended
// before the first one.
func cscan(s string, verbs string) ([]scanValue, int) {
	vals := make([]scanValue, len(verbs))
	pos := 0
	for k := 0; k < len(verbs); k++ {
		for pos < len(s) && isCSpace(s[pos]) {
			pos++
		}
		if pos == len(s) {
			if k == 0 {
				return vals, -1
			}
			return vals, k
		}
		var ok bool
		if verbs[k] == 'd' {
			vals[k].I, pos, ok = scanInt(s, pos)
		} else {
			vals[k].F, pos, ok = scanFloat(s, pos)
		}
		if !ok {
			return vals, k
		}
	}
	return vals, len(verbs)
}

// scanInt is %d: an optional sign and decimal digits, converted like glibc
// does, through strtol (saturating at the range of a 64-bit long) and then
// truncated to a 32-bit int.
func scanInt(s string, pos int) (int32, int, bool) {
	i := pos
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == start {
		return 0, pos, false
	}
	v, err := strconv.ParseInt(s[pos:i], 10, 64)
	if err != nil { // out of range: strtol saturates
		if s[pos] == '-' {
			v = math.MinInt64
		} else {
			v = math.MaxInt64
		}
	}
	return int32(v), i, true
}

// scanFloat is %lf as glibc's scanf reads it: an optional sign, then "inf",
// "infinity" or "nan" in any case, or a hexadecimal or decimal number. An
// exponent marker is consumed even when no digits follow it ("1e" reads as
// 1, and the 'e' is gone), which is where scanf differs from strtod. A
// hexadecimal number needs a digit: glibc reads the degenerate "0x." as 0,
// this reads it as a failed conversion (no multiplexor writes hex floats).
func scanFloat(s string, pos int) (float64, int, bool) {
	i := pos
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	rest := strings.ToLower(s[i:min(len(s), i+8)])
	switch {
	case strings.HasPrefix(rest, "nan"):
		v := math.NaN()
		if neg {
			v = math.Copysign(v, -1)
		}
		return v, i + 3, true
	case strings.HasPrefix(rest, "infinity"):
		return math.Inf(sign(neg)), i + 8, true
	case strings.HasPrefix(rest, "inf"):
		if strings.HasPrefix(rest, "infi") { // a partial "infinity" fails
			return 0, pos, false
		}
		return math.Inf(sign(neg)), i + 3, true
	}

	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	expChars := "eE"
	hex := i+1 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X')
	if hex {
		isDigit = func(c byte) bool {
			return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
		}
		expChars = "pP"
		i += 2
	}
	mant := i
	digits := 0
	for i < len(s) && isDigit(s[i]) {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
			digits++
		}
	}
	if digits == 0 {
		return 0, pos, false
	}
	number := s[mant:i]
	exponent := ""
	if i < len(s) && strings.IndexByte(expChars, s[i]) >= 0 {
		i++
		e := i
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i > d {
			exponent = s[e:i]
		}
	}
	var text string
	if hex {
		if exponent == "" {
			exponent = "0"
		}
		text = "0x" + number + "p" + exponent
	} else {
		text = number
		if exponent != "" {
			text += "e" + exponent
		}
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil && !isRangeError(err) {
		return 0, pos, false
	}
	if neg {
		v = -v
	}
	return v, i, true
}

func isRangeError(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func sign(neg bool) int {
	if neg {
		return -1
	}
	return 1
}

// cfloat formats v as C printf("%<width>.<prec>f", v) does: like Go for
// finite values, but "inf", "-inf", "nan" and "-nan" for the others.
func cfloat(width, prec int, v float64) string {
	var s string
	switch {
	case math.IsInf(v, 1):
		s = "inf"
	case math.IsInf(v, -1):
		s = "-inf"
	case math.IsNaN(v) && math.Signbit(v):
		s = "-nan"
	case math.IsNaN(v):
		s = "nan"
	default:
		return fmt.Sprintf("%*.*f", width, prec, v)
	}
	return fmt.Sprintf("%*s", width, s)
}
