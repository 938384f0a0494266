package results

import "math"

// scanInt is glibc's sscanf(s, "%d", &j): optional white space (C
// isspace), an optional sign and at least one digit, anything after. The
// digits go through strtol, which saturates at the limits of long, and the
// result is stored into an int, which keeps its low 32 bits. ok is false
// when no number was read.
func scanInt(s string) (v int32, ok bool) {
	i := 0
	for i < len(s) && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	var n int64
	over := false
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		d := int64(s[i] - '0')
		if !over && n > (math.MaxInt64-d)/10 {
			over = true
		}
		if !over {
			n = n*10 + d
		}
	}
	if i == start {
		return 0, false
	}
	switch {
	case over && neg:
		n = math.MinInt64
	case over:
		n = math.MaxInt64
	case neg:
		n = -n
	}
	return int32(n), true
}
