package filter

import (
	"context"
	"net"
	"strings"
	"testing"
)

// Every integration call reaches WorkerOptions.OnCall once it has
// returned, with the original's outcome in words: here the SMTP call-out
// to a port nothing listens on.
func TestOnCall(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // refused from now on

	var calls []IntegrationCall
	cfg := DefaultConfig()
	cfg.SpoolDir = t.TempDir()
	w := NewWorker(&Callbacks{}, cfg, WorkerOptions{Log: discard{}, OnCall: func(ic IntegrationCall) { calls = append(calls, ic) }})
	c := w.NewContext(context.Background())
	res := c.MdCheckAgainstSMTPServer("<a@example.com>", "<b@example.org>", "helo.example", "127.0.0.1", port)
	if res.Verdict != "TEMPFAIL" {
		t.Fatalf("call-out to a closed port: %+v", res)
	}
	if len(calls) != 1 {
		t.Fatalf("OnCall got %d calls, want 1: %+v", len(calls), calls)
	}
	got := calls[0]
	if got.Integration != "smtp" || got.Subject != "<b@example.org> at 127.0.0.1" || !strings.HasPrefix(got.Outcome, "TEMPFAIL ") {
		t.Errorf("call %+v", got)
	}
	if s := got.String(); !strings.HasPrefix(s, "smtp (<b@example.org> at 127.0.0.1): TEMPFAIL ") || !strings.HasSuffix(s, "]") {
		t.Errorf("String() = %q", s)
	}
}
