package smtpcheck

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Client makes call-outs with one Config. It holds nothing between calls,
// so it is cheap: package filter makes one per call, with the host name and
// the log of the request. A Client is safe for concurrent use.
type Client struct {
	cfg Config
}

// New returns a Client for cfg; zero fields of cfg take the defaults
// documented on Config.
func New(cfg Config) *Client {
	return &Client{cfg: cfg.withDefaults()}
}

// Check is md_check_against_smtp_server($sender, $recip, $helo, $server,
// $port): it asks server (port 0 means DefaultPort) whether it would take
// recip from sender, for a Recipient callback to return. Sender and recip
// get angle brackets when they lack them.
//
// The dialogue is the original's: read the banner; reject with (Reject,
// "Verification server loop!  Trying to verify <recip> against myself!",
// "554", "5.4.6") when the banner's text starts with Config.HostName and
// server is neither 127.0.0.1 nor ::1; EHLO; if the EHLO failed, HELO; if
// it advertised STARTTLS, STARTTLS and TLS without certificate
// verification (SNI server), then EHLO again, in plain text when the
// handshake fails; otherwise RSET and EHLO again; then MAIL FROM:<sender>,
// RCPT TO:<recip>, QUIT. The first reply that is not 1xx-3xx ends the
// dialogue with QUIT and is returned; else the RCPT reply is.
//
// Failures are results, never errors: a connection that cannot be made
// gives (TempFail, "Could not connect to other SMTP server <server>,
// error=<reason>") with Code and DSN empty; a server that closes the
// connection or stays silent past Config.Timeout or ctx's deadline gives
// (TempFail, "get_smtp_return_code: Empty response from SMTP server",
// "451", "4.3.0").
func (c *Client) Check(ctx context.Context, sender, recip, helo, server string, port int) Result {
	if !(strings.HasPrefix(sender, "<") && strings.HasSuffix(sender, ">") && len(sender) >= 2) {
		sender = "<" + sender + ">"
	}
	if !(strings.HasPrefix(recip, "<") && strings.HasSuffix(recip, ">") && len(recip) >= 2) {
		recip = "<" + recip + ">"
	}
	if port == 0 {
		port = DefaultPort
	}
	if ctx == nil {
		ctx = context.Background()
	}
	conn, err := c.dial(ctx, net.JoinHostPort(server, strconv.Itoa(port)))
	if err != nil {
		// The original logs this when IO::Socket::SSL fails, before it
		// retries in plain text; the plain connection's error is the one
		// it returns.
		c.cfg.Log("warning", "Falling back to plaintext connection")
		return Result{Verdict: TempFail, Text: "Could not connect to other SMTP server " + server + ", error=" + errnoText(err)}
	}
	s := &session{ctx: ctx, timeout: c.cfg.Timeout, conn: conn, r: bufio.NewReader(conn)}
	defer func() { s.conn.Close() }()
	// ctx's deadline (or cancellation) bounds the whole dialogue.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	reply := func() Result { return c.readReply(s.readLine, recip, server) }
	quit := func(res Result) Result {
		s.send("QUIT")
		reply()
		return res
	}

	res := reply()
	if res.Verdict != Continue {
		return quit(res)
	}
	if server != "127.0.0.1" && server != "::1" && c.cfg.HostName != "" {
		loop := regexp.MustCompile(`^` + regexp.QuoteMeta(c.cfg.HostName) + `\b`)
		if loop.MatchString(res.Text) {
			return quit(Result{Verdict: Reject, Text: "Verification server loop!  Trying to verify " + recip + " against myself!", Code: "554", DSN: "5.4.6"})
		}
	}
	s.send("EHLO " + helo)
	// The original names the recipient where get_smtp_extensions expects
	// the server; it only shows in the "<server> said:" key.
	ehlo, exts := readExtensions(s.readLine, recip)
	_, startTLS := exts["STARTTLS"]
	switch {
	case ehlo.Verdict != Continue:
		s.send("HELO " + helo)
	case startTLS:
		s.send("STARTTLS")
		if res = reply(); res.Verdict != Continue {
			return quit(res)
		}
		s.startTLS(server, c.cfg.Log)
		s.send("EHLO " + helo)
	default:
		c.cfg.Log("debug", "md_check_against_smtp_server: STARTTLS not available")
		s.send("RSET")
		reply()
		s.send("EHLO " + helo)
	}
	if res = reply(); res.Verdict != Continue {
		return quit(res)
	}
	c.cfg.Log("debug", "md_check_against_smtp_server: Checking sender "+sender)
	s.send("MAIL FROM:" + sender)
	if res = reply(); res.Verdict != Continue {
		return quit(res)
	}
	c.cfg.Log("debug", "md_check_against_smtp_server: Checking recipient "+recip)
	s.send("RCPT TO:" + recip)
	return quit(reply())
}

// dial connects to addr with Config.Dial, within Config.Timeout.
func (c *Client) dial(ctx context.Context, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	return c.cfg.Dial(ctx, "tcp", addr)
}

// session is the connection of one call-out. Once ctx is done, nothing is
// written and every read fails.
type session struct {
	ctx     context.Context
	timeout time.Duration
	conn    net.Conn
	r       *bufio.Reader
}

func (s *session) send(line string) {
	if s.ctx.Err() != nil {
		return
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
	_, _ = s.conn.Write([]byte(line + "\r\n"))
}

func (s *session) readLine() (string, bool) {
	if s.ctx.Err() != nil {
		return "", false
	}
	_ = s.conn.SetReadDeadline(time.Now().Add(s.timeout))
	line, err := s.r.ReadString('\n')
	if err != nil && line == "" {
		return "", false
	}
	return line, true
}

// startTLS upgrades the connection after the server's 220 to STARTTLS,
// without certificate verification and with server as SNI, as the
// original's start_SSL does. When the handshake fails the dialogue goes
// on in plain text over the same connection, as in the original.
func (s *session) startTLS(server string, log func(priority, msg string)) {
	tc := tls.Client(s.conn, &tls.Config{InsecureSkipVerify: true, ServerName: server}) //nolint:gosec // the original does not verify either
	_ = s.conn.SetDeadline(time.Now().Add(s.timeout))
	if err := tc.HandshakeContext(s.ctx); err == nil {
		log("debug", "md_check_against_smtp_server: start_SSL succeeded!")
		s.conn, s.r = tc, bufio.NewReader(tc)
	} else {
		log("debug", fmt.Sprintf("md_check_against_smtp_server: %s offers STARTTLS but fails with error %v. Falling back to plaintext...", server, err))
	}
	_ = s.conn.SetDeadline(time.Time{})
}

// errnoText is Perl's "$!" for a failed connection: the C library's text
// of the errno ("Connection refused").
func errnoText(err error) string {
	var errno syscall.Errno
	var s string
	switch {
	case errors.As(err, &errno):
		s = errno.Error()
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		s = "connection timed out"
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			s = "connection timed out"
		} else {
			var de *net.DNSError
			if errors.As(err, &de) {
				return de.Err
			}
			return err.Error()
		}
	}
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
