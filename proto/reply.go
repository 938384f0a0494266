package proto

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Verdict is the number N in a check reply "ok N ...": what the milter does
// with the SMTP stage (docs/reference/protocol.md §3.1, §3.3).
type Verdict int

// The verdicts, with the values of the original's MD_* constants.
const (
	TempFail              Verdict = -1
	Reject                Verdict = 0
	Continue              Verdict = 1
	AcceptNoMoreFiltering Verdict = 2
	Discard               Verdict = 3
)

func (v Verdict) String() string {
	switch v {
	case TempFail:
		return "tempfail"
	case Reject:
		return "reject"
	case Continue:
		return "continue"
	case AcceptNoMoreFiltering:
		return "accept"
	case Discard:
		return "discard"
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}

// CheckReply is the answer to relayok, helook, senderok and recipok:
//
//	ok N[ <pct msg> <pct code> <pct dsn> <delay>]
//
// HasText is false for the bare "ok N" form, in which case the milter applies
// neither a custom reply nor a delay.
type CheckReply struct {
	Verdict Verdict
	HasText bool
	Msg     string // decoded
	Code    string // decoded, e.g. "554"
	DSN     string // decoded, e.g. "5.7.1"
	Delay   int    // seconds the milter sleeps before answering the MTA
}

// ErrBadReply is returned (wrapped) for a reply the milter would log as
// "Error from multiplexor" and tempfail on.
var ErrBadReply = errors.New("proto: unrecognised reply")

// IsBadReply reports whether err means the peer's reply could not be used.
func IsBadReply(err error) bool { return errors.Is(err, ErrBadReply) }

// ParseCheckReply parses a check reply exactly as the original milter does
// (utils.c: munch_mx_return, mimedefang.c: set_dsn): the five bare forms
// "ok N\n" are compared byte for byte; otherwise every CR and LF is removed
// and the prefixes "ok 0 ", "ok -1 ", "ok 1 ", "ok 2 ", "ok 3 " are tried,
// each only when at least one byte follows it. Anything else, including
// "error: ...", "ERR ...", "ok 4", "ok 1 " with nothing after the space,
// and the empty reply, is an error wrapping ErrBadReply (which the milter
// turns into a tempfail). As the C code reads the reply as a C string,
// nothing after a NUL byte counts.
func ParseCheckReply(raw string) (CheckReply, error) {
	if i := strings.IndexByte(raw, 0); i >= 0 {
		raw = raw[:i]
	}
	switch raw {
	case "ok -1\n":
		return CheckReply{Verdict: TempFail}, nil
	case "ok 0\n":
		return CheckReply{Verdict: Reject}, nil
	case "ok 1\n":
		return CheckReply{Verdict: Continue}, nil
	case "ok 2\n":
		return CheckReply{Verdict: AcceptNoMoreFiltering}, nil
	case "ok 3\n":
		return CheckReply{Verdict: Discard}, nil
	}
	s := strings.NewReplacer("\r", "", "\n", "").Replace(raw)
	for _, p := range []struct {
		prefix string
		v      Verdict
	}{{"ok 0 ", Reject}, {"ok -1 ", TempFail}, {"ok 1 ", Continue}, {"ok 2 ", AcceptNoMoreFiltering}, {"ok 3 ", Discard}} {
		if tail, ok := strings.CutPrefix(s, p.prefix); ok && tail != "" {
			r := CheckReply{Verdict: p.v, HasText: true}
			f := SplitN(tail, 4)
			get := func(i int) string {
				if i < len(f) {
					return Decode(f[i])
				}
				return ""
			}
			r.Msg, r.Code, r.DSN = get(0), get(1), get(2)
			r.Delay = leadingInt(get(3))
			return r, nil
		}
	}
	return CheckReply{}, fmt.Errorf("%w: %q", ErrBadReply, strings.TrimRight(raw, "\n"))
}

// leadingInt is sscanf("%d"): optional space, optional sign, digits; 0 when
// nothing parses.
func leadingInt(s string) int {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	end := 0
	if end < len(s) && (s[end] == '-' || s[end] == '+') {
		end++
	}
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(s[:end])
	if err != nil {
		return 0
	}
	return n
}

// The patterns of send_filter_answer. Perl's "$" also matches before a
// final "\n", so "250\n" passes /^2\d\d$/ there; the optional "\n" keeps
// that (the worker then sends it encoded as "250%0A").
var (
	codeRE = map[byte]*regexp.Regexp{
		'2': regexp.MustCompile(`^2\d\d\n?$`), '4': regexp.MustCompile(`^4\d\d\n?$`), '5': regexp.MustCompile(`^5\d\d\n?$`),
	}
	dsnRE = map[byte]*regexp.Regexp{
		'2': regexp.MustCompile(`^2\.\d{1,3}\.\d{1,3}\n?$`), '4': regexp.MustCompile(`^4\.\d{1,3}\.\d{1,3}\n?$`), '5': regexp.MustCompile(`^5\.\d{1,3}\.\d{1,3}\n?$`),
	}
)

// NewCheckReply builds the reply a worker sends for a filter's answer, with the
// defaults and checks of mimedefang.pl's send_filter_answer: an empty msg
// becomes "?", a negative delay 0, and a code or DSN that does not match the
// verdict's class is replaced by the default (250/2.1.0, 451/4.3.0 or
// 554/5.7.1). Verdicts outside -1..3 are treated as the original treats
// integers: > 0 continue, < 0 tempfail.
func NewCheckReply(v Verdict, msg, code, dsn string, delay int) CheckReply {
	switch {
	case v > Discard:
		v = Continue
	case v < TempFail:
		v = TempFail
	}
	class, defCode, defDSN := byte('2'), "250", "2.1.0"
	switch v {
	case TempFail:
		class, defCode, defDSN = '4', "451", "4.3.0"
	case Reject:
		class, defCode, defDSN = '5', "554", "5.7.1"
	}
	if msg == "" {
		msg = "?"
	}
	if !codeRE[class].MatchString(code) {
		code = defCode
	}
	if !dsnRE[class].MatchString(dsn) {
		dsn = defDSN
	}
	if delay < 0 {
		delay = 0
	}
	return CheckReply{Verdict: v, HasText: true, Msg: msg, Code: code, DSN: dsn, Delay: delay}
}

// Line renders the reply as the worker writes it, ending in "\n".
func (r CheckReply) Line() string {
	if !r.HasText {
		return "ok " + strconv.Itoa(int(r.Verdict)) + "\n"
	}
	return "ok " + strconv.Itoa(int(r.Verdict)) + " " + Encode(r.Msg) + " " + Encode(r.Code) + " " +
		Encode(r.DSN) + " " + strconv.Itoa(r.Delay) + "\n"
}

// ScanOK is the only scan reply the original milter accepts as success.
const ScanOK = "ok\n"

// CString returns s up to its first NUL byte: a reply or field as the
// original's C code (the milter, md-mx-ctrl) sees it.
func CString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}
