package message

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func parseFile(t testing.TB, name string) (*Message, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(corpusDir, name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(raw, Limits{})
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return m, raw
}

func mustWriteBody(t testing.TB, m *Message, top *Part) ([]byte, Rewrite) {
	t.Helper()
	var b bytes.Buffer
	rw, err := m.WriteBody(&b, top)
	if err != nil {
		t.Fatalf("WriteBody: %v", err)
	}
	return b.Bytes(), rw
}

// unmodifiedTop is the tree MIMEDefang would write for an unchanged message:
// the parsed top, collapsed when make_multipart wrapped it.
func unmodifiedTop(m *Message) *Part {
	if m.WasMultipart() {
		return m.Top()
	}
	return Collapse(m.Top())
}

// checkLayout verifies that every parsed part's pieces tile its raw bytes.
func checkLayout(t testing.TB, p *Part) {
	t.Helper()
	if p.segment != nil {
		var b bytes.Buffer
		fields := p.fields
		if p.uu {
			fields = p.origFields
		}
		for _, f := range fields {
			b.Write(f.raw)
		}
		b.Write(p.sep)
		b.Write(p.body)
		if !bytes.Equal(b.Bytes(), p.segment) {
			t.Fatalf("header+sep+body != segment for %s:\n%q\n%q", p.typ, b.Bytes(), p.segment)
		}
	}
	if p.kind == multipart && p.rawOK && !p.synth {
		var b bytes.Buffer
		b.Write(p.preamble)
		for i, c := range p.orig {
			b.Write(p.delims[i])
			b.Write(c.segment)
		}
		b.Write(p.closing)
		if !bytes.Equal(b.Bytes(), p.body) {
			t.Fatalf("multipart layout does not tile its body:\n%q\n%q", b.Bytes(), p.body)
		}
	}
	for _, c := range p.orig {
		checkLayout(t, c)
	}
}

func TestUnmodifiedWritesRawBody(t *testing.T) {
	for _, f := range corpusFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			m, _ := parseFile(t, filepath.Base(f))
			checkLayout(t, m.orig)
			checkUnmodifiedWrite(t, m)
			if len(m.RepairedParts()) > 0 {
				return // written normalized: checkUnmodifiedWrite
			}
			top := unmodifiedTop(m)
			out, rw := mustWriteBody(t, m, top)
			if !bytes.Equal(out, m.RawBody()) {
				t.Fatalf("unmodified body differs:\n%q\n%q", out, m.RawBody())
			}
			if rw.BecameMultipart {
				t.Error("unmodified message reported as became multipart")
			}
			// A rebuilt copy of the tree (rebuild_entity) with the same
			// children is still written byte for byte.
			cp := shallowRebuild(top)
			out, _ = mustWriteBody(t, m, cp)
			if !bytes.Equal(out, m.RawBody()) {
				t.Fatal("rebuilt unmodified tree differs from raw body")
			}
		})
	}
}

// shallowRebuild mimics pl:rebuild_entity: containers copied, leaves shared.
func shallowRebuild(p *Part) *Part {
	if !p.IsMultipart() {
		return p
	}
	c := p.ShallowCopy()
	var kids []*Part
	for _, k := range p.Parts() {
		kids = append(kids, shallowRebuild(k))
	}
	c.SetParts(kids)
	return c
}

func TestDropPartKeepsOtherBytes(t *testing.T) {
	for _, name := range []string{"07-nested-multipart.eml", "08-rfc822-multipart.eml", "16-zip.eml", "40-preamble-epilogue.eml", "39-crlf-mixed.eml", "44-outer-ends-inner.eml", "28-missing-final-boundary.eml"} {
		t.Run(name, func(t *testing.T) {
			m, raw := parseFile(t, name)
			top := m.Top()
			kids := top.Parts()
			if len(kids) < 2 {
				t.Fatalf("%d children", len(kids))
			}
			dropped := kids[len(kids)-1]
			rest := kids[:len(kids)-1]
			cp := top.ShallowCopy()
			cp.SetParts(rest)
			if !cp.Modified() {
				t.Fatal("dropping a child is not a modification")
			}
			out, rw := mustWriteBody(t, m, cp)
			for _, k := range rest {
				if !bytes.Contains(out, k.segment) {
					t.Errorf("kept part %s not copied byte for byte", k.Type())
				}
			}
			if len(dropped.segment) > 0 && bytes.Contains(out, dropped.segment) {
				t.Error("dropped part still present")
			}
			if !strings.HasPrefix(string(out), string(top.preamble)) {
				t.Error("preamble not kept")
			}
			if rw.ContentType != top.Header("Content-Type") && rw.ContentType != unfoldKeep(top) {
				t.Errorf("Content-Type = %q", rw.ContentType)
			}
			// The rewritten message parses to the old tree minus the dropped subtree.
			hdrEnd := len(raw) - len(m.RawBody())
			m2, err := Parse(append(append([]byte(nil), raw[:hdrEnd]...), out...), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(m2.Top().Parts()), len(rest); got != want {
				t.Fatalf("reparsed: %d children, want %d", got, want)
			}
			for i, k := range m2.Top().Parts() {
				a, _ := k.Body()
				b, _ := rest[i].Body()
				if k.Type() != rest[i].Type() || !bytes.Equal(a, b) || k.FileName() != rest[i].FileName() {
					t.Errorf("child %d differs after reparse", i)
				}
			}
		})
	}
}

func unfoldKeep(p *Part) string {
	v, _ := p.rawHeader("content-type")
	return strings.TrimSuffix(v, "\n")
}

func TestAppendTextReencodesOnlyThatPart(t *testing.T) {
	for _, tc := range []struct {
		file, typ string
	}{
		{"51-qp-html-boilerplate.eml", "text/plain"}, // quoted-printable
		{"05-alternative.eml", "text/plain"},         // 7bit
		{"04-base64-text.eml", "text/plain"},         // base64, single part
		{"07-nested-multipart.eml", "text/html"},     // deep inside
	} {
		t.Run(tc.file, func(t *testing.T) {
			m, raw := parseFile(t, tc.file)
			p := FindPart(m.Top(), tc.typ, true)
			if p == nil {
				t.Fatal("no part")
			}
			before, _ := p.Body()
			var others [][]byte
			Walk(m.Top(), func(q *Part, _ int) bool {
				if !q.IsMultipart() && q != p && q.segment != nil {
					others = append(others, q.segment)
				}
				return true
			})
			if !p.AppendText("\nappended caf\u00e9\n") {
				t.Fatal("AppendText refused")
			}
			top := Collapse(shallowRebuild(m.Top()))
			out, _ := mustWriteBody(t, m, top)
			for _, o := range others {
				if !bytes.Contains(out, o) {
					t.Errorf("untouched part not copied byte for byte: %q", o)
				}
			}
			hdrEnd := len(raw) - len(m.RawBody())
			m2, err := Parse(append(append([]byte(nil), raw[:hdrEnd]...), out...), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			q := FindPart(m2.Top(), tc.typ, true)
			after, _ := q.Body()
			want := string(before) + "\nappended caf\u00e9\n"
			if q.Encoding() != "7bit" && q.Encoding() != "8bit" {
				if string(after) != want {
					t.Errorf("decoded after rewrite = %q, want %q", after, want)
				}
			} else if !strings.HasPrefix(string(after), strings.TrimRight(want, "\n")) {
				t.Errorf("decoded after rewrite = %q, want %q", after, want)
			}
			if q.Encoding() != p.Encoding() {
				t.Errorf("encoding changed from %s to %s", p.Encoding(), q.Encoding())
			}
		})
	}
}

func TestSinglePartBecomesMultipart(t *testing.T) {
	m, _ := parseFile(t, "01-plain.eml")
	if m.WasMultipart() {
		t.Fatal("plain message reported multipart")
	}
	top := AddParts(m.Top(), []Added{{Part: NewPart("text/plain", "-suggest", []byte("warning\n"), "warning1.txt", "inline"), Offset: -1}})
	top = Collapse(top)
	out, rw := mustWriteBody(t, m, top)
	if !rw.BecameMultipart || !strings.HasPrefix(rw.ContentType, "multipart/mixed; boundary=") {
		t.Fatalf("rewrite = %+v", rw)
	}
	if !bytes.Contains(out, m.RawBody()) {
		t.Error("original body not spliced in")
	}
	if !bytes.Contains(out, []byte("Content-Disposition: inline; filename=\"warning1.txt\"\n")) {
		t.Errorf("warning part missing:\n%s", out)
	}

	// A base64 single part keeps Content-Transfer-Encoding only until it
	// becomes multipart.
	m, _ = parseFile(t, "46-single-attachment.eml")
	_, rw = mustWriteBody(t, m, Collapse(m.Top()))
	if rw.ContentType != `application/pdf; name="only.pdf"` || len(rw.Headers) != 2 {
		t.Errorf("collapsed single part rewrite = %+v", rw)
	}
	top = AddParts(m.Top(), []Added{{Part: NewPart("text/plain", "7bit", []byte("x\n"), "", ""), Offset: 0}})
	_, rw = mustWriteBody(t, m, Collapse(top))
	for _, h := range rw.Headers {
		if strings.EqualFold(h.Name, "Content-Transfer-Encoding") {
			t.Error("Content-Transfer-Encoding reported for a message that became multipart")
		}
	}
	if !rw.BecameMultipart {
		t.Error("BecameMultipart false")
	}
}

func TestLimits(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(corpusDir, "52-many-parts.eml"))
	if err != nil {
		t.Fatal(err)
	}
	// top + 30 parts = 31 entities.
	if _, err := Parse(raw, Limits{MaxParts: 31}); err != nil {
		t.Errorf("MaxParts 31: %v", err)
	}
	if _, err := Parse(raw, Limits{MaxParts: 30}); !errors.Is(err, ErrTooManyParts) {
		t.Errorf("MaxParts 30: %v, want ErrTooManyParts", err)
	}
	if _, err := Parse(raw, Limits{MaxParts: -1}); err != nil {
		t.Errorf("MaxParts -1: %v", err)
	}
	raw, err = os.ReadFile(filepath.Join(corpusDir, "53-deep-nesting.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(raw, Limits{MaxDepth: 13}); err != nil {
		t.Errorf("MaxDepth 13: %v", err)
	}
	if _, err := Parse(raw, Limits{MaxDepth: 12}); !errors.Is(err, ErrTooDeep) {
		t.Errorf("MaxDepth 12: %v, want ErrTooDeep", err)
	}
}

func TestRewriteAfterWrappingMultipart(t *testing.T) {
	m, _ := parseFile(t, "05-alternative.eml")
	top := AddParts(m.Top().ShallowCopy(), []Added{{Part: NewPart("text/plain", "7bit", []byte("w\n"), "w.txt", "inline"), Offset: -1}})
	top.Parts()[0].SetParts(m.Top().Parts())
	out, rw := mustWriteBody(t, m, Collapse(top))
	if rw.BecameMultipart || !strings.HasPrefix(rw.ContentType, "multipart/mixed; boundary=\"----------=_") {
		t.Errorf("rewrite = %+v", rw)
	}
	// MIME::Entity->build gives the new top Content-Transfer-Encoding:
	// binary, which MIMEDefang passes on as a header change.
	if len(rw.Headers) != 1 || rw.Headers[0] != (HeaderField{"Content-Transfer-Encoding", "binary"}) {
		t.Errorf("headers = %+v", rw.Headers)
	}
	if !bytes.Contains(out, m.RawBody()) {
		t.Error("the alternative part's body is not spliced byte for byte")
	}
}

// TestWriterLayoutAsMIMEEntity checks the bytes MIME::Entity prints where
// a rebuilt message has no original bytes to keep (integration/conformance
// compares them with mimedefang.pl's): a container made here starts with
// MIME-tools' preamble, a closing delimiter line always ends with a line
// end, and a rebuilt copy of an unchanged container is still its bytes.
func TestWriterLayoutAsMIMEEntity(t *testing.T) {
	m, _ := parseFile(t, "01-plain.eml")
	top := Collapse(AddParts(m.Top(), []Added{{Part: NewPart("text/plain", "7bit", []byte("w\n"), "", ""), Offset: -1}}))
	out, _ := mustWriteBody(t, m, top)
	if !bytes.HasPrefix(out, []byte(defaultPreamble+"--"+top.boundary+"\n")) {
		t.Errorf("make_multipart's wrapper lacks MIME-tools' preamble:\n%s", out)
	}

	// An inner container closed right before the outer delimiter, one of
	// its children dropped: "--inner--" gets its line end; its unchanged
	// sibling, a rebuilt copy, keeps its bytes.
	sibling := "--o\nContent-Type: multipart/mixed; boundary=\"j\"\n\n--j\nContent-Type: multipart/mixed; boundary=\"k\"\n\n" +
		"--k\n\nc\n--k--\n--j--\n--o--"
	raw := []byte("Content-Type: multipart/mixed; boundary=\"o\"\n\n--o\nContent-Type: multipart/mixed; boundary=\"i\"\n\n" +
		"--i\n\na\n--i\n\nb\n--i--\n" + sibling)
	m, err := Parse(raw, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	top = shallowRebuild(m.Top())
	inner := top.Parts()[0]
	inner.SetParts(inner.Parts()[:1])
	out, _ = mustWriteBody(t, m, top)
	want := "--o\nContent-Type: multipart/mixed; boundary=\"i\"\n\n--i\n\na\n--i--\n\n" + sibling + "\n"
	if string(out) != want {
		t.Errorf("rewritten body\n%q\nwant\n%q", out, want)
	}
	if top.Parts()[1].Modified() {
		t.Error("a rebuilt copy of an unchanged container counts as modified")
	}

	// The container of uuencoded files, written because a file is dropped.
	m, _ = parseFile(t, "54-uuencode-multi.eml")
	top = shallowRebuild(m.Top())
	uu := top.Parts()[0]
	if !uu.uu {
		t.Fatalf("first part is not the uuencode split: %s", uu.Type())
	}
	uu.SetParts(uu.Parts()[:2])
	out, _ = mustWriteBody(t, m, top)
	for _, s := range []string{"Content-type: multipart/mixed; boundary=\"" + uu.boundary + "\"\n\n" + uuPreamble + "--" + uu.boundary + "\n",
		"Content-Transfer-Encoding: base64\nMIME-Version: 1.0\nX-Mailer: " + uuMailer + "\n\n"} {
		if !bytes.Contains(out, []byte(s)) {
			t.Errorf("uuencode split lacks %q:\n%s", s, out)
		}
	}
}
