package message

import (
	"bytes"
	"strings"
)

// This file is MIME-tools' extract_uuencode (MIME::Parser
// hunt_for_uuencode with MIME::Decoder::UU), which MIMEDefang turns on: a
// 7bit/8bit/binary text/plain body that contains a "begin NNN name" line
// becomes a multipart/mixed entity holding the text before the first
// uuencoded file (when it is not blank) and one part per uuencoded file.

// uuMailer is the X-Mailer value MIME::Entity->build writes.
const uuMailer = "MIME-tools 5.510 (Entity 5.510)"

// uuCandidate tells whether MIME-tools would hunt p's body for uuencode.
func uuCandidate(p *Part, effective string) bool {
	switch p.encoding {
	case "7bit", "8bit", "binary":
	default:
		return false
	}
	switch effective {
	case "text/plain", "application/mac-binhex40", "application/mac-binhex":
		return true
	}
	return false
}

// huntUU turns the leaf p into a container of extracted parts when its body
// holds uuencoded files. It reports whether it did.
func (ps *parser) huntUU(p *Part) bool {
	body := bytes.TrimRight(p.body, "\r")
	// MIME-tools stops at the first line that is either marker and
	// extracts only uuencode; a BinHex marker first means no uuencode
	// extraction here (BinHex is not decoded, see the package doc).
	found := false
	for line := range bytes.Lines(body) {
		if isUUBegin(line) {
			found = true
			break
		}
		if len(line) >= 32 && strings.EqualFold(string(line[:32]), "(This file must be converted with") {
			return false
		}
	}
	if !found {
		return false
	}
	lines := bytes.SplitAfter(body, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	var parts []*Part
	i := 0
	for {
		// Find the beginning: /^begin(.*)/.
		start := i
		for i < len(lines) && !bytes.HasPrefix(lines[i], []byte("begin")) {
			i++
		}
		if i >= len(lines) {
			break
		}
		preamble := lines[start:i]
		mode, file := uuModeFile(lines[i])
		i++
		var data []byte
		for ; i < len(lines); i++ {
			l := lines[i]
			if bytes.HasPrefix(l, []byte("end")) {
				i++
				break
			}
			if bytes.ContainsFunc(l, func(r rune) bool { return r >= 'a' && r <= 'z' }) {
				continue
			}
			if ((int(l[0])-32)&0o77+2)/3 != len(l)/4 {
				continue
			}
			data = unpackUU(data, l)
		}
		if len(parts) == 0 && hasNonSpace(preamble) {
			t := &Part{msg: ps.m, kind: leaf, typ: "text/plain", htype: "text/plain", encoding: "7bit", sep: []byte("\n"), size: -1}
			t.decoded = bytes.Join(preamble, nil)
			parts = append(parts, t)
		}
		typ := "application/octet-stream"
		ext := ""
		if k := strings.LastIndexByte(file, '.'); k >= 0 && isWordRest(file[k+1:]) {
			ext = strings.ToLower(file[k+1:])
		}
		switch ext {
		case "gif", "jpg", "jpeg", "xbm", "xpm", "png":
			typ = "image/" + ext
		}
		b := &Part{msg: ps.m, kind: leaf, typ: typ, htype: typ, encoding: "base64", sep: []byte("\n"), size: -1, decoded: data}
		ct := typ
		cd := "inline"
		if file != "" {
			ct += "; name=" + quoteParam(file)
			cd += "; filename=" + quoteParam(file)
		}
		ct += `; x-unix-mode="0` + mode + `"`
		// MIME::Entity->build as a top-level entity: its header ends with
		// MIME-Version and MIME-tools' X-Mailer (Debian's MIME-tools 5.510,
		// which mimedefang 3.3 runs on).
		b.fields = []field{
			{name: "Content-Type", raw: []byte("Content-Type: " + ct + "\n")},
			{name: "Content-Disposition", raw: []byte("Content-Disposition: " + cd + "\n")},
			{name: "Content-Transfer-Encoding", raw: []byte("Content-Transfer-Encoding: base64\n")},
			{name: "MIME-Version", raw: []byte("MIME-Version: 1.0\n")},
			{name: "X-Mailer", raw: []byte("X-Mailer: " + uuMailer + "\n")},
		}
		parts = append(parts, b)
	}
	if len(parts) == 0 {
		return false
	}
	ps.errorf("found a uu attachment")
	p.origFields = p.fields
	var fs []field
	for _, f := range p.fields {
		if f.junk || len(f.name) < 8 || !strings.EqualFold(f.name[:8], "content-") {
			fs = append(fs, f)
		}
	}
	p.boundary = makeBoundary()
	// make_multipart names the field as MIME::Head's mime_attr writes it.
	fs = append(fs, field{name: "Content-type", raw: []byte(`Content-type: multipart/mixed; boundary="` + p.boundary + "\"\n")})
	p.fields = fs
	p.kind = multipart
	p.uu = true
	p.typ, p.htype = "multipart/mixed", "multipart/mixed"
	p.orig = parts
	p.children = append([]*Part(nil), parts...)
	return true
}

// isUUBegin matches /^begin [0-7]{3}/.
func isUUBegin(l []byte) bool {
	if len(l) < 9 || string(l[:6]) != "begin " {
		return false
	}
	for _, c := range l[6:9] {
		if c < '0' || c > '7' {
			return false
		}
	}
	return true
}

// uuModeFile parses the rest of a begin line:
// /^(\s+(\d+))?(\s+(.*?\S))?\s*\Z/.
func uuModeFile(line []byte) (mode, file string) {
	s := string(line[len("begin"):])
	rest := strings.TrimLeft(s, " \t\r\n\f\v")
	if len(rest) < len(s) {
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if j > 0 && (j == len(rest) || isPerlSpace(rest[j])) {
			mode = rest[:j]
			s = rest[j:]
		}
	}
	t := strings.TrimLeft(s, " \t\r\n\f\v")
	if len(t) < len(s) {
		file = strings.TrimRight(t, " \t\r\n\f\v")
	}
	if strings.TrimSpace(s) != "" && len(t) == len(s) {
		// No blank before the name: the pattern does not match at all.
		return "", ""
	}
	return mode, file
}

func hasNonSpace(lines [][]byte) bool {
	for _, l := range lines {
		for _, c := range l {
			if !isPerlSpace(c) {
				return true
			}
		}
	}
	return false
}

// unpackUU is Perl's unpack('u', line).
func unpackUU(out, s []byte) []byte {
	isUU := func(c byte) bool { return c >= ' ' && c <= '`' }
	val := func(c byte) int { return int(c-' ') & 0o77 }
	i := 0
	for i < len(s) && s[i] != ' ' && isUU(s[i]) {
		n := val(s[i])
		i++
		for n > 0 {
			var q [4]int
			for k := range q {
				if i < len(s) && isUU(s[i]) {
					q[k] = val(s[i])
					i++
				}
			}
			h := [3]byte{byte(q[0]<<2 | q[1]>>4), byte(q[1]<<4 | q[2]>>2), byte(q[2]<<6 | q[3])}
			out = append(out, h[:min(n, 3)]...)
			n -= 3
		}
		if i < len(s) && s[i] == '\n' {
			i++
		} else if i+1 < len(s) && s[i+1] == '\n' {
			i += 2
		}
	}
	return out
}
