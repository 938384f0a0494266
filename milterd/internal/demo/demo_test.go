package demo

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	milter "github.com/d--j/go-milter"
)

func TestSamples(t *testing.T) {
	s := Samples()
	if len(s) != 3 {
		t.Fatalf("%d samples", len(s))
	}
	// The third one carries a zip with setup.exe inside.
	body := string(s[2].Body)
	i := strings.Index(body, "Content-Transfer-Encoding: base64\r\n\r\n")
	j := strings.Index(body, "\r\n--"+boundary+"--")
	if i < 0 || j < i {
		t.Fatalf("no base64 attachment in\n%s", body)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(body[i+len("Content-Transfer-Encoding: base64\r\n\r\n"):j], "\r\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	if !strings.Contains(strings.Join(names, " "), "setup.exe") {
		t.Errorf("zip holds %v", names)
	}
}

func TestApplyReplacedBody(t *testing.T) {
	m := Samples()[1]
	newBody := crlf("--b2\nContent-Type: text/plain\n\nhello\n--b2\nContent-Type: text/plain; name=\"warning1.txt\"\nContent-Disposition: inline; filename=\"warning1.txt\"\nContent-Transfer-Encoding: quoted-printable\n\nAn attachment named invoice.exe was=\n removed.\n--b2--\n")
	mods := []milter.ModifyAction{
		{Type: milter.ActionChangeHeader, HeaderIndex: 1, HeaderName: "Content-Type", HeaderValue: `multipart/mixed; boundary="b2"`},
		{Type: milter.ActionAddHeader, HeaderName: "X-Scanned-By", HeaderValue: "test"},
		{Type: milter.ActionChangeHeader, HeaderIndex: 1, HeaderName: "Subject", HeaderValue: ""},
		{Type: milter.ActionReplaceBody, Body: newBody[:10]},
		{Type: milter.ActionReplaceBody, Body: newBody[10:]},
	}
	r := &Result{Name: m.Name, Verdict: "accept", Stage: "end of message"}
	apply(r, m, mods)
	if !r.BodyReplaced || len(r.HeaderChanges) != 3 {
		t.Fatalf("%+v", r)
	}
	if len(r.Parts) != 2 || r.Parts[0] != (Part{Type: "text/plain"}) || r.Parts[1] != (Part{Type: "text/plain", Filename: "warning1.txt"}) {
		t.Errorf("parts %+v", r.Parts)
	}
	if len(r.Warnings) != 1 || r.Warnings[0] != "An attachment named invoice.exe was removed." {
		t.Errorf("warnings %q", r.Warnings)
	}
	var out bytes.Buffer
	Print(&out, 2, r)
	if !strings.Contains(out.String(), "warning:  An attachment named invoice.exe was removed.") {
		t.Errorf("printed:\n%s", out.String())
	}
}

func TestApplyUnchanged(t *testing.T) {
	m := Samples()[2]
	r := &Result{}
	apply(r, m, nil)
	if r.BodyReplaced || len(r.Parts) != 2 || r.Parts[1].Filename != "photos.zip" {
		t.Errorf("%+v", r)
	}
}

func TestChangeHeader(t *testing.T) {
	h := []Header{{"A", "1"}, {"B", "2"}, {"a", "3"}}
	h = changeHeader(h, "A", 2, "x")
	h = changeHeader(h, "b", 1, "")
	if len(h) != 2 || h[0].Value != "1" || h[1].Value != "x" {
		t.Errorf("%v", h)
	}
}
