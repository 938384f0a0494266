package proto

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// Integration calls: the line a worker writes, out of band, for each
// question it put to a network integration (clamd, spamd, rspamd, the SMTP
// call-out, DNS ...), so that md-multiplexor can count them in its
// Prometheus metrics. This is ours, not the original's: mimedefang.pl and
// mimedefang-multiplexor have no such channel.
//
// The multiplexor opens one Unix datagram socket pair for all its workers
// and hands one end to each worker it starts, naming the descriptor in the
// environment variable CallsFDEnv. A worker that does not know the
// variable (mimedefang.pl) ignores the descriptor. Each call is one
// datagram holding one line,
//
//	call INTEGRATION RESULT SECONDS\n
//
// of at most CallLineMax bytes, so calls from several workers never mix.
// A worker never waits on the socket (MSG_DONTWAIT): when the multiplexor
// is behind, the call is dropped, not the message delayed.

// CallsFDEnv names the worker's descriptor for call lines; empty or unset
// means none.
const CallsFDEnv = "MD_CALLS_FD"

// CallLineMax bounds a call line, well under PIPE_BUF (4096 on Linux).
const CallLineMax = 128

// Results of an integration call.
const (
	CallClean = "clean" // the daemon answered: nothing found
	CallHit   = "hit"   // the daemon answered: virus, spam, refused recipient ...
	CallError = "error" // no usable answer: down, timed out, garbage, scanner error
)

// Call is one integration call as the line carries it.
type Call struct {
	Integration string  // [a-z0-9_]{1,32}: "clamd", "spamd", "rspamd", "smtp" ...
	Result      string  // CallClean, CallHit or CallError
	Seconds     float64 // wall time of the call
}

// ErrBadCall is returned by ParseCall for a line that is not a call line.
var ErrBadCall = errors.New("not a call line")

// AppendCall appends c's line, newline included, to b. It returns b
// unchanged when c would not parse back (a bad name, result or time).
func AppendCall(b []byte, c Call) []byte {
	if !validCall(c) {
		return b
	}
	return appendLine(b, "call", c.Integration, c.Result, c.Seconds)
}

// ParseCall reads one call line, with or without its newline.
func ParseCall(line []byte) (Call, error) {
	a, r, sec, ok := parseLine(line, "call")
	c := Call{Integration: a, Result: r, Seconds: sec}
	if !ok || !validCall(c) {
		return Call{}, ErrBadCall
	}
	return c, nil
}

// appendLine writes "KIND A B SECONDS\n".
func appendLine(b []byte, kind, x, y string, sec float64) []byte {
	b = append(b, kind...)
	b = append(b, ' ')
	b = append(b, x...)
	b = append(b, ' ')
	b = append(b, y...)
	b = append(b, ' ')
	b = strconv.AppendFloat(b, sec, 'f', 6, 64)
	return append(b, '\n')
}

// parseLine reads "KIND A B SECONDS", with or without its newline.
func parseLine(line []byte, kind string) (x, y string, sec float64, ok bool) {
	if len(line) > CallLineMax {
		return "", "", 0, false
	}
	f := strings.Split(strings.TrimSuffix(string(line), "\n"), " ")
	if len(f) != 4 || f[0] != kind {
		return "", "", 0, false
	}
	sec, err := strconv.ParseFloat(f[3], 64)
	if err != nil {
		return "", "", 0, false
	}
	return f[1], f[2], sec, true
}

func validCall(c Call) bool {
	switch c.Result {
	case CallClean, CallHit, CallError:
	default:
		return false
	}
	if math.IsNaN(c.Seconds) || c.Seconds < 0 || c.Seconds > 1e6 {
		return false
	}
	return validIntegration(c.Integration)
}

func validIntegration(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if (ch < 'a' || ch > 'z') && (ch < '0' || ch > '9') && ch != '_' {
			return false
		}
	}
	return true
}

// DNS queries travel on the same channel, one datagram each:
//
//	dns TYPE OUTCOME SECONDS\n
//
// TYPE is the query type ("A", "TXT" ...), OUTCOME the response code
// ("NOERROR", "NXDOMAIN", "SERVFAIL" ...) or "timeout" / "error" when no
// server answered.

// DNSQuery is one DNS query as the line carries it.
type DNSQuery struct {
	Type    string // [A-Z0-9]{1,10}
	Outcome string // [A-Za-z0-9_]{1,16}
	Seconds float64
}

// AppendDNSQuery appends q's line, newline included, to b; b unchanged
// when q would not parse back.
func AppendDNSQuery(b []byte, q DNSQuery) []byte {
	if !validDNSQuery(q) {
		return b
	}
	return appendLine(b, "dns", q.Type, q.Outcome, q.Seconds)
}

// ParseDNSQuery reads one dns line, with or without its newline.
func ParseDNSQuery(line []byte) (DNSQuery, error) {
	t, o, sec, ok := parseLine(line, "dns")
	q := DNSQuery{Type: t, Outcome: o, Seconds: sec}
	if !ok || !validDNSQuery(q) {
		return DNSQuery{}, ErrBadCall
	}
	return q, nil
}

func validDNSQuery(q DNSQuery) bool {
	if math.IsNaN(q.Seconds) || q.Seconds < 0 || q.Seconds > 1e6 {
		return false
	}
	return validWord(q.Type, 10, func(c byte) bool { return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }) &&
		validWord(q.Outcome, 16, func(c byte) bool {
			return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'
		})
}

func validWord(s string, max int, ok func(byte) bool) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}
