package message

import (
	"bytes"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// AppendText appends text to the part's decoded body, as MIMEDefang's
// append_to_part does to the body file (which appends "\n"+text+"\n": pass
// the newlines you want). The part is re-encoded on output with its
// original transfer encoding. It returns false, changing nothing, for a
// container or when the body cannot be decoded.
func (p *Part) AppendText(text string) bool {
	if p.kind != leaf || p.loadForEdit() != nil {
		return false
	}
	p.decoded = append(p.decoded, text...)
	p.size = -1
	return true
}

// AppendHTML inserts html into the part's decoded body the way MIMEDefang's
// append_to_html_part does with HTML::Parser: html+"\n" just before the
// first end tag whose text matches <\s*/body or <\s*/html (case-insensitive,
// a prefix match: "</bodyx>" counts; whichever of the two comes first),
// else "\n"+html+"\n" at the end. Only real end tags count, as HTML::Parser
// reports them: not "</ body>" or "< /body>", nor anything inside comments,
// quoted attribute values, script or style. It returns false for a
// container or an undecodable body.
func (p *Part) AppendHTML(html string) bool {
	if p.kind != leaf || p.loadForEdit() != nil {
		return false
	}
	p.decoded = insertHTML(p.decoded, html)
	p.size = -1
	return true
}

// SetBody replaces the part's decoded body; on output it is encoded with the
// part's transfer encoding. It is action_external_filter's rename of
// FILTEROUTPUT over the body file. A container is turned into nothing else:
// SetBody on a container does nothing and returns false.
func (p *Part) SetBody(decoded []byte) bool {
	if p.kind != leaf {
		return false
	}
	p.decoded = decoded
	p.bodySet = true
	p.size = -1
	return true
}

// SetHeader replaces the first field called name (case-insensitive) with
// "name: value" and deletes the other fields of that name; it appends the
// field when there is none. value must already be folded and encoded as it
// should appear (no trailing line end). It is what action_defang does to
// Content-Type, Content-Disposition and Content-Description.
//
// Setting Content-Type re-derives Type (a leaf stays a leaf, a container
// keeps its boundary: when value has no boundary parameter the old one is
// added). Setting Content-Transfer-Encoding on a leaf decodes the body with
// the old encoding first, so that the output is the same content in the
// new encoding.
func (p *Part) SetHeader(name, value string) {
	lname := strings.ToLower(name)
	if lname == "content-transfer-encoding" && p.kind == leaf && !p.bodySet {
		if p.loadForEdit() != nil {
			p.decoded, p.bodySet = nil, true
		}
	}
	if lname == "content-type" && p.kind == multipart {
		if _, ok := paramMIMETools(value, "boundary"); !ok {
			value += `; boundary="` + p.boundary + `"`
		}
	}
	line := []byte(name + ": " + value + "\n")
	out := make([]field, 0, len(p.fields)+1)
	done := false
	for _, f := range p.fields {
		if !f.junk && strings.EqualFold(f.name, name) {
			if !done {
				out = append(out, field{name: name, raw: line})
				done = true
			}
			continue
		}
		out = append(out, f)
	}
	if !done {
		out = append(out, field{name: name, raw: line})
	}
	p.fields = out
	p.hdrEdited = true
	p.segment = nil
	p.namesOK = false
	switch lname {
	case "content-type":
		t := effectiveType(value, "text/plain")
		if p.kind == multipart {
			if b, ok := paramMIMETools(value, "boundary"); ok && b != "" && !strings.ContainsAny(b, "\r\n") {
				p.boundary = b
			}
			p.typ = t
		} else if p.kind == leaf {
			p.typ = t
		}
		p.htype = p.typ
	case "content-transfer-encoding":
		if p.kind == leaf {
			p.encoding = normEncoding(value)
		}
	}
}

// DeleteHeader deletes every field called name (case-insensitive).
func (p *Part) DeleteHeader(name string) {
	out := p.fields[:0:0]
	for _, f := range p.fields {
		if !f.junk && strings.EqualFold(f.name, name) {
			p.hdrEdited = true
			continue
		}
		out = append(out, f)
	}
	if p.hdrEdited {
		p.segment = nil
		p.namesOK = false
	}
	p.fields = out
}

// ShallowCopy returns a new Part with the same header and no children, as
// MIMEDefang's rebuild_entity does with `$in->dup; parts([])` for the
// rebuilt tree; give it children with SetParts. If it ends up with exactly
// the children it was parsed with, none of them modified, it is written as
// the original bytes. Leaves need no copy: the rebuilt tree shares them with
// the parsed one, as in Perl (ShallowCopy of a leaf returns a copy sharing
// the body).
func (p *Part) ShallowCopy() *Part {
	c := *p
	c.fields = append([]field(nil), p.fields...)
	c.children = nil
	c.copyOf = p
	if p.copyOf != nil {
		c.copyOf = p.copyOf
	}
	return &c
}

// SetParts replaces the container's children. It does nothing on a leaf.
func (p *Part) SetParts(parts []*Part) {
	if p.kind == leaf {
		return
	}
	p.children = append([]*Part(nil), parts...)
}

// Modified reports whether writing the part would produce anything but its
// original bytes: its header or body was edited, it was built by NewPart or
// NewMultipart, its header needed a repair (Repaired), its children differ
// from the parsed ones (a ShallowCopy of a parsed child counts as that
// child), or a descendant is modified.
func (p *Part) Modified() bool {
	if p.fresh || p.bodySet || p.hdrEdited || p.repair != repairNone {
		return true
	}
	if p.kind == leaf {
		return false
	}
	if len(p.children) != len(p.orig) {
		return true
	}
	for i, c := range p.children {
		if c != p.orig[i] && c.copyOf != p.orig[i] || c.Modified() {
			return true
		}
	}
	return false
}

// loadForEdit makes p.decoded hold the decoded body, ready to be edited.
func (p *Part) loadForEdit() error {
	if p.bodySet {
		return nil
	}
	var b bytes.Buffer
	if _, err := p.DecodeTo(&b); err != nil {
		return err
	}
	p.decoded = b.Bytes()
	p.bodySet = true
	return nil
}

// NewPart builds a new leaf, MIMEDefang's action_add_part: Content-Type typ
// (typ may carry parameters such as charset) with name=fname, and when
// disposition is not empty Content-Disposition disposition with
// filename=fname; fname "" leaves the name and filename parameters out.
// encoding is the Content-Transfer-Encoding to write the data with;
// "-suggest" chooses as MIME-tools' suggest_encoding does: for text/* and
// message/*, "7bit" when no line is longer than 999 bytes and no byte is
// 8-bit, else "quoted-printable" (text) or "binary" (message); "base64" for
// everything else. Unknown encodings are written as binary. Unlike Perl,
// Go cannot tell a character string from bytes: put "; charset=utf-8" in typ
// when data is UTF-8 text.
func NewPart(typ, encoding string, data []byte, fname, disposition string) *Part {
	if encoding == "-suggest" || encoding == "" {
		encoding = suggestEncoding(typ, data)
	}
	encoding = strings.ToLower(encoding)
	ct := typ
	if fname != "" {
		ct += "; name=" + quoteParam(fname)
	}
	p := &Part{fresh: true, bodySet: true, decoded: data, kind: leaf, size: -1, sep: []byte("\n")}
	p.fields = append(p.fields, field{name: "Content-Type", raw: []byte("Content-Type: " + ct + "\n")})
	if disposition != "" {
		cd := disposition
		if fname != "" {
			cd += "; filename=" + quoteParam(fname)
		}
		p.fields = append(p.fields, field{name: "Content-Disposition", raw: []byte("Content-Disposition: " + cd + "\n")})
	}
	p.fields = append(p.fields, field{name: "Content-Transfer-Encoding", raw: []byte("Content-Transfer-Encoding: " + encoding + "\n")})
	p.typ = effectiveType(ct, "text/plain")
	p.htype = p.typ
	p.encoding = normEncoding(encoding)
	return p
}

// NewMultipart builds a new container of type typ (e.g. "multipart/mixed")
// with the given children, as MIME::Entity->build(Type => typ) does (the
// call process_added_parts makes): a fresh boundary in MIME-tools' style and
// the header "Content-Type: typ; boundary=...", "Content-Transfer-Encoding:
// binary", "MIME-Version: 1.0". As the top of a rebuilt message that was
// already multipart, the Content-Transfer-Encoding field therefore reaches
// the milter as a change, as in MIMEDefang.
func NewMultipart(typ string, parts ...*Part) *Part {
	b := makeBoundary()
	p := &Part{fresh: true, kind: multipart, boundary: b, size: -1, sep: []byte("\n")}
	p.fields = []field{
		{name: "Content-Type", raw: []byte("Content-Type: " + typ + `; boundary="` + b + "\"\n")},
		{name: "Content-Transfer-Encoding", raw: []byte("Content-Transfer-Encoding: binary\n")},
		{name: "MIME-Version", raw: []byte("MIME-Version: 1.0\n")},
	}
	p.typ = effectiveType(typ, "text/plain")
	p.htype = p.typ
	p.encoding = "binary"
	p.children = append([]*Part(nil), parts...)
	return p
}

var boundaryCount atomic.Int64

// makeBoundary returns a boundary like MIME::Entity's make_boundary:
// "----------=_<time>-<pid>-<counter>".
func makeBoundary() string {
	n := boundaryCount.Add(1) - 1
	return "----------=_" + strconv.FormatInt(time.Now().Unix(), 10) + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(n, 10)
}

func suggestEncoding(typ string, data []byte) string {
	major, _, _ := strings.Cut(effectiveType(typ, "text/plain"), "/")
	if major != "text" && major != "message" {
		if major == "multipart" {
			return "binary"
		}
		return "base64"
	}
	unclean := false
	for line := range bytes.Lines(data) {
		if len(line) > 999 || has8bit(line) {
			unclean = true
			break
		}
	}
	switch {
	case !unclean:
		return "7bit"
	case major == "message":
		return "binary"
	}
	return "quoted-printable"
}

// quoteParam quotes a parameter value as MIME::Field::ParamVal's stringify
// does: always in double quotes, with " and \ backslash-escaped.
func quoteParam(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(v) + `"`
}

func has8bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// EnsureContentType is the first step of MIMEDefang's rebuild_entity for
// each part: when the part has no Content-Type or its type token is empty,
// the field is (re)written with Type() (parameters of an existing field are
// kept, quoted as MIME::Field::ParamVal writes them). It reports whether it
// changed the header; a changed header makes the part Modified.
func (p *Part) EnsureContentType() bool {
	raw, ok := p.rawHeader("content-type")
	if ok {
		if v, _ := paramMIMETools(raw, "_"); v != "" && v != "0" {
			return false
		}
	}
	value := p.typ
	if ok {
		ps := parseParams(raw)
		keys := make([]string, 0, len(ps.vals))
		for k := range ps.vals {
			if k != "_" && !ps.undef[k] && isLowerParamName(k) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			value += "; " + k + "=" + quoteParam(ps.vals[k])
		}
	}
	kind := p.kind
	p.SetHeader("Content-Type", value)
	p.kind = kind
	return true
}

// isLowerParamName matches ^[a-z][a-z-_0-9]*$.
func isLowerParamName(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c >= 'a' && c <= 'z' || i > 0 && (c == '-' || c == '_' || c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return k != ""
}
