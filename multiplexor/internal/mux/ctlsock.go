package mux

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The privileged control socket carries every milter request, one connection
// each, so its connections bypass the Go poller: registering each with epoll
// and removing it again, for a connection that lives for one line, cost more
// than the rest of the request path. The listener itself stays on the poller,
// so waiting for a connection holds no thread. A connection whose client has
// not written yet is waited for with poll(2) on this goroutine's thread; no
// more than maxRawPollers threads wait so at once, and connections beyond that
// go through the poller as usual.

const maxRawPollers = 64

var rawPollers atomic.Int32

// rawUnixListener is a non-blocking UNIX listening socket owned by an
// *os.File, so that waiting for a connection goes through the Go poller while
// accepted connections do not.
type rawUnixListener struct {
	f    *os.File
	addr *net.UnixAddr
}

func (l *rawUnixListener) Accept() (net.Conn, error) { return nil, errors.ErrUnsupported }
func (l *rawUnixListener) Close() error              { return l.f.Close() }
func (l *rawUnixListener) Addr() net.Addr            { return l.addr }

// listenUnixRaw creates the listening socket at path (an old file there is
// removed first) with umask in force.
func listenUnixRaw(path string, umask int) (*rawUnixListener, error) {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("mux: removing old socket %s: %w", path, err)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("mux: socket: %w", err)
	}
	old := unix.Umask(umask)
	err = unix.Bind(fd, &unix.SockaddrUnix{Name: path})
	unix.Umask(old)
	if err == nil {
		err = unix.Listen(fd, unix.SOMAXCONN)
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mux: listen on %s: %w", path, err)
	}
	return &rawUnixListener{f: os.NewFile(uintptr(fd), path), addr: &net.UnixAddr{Name: path, Net: "unix"}}, nil
}

// acceptRaw accepts connections and serves each on its own goroutine with a
// raw, non-blocking descriptor.
func (s *Server) acceptRaw(l *rawUnixListener, privileged bool) {
	rc, err := l.f.SyscallConn()
	if err != nil {
		s.log.Errorf("control socket: %v", err)
		return
	}
	for {
		var nfd int
		var aerr error
		err := rc.Read(func(fd uintptr) bool {
			nfd, _, aerr = unix.Accept4(int(fd), unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
			return aerr != unix.EAGAIN
		})
		if err != nil {
			return // the listener was closed
		}
		switch {
		case aerr == nil:
			go s.serveRaw(nfd, privileged)
		case errors.Is(aerr, unix.EMFILE) || errors.Is(aerr, unix.ENFILE):
			s.log.Errorf("control socket: accept: %v", aerr)
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// serveRaw answers one connection: one command, one reply, close.
func (s *Server) serveRaw(fd int, privileged bool) {
	deadline := time.Now().Add(s.cfg.ClientTimeout)
	polling := false
	defer func() {
		if polling {
			rawPollers.Add(-1)
		}
	}()
	fallback, got := false, 0
	read := func(b []byte) (int, error) {
		for {
			n, err := unix.Read(fd, b)
			if err != unix.EAGAIN && err != unix.EINTR {
				if n == 0 && err == nil {
					return 0, os.ErrClosed // EOF
				}
				got += max(n, 0)
				return n, err
			}
			if !polling {
				// Nothing read yet is the only moment the connection can
				// still be handed over whole.
				if rawPollers.Add(1) > maxRawPollers && got == 0 {
					rawPollers.Add(-1)
					fallback = true
					return 0, errFallback
				}
				polling = true
			}
			if err := pollFD(fd, unix.POLLIN, deadline); err != nil {
				return 0, err
			}
		}
	}
	reply, ok := s.answer(read, privileged)
	if fallback {
		// Too many slow clients at once: hand this one to the Go poller.
		f := os.NewFile(uintptr(fd), "control")
		conn, err := net.FileConn(f)
		f.Close()
		if err == nil {
			s.serveControl(conn, privileged)
		}
		return
	}
	defer unix.Close(fd)
	if !ok || reply == "" {
		return
	}
	b := []byte(reply)
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if n > 0 {
			b = b[n:]
		}
		switch {
		case err == unix.EAGAIN || err == unix.EINTR:
			if pollFD(fd, unix.POLLOUT, deadline) != nil {
				return
			}
		case err != nil:
			return
		}
	}
}

var (
	errFallback = errors.New("mux: too many slow control clients")
	errDeadline = errors.New("mux: control client timed out")
)

// pollFD waits until fd is ready for events or the deadline passes.
func pollFD(fd int, events int16, deadline time.Time) error {
	for {
		ms := time.Until(deadline).Milliseconds()
		if ms <= 0 {
			return errDeadline
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: events}}
		n, err := unix.Poll(pfd, int(ms))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
	}
}
