package mxctrl

import (
	"errors"
	"strconv"
	"strings"
	"syscall"
)

// TransportError is a failure to exchange a command with the multiplexor:
// creating the socket, connecting, writing the request or reading the reply.
type TransportError struct {
	// Op is "socket", "connect", "write" or "read".
	Op string
	// Errno is the system error.
	Errno syscall.Errno
}

// Error implements error.
func (e *TransportError) Error() string {
	return "mxctrl: " + e.Op + ": " + e.Errno.Error()
}

// Unwrap returns the system error, so errors.Is(err, syscall.ECONNREFUSED)
// works.
func (e *TransportError) Unwrap() error { return e.Errno }

// Message is the line the original prints for this error, newline included:
//
//	ERROR MXCommand: connect: No such file or directory: Is multiplexor running?
//
// The socket error and a connect refused for lack of permission (EPERM,
// EACCES) have no ": Is multiplexor running?" suffix; the others have it.
func (e *TransportError) Message() string {
	msg := "ERROR MXCommand: " + e.Op + ": " + Strerror(e.Errno)
	if e.Op == "socket" || e.Op == "connect" && (e.Errno == syscall.EPERM || e.Errno == syscall.EACCES) {
		return msg + "\n"
	}
	return msg + ": Is multiplexor running?\n"
}

// IsBrokenPipe reports whether err is a write to a multiplexor that had
// already closed the connection (EPIPE), which kills the original with
// SIGPIPE before it can print anything.
func IsBrokenPipe(err error) bool {
	var te *TransportError
	return errors.As(err, &te) && te.Op == "write" && te.Errno == syscall.EPIPE
}

// Strerror is glibc's strerror text for errno: Go's text with an initial
// capital ("No such file or directory"), except for the few numbers Go and
// glibc describe differently.
func Strerror(errno syscall.Errno) string {
	switch errno {
	case 0:
		return "Success"
	case 133: // EHWPOISON, which Go's table lacks
		return "Memory page has hardware error"
	}
	s := errno.Error()
	if strings.HasPrefix(s, "errno ") {
		return "Unknown error " + strconv.Itoa(int(errno))
	}
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// errnoOf extracts the system error number from err, or EIO.
func errnoOf(err error) syscall.Errno {
	var en syscall.Errno
	if errors.As(err, &en) {
		return en
	}
	return syscall.EIO
}

// Exchange sends request to the multiplexor listening on the UNIX-domain
// socket at path and returns its reply: everything it writes until it closes
// the connection, or the first limit bytes. One request per connection;
// there is no timeout. Failures are *TransportError.
//
// The path is used as the original uses it: truncated to 107 bytes, never
// taken as an abstract socket name (a leading '@' is a file name).
func Exchange(path, request string, limit int) (string, error) {
	fd, err := unixConnect(path)
	if err != nil {
		return "", err
	}
	defer syscall.Close(fd)

	for b := []byte(request); len(b) > 0; {
		n, err := syscall.Write(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return "", &TransportError{Op: "write", Errno: errnoOf(err)}
		}
		b = b[n:]
	}

	buf := make([]byte, limit)
	nread := 0
	for nread < limit {
		n, err := syscall.Read(fd, buf[nread:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return "", &TransportError{Op: "read", Errno: errnoOf(err)}
		}
		if n == 0 {
			break
		}
		nread += n
	}
	return string(buf[:nread]), nil
}
