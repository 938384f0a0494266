// Package brokengen generates broken MIME: a random well-formed message
// (nested multiparts, attached messages, attachments with safe and
// dangerous names in every encoding a name can take), rendered line by
// line, then broken by one to four faults of the kinds mail gets broken in
// the wild and in evasion attempts. Everything comes from one *rand.Rand,
// so a seed reproduces a message. conformance's TestBrokenMIME runs the
// messages through mimedefang.pl and md-worker side by side; the chaos
// campaign sends them through the whole stack.
package brokengen

import (
	"fmt"
	"math/rand"
	"strings"
)

// line is one rendered line (without its line end) and what it is.
type line struct {
	text  string
	kind  lineKind
	depth int    // nesting depth of the part the line belongs to
	end   string // line end: "\n" unless a fault changed it
}

type lineKind uint8

const (
	lHeader lineKind = iota // a header field line of a part (not the top header)
	lSep                    // the blank line ending a part's header
	lDelim                  // --boundary
	lClose                  // --boundary--
	lBody
	lTop // the message header
)

// Message is one generated message and the faults it carries.
type Message struct {
	Raw    []byte
	Faults []string
}

type generator struct {
	r     *rand.Rand
	lines []line
	nb    int // boundaries made
}

var (
	safeNames      = []string{"report.pdf", "notes.txt", "photo.jpg", "data.csv", "invoice.pdf.txt", "setup.exe.txt"}
	dangerousNames = []string{"invoice.exe", "screen.scr", "run.bat", "tool.com", "movie.pif", "macro.vbs",
		"INVOICE.EXE", "doc.pdf.exe", "archive.exe.", "letter.exe ", "trailing.scr. . "}
)

// name returns a file name as it appears in a header parameter, and the
// plain name it stands for.
func (g *generator) name(param string) (string, string) {
	pool := safeNames
	if g.r.Intn(2) == 0 {
		pool = dangerousNames
	}
	n := pool[g.r.Intn(len(pool))]
	switch g.r.Intn(7) {
	case 0: // RFC 2047 encoded word
		return fmt.Sprintf(`%s="=?UTF-8?Q?%s?="`, param, qEncode(n)), n
	case 1: // RFC 2231 with a charset
		return fmt.Sprintf(`%s*=UTF-8''%s`, param, pctEncode(n)), n
	case 2: // RFC 2231 continuations
		k := 1 + g.r.Intn(len(n)-1)
		return fmt.Sprintf(`%s*0="%s"; %s*1="%s"`, param, n[:k], param, n[k:]), n
	case 3: // a token, when it is one
		if !strings.ContainsAny(n, " ()<>@,;:\\\"/[]?=") {
			return param + "=" + n, n
		}
	case 4: // a non-ASCII name
		u := "r\u00e9sum\u00e9-" + n
		return fmt.Sprintf(`%s="=?ISO-8859-1?Q?%s?="`, param, qEncode(Latin1(u))), u
	}
	return fmt.Sprintf(`%s="%s"`, param, n), n
}

// Latin1 returns s (runes below 256) in ISO-8859-1 bytes.
func Latin1(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteByte(byte(r))
	}
	return b.String()
}

func qEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > 0x20 && c < 0x7f && c != '=' && c != '?' && c != '_' && c != '"' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}

func pctEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > 0x20 && c < 0x7f && !strings.ContainsRune("*'%()<>@,;:\\\"/[]?=", rune(c)) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func (g *generator) add(kind lineKind, depth int, texts ...string) {
	for _, t := range texts {
		g.lines = append(g.lines, line{text: t, kind: kind, depth: depth, end: "\n"})
	}
}

// part renders one entity (header, blank line, body) at depth.
func (g *generator) part(depth int) {
	kind := g.r.Intn(10)
	if depth >= 3 {
		kind = 5 + g.r.Intn(5)
	}
	hk := lHeader
	switch {
	case kind <= 2: // multipart
		g.nb++
		b := fmt.Sprintf("b%d-%d", depth, g.nb)
		sub := [...]string{"mixed", "alternative", "related"}[g.r.Intn(3)]
		g.add(hk, depth, fmt.Sprintf(`Content-Type: multipart/%s; boundary="%s"`, sub, b))
		g.add(lSep, depth, "")
		if g.r.Intn(3) == 0 {
			g.add(lBody, depth, "This is a multi-part message in MIME format.")
		}
		n := 1 + g.r.Intn(3)
		for i := 0; i < n; i++ {
			g.add(lDelim, depth, "--"+b)
			g.part(depth + 1)
		}
		g.add(lClose, depth, "--"+b+"--")
		if g.r.Intn(4) == 0 {
			g.add(lBody, depth, "epilogue")
		}
	case kind == 3: // an attached message
		typ := "message/rfc822"
		if g.r.Intn(4) == 0 {
			// Types MIME-tools reads as a leaf, mail clients as a message.
			typ = [...]string{"message/global", "message/x-forwarded", "message/\x00rfc822", "message/rfc822x"}[g.r.Intn(4)]
		}
		g.add(hk, depth, "Content-Type: "+typ)
		if g.r.Intn(2) == 0 {
			g.add(hk, depth, "Content-Disposition: attachment")
		}
		g.add(lSep, depth, "")
		g.add(hk, depth+1, "From: inner@example.net", "Subject: attached")
		g.part(depth + 1)
	case kind <= 6: // text
		typ := "text/plain"
		if g.r.Intn(3) == 0 {
			typ = "text/html"
		}
		g.add(hk, depth, "Content-Type: "+typ+"; charset=us-ascii")
		if g.r.Intn(3) == 0 {
			g.add(hk, depth, "Content-Transfer-Encoding: quoted-printable")
		}
		g.add(lSep, depth, "")
		g.add(lBody, depth, "Some text of the message.", "A second line.")
	default: // an attachment
		typ := [...]string{"application/octet-stream", "application/pdf", "application/x-msdownload", "image/jpeg"}[g.r.Intn(4)]
		ct := "Content-Type: " + typ
		if g.r.Intn(3) > 0 {
			p, _ := g.name("name")
			ct += "; " + p
		}
		g.add(hk, depth, ct)
		if g.r.Intn(4) > 0 {
			p, _ := g.name("filename")
			g.add(hk, depth, "Content-Disposition: attachment; "+p)
		}
		g.add(hk, depth, "Content-Transfer-Encoding: base64")
		g.add(lSep, depth, "")
		g.add(lBody, depth, "TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	}
}

// Generate makes message number n of a run.
func Generate(r *rand.Rand, n int) Message {
	g := &generator{r: r}
	subject := "broken mime"
	if r.Intn(2) == 0 {
		subject += " DISCLAIMER"
	}
	g.add(lTop, 0, "From: sender@example.org", "To: rcpt@example.com", "Subject: "+subject,
		fmt.Sprintf("Message-ID: <broken-%d@example.org>", n), "MIME-Version: 1.0")
	// The top entity is usually a multipart, else a single attachment.
	if r.Intn(6) > 0 {
		g.nb++
		b := fmt.Sprintf("top-%d", g.nb)
		g.add(lTop, 0, fmt.Sprintf(`Content-Type: multipart/mixed; boundary="%s"`, b), "")
		k := 1 + r.Intn(4)
		for i := 0; i < k; i++ {
			g.add(lDelim, 0, "--"+b)
			g.part(1)
		}
		g.add(lClose, 0, "--"+b+"--")
	} else {
		start := len(g.lines)
		g.part(0)
		// Its header lines are the message's.
		for i := start; i < len(g.lines) && g.lines[i].kind != lSep; i++ {
			g.lines[i].kind = lTop
		}
	}
	var faults []string
	for k := 1 + r.Intn(4); k > 0; k-- {
		if f := g.fault(); f != "" {
			faults = append(faults, f)
		}
	}
	var b strings.Builder
	for _, l := range g.lines {
		b.WriteString(l.text)
		b.WriteString(l.end)
	}
	return Message{Raw: []byte(b.String()), Faults: faults}
}

// pick returns the index of a random line of one of kinds, or -1.
func (g *generator) pick(kinds ...lineKind) int {
	var idx []int
	for i, l := range g.lines {
		for _, k := range kinds {
			if l.kind == k {
				idx = append(idx, i)
			}
		}
	}
	if len(idx) == 0 {
		return -1
	}
	return idx[g.r.Intn(len(idx))]
}

func (g *generator) insert(i int, l line) {
	g.lines = append(g.lines[:i], append([]line{l}, g.lines[i:]...)...)
}

func (g *generator) remove(i int) {
	g.lines = append(g.lines[:i], g.lines[i+1:]...)
}

// fault applies one random fault and names it ("" when none applied).
func (g *generator) fault() string {
	r := g.r
	switch r.Intn(18) {
	case 0: // no blank line after a part's header
		if i := g.pick(lSep); i >= 0 {
			g.remove(i)
			return "no-blank-line"
		}
	case 1: // a stray line where a header should start
		if i := g.pick(lDelim); i >= 0 {
			g.insert(i+1, line{text: [...]string{"This line is not a header.", "garbage", "<html>", "TVqQAAMAAAAE"}[r.Intn(4)], kind: lHeader, depth: g.lines[i].depth + 1, end: "\n"})
			return "stray-line"
		}
	case 2: // a boundary line dropped
		if i := g.pick(lDelim, lClose); i >= 0 {
			g.remove(i)
			return "boundary-dropped"
		}
	case 3: // a boundary line doubled
		if i := g.pick(lDelim); i >= 0 {
			g.insert(i, g.lines[i])
			return "boundary-doubled"
		}
	case 4: // a truncated closing boundary, or the message cut short
		if i := g.pick(lClose); i >= 0 && r.Intn(2) == 0 {
			g.lines[i].text = strings.TrimSuffix(g.lines[i].text, "-")
			return "close-truncated"
		}
		if len(g.lines) > 8 {
			g.lines = g.lines[:len(g.lines)-1-r.Intn(len(g.lines)/3)]
			return "message-cut"
		}
	case 5: // CR LF on some lines, a bare CR between two header lines
		if r.Intn(2) == 0 {
			for i := range g.lines {
				if r.Intn(3) == 0 {
					g.lines[i].end = "\r\n"
				}
			}
			return "crlf-mixed"
		}
		if i := g.pick(lHeader); i > 0 && g.lines[i-1].kind == lHeader {
			g.lines[i-1].end = "\r"
			return "bare-cr"
		}
	case 6: // a NUL byte
		if i := g.pick(lHeader, lBody); i >= 0 {
			t := g.lines[i].text
			k := r.Intn(len(t) + 1)
			g.lines[i].text = t[:k] + "\x00" + t[k:]
			return "nul"
		}
	case 7: // an 8-bit file name in a header
		if i := g.pick(lHeader); i >= 0 {
			g.insert(i+1, line{text: `Content-Disposition: attachment; filename="r` + "\xc3\xa9" + `sum` + "\xc3\xa9" + `.exe"`, kind: lHeader, depth: g.lines[i].depth, end: "\n"})
			return "8bit-name"
		}
	case 8: // a second Content-Disposition naming another file
		if i := g.pick(lHeader); i >= 0 {
			p, _ := g.name("filename")
			g.insert(i+1, line{text: "Content-Disposition: attachment; " + p, kind: lHeader, depth: g.lines[i].depth, end: "\n"})
			return "second-disposition"
		}
	case 9: // a repeated parameter
		if i := g.pick(lHeader); i >= 0 && strings.HasPrefix(g.lines[i].text, "Content-") {
			param := "name"
			if strings.HasPrefix(g.lines[i].text, "Content-Disposition") {
				param = "filename"
			}
			p, _ := g.name(param)
			g.lines[i].text += "; " + p
			return "repeated-parameter"
		}
	case 10: // a junk line inside a header
		if i := g.pick(lHeader); i >= 0 {
			g.insert(i+1, line{text: [...]string{"junk", "X Bad Header", "=?utf-8?q?x?=", ": no name"}[r.Intn(4)], kind: lHeader, depth: g.lines[i].depth, end: "\n"})
			return "junk-header-line"
		}
	case 11: // bad folding: a header starting with a continuation, or a fold inside a name
		if i := g.pick(lHeader); i >= 0 {
			if r.Intn(2) == 0 {
				g.insert(i, line{text: "\tcontinued from nowhere", kind: lHeader, depth: g.lines[i].depth, end: "\n"})
				return "leading-continuation"
			}
			t := g.lines[i].text
			if k := strings.LastIndex(t, "."); k > 0 {
				g.lines[i].text = t[:k]
				g.insert(i+1, line{text: " " + t[k:], kind: lHeader, depth: g.lines[i].depth, end: "\n"})
				return "fold-in-value"
			}
		}
	case 12: // a blank before the colon
		if i := g.pick(lHeader); i >= 0 {
			p, _ := g.name("filename")
			g.insert(i+1, line{text: "Content-Disposition : attachment; " + p, kind: lHeader, depth: g.lines[i].depth, end: "\n"})
			return "blank-before-colon"
		}
	case 13: // broken encoded words and RFC 2231 values
		if i := g.pick(lHeader); i >= 0 {
			bad := [...]string{
				`filename="=?x-unknown?Q?evil.exe?="`, `filename="=?UTF-8?B?ZXZpbC5leGU?="`,
				`filename*=UTF-8''evil%2.exe`, `filename*0*=UTF-8''ev; filename*2="il.exe"`,
				`filename*=''evil.exe`, `filename="=?UTF-8?Q?evil?= .exe"`, `filename="evil.exe`,
			}[r.Intn(7)]
			g.insert(i+1, line{text: "Content-Disposition: attachment; " + bad, kind: lHeader, depth: g.lines[i].depth, end: "\n"})
			return "broken-encoded-name"
		}
	case 14: // name and name* that disagree
		if i := g.pick(lHeader); i >= 0 {
			g.insert(i+1, line{text: `Content-Type: application/octet-stream; name="safe.txt"; name*=UTF-8''evil.exe`, kind: lHeader, depth: g.lines[i].depth, end: "\n"})
			return "name-and-name-star"
		}
	case 15: // a multipart without its boundary parameter
		for tries := 0; tries < 5; tries++ {
			if i := g.pick(lHeader, lTop); i >= 0 && strings.Contains(g.lines[i].text, "boundary=") {
				g.lines[i].text = g.lines[i].text[:strings.Index(g.lines[i].text, ";")]
				return "boundary-parameter-missing"
			}
		}
	case 17: // a part without any header
		if i := g.pick(lSep); i > 0 {
			d := g.lines[i].depth
			j := i
			for j > 0 && g.lines[j-1].kind == lHeader && g.lines[j-1].depth == d {
				j--
			}
			if j < i {
				g.lines = append(g.lines[:j], g.lines[i:]...)
				return "headerless-part"
			}
		}
	case 16: // a header line made of 8-bit bytes
		if i := g.pick(lHeader); i >= 0 {
			g.insert(i+1, line{text: "X-Note: caf\xe9 \xff\xfe", kind: lHeader, depth: g.lines[i].depth, end: "\n"})
			return "8bit-header"
		}
	}
	return ""
}
