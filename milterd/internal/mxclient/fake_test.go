package mxclient

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mdgo/md/internal/testserve"
)

// fakeMux is a multiplexor stand-in on a UNIX socket: for every connection
// it reads the request up to its "\n" (as the real one does, §8.1), records
// it, and then behaves as the test scripts it.
type fakeMux struct {
	t    *testing.T
	path string

	mu       sync.Mutex
	requests []string
	script   func(req string, c *net.UnixConn)
	done     chan struct{}
}

// reply answers every request with the given bytes and closes.
func reply(text string) func(string, *net.UnixConn) {
	return func(_ string, c *net.UnixConn) { c.Write([]byte(text)) }
}

// sockDir is a short temporary directory: sun_path holds only 107 bytes,
// which t.TempDir's long names can exceed.
func sockDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func newFakeMux(t *testing.T, script func(string, *net.UnixConn)) *fakeMux {
	t.Helper()
	path := filepath.Join(sockDir(t), "mx.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	m := &fakeMux{t: t, path: path, script: script, done: make(chan struct{})}
	testserve.Serve(t, ln, m.serve)
	t.Cleanup(func() { close(m.done) }) // first: releases the scripts that hang
	return m
}

// serve reads one request line and runs the script on it.
func (m *fakeMux) serve(conn net.Conn) {
	c := conn.(*net.UnixConn)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	req, _ := bufio.NewReader(c).ReadString('\n')
	m.mu.Lock()
	m.requests = append(m.requests, req)
	script := m.script
	m.mu.Unlock()
	script(req, c)
}

func (m *fakeMux) setScript(s func(string, *net.UnixConn)) {
	m.mu.Lock()
	m.script = s
	m.mu.Unlock()
}

// last is the most recent request's bytes.
func (m *fakeMux) last() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.requests) == 0 {
		m.t.Fatal("the fake multiplexor got no request")
	}
	return m.requests[len(m.requests)-1]
}

func (m *fakeMux) client() *Client { return &Client{Path: m.path} }
