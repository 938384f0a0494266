package mxclient

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fakeMux is a multiplexor stand-in on a UNIX socket: for every connection
// it reads the request up to its "\n" (as the real one does, §8.1), records
// it, and then behaves as the test scripts it.
type fakeMux struct {
	t    *testing.T
	path string
	ln   *net.UnixListener

	mu       sync.Mutex
	requests []string
	script   func(req string, c *net.UnixConn)
	done     chan struct{}
	wg       sync.WaitGroup
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
	m := &fakeMux{t: t, path: path, ln: ln, script: script, done: make(chan struct{})}
	m.wg.Add(1)
	go m.serve()
	t.Cleanup(m.close)
	return m
}

func (m *fakeMux) serve() {
	defer m.wg.Done()
	for {
		c, err := m.ln.AcceptUnix()
		if err != nil {
			return
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			req, _ := bufio.NewReader(c).ReadString('\n')
			m.mu.Lock()
			m.requests = append(m.requests, req)
			script := m.script
			m.mu.Unlock()
			script(req, c)
		}()
	}
}

func (m *fakeMux) close() {
	close(m.done)
	m.ln.Close()
	m.wg.Wait()
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
