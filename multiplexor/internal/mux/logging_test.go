package mux

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestLogger: the printf-style layer over internal/logging renders a line
// as the multiplexor always has, "<qid>: " first when the line is about a
// message (qidPrefix before); syslog and the journal are the handler's
// (internal/logging's tests).
func TestLogger(t *testing.T) {
	t.Setenv("JOURNAL_STREAM", "")
	var out bytes.Buffer
	l, err := NewLogger("mimedefang-multiplexor", "local3", &out)
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("mimedefang-multiplexor[%d]: ", os.Getpid())
	for _, c := range []struct {
		log  func()
		want string
	}{
		{func() { l.Infof("Forcing reread of filter rules") }, "Forcing reread of filter rules"},
		{func() { l.WithQID("4XyZ1").Infof("No free workers") }, "4XyZ1: No free workers"},
		{func() { l.WithQID("").Warnf("No free workers") }, "No free workers"},
		{func() { l.WithQID("Q1").Errorf("%s (worker %d, pid %d)", "Worker busy too long", 2, 42) }, "Q1: Worker busy too long (worker 2, pid 42)"},
		{func() { l.WithQID("Q1").Infof("Worker %d stderr: %s", 1, "100% %s") }, "Q1: Worker 1 stderr: 100% %s"},
	} {
		out.Reset()
		c.log()
		if got := out.String(); !strings.HasSuffix(got, prefix+c.want+"\n") || strings.Count(got, "\n") != 1 {
			t.Errorf("got %q, want a line ending in %q", got, prefix+c.want)
		}
	}
	var nl *Logger // discards
	nl.Infof("x")
	nl.WithQID("Q").Errorf("x")
	if _, err := NewLogger("m", "nope", &out); err == nil || err.Error() != `mux: unknown syslog facility "nope"` {
		t.Errorf("NewLogger with facility nope: %v", err)
	}
}
