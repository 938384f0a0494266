package message

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// applyRewrite builds the message the MTA delivers after the milter applied
// the Rewrite (M, I, J lines) and NEWBODY to the original header.
func applyRewrite(m *Message, rw Rewrite, body []byte) []byte {
	var b bytes.Buffer
	changes := map[string]string{"content-type": rw.ContentType}
	for _, h := range rw.Headers {
		changes[strings.ToLower(h.Name)] = h.Value
	}
	for _, f := range m.orig.fields {
		name := strings.ToLower(f.name)
		if f.junk {
			b.Write(f.raw)
			continue
		}
		if rw.BecameMultipart && name == "content-transfer-encoding" {
			continue
		}
		if v, ok := changes[name]; ok {
			if v != "" {
				b.WriteString(f.name + ": " + v + "\n")
			}
			changes[name] = ""
			continue
		}
		b.Write(f.raw)
	}
	for _, name := range []string{"content-type"} {
		if v := changes[name]; v != "" {
			b.WriteString("Content-Type: " + v + "\n")
		}
	}
	for _, h := range rw.Headers {
		if changes[strings.ToLower(h.Name)] != "" {
			b.WriteString(h.Name + ": " + h.Value + "\n")
		}
	}
	b.WriteString("\n")
	b.Write(body)
	return b.Bytes()
}

// TestRewrittenMatchesMIMETools rebuilds every corpus message the way a
// filter typically does (boilerplate appended to the first text leaf, the
// last leaf dropped, a warning part added, Collapse) and checks that
// MIME-tools reads the resulting message exactly as Parse does, and that it
// contains what was intended.
func TestRewrittenMatchesMIMETools(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for _, f := range corpusFiles(t) {
		m, _ := parseFile(t, filepath.Base(f))
		if p := FindPart(m.Top(), "text/plain", true); p != nil {
			p.AppendText("\nboilerplate caf\u00e9\n")
		}
		if p := FindPart(m.Top(), "text/html", true); p != nil {
			p.AppendHTML("<p>html boilerplate</p>")
		}
		top := shallowRebuild(m.Top())
		dropLastLeaf(top)
		warn := NewPart("text/plain", "-suggest", []byte("A part was removed.\n"), "warning1.txt", "inline")
		top = Collapse(AddParts(top, []Added{{Part: warn, Offset: -1}}))
		var body bytes.Buffer
		rw, err := m.WriteBody(&body, top)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(out, applyRewrite(m, rw, body.Bytes()), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, out)
	}
	want := mimeToolsDump(t, files)
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		m, err := Parse(raw, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if got := dumpTree(t, m); got != want[f] {
			t.Errorf("%s: rewritten message read differently\n%s\n--- MIME-tools\n%s--- package message\n%s", filepath.Base(f), raw, want[f], got)
		}
		if !strings.Contains(string(raw), "warning1.txt") {
			t.Errorf("%s: warning part missing", filepath.Base(f))
		}
	}
}

// dropLastLeaf removes the last child of the deepest-last container that has
// more than one child, as action_drop would.
func dropLastLeaf(top *Part) {
	p := top
	for {
		kids := p.Parts()
		if len(kids) == 0 {
			return
		}
		last := kids[len(kids)-1]
		if !last.IsMultipart() && len(kids) > 1 {
			p.SetParts(kids[:len(kids)-1])
			return
		}
		if !last.IsMultipart() {
			return
		}
		p = last
	}
}
