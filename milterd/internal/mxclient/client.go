package mxclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"
)

// MaxReply is the most bytes of a reply the milter keeps: MXCommand reads
// into a buffer of SMALLBUF-1 bytes and keeps len-1 = 16382 of them
// (docs/reference/protocol.md §3.1).
const MaxReply = 16382

// DefaultTimeout bounds one exchange (connect, write, read) when
// Client.Timeout is zero. It is generous on purpose: longer than the
// multiplexor's default busy timeout (-b 120 s) plus its queue wait (-Q 30
// s), and longer than the MTAs' default milter timeouts (5 minutes), so it
// only ever fires for a multiplexor that hangs.
const DefaultTimeout = 10 * time.Minute

// Client sends requests to the multiplexor's socket. The zero value with
// Path set is ready to use, and a Client is safe for concurrent use: every
// request has its own connection.
type Client struct {
	// Path is the multiplexor's UNIX-domain socket (-m).
	Path string

	// Timeout bounds each exchange. Zero means DefaultTimeout; a negative
	// value means no deadline of the client's own, as in the original
	// (the context still applies).
	Timeout time.Duration

	// Dial opens the connection. Nil means a UNIX-domain stream
	// connection to Path. Tests set it.
	Dial func(ctx context.Context, path string) (net.Conn, error)

	// Logger receives the warning the original logs when a reply was
	// longer than MaxReply ("MXCommand: Overlong reply from multiplexor
	// was truncated!"). Nil means slog.Default().
	Logger *slog.Logger
}

// Reply is the raw answer to one request.
type Reply struct {
	// Text is the reply as read, at most MaxReply bytes.
	Text string
	// Truncated is true when the multiplexor sent more than MaxReply
	// bytes; the rest was read and discarded. As in the original, a
	// reply of exactly MaxReply bytes is not truncated.
	Truncated bool
}

// Error is every failure of an exchange. Each one means the milter answers
// with a temporary failure (docs/reference/protocol.md §3.4).
type Error struct {
	// Command is the request's command name ("free", "relayok", ...).
	Command string
	// Op is the step that failed: "connect", "write", "read", or "reply"
	// when the exchange worked but the reply cannot be used.
	Op string
	// Reply is, for Op "reply", the reply the way the original logs it
	// after "Error from multiplexor: ".
	Reply string
	// Err is the cause. For a deadline or a cancelled context it wraps
	// context.DeadlineExceeded or context.Canceled; for a bad check or
	// free reply it wraps proto.ErrBadReply.
	Err error
}

func (e *Error) Error() string {
	if e.Op == "reply" {
		return fmt.Sprintf("mxclient: %s: error from multiplexor: %q", e.Command, e.Reply)
	}
	return fmt.Sprintf("mxclient: %s: %s: %v", e.Command, e.Op, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// LogText is the message the original milter logs for this failure, without
// its "<qid>: " prefix: "MXCommand: connect: <cause>: Is multiplexor
// running?" (likewise for write and read) or "Error from multiplexor:
// <reply>". A deadline, which the original does not have, reads
// "MXCommand: read: <cause>: Is multiplexor running?" as well.
func (e *Error) LogText() string {
	if e.Op == "reply" {
		return "Error from multiplexor: " + e.Reply
	}
	return "MXCommand: " + e.Op + ": " + causeText(e.Err) + ": Is multiplexor running?"
}

// causeText is the strerror part of a cause: the innermost message.
func causeText(err error) string {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err.Error()
	}
	return err.Error()
}

// IsTempFail reports whether err came from this package. Every such error
// means a temporary failure; the predicate exists so callers say so
// explicitly.
func IsTempFail(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

func (c *Client) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	if c.Dial != nil {
		return c.Dial(ctx, c.Path)
	}
	// A full listen backlog makes a UNIX-domain connect fail at once with
	// EAGAIN, where the original's blocking connect waits. Wait too, with a
	// short back-off, until the exchange's deadline: a busy multiplexor
	// must not turn into tempfailed mail.
	var d net.Dialer
	backoff := time.Millisecond
	for {
		conn, err := d.DialContext(ctx, "unix", c.Path)
		if err == nil || !errors.Is(err, syscall.EAGAIN) {
			return conn, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(backoff):
		}
		if backoff < 50*time.Millisecond {
			backoff *= 2
		}
	}
}

// Exchange sends one request line (which must end in "\n") on a new
// connection and reads the reply until the multiplexor closes it, keeping at
// most MaxReply bytes (utils.c: MXCommand). The end of a reply is the end of
// the connection, not a newline. A failure is an *Error; the reply's content
// is not judged here.
func (c *Client) Exchange(ctx context.Context, line string) (Reply, error) {
	cmd := commandName(line)
	fail := func(op string, err error) (Reply, error) {
		cerr := ctx.Err()
		if cerr == nil && errors.Is(err, os.ErrDeadlineExceeded) {
			// The socket deadline is the context's and may fire
			// a moment before the context notices.
			cerr = context.DeadlineExceeded
		}
		if cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%w)", cerr, err)
		}
		return Reply{}, &Error{Command: cmd, Op: op, Err: err}
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if err := ctx.Err(); err != nil {
		return fail("connect", err)
	}
	conn, err := c.dial(ctx)
	if err != nil {
		return fail("connect", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// A cancelled context interrupts a blocked write or read.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if _, err := io.WriteString(conn, line); err != nil {
		return fail("write", err)
	}
	buf := make([]byte, MaxReply)
	n, err := io.ReadFull(conn, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return Reply{Text: string(buf[:n])}, nil
	case err != nil:
		return fail("read", err)
	}
	// The buffer is full: read on to EOF to learn whether anything was
	// cut, and throw it away. Like the original, a read error here does
	// not fail the exchange; unlike it, a deadline does.
	extra, err := io.Copy(io.Discard, conn)
	if err != nil && (ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded)) {
		return fail("read", err)
	}
	r := Reply{Text: string(buf), Truncated: extra > 0}
	if r.Truncated {
		c.logger().Warn("MXCommand: Overlong reply from multiplexor was truncated!",
			"command", cmd, "discarded", extra)
	}
	return r, nil
}

// commandName is the first word of a request line, for errors and logs.
func commandName(line string) string {
	for i := 0; i < len(line); i++ {
		if line[i] == ' ' || line[i] == '\n' {
			return line[:i]
		}
	}
	return line
}
