package mux

import (
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRawControlSocket checks the privileged socket's raw connection path:
// a prompt client, a client that writes late and in pieces, an overlong
// line, many clients at once (past the poll-thread cap, so some go through
// the Go poller), and that closing the listener stops the accept loop.
func TestRawControlSocket(t *testing.T) {
	s := newTestServer(t, nil)
	path := filepath.Join(t.TempDir(), "ctl.sock")
	l, err := listenUnixRaw(path, 0o077)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.acceptRaw(l, true); close(done) }()

	ask := func(parts ...string) string {
		t.Helper()
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i, p := range parts {
			if i > 0 {
				time.Sleep(30 * time.Millisecond)
			}
			c.Write([]byte(p))
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("reading the reply to %.40q: %v", parts, err)
		}
		return string(b)
	}
	if got := ask("msgs\n"); got != "0\n" {
		t.Errorf("msgs = %q", got)
	}
	if got := ask("fr", "ee\r\n"); got != "4\n" {
		t.Errorf("free written in two pieces = %q", got)
	}
	if got := ask(strings.Repeat("x", 5000) + "\n"); got != replyTooLong {
		t.Errorf("overlong line = %q", got)
	}
	// A command that ends at EOF without "\n" is taken whole.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("status"))
	c.(*net.UnixConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(c); err != nil || !strings.HasPrefix(string(b), "SSSS 0 0 64 0 ") {
		t.Errorf("status without newline = %q %v", b, err)
	}
	c.Close()

	// More slow clients at once than threads may wait in poll(2).
	var wg sync.WaitGroup
	errs := make(chan string, 2*maxRawPollers)
	for i := 0; i < 2*maxRawPollers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("unix", path)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer c.Close()
			time.Sleep(200 * time.Millisecond)
			c.Write([]byte("version\n"))
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if b, err := io.ReadAll(c); err != nil || string(b) != Version {
				errs <- string(b) + " " + errString(err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("slow client: %s", e)
	}
	if n := rawPollers.Load(); n != 0 {
		t.Errorf("%d poll slots still taken", n)
	}

	l.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("accept loop still running after the listener was closed")
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
