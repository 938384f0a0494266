package message

import (
	"strings"
	"testing"
)

func leafNames(ps []*Part) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Type()+":"+p.FileName())
	}
	return strings.Join(s, ",")
}

func TestAddPartsOffsets(t *testing.T) {
	m, _ := parseFile(t, "05-alternative.eml") // top is multipart/alternative
	a := NewPart("text/plain", "7bit", []byte("a\n"), "a.txt", "inline")
	b := NewPart("text/plain", "7bit", []byte("b\n"), "b.txt", "inline")
	c := NewPart("text/plain", "7bit", []byte("c\n"), "c.txt", "inline")
	top := AddParts(m.Top(), []Added{{a, -1}, {b, 0}, {c, -2}})
	if top.Type() != "multipart/mixed" || top == m.Top() {
		t.Fatal("alternative top not wrapped in multipart/mixed")
	}
	got := leafNames(top.Parts())
	want := "text/plain:b.txt,multipart/alternative:,text/plain:c.txt,text/plain:a.txt"
	if got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if AddParts(m.Top(), nil) != m.Top() {
		t.Error("AddParts with nothing queued changed the top")
	}

	m, _ = parseFile(t, "16-zip.eml") // already multipart/mixed: no wrapping
	top = AddParts(m.Top(), []Added{{a, -1}})
	if top != m.Top() || len(top.Parts()) != 3 || top.Parts()[2] != a {
		t.Errorf("mixed top: %s", leafNames(top.Parts()))
	}
}

func TestCollapse(t *testing.T) {
	leaf := NewPart("text/plain", "7bit", []byte("x"), "", "")
	inner := NewMultipart("multipart/related", leaf)
	for _, tc := range []struct {
		name string
		top  *Part
		want *Part
	}{
		{"mixed of one leaf", NewMultipart("multipart/mixed", leaf), leaf},
		{"mixed of alternative of one", NewMultipart("multipart/mixed", NewMultipart("multipart/alternative", leaf)), leaf},
		{"make_singlepart recursion collapses any multipart of one", NewMultipart("multipart/mixed", inner), leaf},
		{"related of one is not collapsed at the top", inner, inner},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Collapse(tc.top); got != tc.want {
				t.Errorf("got %s", got.Type())
			}
		})
	}
	two := NewMultipart("multipart/mixed", leaf, NewPart("text/html", "7bit", nil, "", ""))
	if Collapse(two) != two {
		t.Error("two children collapsed")
	}
	empty := Collapse(NewMultipart("multipart/mixed", NewMultipart("multipart/mixed")))
	if empty.Type() != "text/plain" || empty.IsMultipart() {
		t.Errorf("empty multipart collapsed to %s", empty.Type())
	}
}

func TestRemoveRedundantHTML(t *testing.T) {
	m, _ := parseFile(t, "07-nested-multipart.eml")
	// mixed > alternative(text/plain, related(html, png)): the related part
	// is not text/html, so nothing is removed.
	if RemoveRedundantHTML(m.Top()) {
		t.Error("removed something from alternative(text, related)")
	}
	m, _ = parseFile(t, "05-alternative.eml")
	if !RemoveRedundantHTML(m.Top()) {
		t.Fatal("nothing removed")
	}
	if got := leafNames(m.Top().Parts()); got != "text/plain:" {
		t.Errorf("left %s", got)
	}
	// Not into multipart/signed.
	sig := NewMultipart("multipart/signed", NewMultipart("multipart/alternative",
		NewPart("text/plain", "7bit", nil, "", ""), NewPart("text/html", "7bit", nil, "", "")))
	if RemoveRedundantHTML(sig) {
		t.Error("descended into multipart/signed")
	}
}

func TestFindAndCollect(t *testing.T) {
	m, _ := parseFile(t, "08-rfc822-multipart.eml")
	// find_part does not descend into message/rfc822; collect_parts does.
	if p := FindPart(m.Top(), "application/octet-stream", false); p != nil {
		t.Errorf("FindPart descended into message/rfc822: %s", p.FileName())
	}
	if p := FindPart(m.Top(), "TEXT/PLAIN", false); p == nil || p.Header("Content-Type") != "text/plain" {
		t.Error("FindPart text/plain")
	}
	got := leafNames(CollectParts(m.Top(), false))
	if got != "text/plain:,text/plain:,application/octet-stream:inner.exe" {
		t.Errorf("CollectParts = %s", got)
	}

	m, _ = parseFile(t, "25-signed.eml")
	if FindPart(m.Top(), "text/plain", true) != nil {
		t.Error("FindPart skipPGP descended into multipart/signed")
	}
	if FindPart(m.Top(), "text/plain", false) == nil {
		t.Error("FindPart without skipPGP")
	}
	if n := len(CollectParts(m.Top(), true)); n != 0 {
		t.Errorf("CollectParts skipPGP = %d parts", n)
	}
	if TextLeaves(m.Top(), "text/plain", true) != nil || TextLeaves(m.Top(), "text/plain", false) != nil {
		t.Error("TextLeaves selected inside multipart/signed")
	}

	m, _ = parseFile(t, "07-nested-multipart.eml")
	if got := leafNames(TextLeaves(m.Top(), "text/html", true)); got != "text/html:" {
		t.Errorf("TextLeaves html all = %s", got)
	}
	if got := leafNames(TextLeaves(m.Top(), "text/plain", false)); got != "text/plain:" {
		t.Errorf("TextLeaves plain first = %s", got)
	}
}

func TestAppendHTML(t *testing.T) {
	p := NewPart("text/html", "7bit", []byte("<html><body>x</body></html>"), "", "")
	p.AppendHTML("B")
	if got, _ := p.Body(); string(got) != "<html><body>xB\n</body></html>" {
		t.Errorf("AppendHTML = %q", got)
	}
	c := NewMultipart("multipart/mixed")
	if c.AppendHTML("x") || c.AppendText("x") || c.SetBody(nil) {
		t.Error("edits accepted on a container")
	}
}

func TestNewPartSuggest(t *testing.T) {
	for _, tc := range []struct {
		typ, data, want string
	}{
		{"text/plain", "clean\n", "7bit"},
		{"text/plain", "caf\u00e9\n", "quoted-printable"},
		{"text/plain", strings.Repeat("x", 1000), "quoted-printable"},
		{"message/rfc822", "\xff", "binary"},
		{"application/pdf", "%PDF", "base64"},
		{"image/png; name=x", "", "base64"},
	} {
		p := NewPart(tc.typ, "-suggest", []byte(tc.data), "", "")
		if p.Encoding() != tc.want {
			t.Errorf("%s %q: %s, want %s", tc.typ, tc.data, p.Encoding(), tc.want)
		}
	}
}

func TestSetHeaderDefang(t *testing.T) {
	m, _ := parseFile(t, "19-exe.eml")
	p := m.Top().Parts()[1]
	p.SetHeader("Content-Type", `application/octet-stream; name="defang-1.binary"`)
	p.SetHeader("Content-Disposition", `attachment; filename="defang-1.binary"`)
	p.SetHeader("Content-Description", "defang-1.binary")
	if p.FileName() != "defang-1.binary" || p.Type() != "application/octet-stream" {
		t.Errorf("after defang: %s %s", p.Type(), p.FileName())
	}
	if !p.Modified() || !m.Top().Modified() {
		t.Error("header edit not a modification")
	}
	var b strings.Builder
	if _, err := m.WriteBody(&b, m.Top()); err != nil {
		t.Fatal(err)
	}
	body, _ := p.Body()
	m2, err := Parse([]byte("Content-Type: "+m.Top().Header("Content-Type")+"\n\n"+b.String()), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	q := m2.Top().Parts()[1]
	qb, _ := q.Body()
	if q.FileName() != "defang-1.binary" || q.Header("Content-Description") != "defang-1.binary" || string(qb) != string(body) {
		t.Errorf("rewritten part: %q %q", q.FileName(), q.RawHeader())
	}
}

func TestEnsureContentType(t *testing.T) {
	m, _ := parseFile(t, "27-digest.eml")
	first := m.Top().Parts()[0] // no Content-Type: message/rfc822 by default
	if !first.EnsureContentType() || first.Header("Content-Type") != "message/rfc822" || !first.IsMultipart() {
		t.Errorf("digest child: %q multipart=%v", first.Header("Content-Type"), first.IsMultipart())
	}
	if first.EnsureContentType() {
		t.Error("second EnsureContentType changed the header")
	}
	m, _ = parseFile(t, "33-garbage-ct.eml")
	p := m.Top().Parts()[2] // Content-Type: ;name="noname.exe"
	if !p.EnsureContentType() || p.Header("Content-Type") != `text/plain; name="noname.exe"` {
		t.Errorf("empty type token: %q", p.Header("Content-Type"))
	}
	m, _ = parseFile(t, "01-plain.eml")
	body := m.Top().Parts()[0]
	if m.Top().EnsureContentType() || !body.EnsureContentType() || body.Header("Content-Type") != "text/plain" {
		t.Errorf("plain body: %q", body.Header("Content-Type"))
	}
	var b strings.Builder
	if _, err := m.WriteBody(&b, Collapse(m.Top())); err != nil || b.String() != string(m.RawBody()) {
		t.Errorf("body rewritten after EnsureContentType: %v", err)
	}
}

func TestHeaders(t *testing.T) {
	m, _ := parseFile(t, "35-header-no-colon.eml")
	top := m.Top()
	if got := top.HeaderAll("content-type"); len(got) != 1 || !strings.HasPrefix(got[0], "multipart/mixed") {
		t.Errorf("HeaderAll = %q (lines without a colon or with a space before it are not fields)", got)
	}
	if got := top.Header("Received"); !strings.Contains(got, "\tby mail.example.com") || strings.Contains(got, "\n") {
		t.Errorf("unfolded Received = %q", got)
	}
	if !strings.HasPrefix(string(top.RawHeader()), "Return-Path:") || !strings.Contains(string(top.RawHeader()), "This line has no colon\n  and a continuation\n") {
		t.Error("RawHeader does not keep the raw bytes")
	}
	p := top.Parts()[0]
	p.DeleteHeader("content-type")
	if p.Header("Content-Type") != "" || !p.Modified() {
		t.Error("DeleteHeader")
	}
	var names []string
	for _, h := range top.HeaderFields() {
		names = append(names, h.Name)
	}
	if strings.Join(names, ",") != "Return-Path,Received,From,To,Date,Message-ID,Subject,MIME-Version,Content-Type" {
		t.Errorf("HeaderFields names = %v", names)
	}
}
