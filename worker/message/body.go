package message

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"strings"
)

// Body returns the decoded body of a leaf: the transfer encoding undone as
// MIME-tools' decoders undo it (lenient base64 that skips foreign
// characters, lenient quoted-printable, 7bit/8bit with MIME::Decoder::NBit's
// line-end quirk), the charset left alone. After an edit it is the edited
// body. A container has no body: Body returns nil, nil. Each call decodes
// anew (nothing is cached); use DecodeTo to stream a large body.
func (p *Part) Body() ([]byte, error) {
	if p.kind != leaf {
		return nil, nil
	}
	if p.bodySet || !p.rawOK {
		return p.decoded, nil
	}
	var b bytes.Buffer
	b.Grow(len(p.body))
	_, err := p.DecodeTo(&b)
	return b.Bytes(), err
}

// DecodeTo writes the decoded body of a leaf to w, as Body returns it, with
// memory bounded by a small buffer. It is how the worker fills Work/ for
// virus scanners. It returns the number of bytes written.
func (p *Part) DecodeTo(w io.Writer) (int64, error) {
	if p.kind != leaf {
		return 0, nil
	}
	if p.bodySet || !p.rawOK {
		n, err := w.Write(p.decoded)
		return int64(n), err
	}
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 32<<10)
	raw := p.body
	if p.stripCR {
		// The last line loses its line end: our body already stops
		// before the LF, only CRs are left to strip (never past a LF).
		raw = bytes.TrimRight(raw, "\r")
	}
	var err error
	switch p.encoding {
	case "base64":
		err = decodeBase64(bw, raw)
	case "quoted-printable":
		err = decodeQP(bw, raw)
	case "7bit", "8bit":
		err = decodeNBit(bw, raw)
	default:
		_, err = bw.Write(raw)
	}
	if err == nil {
		err = bw.Flush()
	}
	p.size = cw.n
	return cw.n, err
}

// BodySize returns the length of the decoded body (0 for a container),
// decoding once without keeping the result and caching the answer.
func (p *Part) BodySize() int64 {
	if p.kind != leaf {
		return 0
	}
	if p.bodySet || !p.rawOK {
		return int64(len(p.decoded))
	}
	if p.size < 0 {
		p.DecodeTo(io.Discard)
	}
	return p.size
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// decodeBase64 is MIME::Decoder::Base64: every character outside
// [A-Za-z0-9+/] (padding included) is dropped, the rest decoded in groups of
// four; a final group of two or three characters gives one or two bytes.
func decodeBase64(w *bufio.Writer, raw []byte) error {
	var quad [4]byte
	n := 0
	var out [3]byte
	for _, c := range raw {
		v := b64val(c)
		if v < 0 || v == 64 {
			continue
		}
		quad[n] = byte(v)
		n++
		if n == 4 {
			out[0] = quad[0]<<2 | quad[1]>>4
			out[1] = quad[1]<<4 | quad[2]>>2
			out[2] = quad[2]<<6 | quad[3]
			if _, err := w.Write(out[:]); err != nil {
				return err
			}
			n = 0
		}
	}
	switch n {
	case 2:
		return w.WriteByte(quad[0]<<2 | quad[1]>>4)
	case 3:
		w.WriteByte(quad[0]<<2 | quad[1]>>4)
		return w.WriteByte(quad[1]<<4 | quad[2]>>2)
	}
	return nil
}

// decodeQP is MIME::Decoder::QuotedPrint: MIME::QuotedPrint's decode_qp line
// by line (blanks before a line end dropped, "=" plus optional blanks before a
// line end is a soft break, =XX in either case decoded, any other "=" kept,
// CRLF made LF), with its repair for Outlook's broken quoted-printable PDFs.
func decodeQP(w *bufio.Writer, raw []byte) error {
	first := true
	badPDF := false
	for line := range bytes.Lines(raw) {
		if first {
			first = false
			if isBadPDF(line) {
				badPDF = true
			}
		}
		if badPDF {
			if _, err := w.Write(fixBadPDFLine(line)); err != nil {
				return err
			}
			continue
		}
		if err := decodeQPLine(w, line); err != nil {
			return err
		}
	}
	return nil
}

func decodeQPLine(w *bufio.Writer, s []byte) error {
	end := len(s)
	for i := 0; i < end; {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			j := i
			for j < end && (s[j] == ' ' || s[j] == '\t') {
				j++
			}
			if j < end && s[j] == '\n' || j+1 < end && s[j] == '\r' && s[j+1] == '\n' {
				i = j
				continue
			}
			w.Write(s[i:j])
			i = j
		case c == '=':
			if i+2 < end && isHex(s[i+1]) && isHex(s[i+2]) {
				w.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
				i += 3
				continue
			}
			j := i + 1
			for j < end && (s[j] == ' ' || s[j] == '\t') {
				j++
			}
			if j < end && s[j] == '\n' {
				i = j + 1
				continue
			}
			if j+1 < end && s[j] == '\r' && s[j+1] == '\n' {
				i = j + 2
				continue
			}
			w.WriteByte('=')
			i++
		case c == '\r' && i+1 < end && s[i+1] == '\n':
			i++
		default:
			w.WriteByte(c)
			i++
		}
	}
	return nil
}

// isBadPDF: /^%PDF-[0-9\.]+=0D/ && !/=0D\n$/.
func isBadPDF(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("%PDF-")) {
		return false
	}
	j := 5
	for j < len(line) && (line[j] >= '0' && line[j] <= '9' || line[j] == '.') {
		j++
	}
	if j == 5 || !bytes.HasPrefix(line[j:], []byte("=0D")) {
		return false
	}
	return !bytes.HasSuffix(line, []byte("=0D\n")) && !bytes.HasSuffix(line, []byte("=0D"))
}

// fixBadPDFLine is the repair MIME::Decoder::QuotedPrint applies to a broken
// quoted-printable PDF line.
func fixBadPDFLine(line []byte) []byte {
	s := string(line)
	// s/[ \t]+?(\r?\n)/$1/g
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' || s[i] == '\t' {
			j := i
			for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
				j++
			}
			if strings.HasPrefix(s[j:], "\n") || strings.HasPrefix(s[j:], "\r\n") {
				// The lazy match drops only the last blank before the line end.
				b.WriteString(s[i : j-1])
				i = j - 1
				continue
			}
		}
		b.WriteByte(s[i])
	}
	s = b.String()
	s = strings.ReplaceAll(s, "=\r\n", "")
	s = strings.ReplaceAll(s, "=\n", "")
	if strings.HasSuffix(s, "\n") && !strings.HasSuffix(s, "\r\n") {
		s = s[:len(s)-1] + "\r\n"
	}
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '=' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return out
}

// decodeNBit is MIME::Decoder::NBit: the body is read in chunks of 8 KiB
// extended to the end of the next line, and only a CRLF that ends a chunk
// (or stands just before its final LF) becomes LF.
func decodeNBit(w *bufio.Writer, raw []byte) error {
	const chunk = 8 * 1024
	for len(raw) > 0 {
		n := min(chunk, len(raw))
		if n < len(raw) {
			if k := bytes.IndexByte(raw[n:], '\n'); k >= 0 {
				n += k + 1
			} else {
				n = len(raw)
			}
		}
		c := raw[:n]
		raw = raw[n:]
		switch {
		case bytes.HasSuffix(c, []byte("\r\n\n")):
			w.Write(c[:len(c)-3])
			w.WriteString("\n\n")
		case bytes.HasSuffix(c, []byte("\r\n")):
			w.Write(c[:len(c)-2])
			w.WriteByte('\n')
		default:
			if _, err := w.Write(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// encodeBody writes a decoded body in transfer encoding enc: base64 in lines
// of 76 characters, quoted-printable as MIME::QuotedPrint encode_qp, anything
// else as is.
func encodeBody(w *bufio.Writer, enc string, data []byte) error {
	switch enc {
	case "base64":
		var line [76]byte
		for len(data) > 0 {
			n := min(57, len(data))
			base64.StdEncoding.Encode(line[:], data[:n])
			w.Write(line[:base64.StdEncoding.EncodedLen(n)])
			if err := w.WriteByte('\n'); err != nil {
				return err
			}
			data = data[n:]
		}
		return nil
	case "quoted-printable":
		return encodeQP(w, data)
	}
	_, err := w.Write(data)
	return err
}

// encodeQP is MIME::QuotedPrint's encode_qp with "\n" line ends: bytes
// outside printable ASCII and "=" as =XX, blanks before a line end encoded,
// lines broken with soft breaks at 76 characters; a body not ending in a
// line end gets a final soft break.
func encodeQP(w *bufio.Writer, data []byte) error {
	const hexd = "0123456789ABCDEF"
	for len(data) > 0 {
		var line []byte
		nl := false
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data, nl = data[:i], data[i+1:], true
		} else {
			line, data = data, nil
		}
		var enc []byte
		for i, c := range line {
			last := i == len(line)-1
			switch {
			case (c == ' ' || c == '\t') && last:
				enc = append(enc, '=', hexd[c>>4], hexd[c&15])
			case c == '=' || c < 0x20 && c != '\t' || c >= 0x7f:
				enc = append(enc, '=', hexd[c>>4], hexd[c&15])
			default:
				enc = append(enc, c)
			}
		}
		for len(enc) > 76 {
			cut := 75
			// Do not split an =XX escape.
			if enc[cut-1] == '=' {
				cut--
			} else if enc[cut-2] == '=' {
				cut -= 2
			}
			w.Write(enc[:cut])
			w.WriteString("=\n")
			enc = enc[cut:]
		}
		w.Write(enc)
		if nl {
			w.WriteByte('\n')
		} else {
			w.WriteString("=\n")
		}
	}
	return nil
}

// knownEncoding reports whether MIME-tools has a decoder for enc.
func knownEncoding(enc string) bool {
	switch enc {
	case "7bit", "8bit", "binary", "none", "base64", "quoted-printable",
		"binhex", "binhex40", "mac-binhex40", "mac-binhex", "x-uu", "x-uuencode":
		return true
	}
	return false
}

// normEncoding is MIME::Head mime_encoding for a Content-Transfer-Encoding value.
func normEncoding(raw string) string {
	v := firstToken(raw)
	if v == "" || v == "0" {
		v = "7bit"
	}
	v = strings.ToLower(v)
	if len(v) == 5 && (v[0] == '7' || v[0] == '8') && strings.IndexByte(" _-", v[1]) >= 0 && v[2:] == "bit" {
		v = v[:1] + "bit"
	}
	return v
}

// insertHTML is append_to_html_part's edit (see AppendHTML).
func insertHTML(body []byte, html string) []byte {
	at := findEndTag(body)
	var out []byte
	if at < 0 {
		out = make([]byte, 0, len(body)+len(html)+2)
		out = append(out, body...)
		out = append(out, '\n')
		out = append(out, html...)
		return append(out, '\n')
	}
	out = make([]byte, 0, len(body)+len(html)+1)
	out = append(out, body[:at]...)
	out = append(out, html...)
	out = append(out, '\n')
	return append(out, body[at:]...)
}

// findEndTag returns the offset of the first end tag, as HTML::Parser
// tokenizes HTML, whose text matches m+<\s*/body+i or m+<\s*/html+i (so
// "</bodyx>" counts, "</ body>" is not an end tag at all), or -1. Comments,
// declarations, processing instructions, quoted attribute values and the
// content of script and style elements are skipped.
func findEndTag(b []byte) int {
	i := 0
	for i < len(b) {
		k := bytes.IndexByte(b[i:], '<')
		if k < 0 {
			return -1
		}
		i += k
		rest := b[i:]
		switch {
		case bytes.HasPrefix(rest, []byte("<!--")):
			end := bytes.Index(rest[4:], []byte("-->"))
			if end < 0 {
				return -1
			}
			i += 4 + end + 3
		case len(rest) > 2 && rest[1] == '/' && isAlpha(rest[2]):
			name := rest[2:]
			if hasFoldPrefix(name, "body") || hasFoldPrefix(name, "html") {
				return i
			}
			i = skipTag(b, i+2)
		case len(rest) > 1 && isAlpha(rest[1]):
			j := i + 1
			for j < len(b) && (isAlpha(b[j]) || b[j] >= '0' && b[j] <= '9') {
				j++
			}
			name := strings.ToLower(string(b[i+1 : j]))
			i = skipTag(b, j)
			if name == "script" || name == "style" {
				for {
					k := bytes.Index(b[i:], []byte("</"))
					if k < 0 {
						return -1
					}
					i += k
					if hasFoldPrefix(b[i+2:], name) {
						break
					}
					i += 2
				}
			}
		case len(rest) > 1 && (rest[1] == '!' || rest[1] == '?'):
			i = skipTag(b, i+2)
		default:
			i++
		}
	}
	return -1
}

// skipTag returns the offset after the '>' that closes the tag whose
// attributes start at i, honouring quoted values.
func skipTag(b []byte, i int) int {
	var quote byte
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return i + 1
		}
	}
	return len(b)
}

func hasFoldPrefix(b []byte, p string) bool {
	return len(b) >= len(p) && strings.EqualFold(string(b[:len(p)]), p)
}

func lower(s string) string { return strings.ToLower(s) }
