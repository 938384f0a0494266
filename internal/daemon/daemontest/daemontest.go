// Package daemontest has the helpers the tests of the daemons (md-milterd,
// md-multiplexor) and of package daemon share: a stand-in for systemd's
// notification socket and a buffer for a daemon's stderr.
package daemontest

import (
	"bytes"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// NotifySocket listens on a unixgram socket in a temporary directory and
// points NOTIFY_SOCKET at it, as systemd does for a Type=notify unit. The
// messages arrive on the returned channel, which closes with the socket
// when the test ends.
func NotifySocket(t testing.TB) <-chan string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	ch := Datagrams(t, path)
	t.Setenv("NOTIFY_SOCKET", path)
	return ch
}

// Datagrams listens on a unixgram socket at path until the test ends and
// passes on every datagram that arrives; the channel closes with the socket.
func Datagrams(t testing.TB, path string) <-chan string {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ch := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return ch
}

// Recv returns the next message on ch; the test fails if none comes within
// 10 seconds.
func Recv(t testing.TB, ch <-chan string) string {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no datagram within 10 seconds")
		return ""
	}
}

// SyncBuffer is a bytes.Buffer safe for a daemon's goroutines.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
