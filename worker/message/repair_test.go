package message

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// reading renders what a filter reads of a message: per part its depth,
// type, file name and decoded content. Line ends at the very end of a body
// do not count: a rewritten container closes a multipart that ended at the
// end of the input with a delimiter line, before which a body's last CRs
// are line-end bytes (MIME-tools strips them), not content.
func reading(t testing.TB, m *Message) string {
	var b strings.Builder
	Walk(m.Top(), func(p *Part, depth int) bool {
		sum := "-"
		if !p.IsMultipart() {
			var body bytes.Buffer
			if _, err := p.DecodeTo(&body); err != nil {
				t.Errorf("DecodeTo: %v", err)
			}
			sum = fmt.Sprintf("%x", sha256.Sum256(bytes.TrimRight(body.Bytes(), "\r\n")))[:16]
		}
		fmt.Fprintf(&b, "%d %s %q %s\n", depth, p.Type(), p.FileName(), sum)
		return true
	})
	return b.String()
}

// checkUnmodifiedWrite checks what an unmodified tree writes: the raw body
// exactly when no part needed a repair; otherwise a normalized body that
// reads back as the same tree, needs no repair, and shows no file name the
// first reading did not (what the filter saw is what is delivered).
func checkUnmodifiedWrite(t testing.TB, m *Message) {
	t.Helper()
	top := unmodifiedTop(m)
	var b bytes.Buffer
	if _, err := m.WriteBody(&b, top); err != nil {
		t.Fatal(err)
	}
	if len(m.RepairedParts()) == 0 {
		if top.Modified() {
			t.Fatal("freshly parsed tree without repairs reports Modified")
		}
		if !bytes.Equal(b.Bytes(), m.RawBody()) {
			t.Fatalf("unmodified body differs:\n%q\n%q", b.Bytes(), m.RawBody())
		}
		return
	}
	if !top.Modified() {
		t.Fatal("a tree with repaired parts does not report Modified")
	}
	raw := m.Raw()
	hdr := append([]byte(nil), raw[:len(raw)-len(m.RawBody())]...)
	if m.orig.sep == nil {
		// A header cut by the end of the input: the milter would
		// have ended it with a blank line before any body.
		if len(hdr) > 0 && hdr[len(hdr)-1] != '\n' {
			hdr = append(hdr, '\n')
		}
		hdr = append(hdr, '\n')
	}
	again := append(hdr, b.Bytes()...)
	m2, err := Parse(again, Limits{})
	if err != nil {
		t.Fatalf("normalized message does not parse: %v", err)
	}
	if rp := m2.RepairedParts(); len(rp) > 0 {
		_, why := rp[0].Repaired()
		t.Fatalf("normalized message still needs a repair (%s):\n%q\nfrom\n%q", why, again, raw)
	}
	if r1, r2 := reading(t, m), reading(t, m2); r1 != r2 {
		t.Fatalf("normalized message reads differently:\n%s--- normalized:\n%s%q\nfrom\n%q", r1, r2, again, raw)
	}
	var seen []string
	Walk(m.Top(), func(p *Part, _ int) bool { seen = append(seen, p.Names()...); return true })
	Walk(m2.Top(), func(p *Part, _ int) bool {
		for _, n := range p.Names() {
			if !slices.Contains(seen, n) {
				t.Errorf("normalized message shows the name %q, which the filter did not see", n)
			}
		}
		return true
	})
}

const (
	// The reproducers (#10): an attachment header not ended by a
	// blank line; a stray line where a header should be; two
	// Content-Disposition fields.
	noBlankLine = "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nhello\n" +
		"--b\nContent-Type: application/octet-stream; name=\"screen.scr\"\nContent-Transfer-Encoding: base64\n" +
		"Content-Disposition: attachment; filename=\"screen.scr\"\nTVqQAAMAAAAEAAAA\n--b\nContent-Type: text/plain\n\nbye\n--b--\n"
	strayLine = "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nThis line is not a header.\n" +
		"--b\nContent-Type: text/csv; name=\"d.csv\"\n\na,b\n--b--\n"
	twoDispositions = "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nhello\n" +
		"--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"safe.txt\"\n" +
		"Content-Disposition: attachment; filename=\"evil.exe\"\nContent-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA\n--b--\n"
)

func TestRepairReadings(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		part      int    // index of the child of the top entity
		typ       string // what the filter reads
		fname     string
		names     []string
		body      string
		why       string
		written   string // the normalized part as written
	}{
		{"no blank line", noBlankLine, 1, "application/octet-stream", "screen.scr", []string{"screen.scr"}, "MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00",
			"header runs into the next boundary without a blank line",
			"Content-Type: application/octet-stream; name=\"screen.scr\"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"screen.scr\"\n\nTVqQAAMAAAAEAAAA"},
		{"stray line", strayLine, 0, "text/plain", "", nil, "This line is not a header.",
			"header runs into the next boundary without a blank line", "\nThis line is not a header."},
		{"two dispositions", twoDispositions, 1, "application/octet-stream", "safe.txt", []string{"safe.txt", "evil.exe"}, "MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00",
			"repeated Content-Type, Content-Disposition or Content-Transfer-Encoding",
			"Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"safe.txt\"\nContent-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA"},
		{"repeated parameter", "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: application/octet-stream\n" +
			"Content-Disposition: attachment; filename=\"safe.txt\"; filename=\"evil.exe\"\n\nx\n--b--\n", 0,
			"application/octet-stream", "evil.exe", []string{"evil.exe", "safe.txt"}, "x", "repeated parameter",
			"Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"evil.exe\"\n\nx"},
		{"name and name*", "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\n" +
			"Content-Type: application/octet-stream; name=\"a.txt\"; name*=UTF-8''b%2Eexe\n\nx\n--b--\n", 0,
			"application/octet-stream", "b.exe", []string{"=?UTF-8?Q?b.exe?=", "a.txt", "b.exe"}, "x", "repeated parameter",
			"Content-Type: application/octet-stream; name*=UTF-8''b.exe\n\nx"},
		{"junk line", "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\ngarbage line\n" +
			"Content-Disposition: attachment; filename=\"x.exe\"\n\nbody\n--b--\n", 0,
			"text/plain", "x.exe", []string{"x.exe"}, "body", "header line that is not a field",
			"Content-Type: text/plain\nContent-Disposition: attachment; filename=\"x.exe\"\n\nbody"},
		{"blank before the colon", "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type : application/x-msdownload; name=\"run.exe\"\n\nMZ\n--b--\n", 0,
			"text/plain", "", []string{"run.exe"}, "MZ", "header line that is not a field", "\nMZ"},
		{"fields after the stray line", "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain; name=\"a.txt\"\nstray\n" +
			"Content-Disposition: attachment; filename=\"b.exe\"\n--b\n\nx\n--b--\n", 0,
			"text/plain", "a.txt", []string{"a.txt", "b.exe"}, "stray\nContent-Disposition: attachment; filename=\"b.exe\"",
			"header runs into the next boundary without a blank line",
			"Content-Type: text/plain; name=\"a.txt\"\n\nstray\nContent-Disposition: attachment; filename=\"b.exe\""},
		// Cut by the closing boundary, MIME-tools' reading is kept: the
		// header runs to it (the stray line skipped), the body is what
		// follows it.
		{"header cut by the closing boundary", "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain; name=\"a.txt\"\nstray\n" +
			"Content-Disposition: attachment; filename=\"b.exe\"\n--b--\nepilogue\n", 0,
			"text/plain", "b.exe", []string{"b.exe", "a.txt"}, "epilogue\n", "header not ended by a blank line",
			"Content-Type: text/plain; name=\"a.txt\"\nContent-Disposition: attachment; filename=\"b.exe\"\n\nepilogue\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.raw), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			p := m.Top().Parts()[tc.part]
			if p.Type() != tc.typ || p.FileName() != tc.fname {
				t.Errorf("read as %s %q, want %s %q", p.Type(), p.FileName(), tc.typ, tc.fname)
			}
			if got := p.Names(); !slices.Equal(got, tc.names) {
				t.Errorf("Names = %q, want %q", got, tc.names)
			}
			if body, err := p.Body(); err != nil || string(body) != tc.body {
				t.Errorf("Body = %q (%v), want %q", body, err, tc.body)
			}
			if ok, why := p.Repaired(); !ok || why != tc.why {
				t.Errorf("Repaired = %v %q, want %q", ok, why, tc.why)
			}
			var b bytes.Buffer
			if _, err := m.WriteBody(&b, m.Top()); err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(b.Bytes(), []byte("--b\n"+tc.written+"\n--b")) {
				t.Errorf("written as\n%s\nwant the part\n%s", b.Bytes(), tc.written)
			}
			checkUnmodifiedWrite(t, m)
		})
	}
}

// A part whose header is well formed is not repaired, and a message made of
// such parts is still written byte for byte.
func TestNoRepairForWellFormed(t *testing.T) {
	raw := "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain; charset=us-ascii\n" +
		"Content-Disposition: inline\n\nhello\n--b\n--b\nContent-Type: application/pdf; name*0=\"a\"; name*1=\".pdf\"\n\nx\n--b--\n"
	m, err := Parse([]byte(raw), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if rp := m.RepairedParts(); len(rp) != 0 {
		_, why := rp[0].Repaired()
		t.Fatalf("%d parts repaired (%s)", len(rp), why)
	}
	checkUnmodifiedWrite(t, m)
}
