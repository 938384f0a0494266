package conformance

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"mime"
	"regexp"
	"strconv"
	"strings"
)

// The "wire" aspect: the bytes of every part an implementation writes anew.
//
// The tree aspect compares decoded content, so a warning written in base64
// where mimedefang.pl writes 7bit, a header field in another order or a
// missing preamble would pass it. wireLayout renders a delivered message as
// bytes: the top-level MIME-Version and Content-* fields after the milter's
// edits, then every entity depth first. An entity that is a copy of an
// entity of INPUTMSG is one line ("unchanged"); any other is rendered in
// full: its header fields (names, order, raw values with their folding), its
// Content-Transfer-Encoding, its body bytes line by line, and for a
// container its layout: preamble, each delimiter line, the closing delimiter
// and what follows it (its line end and the epilogue). Boundaries that
// MIME::Entity's make_boundary generates ("----------=_<time>-<pid>-<n>",
// which md-worker imitates) differ from run to run and are masked, in order
// of first appearance, so that equal boundaries stay equal.
//
// What "a copy" means differs by side. md-worker promises byte copies: its
// entity must have the header fields and body bytes of an input entity
// (give or take the line end before the next delimiter; reencodedLeaves
// checks the same promise from the other direction). MIME::Entity prints
// every entity anew (base64 re-wrapped, quoted-printable re-encoded, a line
// end added after each part and closing delimiter): that is the documented
// deviation "untouched parts keep their bytes" (docs/compatibility.md), so
// on mimedefang.pl's side an entity counts as unchanged when it has the
// header fields of an input entity and the same decoded content (a leaf) or
// children that are unchanged copies of that entity's children (a
// container).

// wireKind is what an entity holds.
type wireKind int

const (
	wireLeaf      wireKind = iota
	wireMultipart          // multipart/* with a boundary: children between delimiters
	wireMessage            // message/rfc822 in an identity encoding: one attached message
)

// wireNode is one entity of a message as bytes.
type wireNode struct {
	path    string
	fields  []string // raw header fields, folding kept, without their final line end
	noBlank bool     // the header is not ended by a blank line
	body    []byte   // the body, without the line end before the next delimiter
	kind    wireKind
	typ     string
	cte     string
	decoded [sha256.Size]byte // leaves: SHA-256 of the decoded body
	kids    []*wireNode

	// Multipart layout: body == preamble (+ "\n") + delimiter lines and
	// parts + closing + after.
	boundary    string
	hasPreamble bool
	preamble    []byte   // before the line end that starts the first delimiter
	delims      []string // the delimiter line before each child
	closing     string   // the closing delimiter line, "" when there is none
	after       []byte   // everything after the closing delimiter's text
	spans       []wirePart
}

const wireMaxDepth = 20

// wireTree splits a whole message (header, blank line, body). The top
// entity's header is its MIME-Version and Content-* fields, written
// "Name: value" as the milter leaves them (readDelivery builds the
// delivered message that way from INPUTMSG and the RESULTS edits).
func wireTree(msg []byte) *wireNode {
	hs, body := splitMessage(msg)
	var fields []string
	for _, h := range hs {
		n := strings.ToLower(h.name)
		if n == "mime-version" || strings.HasPrefix(n, "content-") {
			fields = append(fields, h.name+": "+h.value)
		}
	}
	return wireEntity("0", fields, false, body, 0)
}

// splitPartHeader splits a part into its raw header fields and its body at
// the first blank line (a line that is empty but for a CR).
func splitPartHeader(raw []byte) (fields []string, body []byte, noBlank bool) {
	pos := 0
	for pos < len(raw) {
		line, next := raw[pos:], len(raw)
		if i := bytes.IndexByte(raw[pos:], '\n'); i >= 0 {
			line, next = raw[pos:pos+i], pos+i+1
		}
		if len(bytes.TrimRight(line, "\r")) == 0 {
			return fields, raw[next:], false
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1] += "\n" + string(line)
		} else {
			fields = append(fields, string(line))
		}
		pos = next
	}
	return fields, nil, true
}

// fieldValue is the unfolded value of the first field called name.
func fieldValue(fields []string, name string) (string, bool) {
	for _, f := range fields {
		n, v, ok := strings.Cut(f, ":")
		if ok && strings.EqualFold(strings.TrimSpace(n), name) {
			return strings.TrimSpace(unfold(v)), true
		}
	}
	return "", false
}

var boundaryParamRE = regexp.MustCompile(`(?i)(?:^|;)\s*boundary\s*=\s*(?:"([^"]*)"|([^;\s]+))`)

// mediaType reads a Content-Type value leniently: the type token
// (text/plain when there is none) and the boundary parameter.
func mediaType(v string) (typ, boundary string) {
	if t, params, err := mime.ParseMediaType(v); err == nil {
		return t, params["boundary"]
	}
	t, _, _ := strings.Cut(v, ";")
	t = strings.ToLower(strings.TrimSpace(t))
	if !strings.Contains(t, "/") {
		t = "text/plain"
	}
	if m := boundaryParamRE.FindStringSubmatch(v); m != nil {
		boundary = m[1] + m[2]
	}
	return t, boundary
}

func wireEntity(path string, fields []string, noBlank bool, body []byte, depth int) *wireNode {
	n := &wireNode{path: path, fields: fields, noBlank: noBlank, body: body}
	ct, _ := fieldValue(fields, "Content-Type")
	n.typ, n.boundary = mediaType(ct)
	cte, _ := fieldValue(fields, "Content-Transfer-Encoding")
	n.cte = strings.ToLower(cte)
	identity := n.cte == "" || n.cte == "7bit" || n.cte == "8bit" || n.cte == "binary"
	switch {
	case depth >= wireMaxDepth:
	case strings.HasPrefix(n.typ, "multipart/") && n.boundary != "":
		n.kind = wireMultipart
		n.splitMultipart()
		for i, part := range n.parts() {
			pf, pb, nb := splitPartHeader(part)
			n.kids = append(n.kids, wireEntity(path+"."+strconv.Itoa(i+1), pf, nb, pb, depth+1))
		}
		return n
	case n.typ == "message/rfc822" && identity:
		n.kind = wireMessage
		pf, pb, nb := splitPartHeader(body)
		n.kids = []*wireNode{wireEntity(path+".1", pf, nb, pb, depth+1)}
		return n
	}
	n.kind = wireLeaf
	n.decoded = sha256.Sum256(decodeBody(body, n.cte))
	return n
}

// wirePart is one child's bytes inside a multipart body.
type wirePart struct{ start, end int }

// splitMultipart records the layout of a multipart body: as splitMultipart
// in rawparts_test.go, a delimiter is a line "--boundary" or
// "--boundary--" (trailing blanks allowed), and the line end before it
// belongs to it.
func (n *wireNode) splitMultipart() {
	body := n.body
	delim := []byte("--" + n.boundary)
	start := -1
	for pos := 0; pos <= len(body); {
		lineEnd, next := len(body), len(body)+1
		if i := bytes.IndexByte(body[pos:], '\n'); i >= 0 {
			lineEnd, next = pos+i, pos+i+1
		}
		line := bytes.TrimRight(body[pos:lineEnd], " \t\r")
		if rest, ok := bytes.CutPrefix(line, delim); ok && (len(rest) == 0 || string(rest) == "--") {
			if start < 0 {
				n.hasPreamble = pos > 0
				n.preamble = body[:max(pos-1, 0)]
			} else {
				n.spans = append(n.spans, wirePart{start, max(pos-1, start)})
			}
			if len(rest) == 2 {
				n.closing = string(body[pos:lineEnd])
				n.after = body[lineEnd:]
				return
			}
			n.delims = append(n.delims, string(body[pos:lineEnd]))
			start = min(next, len(body))
		}
		pos = next
	}
	if start < 0 {
		n.hasPreamble, n.preamble = len(body) > 0, body
		return
	}
	n.spans = append(n.spans, wirePart{start, len(body)})
}

func (n *wireNode) parts() [][]byte {
	out := make([][]byte, len(n.spans))
	for i, s := range n.spans {
		out[i] = n.body[s.start:s.end]
	}
	return out
}

// all lists n and its descendants, depth first.
func (n *wireNode) all() []*wireNode {
	out := []*wireNode{n}
	for _, k := range n.kids {
		out = append(out, k.all()...)
	}
	return out
}

// sameBytes: n is a byte copy of m (md-worker's promise).
func sameBytes(n, m *wireNode) bool {
	return n.kind == m.kind && n.noBlank == m.noBlank && equalLines(n.fields, m.fields) &&
		bytes.Equal(bytes.TrimSuffix(n.body, []byte("\n")), bytes.TrimSuffix(m.body, []byte("\n")))
}

// sameContent: n has m's header and decoded content, its bytes printed
// anew (MIME::Entity).
func sameContent(n, m *wireNode) bool {
	if n.kind != m.kind || !equalLines(n.fields, m.fields) || len(n.kids) != len(m.kids) {
		return false
	}
	if n.kind == wireLeaf {
		return n.decoded == m.decoded
	}
	for i := range n.kids {
		if !sameContent(n.kids[i], m.kids[i]) {
			return false
		}
	}
	return true
}

// wireLayout renders the delivered message final against INPUTMSG input.
// exact selects md-worker's notion of an unchanged entity (a byte copy),
// otherwise mimedefang.pl's (same header and decoded content).
func wireLayout(input, final []byte, exact bool) []string {
	r := &wireRenderer{input: wireTree(input).all(), same: sameContent}
	if exact {
		r.same = sameBytes
	}
	r.render(wireTree(final))
	return maskGenerated(r.lines)
}

type wireRenderer struct {
	input []*wireNode
	same  func(n, m *wireNode) bool
	lines []string
}

func (r *wireRenderer) add(n *wireNode, format string, args ...any) {
	r.lines = append(r.lines, fmt.Sprintf("%-9s ", n.path)+fmt.Sprintf(format, args...))
}

// maxBodyLines bounds the body lines rendered of one entity; a longer body
// is rendered in part and with the SHA-256 of all its bytes.
const maxBodyLines = 120

func (r *wireRenderer) render(n *wireNode) {
	for _, m := range r.input {
		if r.same(n, m) {
			r.add(n, "%s unchanged: INPUTMSG entity %s", n.typ, m.path)
			return
		}
	}
	what := map[wireKind]string{wireLeaf: "leaf", wireMultipart: "multipart", wireMessage: "attached message"}[n.kind]
	r.add(n, "%s %s written anew", n.typ, what)
	for _, f := range n.fields {
		r.add(n, "  field %s", escapeBytes(f))
	}
	if n.noBlank {
		r.add(n, "  no blank line after the header")
	}
	cte := n.cte
	if cte == "" {
		cte = "(none)"
	}
	r.add(n, "  Content-Transfer-Encoding %s", cte)
	switch n.kind {
	case wireLeaf:
		r.body(n)
	case wireMessage:
		r.render(n.kids[0])
	case wireMultipart:
		if n.hasPreamble {
			r.add(n, "  preamble %s", quoteBytes(string(n.preamble)))
		} else {
			r.add(n, "  no preamble")
		}
		for i, k := range n.kids {
			r.add(n, "  delimiter %s", quoteBytes(n.delims[i]))
			r.render(k)
		}
		if n.closing == "" {
			r.add(n, "  no closing delimiter")
		} else {
			r.add(n, "  closing delimiter %s, then %s", quoteBytes(n.closing), quoteBytes(string(n.after)))
		}
	}
}

func (r *wireRenderer) body(n *wireNode) {
	if len(n.body) == 0 {
		r.add(n, "  empty body")
		return
	}
	lines := bytes.SplitAfter(n.body, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	r.add(n, "  body, %d lines", len(lines))
	for i, l := range lines {
		if i == maxBodyLines {
			r.add(n, "  | ... %d more lines; SHA-256 of the whole body %x", len(lines)-i, sha256.Sum256(n.body))
			break
		}
		s, ok := strings.CutSuffix(string(l), "\n")
		if !ok {
			s += " (no line end)"
		}
		r.add(n, "  | %s", escapeBytes(s))
	}
}

// escapeBytes shows control characters and bytes beyond ASCII as escapes
// (\n inside a folded field, \r, \t, \xHH), everything else as it is.
func escapeBytes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\\':
			b.WriteString(`\\`)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, `\x%02X`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func quoteBytes(s string) string { return `"` + escapeBytes(s) + `"` }

// generatedBoundaryRE matches MIME::Entity's make_boundary values.
var generatedBoundaryRE = regexp.MustCompile(`----------=_\d+-\d+-\d+`)

// maskGenerated replaces each generated boundary by a placeholder numbered
// in order of first appearance: the same boundary gets the same mask.
func maskGenerated(lines []string) []string {
	seen := map[string]string{}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = generatedBoundaryRE.ReplaceAllStringFunc(l, func(b string) string {
			if m, ok := seen[b]; ok {
				return m
			}
			m := fmt.Sprintf("<generated boundary %d>", len(seen)+1)
			seen[b] = m
			return m
		})
	}
	return out
}
