package spool

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Streaming a 50 MB body must not hold it in memory: the bytes allocated
// while it is written stay far below its size, and a body chunk allocates
// nothing once the directory is set up.
func TestBodyMemoryBounded(t *testing.T) {
	const bodySize = 50 << 20
	const chunkSize = 64 << 10 // the largest chunk a milter body callback carries

	// Every chunk starts with LF and ends with CR, so each CRLF between two
	// chunks is split across them.
	line := append(bytes.Repeat([]byte("0123456789abcdef"), 4), '\r', '\n')
	chunk := append([]byte{'\n'}, bytes.Repeat(line, chunkSize/len(line)-1)...)
	chunk = append(chunk, line[:len(line)-1]...)
	crs := bytes.Count(chunk, []byte{'\r'})

	w := newDir(t, Options{}, MailFrom{})
	if err := w.Header("Subject", "big"); err != nil {
		t.Fatal(err)
	}
	if err := w.EndOfHeaders(); err != nil {
		t.Fatal(err)
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	written := 0
	for written < bodySize {
		if err := w.Body(chunk); err != nil {
			t.Fatal(err)
		}
		written += len(chunk)
	}
	runtime.ReadMemStats(&after)
	if w.SuspiciousBody() {
		t.Error("a CRLF split across chunks made the body suspicious")
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}

	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("streamed %d bytes in %d-byte chunks; %d bytes allocated meanwhile", written, len(chunk), allocated)
	if allocated > 1<<20 {
		t.Errorf("%d bytes allocated while streaming a %d-byte body; want well below 1 MiB", allocated, written)
	}
	fi, err := os.Stat(filepath.Join(w.Path(), InputMsgFile))
	if err != nil {
		t.Fatal(err)
	}
	// Every CR was part of a CRLF and is gone (the last one is lost at the end).
	if want := int64(len("Subject: big\n\n") + written - written/len(chunk)*crs); fi.Size() != want {
		t.Errorf("INPUTMSG has %d bytes, want %d", fi.Size(), want)
	}
}

func TestBodyAllocs(t *testing.T) {
	w := newDir(t, Options{}, MailFrom{})
	_ = w.EndOfHeaders()
	chunk := bytes.Repeat([]byte("line with a bare \r CR\r\n"), 1000)
	_ = w.Body(chunk) // allocates the buffer
	if n := testing.AllocsPerRun(50, func() { _ = w.Body(chunk) }); n != 0 {
		t.Errorf("Body allocates %v times per chunk, want 0", n)
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
}
