package spamd

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Reply is one spamd reply:
//
//	SPAMD/1.1 0 EX_OK\r\n
//	Content-length: 42\r\n
//	Spam: True ; 1000.0 / 5.0\r\n
//	\r\n
//	<body: the report, the symbols or the processed message>
type Reply struct {
	Version string // "1.1"
	Code    int    // 0 is EX_OK; anything else is spamd's error (sysexits)
	Message string // "EX_OK", "PONG", or the error's text

	// HasSpam tells whether a "Spam:" header came; Spam is its first word
	// as spamd wrote it ("True", "False"; "Yes", "No" from old spamd),
	// Score and Threshold its numbers.
	HasSpam          bool
	Spam             string
	Score, Threshold float64

	// ContentLength is the "Content-length:" header's value, -1 without one.
	ContentLength int
	// Headers are the header lines, without their line ends.
	Headers []string
	// Body is what follows the empty line (cut to ContentLength when
	// there is one).
	Body []byte
}

// IsSpam reports whether the Spam header says spam ("True" or "Yes", in
// any case).
func (r Reply) IsSpam() bool {
	return r.HasSpam && (strings.EqualFold(r.Spam, "True") || strings.EqualFold(r.Spam, "Yes"))
}

var (
	statusRE = regexp.MustCompile(`^SPAMD/(\d+\.\d+) +(\d+) *(.*)$`)
	// spamRE is Mail::SpamAssassin::Client's m!Spam: (\S+) ; (\S+) / (\S+)!.
	spamRE = regexp.MustCompile(`^Spam: *(\S+) *; *(\S+) */ *(\S+)\s*$`)
)

// ErrNoStatus is the error of a reply that does not begin with a SPAMD/x.y
// status line (garbage, or nothing at all).
var ErrNoStatus = errors.New("no SPAMD status line")

// ParseReply parses a whole spamd reply (everything read until spamd
// closed the connection). Lines may end in CRLF or LF. An error means the
// bytes are not a spamd reply: no status line, a header line without a
// colon, a Spam header whose numbers do not parse, a body shorter than its
// Content-length. A reply with a non-zero code parses without error; the
// caller decides.
func ParseReply(b []byte) (Reply, error) {
	r := Reply{ContentLength: -1}
	line, rest, ok := cutLine(b)
	if !ok && len(rest) == 0 && len(line) == 0 {
		return r, ErrNoStatus
	}
	m := statusRE.FindStringSubmatch(line)
	if m == nil {
		return r, fmt.Errorf("%w: %q", ErrNoStatus, truncate(line))
	}
	r.Version = m[1]
	code, err := strconv.Atoi(m[2])
	if err != nil {
		return r, fmt.Errorf("bad status code %q", m[2])
	}
	r.Code, r.Message = code, strings.TrimSpace(m[3])
	b = rest
	for len(b) > 0 {
		line, b, _ = cutLine(b)
		if line == "" {
			break
		}
		r.Headers = append(r.Headers, line)
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return r, fmt.Errorf("header line without a colon: %q", truncate(line))
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "content-length":
			n, err := strconv.Atoi(strings.TrimSpace(value))
			if err != nil || n < 0 {
				return r, fmt.Errorf("bad Content-length %q", truncate(value))
			}
			r.ContentLength = n
		case "spam":
			sm := spamRE.FindStringSubmatch(line)
			if sm == nil {
				return r, fmt.Errorf("bad Spam header %q", truncate(line))
			}
			score, err1 := parseNumber(sm[2])
			thr, err2 := parseNumber(sm[3])
			if err1 != nil || err2 != nil {
				return r, fmt.Errorf("bad Spam header %q", truncate(line))
			}
			r.HasSpam, r.Spam, r.Score, r.Threshold = true, sm[1], score, thr
		}
	}
	r.Body = b
	if r.ContentLength >= 0 {
		if len(b) < r.ContentLength {
			return r, fmt.Errorf("body of %d bytes, Content-length %d", len(b), r.ContentLength)
		}
		r.Body = b[:r.ContentLength]
	}
	return r, nil
}

// parseNumber reads a score: a finite decimal number.
func parseNumber(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != f || f > 1e300 || f < -1e300 {
		return 0, fmt.Errorf("bad number %q", s)
	}
	return f, nil
}

// cutLine returns the first line of b without its line end, and the rest.
// ok is false when b holds no line end.
func cutLine(b []byte) (line string, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return string(b), nil, false
	}
	return strings.TrimSuffix(string(b[:i]), "\r"), b[i+1:], true
}

// Symbols splits a SYMBOLS reply's body, "RULE_A,RULE_B\r\n", into the
// rule names.
func Symbols(body []byte) []string {
	s := strings.TrimSpace(string(body))
	if s == "" {
		return nil
	}
	var names []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return names
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
