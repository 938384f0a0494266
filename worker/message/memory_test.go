package message

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"runtime"
	"strings"
	"testing"
)

// bigMessage builds a ~20 MB message: a small text part, a 15 MB base64
// attachment and a ~5 MB one.
func bigMessage() []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.org\nTo: b@example.com\nSubject: big\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"big\"\n\n")
	b.WriteString("--big\nContent-Type: text/plain\n\nsmall text\n")
	add := func(name string, decoded int) {
		data := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz\x00\xff"), decoded/38+1)[:decoded]
		b.WriteString("--big\nContent-Type: application/octet-stream; name=\"" + name + "\"\nContent-Transfer-Encoding: base64\n\n")
		enc := base64.StdEncoding.EncodeToString(data)
		for len(enc) > 76 {
			b.WriteString(enc[:76])
			b.WriteByte('\n')
			enc = enc[76:]
		}
		b.WriteString(enc + "\n")
	}
	add("big.bin", 15<<20*57/77) // 15 MB of base64 text
	add("other.bin", 5<<20*57/77)
	b.WriteString("--big--\n")
	return b.Bytes()
}

// allocated returns the bytes fn allocates on the heap.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestMemoryBound checks the bound stated in the package documentation:
// parsing, walking and rewriting a 20 MB message with a 15 MB base64
// attachment allocates less than 1 MiB besides the message itself, and so
// does streaming the attachment's decoded body.
func TestMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("20 MB message")
	}
	raw := bigMessage()
	if len(raw) < 20<<20 {
		t.Fatalf("message is %d bytes", len(raw))
	}
	const bound = 1 << 20
	var m *Message
	n := allocated(func() {
		var err error
		m, err = Parse(raw, Limits{MaxParts: 100})
		if err != nil {
			t.Fatal(err)
		}
		Walk(m.Top(), func(p *Part, _ int) bool {
			_ = p.Type() + p.FileName()
			return true
		})
		m.Top().Parts()[0].AppendText("\nappended\n")
		if _, err := m.WriteBody(io.Discard, m.Top()); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("Parse + walk + edit + WriteBody of %d bytes: %d bytes allocated", len(raw), n)
	if n > bound {
		t.Errorf("allocated %d bytes, bound %d", n, bound)
	}
	att := m.Top().Parts()[1]
	h := sha256.New()
	n = allocated(func() {
		if _, err := att.DecodeTo(h); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("DecodeTo of %s (%d bytes decoded): %d bytes allocated", att.FileName(), att.BodySize(), n)
	if n > bound {
		t.Errorf("DecodeTo allocated %d bytes, bound %d", n, bound)
	}
	if !strings.HasPrefix(att.FileName(), "big") || att.BodySize() < 11<<20 {
		t.Errorf("attachment %q of %d bytes", att.FileName(), att.BodySize())
	}
}

func BenchmarkParseCorpus(b *testing.B) {
	var raws [][]byte
	size := 0
	for _, f := range corpusFiles(b) {
		m, raw := parseFile(b, f[len(corpusDir)+1:])
		_ = m
		raws = append(raws, raw)
		size += len(raw)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		for _, raw := range raws {
			m, err := Parse(raw, Limits{})
			if err != nil {
				b.Fatal(err)
			}
			Walk(m.Top(), func(p *Part, _ int) bool {
				_ = p.Type() + p.FileName()
				return true
			})
		}
	}
}

func BenchmarkParseWriteBig(b *testing.B) {
	raw := bigMessage()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := Parse(raw, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		m.Top().Parts()[0].AppendText("x")
		if _, err := m.WriteBody(io.Discard, m.Top()); err != nil {
			b.Fatal(err)
		}
	}
}
