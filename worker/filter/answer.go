package filter

import (
	"strconv"
	"strings"

	"github.com/mdgo/md/proto"
)

// Verdict is the first value a check callback returns, the $ok of
// mimedefang.pl's send_filter_answer. It is a string because Perl filters
// return either a keyword or an integer; use the constants or Int. The
// zero value, like undef in Perl, rejects.
type Verdict string

// The keywords send_filter_answer knows. Any other string, and "0",
// rejects.
const (
	Continue                 Verdict = "CONTINUE"
	Reject                   Verdict = "REJECT"
	TempFail                 Verdict = "TEMPFAIL"
	Discard                  Verdict = "DISCARD"
	AcceptAndNoMoreFiltering Verdict = "ACCEPT_AND_NO_MORE_FILTERING"
)

// Int returns the legacy integer verdict n: > 0 continue, 0 reject, < 0
// tempfail.
func Int(n int) Verdict { return Verdict(strconv.Itoa(n)) }

// Answer is what a check callback (Relay, Helo, Sender, Recipient) returns:
// Perl's ($ok, $msg, $code, $dsn, $delay).
//
// Reply formats it exactly as mimedefang.pl's send_filter_answer: Msg ""
// becomes "?"; a Code or DSN that does not match the verdict's class
// (2xx/2.x.x, 4xx/4.x.x, 5xx/5.x.x) becomes that class's default
// (250/2.1.0, 451/4.3.0, 554/5.7.1); a negative Delay becomes 0.
type Answer struct {
	Verdict Verdict
	Msg     string
	Code    string
	DSN     string
	Delay   int // seconds the milter waits before answering the MTA
}

// ProtoVerdict maps v as send_filter_answer does, in its order:
// ACCEPT_AND_NO_MORE_FILTERING, DISCARD, CONTINUE or an integer > 0,
// TEMPFAIL or an integer < 0, anything else reject. An integer is what
// Perl's /^-?\d+$/ accepts (a final "\n" included).
func (v Verdict) ProtoVerdict() proto.Verdict {
	n := 0
	if s := strings.TrimSuffix(string(v), "\n"); isPerlInt(s) {
		// Perl compares the string numerically; only the sign matters.
		switch {
		case s[0] == '-' && strings.Trim(s[1:], "0") != "":
			n = -1
		case s[0] != '-' && strings.Trim(s, "0") != "":
			n = 1
		}
	}
	switch {
	case v == AcceptAndNoMoreFiltering:
		return proto.AcceptNoMoreFiltering
	case v == Discard:
		return proto.Discard
	case v == Continue || n > 0:
		return proto.Continue
	case v == TempFail || n < 0:
		return proto.TempFail
	}
	return proto.Reject
}

func isPerlInt(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Reply renders the answer as the worker's reply line, ending in "\n":
// "ok <n> <msg> <code> <dsn> <delay>" with msg, code and dsn
// percent-encoded (proto.Encode).
func (a Answer) Reply() string {
	return proto.NewCheckReply(a.Verdict.ProtoVerdict(), a.Msg, a.Code, a.DSN, a.Delay).Line()
}

// undefinedAnswer is the reply to a check whose callback is undefined.
const undefinedAnswer = "ok 1 ok 250 2.1.0 0\n"
