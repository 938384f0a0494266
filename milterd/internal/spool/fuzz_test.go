package spool

import (
	"bytes"
	"strings"
	"testing"
)

// fuzzDir creates a working directory in the fuzz target's spool directory
// and removes it when the iteration ends (a t.TempDir per iteration stalls
// the fuzzer).
func fuzzDir(t *testing.T, spoolDir string, opts Options) *WorkingDir {
	t.Helper()
	opts.SpoolDir = spoolDir
	w, err := Create(opts, MailFrom{ID: "abcdefg", Sender: "<s@d>"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Remove() })
	return w
}

// refBody is a byte-by-byte model of the original body callback, kept as
// close to the C loop as Go allows, to check Body against.
func refBody(chunks [][]byte, strip bool) (out []byte, suspicious bool) {
	lastWasCR := false
	for _, text := range chunks {
		if len(text) == 0 {
			continue
		}
		if lastWasCR && text[0] != '\n' {
			suspicious = true
			if !strip {
				out = append(out, '\r')
			}
		}
		lastWasCR = false
		for n := 0; n < len(text); n++ {
			c := text[n]
			if c == '\r' {
				if n == len(text)-1 {
					lastWasCR = true
					continue
				} else if text[n+1] != '\n' {
					suspicious = true
					if strip {
						continue
					}
				} else {
					continue
				}
			}
			out = append(out, c)
			if c == 0 {
				suspicious = true
			}
		}
	}
	return out, suspicious
}

// splitAt cuts data into chunks at the positions given by cuts (each byte a
// chunk length; 0 gives an empty chunk).
func splitAt(data, cuts []byte) [][]byte {
	var chunks [][]byte
	for _, c := range cuts {
		n := min(int(c), len(data))
		chunks = append(chunks, data[:n])
		data = data[n:]
	}
	return append(chunks, data)
}

// FuzzBody checks the body conversion against the model above, for any
// bytes cut into any chunks (the file plumbing is covered by TestBody).
func FuzzBody(f *testing.F) {
	f.Add([]byte("a\r\nb\r\n"), []byte{2}, false)
	f.Add([]byte("a\rb\r"), []byte{2, 0, 1}, true)
	f.Add([]byte("\r\r\n\x00\r"), []byte{1, 1, 1}, false)
	f.Add(bytes.Repeat([]byte("x\r\n"), 10000), []byte{255, 7}, false)
	f.Fuzz(func(t *testing.T, data, cuts []byte, strip bool) {
		chunks := splitAt(data, cuts)
		want, wantSusp := refBody(chunks, strip)
		bw := bodyWriter{strip: strip}
		var got bytes.Buffer
		for _, c := range chunks {
			if err := bw.write(&got, c); err != nil {
				t.Fatal(err)
			}
		}
		if bw.suspicious != wantSusp {
			t.Errorf("suspicious = %v, model says %v", bw.suspicious, wantSusp)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("output %q, model says %q", got.Bytes(), want)
		}
	})
}

// Whatever the header, HEADERS gets exactly one line, INPUTMSG gets no CR
// (unless KeepFoldCR), and COMMANDS lines stay one per line.
func FuzzHeader(f *testing.F) {
	f.Add("Subject", "a\r\n b", "1.2.3.4")
	f.Add("X\r", "\r", "")
	f.Add("Message-ID", "<\n%>", " 9.9.9.9")
	spoolDir := f.TempDir()
	f.Fuzz(func(t *testing.T, name, value, relay string) {
		w := fuzzDir(t, spoolDir, Options{ValidateHeader: "X-Relay"})
		if err := w.Header(name, value); err != nil {
			t.Fatal(err)
		}
		if err := w.Header("X-Relay", relay); err != nil {
			t.Fatal(err)
		}
		if err := w.Finish(); err != nil {
			t.Fatal(err)
		}
		in := readFile(t, w, InputMsgFile)
		if strings.Contains(in, "\r") {
			t.Errorf("CR in INPUTMSG: %q", in)
		}
		hd := readFile(t, w, HeadersFile)
		if n := strings.Count(hd, "\n"); n != 2 {
			t.Errorf("HEADERS has %d lines: %q", n, hd)
		}
		cmd := readFile(t, w, CommandsFile)
		if !strings.HasPrefix(cmd, mfBatch) {
			t.Fatalf("COMMANDS lost its MAIL FROM batch: %q", cmd)
		}
		for _, l := range strings.Split(strings.TrimSuffix(cmd[len(mfBatch):], "\n"), "\n") {
			if l == "" || strings.ContainsAny(l, " \r\t") {
				t.Errorf("bad COMMANDS line %q", l)
			}
		}
		if !strings.HasSuffix(cmd, "\nF\n") {
			t.Errorf("COMMANDS does not end with F: %q", cmd)
		}
	})
}
