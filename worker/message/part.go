package message

import (
	"bytes"
	"strings"
)

// kind tells how a Part holds its content.
type kind uint8

const (
	leaf      kind = iota // a body (possibly transfer-encoded)
	multipart             // multipart/* with a usable boundary
	nested                // message/rfc822 (and friends) parsed as an attached message
)

// field is one header field exactly as it appeared: name and the full bytes
// of its lines (continuations and line ends included). A line that is not
// a field (no colon, a space before the colon) is kept as a field with
// junk set, so that the fields of a header always concatenate to the raw
// header block.
type field struct {
	name string // as written, without the colon
	raw  []byte
	junk bool
}

// value returns the field's value as MIME::Head's get does: the text after
// the colon with leading white space (line ends included) removed, the
// line ends of a folded value kept.
func (f field) value() string {
	v := f.raw[len(f.name)+1:]
	return string(bytes.TrimLeft(v, " \t\r\n\f\v"))
}

// Part is one MIME entity: a leaf with a body, a multipart container, or an
// attached message/rfc822 parsed as a nested message (a container whose
// only child is the attached message's top entity, as MIME-tools'
// extract_nested_messages builds it).
//
// Parts come from Parse, NewPart, NewMultipart and ShallowCopy. A Part is
// not safe for concurrent modification.
type Part struct {
	msg    *Message // owner of the raw bytes; nil for constructed parts
	fields []field
	sep    []byte // the blank line ending the header; nil for a bogus part without one
	body   []byte // raw body: encoded leaf body, multipart body, or attached message

	typ      string // the header's type (MIME::Head mime_type), lower case
	htype    string // same as typ; kept apart for the helpers that read the head in Perl
	encoding string // effective transfer encoding, lower case (MIME::Head mime_encoding)
	boundary string // multipart boundary
	kind     kind

	// stripCR: the body ended at a delimiter line, so MIME-tools strips the
	// trailing CRs of its last line before decoding.
	stripCR bool

	// Raw multipart layout: body == preamble + Σ(delims[i] + orig[i] raw) + closing.
	preamble []byte
	delims   [][]byte
	closing  []byte
	orig     []*Part // children as parsed
	children []*Part // children now

	segment []byte // the part's full raw bytes (header, blank line, body); nil when not contiguous

	decoded    []byte // body set or loaded for editing
	bodySet    bool   // decoded replaces the raw body on output
	hdrEdited  bool
	fresh      bool    // built by NewPart / NewMultipart: always encoded anew
	synth      bool    // no raw layout of its own: written with fresh delimiters
	rawOK      bool    // body and segment hold the part's original bytes
	uu         bool    // a text part MIME-tools split into uuencoded files
	copyOf     *Part   // the parsed part a ShallowCopy was made from
	origFields []field // the header before the uu split // the multipart/mixed wrapper make_multipart adds: no raw bytes of its own

	size int64 // cached decoded size, -1 when unknown

	// repair says why the part's header had to be repaired to be read
	// (repair.go); such a part is written back in normalized form.
	repair repairKind
	// hidden: the lines of a header not ended by a blank line that the
	// part's reading puts in its body; their names still count (Names).
	hidden []byte
	// clientNested: an attached message of a message/* type MIME-tools
	// reads as a leaf (see clientNested).
	clientNested bool
	// digestGap: the empty text/plain of a doubled boundary line in a
	// multipart/digest, where an empty part written out would default
	// to message/rfc822: written with its type (writePart).
	digestGap bool

	names   []string // Names, once read; reset by header edits
	namesOK bool
}

// Type returns the part's MIME type in lower case as MIMEDefang's $type
// gets it (MIME::Entity mime_type, which is MIME::Head mime_type): the
// Content-Type value's first token (whatever it is, even without a slash),
// "text/plain" when missing or empty, "message/rfc822" for a child of
// multipart/digest without Content-Type. A multipart whose boundary
// parameter is missing keeps its multipart/* type but is a leaf (IsMultipart
// false) holding the whole body, as MIME-tools reads it
// (effective type application/x-unparseable-multipart); a leaf whose
// Content-Transfer-Encoding MIME-tools does not know keeps its type too and
// its body is passed through undecoded.
func (p *Part) Type() string { return p.typ }

// Header returns the value of the first header field called name
// (case-insensitive), unfolded: line breaks are deleted (the continuation's
// leading blank stays, as in MIMEDefang's HEADERS file), leading and
// trailing blanks trimmed. It returns "" when there is no such field.
// Encoded words are not decoded.
func (p *Part) Header(name string) string {
	for _, f := range p.fields {
		if !f.junk && strings.EqualFold(f.name, name) {
			return unfold(f.value())
		}
	}
	return ""
}

// HeaderAll returns the unfolded values of every field called name, in order.
func (p *Part) HeaderAll(name string) []string {
	var vs []string
	for _, f := range p.fields {
		if !f.junk && strings.EqualFold(f.name, name) {
			vs = append(vs, unfold(f.value()))
		}
	}
	return vs
}

// rawHeader returns the first field's value the way MIME::Head get returns
// it (line breaks kept), and whether the field exists.
func (p *Part) rawHeader(name string) (string, bool) {
	for _, f := range p.fields {
		if !f.junk && strings.EqualFold(f.name, name) {
			return f.value(), true
		}
	}
	return "", false
}

// HeaderFields returns every header field of the part as name/value pairs
// in order, values unfolded as by Header. Lines that are not header fields
// are left out.
func (p *Part) HeaderFields() []HeaderField {
	var hs []HeaderField
	for _, f := range p.fields {
		if !f.junk {
			hs = append(hs, HeaderField{Name: f.name, Value: unfold(f.value())})
		}
	}
	return hs
}

// RawHeader returns the part's header block exactly as it will be written
// (for a parsed, unedited part: the bytes of INPUTMSG), without the blank
// line that ends it. MIMEDefang's action_quarantine writes this block to
// PART.<n>.HEADERS.
func (p *Part) RawHeader() []byte {
	var b bytes.Buffer
	for _, f := range p.fields {
		b.Write(f.raw)
	}
	return b.Bytes()
}

// Param returns a Content-Type parameter (name is case-insensitive) as
// MIME::Head's mime_attr("content-type.<name>") returns it: quotes and
// backslash escapes removed, RFC 2231 continuations joined and
// percent-decoded; a value that names a charset (RFC 2231 `*=`) is
// converted to UTF-8. It returns "" when absent.
func (p *Part) Param(name string) string {
	v, _ := paramDecoded(p.firstValue("content-type"), name)
	return v
}

// MIMEAttr is MIME-tools' $head->mime_attr("<field>.<param>"): the raw
// parameter value as MIME-tools parses it (an RFC 2231 value becomes an
// encoded word, "=?charset?Q?...?="), and whether it is defined. Decode it
// with DecodeMIMEWords to get what MIMEDefang's re_match compares.
func (p *Part) MIMEAttr(field, param string) (string, bool) {
	return paramMIMETools(p.firstValue(strings.ToLower(field)), param)
}

// DispositionParam is Param for the Content-Disposition header.
func (p *Part) DispositionParam(name string) string {
	v, _ := paramDecoded(p.firstValue("content-disposition"), name)
	return v
}

// FileName returns MIMEDefang's takeStabAtFilename: the Content-Disposition
// filename parameter, else the Content-Type name parameter (the first that is
// present and not blank), RFC 2231 and RFC 2047 decoded to UTF-8 as
// MIME::WordDecoder's UTF-8 decoder does (raw 8-bit bytes become the text
// \xHH; an encoded word in a charset Go does not know is dropped), or "".
func (p *Part) FileName() string {
	for _, src := range [...][2]string{{"content-disposition", "filename"}, {"content-type", "name"}} {
		v, ok := paramMIMETools(p.firstValue(src[0]), src[1])
		if ok && strings.ContainsFunc(v, notPerlSpace) {
			return decodeWordsUTF8(v)
		}
	}
	return ""
}

// Disposition returns the Content-Disposition value's first token in lower
// case ("inline", "attachment" ...), or "" when there is none.
func (p *Part) Disposition() string {
	v, _ := paramMIMETools(p.firstValue("content-disposition"), "_")
	return strings.ToLower(v)
}

// Charset returns the Content-Type charset parameter in lower case, or "".
// Bodies are never converted from it: like MIME-tools, Body decodes only the
// transfer encoding.
func (p *Part) Charset() string { return strings.ToLower(p.Param("charset")) }

// Encoding returns the effective Content-Transfer-Encoding in lower case
// ("7bit" when absent, "8 bit" and "8-bit" normalised to "8bit", "binary"
// for encodings MIME-tools cannot decode).
func (p *Part) Encoding() string { return p.encoding }

// IsMultipart reports whether the part is a container: a multipart/* with
// a boundary, or an attached message/rfc822 parsed as a nested message.
// It is MIMEDefang's "no bodyhandle" test that decides between calling
// filter_multipart and filter.
func (p *Part) IsMultipart() bool { return p.kind != leaf }

// Parts returns the part's children (nil for a leaf). For an attached
// message it is the one top entity of that message. The slice is the
// part's own: use SetParts to change it.
func (p *Part) Parts() []*Part { return p.children }

// Boundary returns the multipart boundary, or "" for a leaf or attached message.
func (p *Part) Boundary() string {
	if p.kind != multipart {
		return ""
	}
	return p.boundary
}

// firstValue is the first field's value as get(tag, 0) returns it, or "".
func (p *Part) firstValue(name string) string {
	v, _ := p.rawHeader(name)
	return v
}

func unfold(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		s = strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, s)
	}
	return strings.Trim(s, " \t")
}

// notPerlSpace is the negation of Perl's \s for the /\S/ test.
func notPerlSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\f', '\v':
		return false
	}
	return true
}
