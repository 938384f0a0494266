package daemon

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseConn(t *testing.T) {
	for _, tc := range []struct{ in, network, addr string }{
		{"/run/md.sock", "unix", "/run/md.sock"},
		{"unix:/run/md.sock", "unix", "/run/md.sock"},
		{"local:/run/md.sock", "unix", "/run/md.sock"},
		{"inet:7890@127.0.0.1", "tcp4", "127.0.0.1:7890"},
		{"inet:7890", "tcp4", ":7890"},
		{"inet6:7890@::1", "tcp6", "[::1]:7890"},
	} {
		n, a, err := ParseConn(tc.in)
		if err != nil || n != tc.network || a != tc.addr {
			t.Errorf("ParseConn(%q) = %q, %q, %v; want %q, %q", tc.in, n, a, err, tc.network, tc.addr)
		}
	}
	for _, bad := range []string{"", "tcp:1@x", "inet:port@host", "inet:99999@h", "relative/path"} {
		if _, _, err := ParseConn(bad); err == nil {
			t.Errorf("ParseConn(%q) accepted", bad)
		}
	}
	for in, want := range map[string]string{
		"tcp:1":        `unsupported -p socket "tcp:1"`,
		"inet:99999@h": `bad port in -p "inet:99999@h"`,
		"inet6:x":      `bad port in -p "inet6:x"`,
	} {
		if _, _, err := ParseConn(in); err == nil || err.Error() != want {
			t.Errorf("ParseConn(%q): %v, want %s", in, err, want)
		}
	}
}

// pending fills the accept queue of l, which nobody accepts from, and
// returns how many connects completed before one failed (UNIX: EAGAIN at
// once) or hung (TCP: the SYN is dropped while the queue is full). On Linux
// that is backlog+1. It stops at limit.
func pending(t *testing.T, l net.Listener, limit int) int {
	t.Helper()
	a := l.Addr()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for len(conns) < limit {
		c, err := net.DialTimeout(a.Network(), a.String(), 300*time.Millisecond)
		if err != nil {
			break
		}
		conns = append(conns, c)
	}
	return len(conns)
}

func TestListenBacklog(t *testing.T) {
	dir := t.TempDir()
	type spec struct{ name, network, addr string }
	specs := []spec{
		{"unix", "unix", filepath.Join(dir, "m.sock")},
		{"tcp4", "tcp4", "127.0.0.1:0"},
	}
	if l, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		l.Close()
		specs = append(specs, spec{"tcp6", "tcp6", "[::1]:0"})
	}
	for _, s := range specs {
		t.Run(s.name, func(t *testing.T) {
			for _, tc := range []struct{ backlog, want int }{
				{7, 8},
				{1, 6}, // below 5: 5
				{-3, 6},
			} {
				os.Remove(filepath.Join(dir, "m.sock")) // as md-milterd does
				l, err := Listen(s.network, s.addr, tc.backlog)
				if err != nil {
					t.Fatal(err)
				}
				if got := pending(t, l, 50); got != tc.want {
					t.Errorf("backlog %d: %d connects completed, want %d", tc.backlog, got, tc.want)
				}
				l.Close()
			}
			// No -b: the kernel's somaxconn (at least 128 on any Linux).
			os.Remove(filepath.Join(dir, "m.sock"))
			l, err := Listen(s.network, s.addr, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if got := pending(t, l, 40); got != 40 {
				t.Errorf("default backlog: only %d connects completed", got)
			}
		})
	}
}

// TestListenServes checks that a listener with a backlog accepts and carries
// data like net.Listen's.
func TestListenServes(t *testing.T) {
	l, err := Listen("tcp4", "127.0.0.1:0", 10)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := make([]byte, 2)
	if _, err := c.Read(b); err != nil || string(b) != "hi" {
		t.Errorf("read %q, %v", b, err)
	}
	if _, err := Listen("tcp4", l.Addr().String(), 10); err == nil {
		t.Error("a second listen on the same port succeeded")
	}
}
