package clamd

import (
	"regexp"
	"strings"
)

// Reading clamd's replies. With the z prefix every reply ends in a NUL;
// a SCAN of a directory may give several ("<path>: <detail> ERROR" for a
// file clamd could not read, then "<dir>: OK"). The forms:
//
//	stream: OK                          INSTREAM, clean
//	stream: Eicar-Signature FOUND       INSTREAM, a virus
//	/path/file: OK                      SCAN, MULTISCAN
//	/path/file: Eicar-Signature FOUND
//	/path: lstat() failed: No such file or directory. ERROR
//	INSTREAM size limit exceeded. ERROR past StreamMaxLength
//	UNKNOWN COMMAND
//	PONG                                PING

// Status is the verdict of a reply.
type Status int

// The statuses of a Reply.
const (
	// Unknown: no reply, or one that is none of the others. It never
	// passes mail (the original takes anything without FOUND or ERROR as
	// clean; md-worker tempfails).
	Unknown Status = iota
	// Clean: every line is "<name>: OK".
	Clean
	// Found: a line "<name>: <virus> FOUND".
	Found
	// Error: a line "<name>: <detail> ERROR", or "<detail> ERROR".
	Error
)

func (s Status) String() string {
	switch s {
	case Clean:
		return "clean"
	case Found:
		return "found"
	case Error:
		return "error"
	}
	return "unknown"
}

// Reply is a parsed clamd reply.
type Reply struct {
	Status Status
	// Virus is the name of the first virus found (Found).
	Virus string
	// Detail is the first error's text, without " ERROR" (Error), or the
	// whole reply, printable (Unknown).
	Detail string
}

var (
	// The original's patterns, applied to its 256-byte read: /: (.+) FOUND/
	// and /: (.+) ERROR/ (Perl's . stops at a newline, as Go's does).
	foundRE = regexp.MustCompile(`: (.+) FOUND`)
	errorRE = regexp.MustCompile(`: (.+) ERROR`)
	// A line that ends in " ERROR" without ": " before it ("INSTREAM
	// size limit exceeded. ERROR"), which the original's pattern misses.
	bareErrorRE = regexp.MustCompile(`^(.+) ERROR$`)
)

// ParseReply reads a clamd reply: FOUND anywhere wins, as in the original,
// then ERROR; the reply is Clean only when it has lines and every one ends
// in ": OK"; anything else is Unknown.
func ParseReply(b []byte) Reply {
	lines := replyLines(b)
	for _, l := range lines {
		if m := foundRE.FindStringSubmatch(l); m != nil {
			return Reply{Status: Found, Virus: m[1]}
		}
	}
	for _, l := range lines {
		if m := errorRE.FindStringSubmatch(l); m != nil {
			return Reply{Status: Error, Detail: m[1]}
		}
		if m := bareErrorRE.FindStringSubmatch(l); m != nil {
			return Reply{Status: Error, Detail: m[1]}
		}
	}
	clean := len(lines) > 0
	for _, l := range lines {
		if !strings.HasSuffix(l, ": OK") {
			clean = false
		}
	}
	if clean {
		return Reply{Status: Clean}
	}
	return Reply{Status: Unknown, Detail: printable(strings.Join(lines, " | "))}
}

// IsPong reports whether b is the answer to PING: "PONG", whatever ends it.
func IsPong(b []byte) bool {
	lines := replyLines(b)
	return len(lines) == 1 && lines[0] == "PONG"
}

// replyLines splits a reply at NULs and newlines and drops blank lines and
// the blanks around each.
func replyLines(b []byte) []string {
	var out []string
	for _, l := range strings.FieldsFunc(string(b), func(r rune) bool { return r == 0 || r == '\n' }) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// printable returns s with control characters and invalid UTF-8 escaped,
// cut to 200 bytes, for a log line.
func printable(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	q := []rune{}
	for _, r := range s {
		switch {
		case r == '\uFFFD' || r < 0x20 || r == 0x7f:
			q = append(q, '?')
		default:
			q = append(q, r)
		}
	}
	return string(q)
}
