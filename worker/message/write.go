package message

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// HeaderField is one header field as a name and an unfolded value.
type HeaderField struct {
	Name  string
	Value string
}

// Rewrite is what the milter must be told after WriteBody (docs/reference/filter-api.md §2.3 step 14).
type Rewrite struct {
	// ContentType is the value for the RESULTS "M" line: the rebuilt top
	// entity's Content-Type as written in its header (line breaks of a
	// folded value kept, the final one removed), or, when the entity has
	// none, its type with `; boundary="…"` for a multipart.
	ContentType string
	// Headers are the other Content-* fields of the rebuilt top entity,
	// in header order, values as for ContentType, fields with an empty
	// value left out; each becomes "I<name> 1 <value>" (change header).
	// Content-Transfer-Encoding is left out when BecameMultipart.
	Headers []HeaderField
	// BecameMultipart is true when the rebuilt top entity is multipart/*
	// but the message was not: the milter must delete
	// Content-Transfer-Encoding ("J Content-Transfer-Encoding 1").
	BecameMultipart bool
}

// WriteBody writes NEWBODY, the body of the rebuilt entity top without its
// own header, and returns what the milter must change in the top-level
// header. Callers pass the tree after AddParts and Collapse.
//
// The output is spliced: a part that is not Modified is copied byte for byte
// from the parsed message (header, blank line and body); a container whose
// children changed keeps its header, boundary, preamble and epilogue and
// gets fresh delimiter lines around its spliced children; only edited and
// new parts are encoded. An unmodified top entity that Parse produced writes
// exactly Message.RawBody. The wrapper that make_multipart adds to a single
// part message is written as a multipart body with its generated boundary;
// Collapse removes it again when it still has one child. As MIME::Entity
// prints them, a container made here (that wrapper, NewMultipart, the split
// of a uuencoded text part) starts with MIME-tools' preamble, and a closing
// delimiter line always ends with a line end.
//
// Output goes to w through a small buffer; untouched bodies are not copied
// in memory.
func (m *Message) WriteBody(w io.Writer, top *Part) (Rewrite, error) {
	bw := bufio.NewWriterSize(w, 32<<10)
	if err := writeBody(bw, top); err != nil {
		return Rewrite{}, err
	}
	if err := bw.Flush(); err != nil {
		return Rewrite{}, err
	}
	return m.rewrite(top), nil
}

func (m *Message) rewrite(top *Part) Rewrite {
	var r Rewrite
	r.BecameMultipart = isMultipartType(top.typ) && top.kind == multipart && !m.wasMultipart
	fields := top.fields
	if top.repair != repairNone {
		// Written as the filter read it, like any repaired part.
		fields = normalizedFields(fields)
	}
	if top.uu && !top.Modified() {
		// Written as the original text part: report its header.
		fields = top.origFields
		r.BecameMultipart = false
	}
	hdr := &Part{fields: fields}
	ct, ok := hdr.rawHeader("content-type")
	if ok {
		r.ContentType = chomp(ct)
	} else {
		r.ContentType = top.typ
		if top.kind == multipart {
			r.ContentType += `; boundary="` + top.boundary + `"`
		}
	}
	for _, f := range fields {
		if f.junk || len(f.name) < 8 || !strings.EqualFold(f.name[:8], "content-") || strings.EqualFold(f.name, "content-type") {
			continue
		}
		if r.BecameMultipart && strings.EqualFold(f.name, "content-transfer-encoding") {
			continue
		}
		if v := chomp(f.value()); v != "" {
			r.Headers = append(r.Headers, HeaderField{Name: f.name, Value: v})
		}
	}
	return r
}

// chomp is Perl's chomp: one final line end removed.
func chomp(s string) string { return strings.TrimSuffix(s, "\n") }

// writePart writes a whole entity: header, blank line, body.
func writePart(w *bufio.Writer, p *Part) error {
	if p.digestGap && !p.Modified() {
		_, err := w.WriteString("Content-Type: text/plain\n\n")
		return err
	}
	if !p.Modified() && p.segment != nil {
		_, err := w.Write(p.segment)
		return err
	}
	if p.repair != repairNone {
		writeNormalized(w, p)
		return writeBody(w, p)
	}
	for _, f := range p.fields {
		if _, err := w.Write(f.raw); err != nil {
			return err
		}
	}
	sep := p.sep
	if !isBlankLine(sep) && (p.Modified() || len(p.body) > 0) {
		// No blank line (header cut by the end of input or by a stray
		// delimiter line, which is not written again): add one.
		sep = []byte("\n")
	}
	if _, err := w.Write(sep); err != nil {
		return err
	}
	return writeBody(w, p)
}

// writeBody writes an entity's body.
func writeBody(w *bufio.Writer, p *Part) error {
	switch {
	case !p.Modified() && p.rawOK:
		_, err := w.Write(p.body)
		return err
	case p.kind == leaf:
		if !p.bodySet && p.rawOK {
			_, err := w.Write(p.body)
			return err
		}
		return encodeBody(w, p.encoding, p.decoded)
	case p.kind == nested:
		for _, c := range p.children {
			if err := writePart(w, c); err != nil {
				return err
			}
		}
		return nil
	}
	return writeMultipartBody(w, p)
}

// Preambles MIME::Entity prints for a container it made: the default one
// of an entity without a preamble of its own (make_multipart, build), and
// the one MIME::Parser gives the container of uuencoded files it extracts
// from a text part; each is followed by a blank line.
const (
	defaultPreamble = "This is a multi-part message in MIME format...\n\n"
	uuPreamble      = "The following is a multipart MIME message which was extracted\nfrom a uu-encoded message.\n\n"
)

// writeMultipartBody writes a changed container: original preamble, first
// delimiter line and closing delimiter with epilogue, fresh delimiter lines
// between the spliced children. A container without a raw layout of its own
// gets the preamble MIME::Entity prints for it. The closing delimiter always
// ends with a line end, as MIME::Entity prints it, also where the original
// had none (an outer delimiter or the end of the input right after it).
func writeMultipartBody(w *bufio.Writer, p *Part) error {
	first := true
	original := p.rawOK && !p.synth
	if original {
		if _, err := w.Write(p.preamble); err != nil {
			return err
		}
		first = len(p.preamble) == 0
	} else {
		pre := defaultPreamble
		if p.uu {
			pre = uuPreamble
		}
		if _, err := w.WriteString(pre); err != nil {
			return err
		}
	}
	for i, c := range p.children {
		if i == 0 && original && len(p.delims) > 0 {
			w.Write(p.delims[0])
		} else {
			if !first {
				w.WriteByte('\n')
			}
			w.WriteString("--")
			w.WriteString(p.boundary)
			w.WriteByte('\n')
		}
		first = false
		if err := writePart(w, c); err != nil {
			return err
		}
	}
	if original && len(p.closing) > 0 {
		closing := p.closing
		if first {
			// No children and no preamble: the closing delimiter's
			// leading line end is not needed.
			closing = bytes.TrimPrefix(closing, []byte("\n"))
		}
		if _, err := w.Write(closing); err != nil {
			return err
		}
		if bytes.IndexByte(bytes.TrimPrefix(closing, []byte("\n")), '\n') < 0 {
			return w.WriteByte('\n')
		}
		return nil
	}
	if !first {
		w.WriteByte('\n')
	}
	w.WriteString("--")
	w.WriteString(p.boundary)
	_, err := w.WriteString("--\n")
	return err
}
