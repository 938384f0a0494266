// Package clamdtest is a stand-in clamd for the unit tests of the packages
// that use clamd (package filter, the Lua bindings): on a Unix socket it
// answers PING with PONG, and INSTREAM and SCAN with FOUND for bytes that
// hold Marker, else OK (or what SetAnswer set). The real clamd is exercised by the integration
// module's tests (integration/clamd_test.go). It is for tests only.
package clamdtest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdgo/md/internal/testserve"
)

// Marker stands for a virus: bytes holding it are infected.
const Marker = "VIRUS-MARKER"

// Server is a running stand-in clamd.
type Server struct {
	Sock string // its Unix socket

	virus   string // the name it reports
	mu      sync.Mutex
	answer  string // replaces the scan reply when set (SetAnswer)
	cmds    []string
	streams []string
}

// SetAnswer makes every later scan (INSTREAM, SCAN) answer a, as sent
// (end it with clamd's NUL), instead of FOUND or OK.
func (s *Server) SetAnswer(a string) {
	s.mu.Lock()
	s.answer = a
	s.mu.Unlock()
}

// Start serves a stand-in clamd that reports virus (e.g. "Fake.Virus") on
// a socket in a temporary directory, until the test ends.
func Start(tb testing.TB, virus string) *Server {
	tb.Helper()
	s := &Server{Sock: filepath.Join(tb.TempDir(), "clamd.sock"), virus: virus}
	ln, err := net.Listen("unix", s.Sock)
	if err != nil {
		tb.Fatal(err)
	}
	testserve.Serve(tb, ln, s.serve)
	return s
}

// Got returns the commands received (without their NUL) and the bytes of
// every INSTREAM, in order.
func (s *Server) Got() (cmds, streams []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...), append([]string(nil), s.streams...)
}

func (s *Server) serve(conn net.Conn) {
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	cmd, err := r.ReadString(0)
	if err != nil {
		return
	}
	cmd = strings.TrimSuffix(cmd, "\x00")
	s.mu.Lock()
	s.cmds = append(s.cmds, cmd)
	s.mu.Unlock()
	name, data := "stream", ""
	switch {
	case cmd == "zPING":
		conn.Write([]byte("PONG\x00"))
		return
	case cmd == "zINSTREAM":
		var b bytes.Buffer
		for {
			var n uint32
			if binary.Read(r, binary.BigEndian, &n) != nil {
				return
			}
			if n == 0 {
				break
			}
			if _, err := io.CopyN(&b, r, int64(n)); err != nil {
				return
			}
		}
		data = b.String()
		s.mu.Lock()
		s.streams = append(s.streams, data)
		s.mu.Unlock()
	case strings.HasPrefix(cmd, "zSCAN "):
		name = strings.TrimPrefix(cmd, "zSCAN ")
		filepath.Walk(name, func(path string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				b, _ := os.ReadFile(path)
				data += string(b)
			}
			return nil
		})
	}
	s.mu.Lock()
	answer := s.answer
	s.mu.Unlock()
	switch {
	case answer != "":
		conn.Write([]byte(answer))
	case strings.Contains(data, Marker):
		conn.Write([]byte(name + ": " + s.virus + " FOUND\x00"))
	default:
		conn.Write([]byte(name + ": OK\x00"))
	}
}
