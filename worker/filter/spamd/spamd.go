package spamd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ProtocolVersion is the protocol the client speaks.
const ProtocolVersion = "SPAMC/1.5"

// The verbs of the protocol.
const (
	VerbCheck   = "CHECK"   // the verdict only
	VerbSymbols = "SYMBOLS" // the verdict and the rule names (body "A,B")
	VerbReport  = "REPORT"  // the verdict and the report (body)
	VerbProcess = "PROCESS" // the verdict and the message as spamd rewrites it
	VerbPing    = "PING"    // "SPAMD/1.5 0 PONG"
)

// Client asks spamd about messages with one Config. It holds nothing
// between calls (every call opens its own connection) and is safe for
// concurrent use.
type Client struct {
	cfg Config
}

// New returns a Client for cfg; zero fields of cfg take the defaults
// documented on Config.
func New(cfg Config) *Client { return &Client{cfg: cfg.withDefaults()} }

// Config returns the client's configuration, with the defaults filled in.
func (c *Client) Config() Config { return c.cfg }

// Addr is spamd's address as the log lines name it: host:port, or the
// socket's path.
func (c *Client) Addr() string {
	_, addr := c.cfg.Network()
	return addr
}

// Report is md_spamc_check's exchange: REPORT with msg (cut to MaxSize).
// The Result has the score, the threshold, spamd's True/False and the
// report; no rule names. A failure gives a Result with OK false and logs,
// with the priority "Warning" the original uses, the original's line
// ("md_spamc_check: Failed to create connection to spamd daemon:
// Connection refused") or md-worker's for what the original does not see
// (a timeout, garbage), then "md_spamc_check: no verdict from spamd at
// <addr>: the message is not checked for spam".
func (c *Client) Report(ctx context.Context, msg []byte) Result {
	return c.scan(ctx, "md_spamc_check", msg, false)
}

// Check is spam_assassin_check's exchange: SYMBOLS, then REPORT, with msg
// (cut to MaxSize), for the score, the threshold, the rule names and the
// report. Failures are Report's, logged with "spam_assassin_check: ".
func (c *Client) Check(ctx context.Context, msg []byte) Result {
	return c.scan(ctx, "spam_assassin_check", msg, true)
}

// Ping reports whether spamd answers PING with PONG.
func (c *Client) Ping(ctx context.Context) bool {
	r, err := c.Do(ctx, VerbPing, nil)
	return err == nil && r.Code == 0 && strings.Contains(r.Message, "PONG")
}

func (c *Client) scan(ctx context.Context, name string, msg []byte, symbols bool) Result {
	if c.cfg.MaxSize > 0 && len(msg) > c.cfg.MaxSize {
		msg = msg[:c.cfg.MaxSize]
	}
	res := Result{}
	if symbols {
		r, ok := c.exchange(ctx, name, VerbSymbols, msg)
		if !ok {
			return Result{}
		}
		res.Tests = Symbols(r.Body)
	}
	r, ok := c.exchange(ctx, name, VerbReport, msg)
	if !ok {
		return Result{}
	}
	res.OK, res.Score, res.Threshold, res.Spam, res.IsSpam = true, r.Score, r.Threshold, r.Spam, r.IsSpam()
	res.Report = string(r.Body)
	return res
}

// exchange is one scan command; a failure is logged.
func (c *Client) exchange(ctx context.Context, name, verb string, msg []byte) (Reply, bool) {
	r, err := c.Do(ctx, verb, msg)
	switch {
	case err != nil:
		var ce *connectError
		if errors.As(err, &ce) {
			c.cfg.Log("Warning", name+": Failed to create connection to spamd daemon: "+errnoText(ce.err))
		} else {
			c.cfg.Log("Warning", fmt.Sprintf("%s: spamd at %s: %v", name, c.Addr(), err))
		}
	case r.Code != 0:
		c.cfg.Log("Warning", fmt.Sprintf("%s: spamd at %s answered %d %s", name, c.Addr(), r.Code, r.Message))
	case !r.HasSpam:
		c.cfg.Log("Warning", fmt.Sprintf("%s: spamd at %s answered %s without a Spam header", name, c.Addr(), verb))
	default:
		return r, true
	}
	c.cfg.Log("Warning", fmt.Sprintf("%s: no verdict from spamd at %s: the message is not checked for spam", name, c.Addr()))
	return r, false
}

// connectError is a failed connection.
type connectError struct{ err error }

func (e *connectError) Error() string { return "cannot connect: " + e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

// ErrTimeout is the error of a step that passed Timeout or the caller's
// deadline.
var ErrTimeout = errors.New("timeout")

// Do sends one request (verb with msg as its body; PING has none) and
// returns spamd's parsed reply. It does not cut msg to MaxSize. An error
// is a failed connection, a timeout (ErrTimeout, also when ctx ends), a
// failed write or read, or a reply ParseReply refuses; a reply with a
// non-zero code is returned without error.
func (c *Client) Do(ctx context.Context, verb string, msg []byte) (Reply, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	network, addr := c.cfg.Network()
	dctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	conn, err := c.cfg.Dial(dctx, network, addr)
	cancel()
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			return Reply{}, fmt.Errorf("%w connecting", ErrTimeout)
		}
		return Reply{}, &connectError{err}
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var req strings.Builder
	req.WriteString(verb + " " + ProtocolVersion + "\r\n")
	if verb != VerbPing {
		req.WriteString("Content-length: " + strconv.Itoa(len(msg)) + "\r\n")
		if c.cfg.User != "" {
			req.WriteString("User: " + c.cfg.User + "\r\n")
		}
	}
	req.WriteString("\r\n")
	conn.SetWriteDeadline(time.Now().Add(c.cfg.Timeout))
	if _, err := io.WriteString(conn, req.String()); err == nil && verb != VerbPing {
		_, err = conn.Write(msg)
		if err != nil {
			return Reply{}, c.stepError(ctx, "writing", err)
		}
	} else if err != nil {
		return Reply{}, c.stepError(ctx, "writing", err)
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	conn.SetReadDeadline(time.Now().Add(c.cfg.Timeout))
	b, err := io.ReadAll(io.LimitReader(conn, maxReply+1))
	if err != nil {
		return Reply{}, c.stepError(ctx, "reading", err)
	}
	if len(b) > maxReply {
		return Reply{}, fmt.Errorf("reply longer than %d bytes", maxReply)
	}
	if len(b) == 0 {
		return Reply{}, errors.New("connection closed without a reply")
	}
	return ParseReply(b)
}

func (c *Client) stepError(ctx context.Context, step string, err error) error {
	if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w %s", ErrTimeout, step)
	}
	return fmt.Errorf("%s: %w", step, err)
}

// errnoText is Perl's $! for a connection error: "Connection refused",
// "No such file or directory".
func errnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return err.Error()
}

func itoa(n int) string { return strconv.Itoa(n) }
