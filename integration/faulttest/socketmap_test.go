package faulttest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// TestSocketMap drives the -N SOCKETMAP listener as Sendmail does: netstring
// requests on one persistent connection, each answered by a worker's map
// lookup, decoded, as a netstring.
func TestSocketMap(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close()
	m := startMux(t, "-m", "1", "-x", "2", "-N", fmt.Sprintf("inet:%d", addr.Port))
	m.waitIdle(1, 10*time.Second)
	// The listener may open a moment after the first worker is idle
	// (seen on a loaded machine): wait for it, within a deadline.
	var c net.Conn
	var dialErr error
	harness.WaitFor(t, 30*time.Second, "the SOCKETMAP listener", func() bool {
		c, dialErr = net.Dial("tcp", addr.String())
		return dialErr == nil
	})
	defer c.Close()
	r := bufio.NewReader(c)
	ask := func(req string) string {
		t.Helper()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := fmt.Fprintf(c, "%d:%s,", len(req), req); err != nil {
			t.Fatalf("write %q: %v", req, err)
		}
		return mustNetstring(t, r)
	}
	for _, tc := range []struct{ req, want string }{
		{"virtuser alice@example.com", "OK virtuser:alice@example.com"},
		{"aliases key with spaces", "OK aliases:key with spaces"}, // split at the first space only; the worker gets it encoded
		{"missing anything", "NOTFOUND "},
		{"noseparator", "PERM Invalid request format"},
		{"crash x", "TEMP Busy timeout on worker"}, // the worker died without answering
		{"virtuser again", "OK virtuser:again"},    // the pool healed; same connection
	} {
		if got := ask(tc.req); got != tc.want {
			t.Errorf("SOCKETMAP %q = %q, want %q", tc.req, got, tc.want)
		}
	}
	// A netstring whose terminator is not a comma is refused, and the
	// connection carries on.
	c.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(c, "3:abcX")
	if got, want := mustNetstring(t, r), "PERM Netstring missing terminating comma"; got != want {
		t.Errorf("bad terminator: %q, want %q", got, want)
	}
	if got := ask("virtuser last"); got != "OK virtuser:last" {
		t.Errorf("after a bad netstring: %q", got)
	}
}

func mustNetstring(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var n int
	if _, err := fmt.Fscanf(r, "%d:", &n); err != nil {
		t.Fatalf("reply length: %v", err)
	}
	b := make([]byte, n+1)
	if _, err := io.ReadFull(r, b); err != nil || b[n] != ',' {
		t.Fatalf("reply: %q %v", b, err)
	}
	return string(b[:n])
}
