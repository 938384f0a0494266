package dkim

import (
	"bytes"
	"regexp"
	"strings"
)

// The canonicalizations (RFC 6376 §3.4) as Mail::DKIM's
// Canonicalization::relaxed and ::simple write them.

var (
	foldRE      = regexp.MustCompile(`\r\n(\s)`)
	wspRunRE    = regexp.MustCompile(`[ \t]+`)
	nameColonRE = regexp.MustCompile(`^([^:\s]+)\s*:\s*`)
	nameRE      = regexp.MustCompile(`(?s)^([^:]+):(.*)`)
)

// canonHeader canonicalizes one header field, given with its CRLF line
// ends inside (folds) and without the final one; the result has no final
// CRLF either.
func canonHeader(relaxed bool, field string) string {
	if !relaxed {
		return field
	}
	if m := nameRE.FindStringSubmatch(field); m != nil {
		field = strings.ToLower(m[1]) + ":" + m[2]
	}
	field = foldRE.ReplaceAllString(field, "$1")
	field = wspRunRE.ReplaceAllString(field, " ")
	field = strings.TrimSuffix(field, " ")
	return nameColonRE.ReplaceAllString(field, "$1:")
}

// canonBody canonicalizes a body given with CRLF line ends.
func canonBody(relaxed bool, body []byte) []byte {
	if relaxed {
		lines := bytes.Split(body, []byte("\r\n"))
		for i, l := range lines {
			l = wspRunRE.ReplaceAll(l, []byte(" "))
			lines[i] = bytes.TrimRight(l, " ")
		}
		body = bytes.Join(lines, []byte("\r\n"))
		// A last line without its CRLF gets one (when not empty).
		if len(body) > 0 && !bytes.HasSuffix(body, []byte("\r\n")) {
			body = append(body, "\r\n"...)
		}
	}
	// Trailing empty lines go.
	for bytes.HasSuffix(body, []byte("\r\n\r\n")) {
		body = body[:len(body)-2]
	}
	if bytes.Equal(body, []byte("\r\n")) {
		body = nil
	}
	if len(body) == 0 && !relaxed {
		return []byte("\r\n")
	}
	return body
}
