package message

import (
	"bytes"
	"io"
	"os"
	"testing"
)

// FuzzParse: Parse never panics, every part's pieces tile its raw bytes, the
// unmodified tree writes exactly the raw body (or, when a header needed a
// repair, a normalized body that reads back the same with no new file
// name: checkUnmodifiedWrite), and the read side and a rewrite work on
// whatever Parse returns.
func FuzzParse(f *testing.F) {
	for _, file := range corpusFiles(f) {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(""))
	f.Add([]byte("\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\n\n--a\n--a\n\n--a--"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(raw, Limits{MaxParts: 500, MaxDepth: 20})
		if err != nil {
			return
		}
		checkLayout(t, m.orig)
		checkUnmodifiedWrite(t, m)
		var b bytes.Buffer
		Walk(m.Top(), func(p *Part, _ int) bool {
			_ = p.FileName() + p.Disposition() + p.Charset() + p.Param("name")
			if _, err := p.DecodeTo(io.Discard); err != nil {
				t.Fatal(err)
			}
			return true
		})
		// Rebuild with the last leaf dropped and the first text edited.
		if tp := FindPart(m.Top(), "text/plain", false); tp != nil {
			tp.AppendText("\nfuzz\n")
		}
		top := shallowRebuild(m.Top())
		if kids := top.Parts(); len(kids) > 1 {
			top.SetParts(kids[:len(kids)-1])
		}
		top = Collapse(AddParts(top, []Added{{Part: NewPart("text/plain", "-suggest", []byte("w\n"), "w.txt", "inline"), Offset: -1}}))
		b.Reset()
		rw, err := m.WriteBody(&b, top)
		if err != nil {
			t.Fatal(err)
		}
		hdr := "Content-Type: " + rw.ContentType + "\n\n"
		if _, err := Parse(append([]byte(hdr), b.Bytes()...), Limits{MaxParts: 1000, MaxDepth: 30}); err != nil {
			t.Fatalf("rewritten message does not parse: %v", err)
		}
	})
}
