package message

import (
	"bytes"
	"fmt"
	"strings"
)

// eosKind says what ended a scan, as MIME::Parser::Reader's eos.
type eosKind uint8

const (
	eosEOF   eosKind = iota
	eosDelim         // --boundary
	eosClose         // --boundary--
)

// eos is the line that ended a scan: a delimiter of one of the enclosing
// boundaries, or the end of the input.
type eos struct {
	kind  eosKind
	bound string
	line  int // start of the delimiter line (len(raw) at EOF)
	next  int // just after it
}

type parser struct {
	m        *Message
	raw      []byte
	lim      Limits
	maxDepth int
	nparts   int
}

// Parse parses INPUTMSG (header, blank line, body; LF line ends) as MIMEDefang
// does with MIME::Parser (nested messages extracted, everything decoded
// lazily) followed by make_multipart; see the package documentation for the
// rules and the known differences. raw is kept, not copied.
//
// The only errors are ErrTooManyParts and ErrTooDeep (wrapped, test with
// errors.Is): malformed MIME is repaired the way MIME-tools repairs it and
// reported by Errors.
func Parse(raw []byte, lim Limits) (*Message, error) {
	m := &Message{raw: raw}
	ps := &parser{m: m, raw: raw, lim: lim, maxDepth: lim.MaxDepth}
	if ps.maxDepth == 0 {
		ps.maxDepth = DefaultMaxDepth
	}
	top, _, err := ps.part(0, nil, "", 0)
	if err != nil {
		return nil, err
	}
	m.orig = top
	if top.kind == multipart {
		m.wasMultipart = true
		m.top = top
		return m, nil
	}
	m.top = wrap(m, top)
	return m, nil
}

// wrap is MIME::Entity make_multipart: the Content-* fields go to the new
// only child, everything else stays on a multipart/mixed top entity.
func wrap(m *Message, body *Part) *Part {
	child := *body
	child.fields = nil
	child.segment = nil
	var topFields []field
	for _, f := range body.fields {
		if isContentField(f) {
			child.fields = append(child.fields, f)
		} else {
			topFields = append(topFields, f)
		}
	}
	if child.sep == nil {
		child.sep = []byte("\n")
	}
	// For a reader the message header is the part's header: Names
	// looks at all of it when a field may hide behind a bare CR (in
	// Subject, say); the Content-* fields are the child's anyway.
	if hdr := m.raw[:m.hdrEnd]; bareCR(hdr) >= 0 {
		child.hidden = hdr
	}
	b := makeBoundary()
	topFields = append(topFields, field{name: "Content-Type", raw: []byte("Content-Type: multipart/mixed; boundary=\"" + b + "\"\n")})
	w := &Part{
		msg:      m,
		fields:   topFields,
		sep:      body.sep,
		typ:      "multipart/mixed",
		htype:    "multipart/mixed",
		encoding: "7bit",
		boundary: b,
		kind:     multipart,
		synth:    true,
		size:     -1,
	}
	w.orig = []*Part{&child}
	w.children = []*Part{&child}
	return w
}

// isContentField tells whether make_multipart moves f to the child: a
// Content-* field, or a line MIME-tools cannot read that a lenient reader
// takes for one ("Content-Disposition : ..."), so that Part.Names of the
// child sees it.
func isContentField(f field) bool {
	name := f.name
	if f.junk {
		name, _, _ = looseField(f.raw)
	}
	return len(name) >= 8 && strings.EqualFold(name[:8], "content-")
}

// isDelim tells whether the line at ls is a delimiter of one of bounds
// (innermost first): "--" at the line start, trailing [ \t\r\n] ignored.
func (ps *parser) isDelim(ls int, bounds []string) (eos, bool) {
	raw := ps.raw
	if len(bounds) == 0 || ls+2 > len(raw) || raw[ls] != '-' || raw[ls+1] != '-' {
		return eos{}, false
	}
	le := bytes.IndexByte(raw[ls:], '\n')
	if le < 0 {
		le = len(raw)
	} else {
		le += ls + 1
	}
	t := bytes.TrimRight(raw[ls+2:le], " \t\r\n")
	for _, b := range bounds {
		if len(t) == len(b) && string(t) == b {
			return eos{kind: eosDelim, bound: b, line: ls, next: le}, true
		}
		if len(t) == len(b)+2 && string(t[:len(b)]) == b && t[len(b)] == '-' && t[len(b)+1] == '-' {
			return eos{kind: eosClose, bound: b, line: ls, next: le}, true
		}
	}
	return eos{}, false
}

// scanTo finds the first delimiter line of bounds at or after pos (a line start).
func (ps *parser) scanTo(pos int, bounds []string) eos {
	raw := ps.raw
	if len(bounds) > 0 {
		if e, ok := ps.isDelim(pos, bounds); ok {
			return e
		}
		for i := pos; i < len(raw); {
			k := bytes.Index(raw[i:], []byte("\n--"))
			if k < 0 {
				break
			}
			ls := i + k + 1
			if e, ok := ps.isDelim(ls, bounds); ok {
				return e
			}
			i = ls
		}
	}
	return eos{kind: eosEOF, line: len(raw), next: len(raw)}
}

// endBefore is where a part that started at start ends when e ends it: the
// LF before a delimiter line belongs to the delimiter.
func (ps *parser) endBefore(e eos, start int) int {
	if e.kind == eosEOF {
		return len(ps.raw)
	}
	if e.line > start {
		return e.line - 1
	}
	return e.line
}

// isBlankLine: the header terminators "", "\r" (with MIME-tools' newline
// normalisation: up to three CRs before the LF).
func isBlankLine(line []byte) bool {
	t := bytes.TrimSuffix(line, []byte("\n"))
	if len(t) == len(line) {
		return false
	}
	return len(bytes.Trim(t, "\r")) == 0 && len(t) <= 3
}

// header reads a header block starting at pos. It returns the end of the
// field lines and the start of the body. A header is ended by a blank line,
// by the end of the input (atEOF), or by a delimiter line: a delimiter of
// the innermost boundary makes a bogus part (returned in bogus, nothing
// consumed); any other delimiter (closing, or of an enclosing boundary) is
// swallowed as MIME::Parser swallows it, ending the header with "unexpected
// end of header" (cut is true) and the body starts after it.
func (ps *parser) header(pos int, bounds []string) (hdrEnd, bodyStart int, bogus *eos, atEOF, cut bool) {
	raw := ps.raw
	for ls := pos; ls < len(raw); {
		if e, ok := ps.isDelim(ls, bounds); ok {
			if e.kind == eosDelim && e.bound == bounds[0] {
				return ls, ls, &e, false, false
			}
			return ls, e.next, nil, false, true
		}
		le := bytes.IndexByte(raw[ls:], '\n')
		if le < 0 {
			le = len(raw)
		} else {
			le += ls + 1
		}
		if isBlankLine(raw[ls:le]) {
			return ls, le, nil, false, false
		}
		ls = le
	}
	return len(raw), len(raw), nil, true, false
}

// splitFields cuts a header block into fields, Mail::Header's way: a line
// starting with a field name and a colon begins a field, blank-led lines
// continue it, anything else is junk (and so are continuations of junk).
func splitFields(h []byte) []field {
	var fs []field
	if bytes.HasPrefix(h, []byte("\xEF\xBB\xBF")) {
		fs = append(fs, field{raw: h[:3], junk: true})
		h = h[3:]
	}
	for len(h) > 0 {
		le := bytes.IndexByte(h, '\n') + 1
		if le == 0 {
			le = len(h)
		}
		line := h[:le]
		if (line[0] == ' ' || line[0] == '\t') && len(fs) > 0 {
			f := &fs[len(fs)-1]
			f.raw = f.raw[:len(f.raw)+le] // contiguous in h
			h = h[le:]
			continue
		}
		name, ok := fieldName(line)
		fs = append(fs, field{name: name, raw: line, junk: !ok})
		h = h[le:]
	}
	return fs
}

// fieldName matches ^[^\x00-\x1f\x7f-\xff :]+: .
func fieldName(line []byte) (string, bool) {
	for i, c := range line {
		if c == ':' {
			if i == 0 {
				return "", false
			}
			return string(line[:i]), true
		}
		if c < 0x20 || c >= 0x7f || c == ' ' {
			return "", false
		}
	}
	return "", false
}

func (ps *parser) errorf(format string, args ...any) {
	ps.m.errs = append(ps.m.errs, fmt.Sprintf(format, args...))
}

// part is MIME::Parser's process_part at pos, inside the given boundaries
// (innermost first); retype is the default type from the parent.
func (ps *parser) part(pos int, bounds []string, retype string, depth int) (*Part, eos, error) {
	ps.nparts++
	if ps.lim.MaxParts > 0 && ps.nparts > ps.lim.MaxParts {
		return nil, eos{}, fmt.Errorf("%w (more than %d)", ErrTooManyParts, ps.lim.MaxParts)
	}
	if ps.maxDepth > 0 && depth > ps.maxDepth {
		return nil, eos{}, fmt.Errorf("%w (deeper than %d)", ErrTooDeep, ps.maxDepth)
	}
	raw := ps.raw
	p := &Part{msg: ps.m, size: -1}
	start := pos
	hdrEnd, bodyStart, bogus, atEOF, cut := ps.header(pos, bounds)
	if bogus != nil {
		// MIME-tools gives up on such a part and makes it an empty
		// text/plain; mail clients end the header at its first line
		// that is not a field and read the rest as the body. The
		// clients' reading is taken (see clientHeaderEnd), so that the
		// filter sees the attachment a recipient would open.
		ps.errorf("bogus part, without CRLF before body")
		end := ps.endBefore(*bogus, start)
		if end == start {
			// A doubled boundary line: an empty part for everyone,
			// text/plain for MIME-tools even in a digest.
			p.digestGap = retype != ""
			p.typ, p.htype, p.encoding = "text/plain", "text/plain", "7bit"
			p.body = raw[end:end]
			p.segment = raw[start:end]
			p.stripCR = true
			return p, *bogus, nil
		}
		hdrEnd = start + clientHeaderEnd(raw[start:end])
		bodyStart = hdrEnd
		p.repair = repairBogus
		p.hidden = raw[hdrEnd:end]
	} else if atEOF || cut {
		ps.errorf("unexpected end of header")
		if depth > 0 {
			p.repair = repairNoBlankLine
		}
	}
	p.fields = splitFields(raw[start:hdrEnd])
	if depth == 0 {
		ps.m.hdrEnd = hdrEnd
	}
	if p.repair == repairNone && depth > 0 {
		p.repair = headerRepair(p.fields)
	}
	def := "text/plain"
	if retype != "" {
		def = retype
	}
	ct := p.firstValue("content-type")
	p.htype = effectiveType(ct, def)
	p.typ = p.htype
	p.encoding = normEncoding(p.firstValue("content-transfer-encoding"))

	var e eos
	var err error
	major, _, _ := strings.Cut(p.typ, "/")
	switch {
	case major == "multipart":
		b, ok := paramMIMETools(ct, "boundary")
		if !ok || strings.ContainsAny(b, "\r\n") {
			ps.errorf("multipart boundary is missing, or contains CR or LF")
			p.typ = "application/x-unparseable-multipart"
			e = ps.single(p, bodyStart, bounds)
			break
		}
		p.kind = multipart
		p.boundary = b
		e, err = ps.multipart(p, start, bodyStart, bounds, depth)
	case p.typ == "message/rfc822" || p.typ == "message/external-body" ||
		p.typ == "message/partial" && perlNum(p.Param("number")) == 1 && p.Param("number") != "",
		clientNested(major, p.typ):
		if p.encoding != "7bit" && p.encoding != "8bit" && p.encoding != "binary" {
			ps.errorf("illegal encoding [%s] for MIME type %s", p.encoding, p.typ)
		}
		var child *Part
		child, e, err = ps.part(bodyStart, bounds, "", depth+1)
		if err == nil {
			p.kind = nested
			p.orig = []*Part{child}
			p.children = []*Part{child}
			p.clientNested = clientNested(major, p.typ)
			p.stripCR = e.kind != eosEOF
		}
	default:
		e = ps.single(p, bodyStart, bounds)
	}
	if err != nil {
		return nil, e, err
	}
	// MIMEDefang sees MIME::Entity mime_type, the header's type; the
	// effective type only decided how the body was read.
	effective := p.typ
	p.typ = p.htype
	end := ps.endBefore(e, start)
	p.segment = raw[start:end]
	p.sep = raw[hdrEnd:min(bodyStart, end)]
	if atEOF {
		p.sep = nil
	}
	p.body = raw[min(bodyStart, end):end]
	p.rawOK = true
	if p.kind == leaf && uuCandidate(p, effective) {
		if ps.huntUU(p) {
			p.synth = true
		}
	}
	return p, e, nil
}

// single is process_singlepart: the body runs to the next delimiter.
func (ps *parser) single(p *Part, bodyStart int, bounds []string) eos {
	e := ps.scanTo(bodyStart, bounds)
	if len(bounds) > 0 && e.kind == eosEOF {
		ps.errorf("part did not end with expected boundary")
	}
	p.stripCR = e.kind != eosEOF
	if !knownEncoding(p.encoding) {
		ps.errorf("unsupported encoding '%s': using 'binary'", p.encoding)
		p.typ = "application/octet-stream"
		p.encoding = "binary"
	}
	return e
}

// multipart is process_multipart for p, whose body starts at bodyStart.
func (ps *parser) multipart(p *Part, start, bodyStart int, bounds []string, depth int) (eos, error) {
	raw := ps.raw
	inner := append([]string{p.boundary}, bounds...)
	retype := ""
	if p.typ == "multipart/digest" {
		retype = "message/rfc822"
	}
	e := ps.scanTo(bodyStart, inner)
	own := e.kind != eosEOF && e.bound == p.boundary
	if !own {
		ps.errorf("unexpected end of preamble")
		end := ps.endBefore(e, start)
		p.preamble = raw[bodyStart:max(bodyStart, end)]
		return e, nil
	}
	ds := ps.endBefore(e, bodyStart)
	p.preamble = raw[bodyStart:ds]
	if e.kind == eosClose {
		ps.errorf("empty multipart message")
		return ps.epilogue(p, ds, e, start, bounds), nil
	}
	for {
		p.delims = append(p.delims, raw[ds:e.next])
		childStart := e.next
		child, ce, err := ps.part(childStart, inner, retype, depth+1)
		if err != nil {
			return ce, err
		}
		p.orig = append(p.orig, child)
		e = ce
		if e.kind == eosEOF || e.bound != p.boundary {
			ps.errorf("unexpected end of parts before epilogue")
			break
		}
		ds = ps.endBefore(e, childStart)
		if e.kind == eosClose {
			p.children = append([]*Part(nil), p.orig...)
			return ps.epilogue(p, ds, e, start, bounds), nil
		}
	}
	p.children = append([]*Part(nil), p.orig...)
	return e, nil
}

// epilogue reads the epilogue after the closing delimiter e (whose leading
// LF is at ds) with the enclosing boundaries, and records the closing bytes.
func (ps *parser) epilogue(p *Part, ds int, e eos, start int, bounds []string) eos {
	ee := ps.scanTo(e.next, bounds)
	end := ps.endBefore(ee, start)
	p.closing = ps.raw[ds:max(ds, end)]
	return ee
}
