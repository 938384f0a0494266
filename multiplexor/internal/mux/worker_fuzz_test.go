package mux

import (
	"bufio"
	"bytes"
	"os"
	"testing"
	"time"
)

// FuzzWorkerOutput feeds arbitrary bytes as a busy worker's stdout and checks
// that the request gets exactly the first line (as the original reads it),
// that a worker writing more than that is marked out of step, and that
// nothing panics.
func FuzzWorkerOutput(f *testing.F) {
	for _, seed := range []string{
		"ok 1 ok 250 2.1.0 0\n", "ok\n", "ok\nok\n", "PONG\n", "", "ok hal",
		"error: Unknown command\n", "\n\n\n", "ok garbage\ngarbage!!\n", string(bytes.Repeat([]byte("x"), 5000)),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, wr, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		go func() { wr.Write(data); wr.Close() }()
		r.SetReadDeadline(time.Now().Add(5 * time.Second))
		m, kill, err := readReply(bufio.NewReaderSize(r, maxReplyLine))
		if err != nil {
			t.Fatalf("readReply: %v", err)
		}
		nl := bytes.IndexByte(data, '\n')
		switch {
		case nl >= 0 && nl < maxReplyLine:
			if m.eof || m.line != string(data[:nl+1]) {
				t.Fatalf("reply = %+v, want the first line %q", m, data[:nl+1])
			}
			if nl+1 < len(data) && kill == "" && len(data) <= maxReplyLine {
				// Everything the worker wrote came in one read here, so the
				// extra bytes were seen with the reply.
				t.Fatalf("reply %q followed by %q did not mark the worker out of step", data[:nl+1], data[nl+1:])
			}
		case len(data) >= maxReplyLine:
			if m.line != string(data[:maxReplyLine-1]) || kill == "" {
				t.Fatalf("overlong reply = %d bytes (kill %q), want the first %d and a kill", len(m.line), kill, maxReplyLine-1)
			}
		default:
			if !m.eof || m.line != string(data) {
				t.Fatalf("reply = %+v, want EOF with the partial line %q", m, data)
			}
		}
	})
}
