package clamd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Client asks clamd about messages and parts with one Config. It holds
// nothing between calls (every call opens its own connections), so it is
// cheap: package filter makes one per call, with the log of the request. A
// Client is safe for concurrent use.
type Client struct {
	cfg Config
}

// New returns a Client for cfg; zero fields of cfg take the defaults
// documented on Config.
func New(cfg Config) *Client {
	return &Client{cfg: cfg.withDefaults()}
}

// Entity is what the client scans of one MIME part.
type Entity struct {
	// Body writes the decoded body to w (INSTREAM). An error of its own
	// (a body that does not decode to the end) ends the stream where it
	// stopped and the part is still scanned, as the original scans the
	// file its parser wrote; a failed write ends the call.
	Body func(w io.Writer) error
	// Path returns the absolute path of a file holding the decoded body,
	// writing it if needed (SCAN, MULTISCAN). A relative path is taken
	// relative to CWD.
	Path func() (string, error)
	// CWD is $CWD, for a relative Path.
	CWD string
}

// Message is what the client scans of a whole message.
type Message struct {
	// Parts are streamed one by one (INSTREAM): the decoded leaves, and
	// the files a filter copied into Work (INPUTMSG, INPUTMBOX), what the
	// original's SCAN of ./Work reads.
	Parts []func(w io.Writer) error
	// Work returns the absolute path of the Work directory with every
	// decoded leaf written in it (SCAN, MULTISCAN).
	Work func() (string, error)
}

// MessageContainsVirus is message_contains_virus_clamd($sock): it checks
// that clamd answers PING with PONG on one connection, then scans the
// message: with INSTREAM, each of msg.Parts on a connection of its own,
// stopping at the first virus; with SCAN or MULTISCAN, "zSCAN <Work>" or
// "zMULTISCAN <Work>" on one connection. sock "" means Config.Sock.
//
// Outcomes, with what is logged (the original's lines, then md-worker's
// additions):
//   - a virus: (1, virus, quarantine), VirusName and Messages set;
//   - clean: (0, ok, ok);
//   - no connection: (999, cannot-execute, tempfail), "Could not connect
//     to clamd daemon at <sock>";
//   - a write or an answer past its timeout, or ctx done: (999,
//     cannot-execute, tempfail), "Timeout writing to clamd daemon at
//     <sock>" or "Timeout reading from clamd daemon at <sock>";
//   - PING answered with anything but PONG: (999, cannot-execute,
//     tempfail), "clamd is not responding";
//   - an error reply: (999, swerr, tempfail), "Clamd returned error:
//     <detail>", Detail set (an error for one part does not stop the
//     others from being scanned: a virus in another still wins);
//   - no reply, garbage, a failed write, a Work directory that cannot be
//     written: (999, swerr, tempfail), with a line saying which.
func (c *Client) MessageContainsVirus(ctx context.Context, sock string, msg Message) Result {
	if ctx == nil {
		ctx = context.Background()
	}
	if sock == "" {
		sock = c.cfg.Sock
	}
	if r, ok := c.checkMode(); !ok {
		return r
	}
	s := c.session(ctx, sock, "daemon")
	if r, ok := s.ping(); !ok {
		return r
	}
	if c.cfg.Mode != Instream {
		work, err := msg.Work()
		if err != nil {
			c.cfg.Log("err", fmt.Sprintf("Cannot write the message's parts to Work for clamd: %v", err))
			return swerrResult("")
		}
		return s.result(s.command("z"+string(c.cfg.Mode)+" "+work, nil))
	}
	var failed *Result
	for _, part := range msg.Parts {
		r := s.result(s.command("zINSTREAM", part))
		switch {
		case r.Category == Virus || r.Category == CannotExecute:
			return r
		case r.Category != OK && failed == nil:
			failed = &r
		}
	}
	if failed != nil {
		return *failed
	}
	return okResult()
}

// EntityContainsVirus is entity_contains_virus_clamd($entity, $sock): it
// scans one part on one connection, without PING: INSTREAM streams
// e.Body, SCAN and MULTISCAN send e.Path. A part without a body (a
// container) is the caller's (0, ok, ok). The outcomes are
// MessageContainsVirus's, but that the connection failure is logged as
// "Could not connect to clamd Daemon at <sock>" (the original's
// capital), and a Path that fails gives (999, swerr, tempfail).
func (c *Client) EntityContainsVirus(ctx context.Context, sock string, e Entity) Result {
	if ctx == nil {
		ctx = context.Background()
	}
	if sock == "" {
		sock = c.cfg.Sock
	}
	if r, ok := c.checkMode(); !ok {
		return r
	}
	s := c.session(ctx, sock, "Daemon")
	if c.cfg.Mode == Instream {
		return s.result(s.command("zINSTREAM", e.Body))
	}
	path, err := e.Path()
	if err != nil {
		c.cfg.Log("err", fmt.Sprintf("Cannot write the part to a file for clamd: %v", err))
		return swerrResult("")
	}
	if !filepath.IsAbs(path) {
		path = e.CWD + "/" + path
	}
	return s.result(s.command("z"+string(c.cfg.Mode)+" "+path, nil))
}

// Ping is PING: it reports whether clamd at sock ("" means Config.Sock)
// answers PONG, logging as MessageContainsVirus does when it does not.
func (c *Client) Ping(ctx context.Context, sock string) bool {
	if ctx == nil {
		ctx = context.Background()
	}
	if sock == "" {
		sock = c.cfg.Sock
	}
	_, ok := c.session(ctx, sock, "daemon").ping()
	return ok
}

func (c *Client) checkMode() (Result, bool) {
	switch c.cfg.Mode {
	case Instream, Scan, Multiscan:
		return Result{}, true
	}
	c.cfg.Log("err", fmt.Sprintf("Unknown clamd mode %q: use INSTREAM, SCAN or MULTISCAN", c.cfg.Mode))
	return swerrResult(""), false
}

// session is the calls of one Perl function to one clamd. daemon is how
// its "Could not connect" line spells the word ("daemon", or "Daemon" for
// the entity function).
type session struct {
	c      *Client
	ctx    context.Context
	sock   string
	daemon string
}

func (c *Client) session(ctx context.Context, sock, daemon string) *session {
	return &session{c: c, ctx: ctx, sock: sock, daemon: daemon}
}

// failure is what went wrong in one exchange.
type failure int

const (
	noFailure     failure = iota
	failedConnect         // could not connect
	timedOutWrite         // a write past WriteTimeout, or ctx done
	failedWrite           // a write failed otherwise, and no reply came
	timedOutRead          // no (complete) answer within ReadTimeout, or ctx done
	failedRead            // the connection ended before any answer
)

// exchange is the outcome of one command.
type exchange struct {
	reply   []byte
	failure failure
	err     error
}

// ping sends zPING on a connection of its own and expects PONG.
func (s *session) ping() (Result, bool) {
	x := s.command("zPING", nil)
	switch x.failure {
	case failedConnect, timedOutWrite, timedOutRead:
		return s.failed(x), false
	}
	if !IsPong(x.reply) {
		// No answer at all is the original's "not responding" too.
		s.c.cfg.Log("err", "clamd is not responding")
		return cannotExecuteResult(), false
	}
	return Result{}, true
}

// result turns the exchange of a scan command into the original's result.
func (s *session) result(x exchange) Result {
	if x.failure != noFailure {
		return s.failed(x)
	}
	r := ParseReply(x.reply)
	switch r.Status {
	case Found:
		return virusResult(r.Virus)
	case Error:
		s.c.cfg.Log("err", "Clamd returned error: "+r.Detail)
		return swerrResult(r.Detail)
	case Clean:
		return okResult()
	}
	s.c.cfg.Log("err", fmt.Sprintf("Unexpected reply from clamd daemon at %s: %q", s.sock, r.Detail))
	return swerrResult("")
}

// failed logs a failed exchange and returns its result.
func (s *session) failed(x exchange) Result {
	log := s.c.cfg.Log
	switch x.failure {
	case failedConnect:
		log("err", fmt.Sprintf("Could not connect to clamd %s at %s", s.daemon, s.sock))
		log("info", fmt.Sprintf("clamd at %s: %v", s.sock, x.err))
		return cannotExecuteResult()
	case timedOutWrite:
		log("err", "Timeout writing to clamd daemon at "+s.sock)
		return cannotExecuteResult()
	case timedOutRead:
		log("err", "Timeout reading from clamd daemon at "+s.sock)
		return cannotExecuteResult()
	case failedWrite:
		log("err", fmt.Sprintf("Error writing to clamd daemon at %s: %v", s.sock, x.err))
	default:
		log("err", fmt.Sprintf("No reply from clamd daemon at %s: %v", s.sock, x.err))
	}
	return swerrResult("")
}

// command sends cmd (NUL-terminated), then, when body is set, body's bytes
// as INSTREAM chunks and the zero-length chunk that ends them, and reads
// the reply: up to the first NUL for PING and INSTREAM, up to the end of
// the connection for SCAN and MULTISCAN (which may answer several lines).
// Each write has WriteTimeout, the reply ReadTimeout, and ctx ends
// everything.
func (s *session) command(cmd string, body func(io.Writer) error) exchange {
	cfg := s.c.cfg
	if err := s.ctx.Err(); err != nil {
		return exchange{failure: timedOutWrite, err: err}
	}
	conn, err := s.dial()
	if err != nil {
		return exchange{failure: failedConnect, err: err}
	}
	defer conn.Close()
	// ctx's deadline (or cancellation) ends whatever step is under way.
	stop := context.AfterFunc(s.ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	w := &chunkWriter{conn: conn, timeout: cfg.WriteTimeout, ctx: s.ctx}
	werr := w.raw([]byte(cmd + "\x00"))
	if werr == nil && body != nil {
		w.buf = make([]byte, 0, cfg.ChunkSize)
		// A body that fails on its own (not on our writes) is streamed as
		// far as it goes.
		_ = body(w)
		werr = w.close()
	}
	if werr != nil && isTimeout(werr, s.ctx) {
		return exchange{failure: timedOutWrite, err: werr}
	}

	// After a failed write clamd may still have answered before closing
	// ("INSTREAM size limit exceeded. ERROR").
	untilNUL := body != nil || cmd == "zPING"
	reply, rerr := readReply(s.ctx, conn, cfg.ReadTimeout, untilNUL)
	switch {
	case len(reply) > 0 && (rerr == nil || !isTimeout(rerr, s.ctx) || werr != nil):
		return exchange{reply: reply}
	case werr != nil:
		return exchange{failure: failedWrite, err: werr}
	case rerr != nil && isTimeout(rerr, s.ctx):
		return exchange{failure: timedOutRead, err: rerr}
	case len(reply) == 0:
		if rerr == nil {
			rerr = io.EOF
		}
		return exchange{failure: failedRead, err: rerr}
	}
	return exchange{reply: reply}
}

// dial connects to s.sock: TCP when it contains ':', as the original
// decides, else a Unix socket.
func (s *session) dial() (net.Conn, error) {
	network := "unix"
	if strings.Contains(s.sock, ":") {
		network = "tcp"
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.c.cfg.WriteTimeout)
	defer cancel()
	return s.c.cfg.Dial(ctx, network, s.sock)
}

// readReply reads a reply within timeout: up to and including the first
// NUL when untilNUL, else to the end of the connection; at most maxReply
// bytes either way. A reply cut by a timeout is returned with the error.
func readReply(ctx context.Context, conn net.Conn, timeout time.Duration, untilNUL bool) ([]byte, error) {
	setDeadline(ctx, conn.SetReadDeadline, timeout)
	var out []byte
	buf := make([]byte, 4096)
	for len(out) < maxReply {
		n, err := conn.Read(buf)
		out = append(out, buf[:n]...)
		if untilNUL && bytes.IndexByte(buf[:n], 0) >= 0 {
			return out, nil
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// setDeadline sets a deadline timeout from now with set, or one in the
// past when ctx is done: ctx's AfterFunc may have run just before.
func setDeadline(ctx context.Context, set func(time.Time) error, timeout time.Duration) {
	_ = set(time.Now().Add(timeout))
	if ctx.Err() != nil {
		_ = set(time.Unix(1, 0))
	}
}

// isTimeout reports whether err is a deadline passing: WriteTimeout or
// ReadTimeout, or ctx's end (which sets a deadline in the past).
func isTimeout(err error, ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// chunkWriter writes INSTREAM chunks: each flush is a 4-byte big-endian
// length and that many bytes. The first write error sticks.
type chunkWriter struct {
	conn    net.Conn
	timeout time.Duration
	ctx     context.Context
	buf     []byte
	err     error
}

// raw writes b as is, within the write timeout.
func (w *chunkWriter) raw(b []byte) error {
	if w.err != nil {
		return w.err
	}
	if err := w.ctx.Err(); err != nil {
		w.err = err
		return err
	}
	setDeadline(w.ctx, w.conn.SetWriteDeadline, w.timeout)
	_, w.err = w.conn.Write(b)
	return w.err
}

// Write buffers b and sends every full chunk.
func (w *chunkWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if w.err != nil {
			return n, w.err
		}
		k := copy(w.buf[len(w.buf):cap(w.buf)], b)
		w.buf = w.buf[:len(w.buf)+k]
		b, n = b[k:], n+k
		if len(w.buf) == cap(w.buf) {
			w.flush()
		}
	}
	return n, w.err
}

// flush sends the buffered bytes as one chunk.
func (w *chunkWriter) flush() {
	if len(w.buf) == 0 {
		return
	}
	frame := make([]byte, 4, 4+len(w.buf))
	binary.BigEndian.PutUint32(frame, uint32(len(w.buf)))
	_ = w.raw(append(frame, w.buf...))
	w.buf = w.buf[:0]
}

// close sends what is buffered and the zero-length chunk that ends the
// stream.
func (w *chunkWriter) close() error {
	w.flush()
	return w.raw([]byte{0, 0, 0, 0})
}
