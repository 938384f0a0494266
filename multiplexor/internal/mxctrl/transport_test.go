package mxctrl

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// serveOnce listens on a fresh socket, answers one connection with reply
// after reading the request line, and returns the socket path and a channel
// that yields the request bytes.
func serveOnce(t *testing.T, reply string) (string, <-chan string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mx.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		var req []byte
		buf := make([]byte, 4096)
		for !strings.Contains(string(req), "\n") {
			n, err := c.Read(buf)
			req = append(req, buf[:n]...)
			if err != nil {
				break
			}
		}
		got <- string(req)
		io.WriteString(c, reply)
	}()
	return path, got
}

func TestExchange(t *testing.T) {
	tests := []struct {
		name  string
		reply string
		limit int
		want  string
	}{
		{"line", "IIII 1 2 3 4 5\n", MaxFormattedReply, "IIII 1 2 3 4 5\n"},
		{"no newline", "3.3", MaxRawReply, "3.3"},
		{"empty", "", MaxRawReply, ""},
		{"cut at the limit", strings.Repeat("x", 5000), MaxFormattedReply, strings.Repeat("x", MaxFormattedReply)},
		{"big", strings.Repeat("y", 300000), MaxRawReply, strings.Repeat("y", MaxRawReply)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, req := serveOnce(t, tc.reply)
			got, err := Exchange(path, "status\n", tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("reply of %d bytes, want %d", len(got), len(tc.want))
			}
			if r := <-req; r != "status\n" {
				t.Errorf("server read %q", r)
			}
		})
	}
}

func TestExchangeErrors(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	regular := filepath.Join(dir, "file")
	if err := os.WriteFile(regular, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		path  string
		errno syscall.Errno
	}{
		{"missing", filepath.Join(dir, "none.sock"), syscall.ENOENT},
		{"nobody listening", stale, syscall.ECONNREFUSED},
		{"not a socket", regular, syscall.ECONNREFUSED},
		{"empty path", "", syscall.ECONNREFUSED},
		{"at sign is a file name", "@" + filepath.Join(dir, "none"), syscall.ENOENT},
		{"long path is cut at 107 bytes", filepath.Join(dir, strings.Repeat("d", 200)), syscall.ENOENT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Exchange(tc.path, "status\n", 10)
			var te *TransportError
			if !errors.As(err, &te) || te.Op != "connect" || !errors.Is(err, tc.errno) {
				t.Errorf("got %v, want connect: %v", err, tc.errno)
			}
		})
	}
}

// TestExchangeReset: a server that closes with unread request bytes makes
// the read fail with ECONNRESET.
func TestExchangeReset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mx.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Read(make([]byte, 1))
		c.Close()
	}()
	_, err = Exchange(path, "status\n", 10)
	var te *TransportError
	if !errors.As(err, &te) || te.Op != "read" || te.Errno != syscall.ECONNRESET {
		t.Errorf("got %v, want read: ECONNRESET", err)
	}
	if IsBrokenPipe(err) {
		t.Errorf("a read error is not a broken pipe")
	}
}

// TestDieOfSIGPIPE runs itself as a child that calls DieOfSIGPIPE, and
// checks that the child was killed by SIGPIPE, as the original is when the
// multiplexor closes before reading the request.
func TestDieOfSIGPIPE(t *testing.T) {
	if os.Getenv("MXCTRL_TEST_DIE") == "1" {
		DieOfSIGPIPE()
		os.Exit(3) // not reached when the signal kills the process
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDieOfSIGPIPE$")
	cmd.Env = append(os.Environ(), "MXCTRL_TEST_DIE=1")
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child ended with %v, want killed by SIGPIPE", err)
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGPIPE {
		t.Errorf("child ended with %v, want killed by SIGPIPE", ee)
	}
}
