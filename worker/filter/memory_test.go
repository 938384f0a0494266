package filter

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mdgo/md/worker/message"
)

// bigMessage is a 20 MB message: a text part, a 15 MB (decoded) base64
// attachment and a small .exe.
func bigMessage() string {
	var b strings.Builder
	b.WriteString("From: a@example.org\nTo: b@example.com\nSubject: big\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=\"BIG\"\n\n--BIG\nContent-Type: text/plain\n\nhello\n")
	for _, a := range []struct {
		name string
		size int
	}{{"big.bin", 15 << 20}, {"setup.exe", 3000}} {
		b.WriteString("--BIG\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"" + a.name + "\"\nContent-Transfer-Encoding: base64\n\n")
		enc := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a, 0x01, 0xfe}, a.size/3))
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\n")
	}
	b.WriteString("--BIG--\n")
	return b.String()
}

// The worker's memory for a 20 MB message with a 15 MB attachment: the scan
// (parse, part walk, a drop with warning, NEWBODY spliced to disk) allocates
// the raw message once plus a bounded amount, whatever the attachment's
// size: the bound is INPUTMSG's size + 4 MiB (the message package's own
// bound is tighter, TestMemoryBound).
func TestScanMemoryBound(t *testing.T) {
	input := bigMessage()
	if n := len(input); n < 19<<20 || n > 21<<20 {
		t.Fatalf("test message is %d bytes, want about 20 MB", n)
	}
	w, _ := testWorker(t, func(*Config) *Callbacks {
		return &Callbacks{Filter: func(c *Context, p *message.Part, fname, ext, typ string) error {
			if ext == ".exe" {
				c.ActionDropWithWarning("dropped " + fname)
			}
			return nil
		}}
	})
	dir := writeCase(t, simpleCommands, input)
	input = ""
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatal(r)
	}
	runtime.ReadMemStats(&after)
	raw, _ := os.Stat(filepath.Join(dir, "INPUTMSG"))
	alloc := after.TotalAlloc - before.TotalAlloc
	bound := uint64(raw.Size()) + 4<<20
	t.Logf("INPUTMSG %d bytes; the scan allocated %d bytes (%.2f of INPUTMSG)", raw.Size(), alloc, float64(alloc)/float64(raw.Size()))
	if alloc > bound {
		t.Errorf("the scan allocated %d bytes, more than INPUTMSG + 4 MiB = %d", alloc, bound)
	}
	res := readFile(t, filepath.Join(dir, "RESULTS"))
	if !strings.Contains(res, "\nC\n") {
		t.Errorf("no body change in RESULTS %q", res)
	}
	nb, _ := os.Stat(filepath.Join(dir, "NEWBODY"))
	if nb == nil || nb.Size() < 19<<20 {
		t.Errorf("NEWBODY is missing or too small: %v", nb)
	}
}
