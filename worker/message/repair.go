package message

import (
	"bufio"
	"bytes"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// This file holds what md-worker does beyond MIME-tools so that a broken
// header cannot make the filter and the recipient's mail client see two
// different messages:
//
//   - Where MIME-tools and mail clients read a header differently, the
//     reading that shows the filter the most is taken: a part whose header
//     runs into the next boundary without a blank line is read as clients
//     read it (the header ends at its first line that is not a field), not
//     as MIME-tools' empty text/plain.
//   - Names collects every file name any reader could take from a part:
//     repeated fields, repeated parameters, fields MIME-tools skips as
//     malformed ("Content-Type : ..."), lines the part's reading puts in
//     its body.
//   - A part whose header needed a repair to be read is written back in
//     normalized form (writeNormalized): the fields the filter read, one of
//     each Content-Type, Content-Disposition and Content-Transfer-Encoding,
//     each parameter once, a field cut at a CR inside it, and a blank line. So the delivered message holds
//     no attachment, name or type that the filter did not see.

// repairKind says why a part's header had to be repaired to be read.
type repairKind uint8

const (
	repairNone        repairKind = iota
	repairBogus                  // the header runs into the next boundary: read as mail clients read it
	repairNoBlankLine            // the header is not ended by a blank line
	repairJunk                   // a line in the header is not a field
	repairDuplicate              // Content-Type, -Disposition or -Transfer-Encoding more than once
	repairParams                 // a parameter of Content-Type or -Disposition given more than once
	repairBareCR                 // a CR inside a field, which some readers take for a line end
)

func (k repairKind) String() string {
	switch k {
	case repairBogus:
		return "header runs into the next boundary without a blank line"
	case repairNoBlankLine:
		return "header not ended by a blank line"
	case repairJunk:
		return "header line that is not a field"
	case repairDuplicate:
		return "repeated Content-Type, Content-Disposition or Content-Transfer-Encoding"
	case repairParams:
		return "repeated parameter"
	case repairBareCR:
		return "bare CR inside a header field"
	}
	return ""
}

// singleFields are the fields a part may carry only once: readers that
// take the first and readers that take the last would disagree.
var singleFields = [...]string{"content-type", "content-disposition", "content-transfer-encoding"}

// clientNested tells whether a part of type typ (major type major) is an
// attached message that MIME-tools reads as a plain leaf while mail
// clients parse it: every message/* type but rfc822, external-body and
// partial (which MIME-tools parses itself) and delivery-status (which
// clients read as blocks of fields), garbled subtypes included
// ("message/\x00rfc822" is "message/" for MIME-tools). Such a part is
// parsed as an attached message, so the filter sees what clients show.
func clientNested(major, typ string) bool {
	if major != "message" || !strings.HasPrefix(typ, "message/") {
		return false // ("message" alone is no type: text/plain for clients)
	}
	switch typ {
	case "message/rfc822", "message/external-body", "message/partial", "message/delivery-status":
		return false
	}
	return true
}

// clientHeaderEnd returns where mail clients end a header that has no
// blank line: at the first line that is neither a field nor the
// continuation of one (len(h) when every line is).
func clientHeaderEnd(h []byte) int {
	inField := false
	for i := 0; i < len(h); {
		le := bytes.IndexByte(h[i:], '\n') + 1
		if le == 0 {
			le = len(h) - i
		}
		line := h[i : i+le]
		if inField && (line[0] == ' ' || line[0] == '\t') {
			i += le
			continue
		}
		if _, ok := fieldName(line); !ok {
			return i
		}
		inField = true
		i += le
	}
	return len(h)
}

// headerRepair tells whether a well-terminated header still needs a repair:
// a line that is not a field, a field that must be single given twice, or
// a Content-Type or Content-Disposition with a repeated parameter.
func headerRepair(fs []field) repairKind {
	var count [len(singleFields)]int
	for i, f := range fs {
		if f.junk {
			if i == 0 && bytes.Equal(f.raw, []byte("\xEF\xBB\xBF")) {
				continue // the byte-order mark MIME-tools strips
			}
			return repairJunk
		}
		for k, name := range singleFields {
			if strings.EqualFold(f.name, name) {
				count[k]++
			}
		}
	}
	for _, n := range count {
		if n > 1 {
			return repairDuplicate
		}
	}
	for _, f := range fs {
		if bareCR(f.raw) >= 0 {
			return repairBareCR
		}
	}
	for _, f := range fs {
		// A parameter given twice needs two semicolons (cheap to rule out).
		if bytes.Count(f.raw, []byte(";")) >= 2 &&
			(strings.EqualFold(f.name, "content-type") || strings.EqualFold(f.name, "content-disposition")) &&
			parseParams(f.value()).repeated {
			return repairParams
		}
	}
	return repairNone
}

// Repaired reports whether the part's header needed a repair to be read
// (no blank line after it, a line that is not a field, a repeated
// Content-Type, Content-Disposition or Content-Transfer-Encoding, a
// repeated parameter), and why. Such a part counts as Modified: it is
// written back in normalized form, which is what the filter read.
func (p *Part) Repaired() (bool, string) {
	return p.repair != repairNone, p.repair.String()
}

// RepairedParts returns the parts below the top entity whose header needed
// a repair, in tree order. A message with any is rewritten even when the
// filter changed nothing (see Part.Repaired). The top entity's own header
// is the message header, which only the milter can change, so it is not
// listed.
func (m *Message) RepairedParts() []*Part {
	var out []*Part
	Walk(m.orig, func(p *Part, depth int) bool {
		if depth > 0 && p.repair != repairNone {
			out = append(out, p)
		}
		return true
	})
	return out
}

// ExtraTopFields lists the repeated Content-Type, Content-Disposition and
// Content-Transfer-Encoding fields of the message header, as (name,
// occurrence) pairs, last first: the ones after the first, which readers
// that take the last field would use. The message header is the milter's
// to change; md-worker deletes these (RESULTS J lines), so the delivered
// message carries the one field MIME-tools and the filter read.
func (m *Message) ExtraTopFields() []HeaderField {
	var out []HeaderField
	for _, name := range singleFields {
		n := 0
		var spelled string
		for _, f := range m.orig.fields {
			if !f.junk && strings.EqualFold(f.name, name) {
				n++
				spelled = f.name
			}
		}
		for i := n; i > 1; i-- {
			out = append(out, HeaderField{Name: spelled, Value: strconv.Itoa(i)})
		}
	}
	return out
}

// TopNameEdits returns the edits of the message header that take every file
// name off a multipart (or attached-message) top entity: its
// first Content-Disposition field, deleted as a (name, occurrence) pair,
// and, when its first Content-Type names a file, that field's new
// value without the name and name* parameters (ct, changeCT). A container
// has no file of its own; a name on it is for readers that take the
// container for an attachment (a part without boundaries, a client that
// honours the disposition), and MIMEDefang's filter never sees it: the part
// walk starts below the top entity. Deleting it keeps the rule that the
// delivered message shows no name the filter did not see. Fields past the
// first of their kind are ExtraTopFields' to delete; they are not listed.
func (m *Message) TopNameEdits() (del []HeaderField, ct string, changeCT bool) {
	top := m.orig
	if !top.IsMultipart() || len(top.Names()) == 0 {
		return nil, "", false
	}
	var firstCT *field
	nCD := 0
	var cdName string
	for i := range top.fields {
		f := &top.fields[i]
		switch {
		case f.junk:
		case strings.EqualFold(f.name, "content-disposition"):
			nCD++
			cdName = f.name
		case strings.EqualFold(f.name, "content-type") && firstCT == nil:
			firstCT = f
		}
	}
	if nCD > 0 {
		del = append(del, HeaderField{Name: cdName, Value: "1"})
	}
	if firstCT != nil {
		ps := parseParams(firstCT.value())
		named := false
		for _, name := range ps.order {
			base, _, _, ok := splitStarName(name)
			if !ok {
				base = name
			}
			if base == "name" || base == "filename" {
				named = true
				if ps.undef == nil {
					ps.undef = map[string]bool{}
				}
				ps.undef[name] = true
			}
		}
		if named {
			ct, changeCT = ps.format(), true
		}
	}
	return del, ct, changeCT
}

// Names returns every file name a mail client could take from the part, in
// MIME-tools' undecoded form (as MIMEAttr returns them; decode with
// DecodeMIMEWords): first the Content-Disposition filename and the
// Content-Type name that MIME-tools reads, then, each once, every other
// name or filename parameter of any Content-Type or Content-Disposition
// field of the part, from repeated fields, repeated parameters (MIME-tools
// keeps the last, other readers the first), fields MIME-tools skips as
// malformed ("Content-Type : ...") and header-like lines that the part's
// reading puts in its body. MIMEDefang's re_match family matches all of
// them, so a name hidden by a broken header is still matched. The list is
// read once and kept (header edits reset it), so Names, like any edit, must
// not run concurrently on the same Part.
func (p *Part) Names() []string {
	if p.namesOK {
		return p.names
	}
	p.names, p.namesOK = p.readNames(), true
	return p.names
}

func (p *Part) readNames() []string {
	var out []string
	add := func(v string) {
		for _, o := range out {
			if o == v {
				return
			}
		}
		out = append(out, v)
	}
	for _, src := range [...][2]string{{"content-disposition", "filename"}, {"content-type", "name"}} {
		if v, ok := paramMIMETools(p.firstValue(src[0]), src[1]); ok {
			add(v)
		}
	}
	collect := func(fs []field) {
		var lines [][]byte
		for _, f := range fs {
			// Readers that end a line at a bare CR find fields
			// inside another field's value.
			lines = append(lines, splitBareCR(f.raw)...)
		}
		for _, raw := range lines {
			name, value, ok := looseField(raw)
			if !ok || !strings.EqualFold(name, "content-type") && !strings.EqualFold(name, "content-disposition") {
				continue
			}
			ps := parseParams(value)
			for _, param := range [...]string{"filename", "name"} {
				for _, v := range ps.lost[param] {
					add(v)
				}
				if v, ok := ps.vals[param]; ok && !ps.undef[param] {
					add(v)
				}
			}
			for _, v := range lenientParams(value) {
				add(v)
			}
			if i := strings.IndexAny(value, "\r\n"); i >= 0 {
				// Some readers stop a value at the end of its line.
				for _, v := range lenientParams(value[:i]) {
					add(v)
				}
			}
		}
	}
	collect(p.fields)
	if len(p.hidden) > 0 {
		collect(splitFields(p.hidden))
	}
	return out
}

// FileNames returns Names decoded the way FileName decodes a name (RFC
// 2231 and RFC 2047 to UTF-8): every file name a mail client could take
// from the part, as text.
func (p *Part) FileNames() []string {
	var out []string
	for _, v := range p.Names() {
		// An encoded word in a charset Go does not know decodes to
		// nothing; its bytes, and the raw text, are names too.
		for _, n := range [...]string{decodeWordsUTF8(v), DecodeMIMEWords(v), v} {
			if n = strings.ToValidUTF8(n, "\uFFFD"); !slices.Contains(out, n) {
				out = append(out, n)
			}
			if !strings.Contains(v, "=?") {
				break
			}
		}
	}
	return out
}

// lenientParams returns the name and filename values of a field value as
// the most lenient readers take them (Names also tries the value's first
// line alone): the value unfolded, cut at each
// semicolon outside quotes, everything after "name=" or "filename=" up to
// the next one (a bad token, a fold, a missing closing quote included),
// blanks and one pair of quotes around it removed. Only values that differ
// from MIME-tools' reading matter; Names drops the others as repeats.
func lenientParams(value string) []string {
	if strings.ContainsAny(value, "\r\n") {
		b := make([]byte, 0, len(value))
		for i := 0; i < len(value); i++ {
			if value[i] != '\r' && value[i] != '\n' {
				b = append(b, value[i])
			}
		}
		value = string(b)
	}
	var out []string
	// RFC 2231 continuations (name*0, name*1*, ...), whichever pieces
	// are there, joined in order.
	type chunk struct {
		n int
		v string
	}
	var pieces map[string][]chunk
	inQuote := false
	start := 0
	for i := 0; i <= len(value); i++ {
		if i < len(value) {
			switch value[i] {
			case '"':
				inQuote = !inQuote
				continue
			case '\\':
				i++
				continue
			case ';':
				if inQuote {
					continue
				}
			default:
				continue
			}
		}
		piece := strings.TrimSpace(value[start:min(i, len(value))])
		start = i + 1
		name, v, ok := strings.Cut(piece, "=")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		star := strings.HasSuffix(name, "*")
		name = strings.TrimSuffix(name, "*")
		num := -1
		if base, n, ok := strings.Cut(name, "*"); ok {
			k, err := strconv.Atoi(n)
			if err != nil || k < 0 || k > 999 {
				continue
			}
			name, num = base, k
		}
		if name != "name" && name != "filename" {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		} else {
			v = strings.TrimPrefix(v, `"`)
		}
		if star {
			// RFC 2231: charset'language'percent-encoded value
			// (only the first piece has the charset).
			if _, _, rest, ok := rfc2231Split(v); ok && num <= 0 {
				v = rest
			}
			v = percentDecode(v)
		}
		if num >= 0 {
			if pieces == nil {
				pieces = map[string][]chunk{}
			}
			pieces[name] = append(pieces[name], chunk{num, v})
			continue
		}
		if strings.TrimSpace(v) != "" {
			out = append(out, v)
		}
	}
	for _, name := range [...]string{"filename", "name"} {
		ps := pieces[name]
		sort.SliceStable(ps, func(a, b int) bool { return ps[a].n < ps[b].n })
		var b strings.Builder
		for _, p := range ps {
			b.WriteString(p.v)
		}
		if v := b.String(); strings.TrimSpace(v) != "" {
			out = append(out, v)
		}
	}
	return out
}

// splitBareCR cuts a field at every CR that does not end a line: what a
// reader that takes a lone CR for a line end sees as separate lines.
func splitBareCR(raw []byte) [][]byte {
	var out [][]byte
	for {
		i := bareCR(raw)
		if i < 0 {
			return append(out, raw)
		}
		out = append(out, raw[:i])
		raw = raw[i+1:]
	}
}

// bareCR is the index of the first CR in b not followed by CR* LF, or -1.
func bareCR(b []byte) int {
	for i := 0; i < len(b); i++ {
		if b[i] != '\r' {
			continue
		}
		j := i
		for j < len(b) && b[j] == '\r' {
			j++
		}
		if j < len(b) && b[j] != '\n' {
			return i
		}
		i = j
	}
	return -1
}

// looseField reads a header line the way the most lenient mail clients do:
// a name of printable characters, blanks allowed before the colon.
func looseField(raw []byte) (name, value string, ok bool) {
	i := bytes.IndexByte(raw, ':')
	if i <= 0 {
		return "", "", false
	}
	n := bytes.TrimRight(raw[:i], " \t")
	if len(n) == 0 {
		return "", "", false
	}
	for _, c := range n {
		if c <= 0x20 || c >= 0x7f {
			return "", "", false
		}
	}
	return string(n), string(bytes.TrimLeft(raw[i+1:], " \t\r\n")), true
}

// writeNormalized writes the header of a repaired part the way the filter
// read it: its fields without the lines that are not fields, the first of
// each singleFields only, every parameter once (the value MIME-tools
// read), each field ending in a line end, then a blank line.
func writeNormalized(w *bufio.Writer, p *Part) {
	for _, f := range normalizedFields(p.fields) {
		w.Write(f.raw)
	}
	w.WriteByte('\n')
}

// normalizedFields are the fields of a repaired header as writeNormalized
// writes them, each ending in a line end.
func normalizedFields(fs []field) []field {
	var out []field
	var seen [len(singleFields)]bool
	for _, f := range fs {
		if f.junk {
			continue
		}
		dup := false
		for k, name := range singleFields {
			if strings.EqualFold(f.name, name) {
				dup = seen[k]
				seen[k] = true
			}
		}
		if dup {
			continue
		}
		raw := f.raw
		if strings.EqualFold(f.name, "content-type") || strings.EqualFold(f.name, "content-disposition") {
			if ps := parseParams(f.value()); ps.repeated {
				raw = []byte(f.name + ": " + ps.format() + "\n")
			}
		}
		if i := bareCR(raw); i >= 0 {
			// Readers that end a line at a lone CR see other fields
			// behind it, the others a longer value: keep the part
			// both read alike, up to the CR.
			raw = raw[:i]
		}
		if len(raw) == 0 || raw[len(raw)-1] != '\n' {
			raw = append(raw[:len(raw):len(raw)], '\n')
		}
		out = append(out, field{name: f.name, raw: raw})
	}
	return out
}

// format writes a parsed field back: its first token and each parameter
// once with the value MIME-tools read, quoted, or in RFC 2231 form for a
// value that had a charset.
func (ps paramSet) format() string {
	var b strings.Builder
	b.WriteString(ps.vals["_"])
	for _, name := range ps.order {
		if name == "_" || ps.undef[name] {
			continue
		}
		b.WriteString("; ")
		if x, ok := ps.ext[name]; ok {
			b.WriteString(name + "*=" + x[0] + "'" + x[1] + "'" + percentEncode(x[2]))
			continue
		}
		b.WriteString(name + `="`)
		for _, c := range []byte(ps.vals[name]) {
			if c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		}
		b.WriteByte('"')
	}
	return b.String()
}

// percentEncode is RFC 2231's encoding of a value: everything but
// attribute characters as %XX.
func percentEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > 0x20 && c < 0x7f && !strings.ContainsRune("*'%()<>@,;:\\\"/[]?=", rune(c)) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
