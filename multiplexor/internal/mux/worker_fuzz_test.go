package mux

import (
	"bytes"
	"os"
	"testing"
	"time"
)

// FuzzWorkerOutput feeds arbitrary bytes as a busy worker's stdout and checks
// that the request gets exactly the first line (as the original reads it),
// and that nothing panics, whatever the worker writes after it.
func FuzzWorkerOutput(f *testing.F) {
	for _, seed := range []string{
		"ok 1 ok 250 2.1.0 0\n", "ok\n", "ok\nok\n", "PONG\n", "", "ok hal",
		"error: Unknown command\n", "\n\n\n", "ok garbage\ngarbage!!\n", string(bytes.Repeat([]byte("x"), 5000)),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newTestServer(t, nil)
		w := s.workers[0]
		w.inc, w.state = 1, stateBusy
		c := &call{line: "ping\n", typ: cmdOther, reply: make(chan replyMsg, 1)}
		w.pending = c
		r, wr, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() { wr.Write(data); wr.Close() }()
		s.readStdout(w, 1, r)
		var m replyMsg
		select {
		case m = <-c.reply:
		case <-time.After(5 * time.Second):
			t.Fatal("no reply delivered")
		}
		nl := bytes.IndexByte(data, '\n')
		switch {
		case nl >= 0 && nl < maxReplyLine:
			if m.eof || m.line != string(data[:nl+1]) {
				t.Fatalf("reply = %+v, want the first line %q", m, data[:nl+1])
			}
		case len(data) >= maxReplyLine:
			if m.line != string(data[:maxReplyLine-1]) {
				t.Fatalf("overlong reply = %d bytes, want the first %d", len(m.line), maxReplyLine-1)
			}
		default:
			if !m.eof || m.line != string(data) {
				t.Fatalf("reply = %+v, want EOF with the partial line %q", m, data)
			}
		}
	})
}
