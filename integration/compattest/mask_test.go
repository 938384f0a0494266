package compattest

import (
	"regexp"
	"strings"
	"testing"
)

// What changes from one moment to the next, or from one process to the
// other, in replies and md-mx-ctrl output: process ids, ages, seconds since
// a state change, uptimes, milliseconds per command and, for hourly figures,
// the span between the first and last sample (and the rate derived from it).
// Counts, averages of busy workers and every fixed text are left alone.
//
// In printf-formatted rows a masked number becomes "N", right-aligned in the
// columns it and the blanks before it took, so layouts are still compared;
// in raw replies it becomes "N" whatever its width.

var (
	tokenRe   = regexp.MustCompile(`\S+`)
	numberRe  = regexp.MustCompile(`^-?\d+(\.\d+)?$`)
	agoRe     = regexp.MustCompile(`ago=\d+`)
	rawStatus = regexp.MustCompile(`^[SIBK?]+( -?\d+){5}$`)
	workerRow = regexp.MustCompile(`^\d+ [SIBK?] `)
	infoRow   = regexp.MustCompile(`^(PID|Age|FirstReqAge|LastStateChangeAge) -?\d+$`)
	loadRow   = regexp.MustCompile(`^ *(10 Sec|1 Min|5 Min|10 Min) `)
	hloadRow  = regexp.MustCompile(`^ *(1h|4h|12h|24h) `)
	load1Row  = regexp.MustCompile(`^ *(Scan|Relayok|Senderok|Recipok) `)
)

// blank replaces the whitespace-separated tokens at the given indexes.
func blank(line string, idx ...int) string {
	spans := tokenRe.FindAllStringIndex(line, -1)
	b := []byte(line)
	for _, i := range idx {
		if i >= len(spans) {
			continue
		}
		from := 0
		if i > 0 {
			from = spans[i-1][1] + 1
		}
		to := spans[i][1]
		for j := from; j < to-1; j++ {
			b[j] = ' '
		}
		b[to-1] = 'N'
	}
	return string(b)
}

// blankRaw replaces the fields at the given indexes of a single-space
// separated raw reply with "N". Unlike blank it does not keep widths: in a
// raw reply a number's width is itself volatile (6 ms against 20 ms).
func blankRaw(line string, idx ...int) string {
	f := strings.Split(line, " ")
	for _, i := range idx {
		if i < len(f) {
			f[i] = "N"
		}
	}
	return strings.Join(f, " ")
}

func allNumbers(f []string) bool {
	for _, s := range f {
		if !numberRe.MatchString(s) {
			return false
		}
	}
	return len(f) > 0
}

// maskLine masks the volatile numbers of one line, recognised by its shape.
func maskLine(l string) string {
	l = agoRe.ReplaceAllString(l, "ago=N")
	f := strings.Fields(l)
	switch {
	case rawStatus.MatchString(l):
		return blankRaw(l, 5) // uptime
	case allNumbers(f) && len(f) == 29: // load*
		// ms averages, the worker starts and reaps of the last 10 s
		// (whether a minimum worker started before or after the 10 s
		// boundary is scheduling jitter; the 1/5/10-minute windows
		// are compared), uptime.
		return blankRaw(l, 8, 9, 10, 11, 12, 16, 28)
	case allNumbers(f) && len(f) == 26: // load1
		return blankRaw(l, 2, 5, 8, 11, 20) // ms averages, uptime
	case allNumbers(f) && len(f) == 16: // hload*
		return blankRaw(l, 8, 9, 10, 11, 12, 13, 14, 15) // ms averages, spans
	case workerRow.MatchString(l):
		if f[1] != "S" && len(f) > 2 && numberRe.MatchString(f[2]) {
			return blankRaw(l, 2) // pid
		}
	case infoRow.MatchString(l):
		return blankRaw(l, 1)
	case loadRow.MatchString(l) && len(f) == 6:
		return blank(l, 4) // ms
	case hloadRow.MatchString(l) && len(f) == 5:
		return blank(l, 2, 3) // rate (count / span), ms
	case load1Row.MatchString(l) && len(f) == 5:
		return blank(l, 4) // ms
	}
	return l
}

// masker masks whole outputs. replace holds extra literal replacements
// (the version string, when the two differ).
type masker struct {
	replace []string // old, new pairs
}

func (m masker) mask(s string) string {
	if len(m.replace) > 0 {
		s = strings.NewReplacer(m.replace...).Replace(s)
	}
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		body := strings.TrimSuffix(l, "\n")
		lines[i] = maskLine(body) + l[len(body):]
	}
	return strings.Join(lines, "")
}

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{"IISS 0 2 8 0 15", "IISS 0 2 8 0 N"},
		{"0 I 16726 last=scan ago=1", "0 I N last=scan ago=N"},
		{"2 S ago=5", "2 S ago=N"},
		{"3 B 17 relayok last=relayok ago=12 (relayok 127.0.0.1)", "3 B N relayok last=relayok ago=N (relayok 127.0.0.1)"},
		{"PID 16726", "PID N"},
		{"NumRequests 56", "NumRequests 56"},
		{"0 0 0 0 1.000000 1.000000 1.000000 1.000000 0.000000 0.000000 0.000000 0.000000 0 0 0 0 0 0 0 0 0 0 8 0 196 8 64 0 10",
			"0 0 0 0 1.000000 1.000000 1.000000 1.000000 N N N N N 0 0 0 N 0 0 0 0 0 8 0 196 8 64 0 N"},
		{"196 1.000000 113.974490 0 0.000000 0.000000 0 0.000000 0.000000 0 0.000000 0.000000 0 0 8 0 196 8 64 0 10 30 0 0 0 0",
			"196 1.000000 N 0 0.000000 N 0 0.000000 N 0 0.000000 N 0 0 8 0 196 8 64 0 N 30 0 0 0 0"},
		{"1 1 1 1 1.000000 1.000000 1.000000 1.000000 2.000000 2.000000 2.000000 2.000000 0 0 0 0",
			"1 1 1 1 1.000000 1.000000 1.000000 1.000000 N N N N N N N N"},
		{"10 Sec               1            0.10             2.0            1.00",
			"10 Sec               1            0.10               N            1.00"},
		{" 1h               1            0.00             2.0            1.00",
			" 1h               1               N               N            1.00"},
		{"      Scan               1             0.0             1.0             7.0",
			"      Scan               1             0.0             1.0               N"},
		{"   1 11", "   1 11"},
		{"error: Unknown command", "error: Unknown command"},
	}
	for _, tc := range tests {
		if got := maskLine(tc.in); got != tc.want {
			t.Errorf("maskLine(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}
