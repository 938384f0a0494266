package filter

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
	"unicode"
)

// SMTP recipient call-out (Mail::MIMEDefang::Mail).

// smtpTimeout is IO::Socket's Timeout of md_check_against_smtp_server,
// used here for the connection and for every reply.
var smtpTimeout = 25 * time.Second

// SMTPResult is what md_check_against_smtp_server returns: ($retval,
// $text, $code, $dsn). Verdict is "CONTINUE" (1xx-3xx), "TEMPFAIL" (4xx,
// a bad or missing reply, a failed connection) or "REJECT" (5xx). Code
// and DSN are "" when the original returns only two values (a failed
// connection); DSN is also "" when the server's reply had none.
type SMTPResult struct {
	Verdict string
	Text    string
	Code    string
	DSN     string
}

// Answer turns the result into a Recipient callback's answer, as a Perl
// filter_recipient does with "return md_check_against_smtp_server(...)".
func (r SMTPResult) Answer() Answer {
	return Answer{Verdict: Verdict(r.Verdict), Msg: r.Text, Code: r.Code, DSN: r.DSN}
}

// smtpConn is the connection of one call-out.
type smtpConn struct {
	ctx  context.Context
	conn net.Conn
	r    *bufio.Reader
}

func (s *smtpConn) send(line string) {
	if s.ctx.Err() != nil {
		return
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(smtpTimeout))
	_, _ = s.conn.Write([]byte(line + "\r\n"))
}

func (s *smtpConn) readLine() (string, bool) {
	if s.ctx.Err() != nil {
		return "", false
	}
	_ = s.conn.SetReadDeadline(time.Now().Add(smtpTimeout))
	line, err := s.r.ReadString('\n')
	if err != nil && line == "" {
		return "", false
	}
	return line, true
}

var (
	smtpFinalRE = regexp.MustCompile(`^\d\d\d(\s|$)`)
	smtpReplyRE = regexp.MustCompile(`^(\d\d\d)\s*(.*)$`)
	smtpDSNRE   = regexp.MustCompile(`^(\d\.\d{1,3}\.\d{1,3})\s+(.*)$`)
	smtpExtRE   = regexp.MustCompile(`([245][0-9][0-9])([- ])([^ ]+) *(.*)`)
)

// GetSMTPReturnCode is get_smtp_return_code($sock, $recip, $server): it
// reads reply lines from r until a final one ("ddd" or "ddd text";
// continuation lines "ddd-..." and anything else are skipped) and returns
// (verdict, code, dsn, text): CONTINUE for 1xx-3xx, TEMPFAIL for 4xx,
// REJECT for 5xx, TEMPFAIL for other codes; dsn is an enhanced status
// code at the start of the text, or "". At end of input it returns
// ("TEMPFAIL", "451", "4.3.0", "get_smtp_return_code: Empty response
// from SMTP server"). 4xx, 5xx and odd codes are logged with rcpt and
// server. r is read with no deadline of its own; set one on the
// connection.
func (c *Context) GetSMTPReturnCode(r *bufio.Reader, rcpt, server string) (verdict, code, dsn, text string) {
	return c.smtpReturnCode(func() (string, bool) {
		l, err := r.ReadString('\n')
		return l, err == nil || l != ""
	}, rcpt, server)
}

func (c *Context) smtpReturnCode(next func() (string, bool), rcpt, server string) (verdict, code, dsn, text string) {
	for {
		line, ok := next()
		if !ok {
			break
		}
		line = strings.TrimRightFunc(line, unicode.IsSpace)
		if !smtpFinalRE.MatchString(line) {
			continue
		}
		m := smtpReplyRE.FindStringSubmatch(line)
		code, text = m[1], m[2]
		if d := smtpDSNRE.FindStringSubmatch(text); d != nil {
			dsn, text = d[1], d[2]
		}
		switch code[0] {
		case '1', '2', '3':
			verdict = "CONTINUE"
		case '4':
			c.MdSyslog("info", fmt.Sprintf("get_smtp_return_code: for %s on %s returned %s %s %s", rcpt, server, code, dsn, text))
			verdict = "TEMPFAIL"
		case '5':
			c.MdSyslog("info", fmt.Sprintf("get_smtp_return_code: for %s on %s returned %s %s %s", rcpt, server, code, dsn, text))
			verdict = "REJECT"
		default:
			c.MdSyslog("warning", fmt.Sprintf("get_smtp_return_code: Invalid SMTP reply code %s from server %s for %s", code, server, rcpt))
			verdict = "TEMPFAIL"
		}
		return verdict, code, dsn, text
	}
	c.MdSyslog("info", fmt.Sprintf("get_smtp_return_code: for %s on %s returned an empty response", rcpt, server))
	return "TEMPFAIL", "451", "4.3.0", "get_smtp_return_code: Empty response from SMTP server"
}

// GetSMTPExtensions is get_smtp_extensions($sock, $server): it reads an
// EHLO reply from r and returns (verdict, code, dsn, exts): verdict and
// dsn CONTINUE/2.5.0, TEMPFAIL/4.0.0 or REJECT/5.0.0 by the last line's
// code; exts maps each advertised keyword (as written, case kept) to its
// parameters, and "hostname" to the first word of the first line. A line
// that is not an SMTP reply gives ("TEMPFAIL", "451", "4.3.0") with exts
// {"<server> said: <line>": ""}; no reply at all gives verdict "".
func (c *Context) GetSMTPExtensions(r *bufio.Reader, server string) (verdict, code, dsn string, exts map[string]string) {
	return smtpExtensions(func() (string, bool) {
		l, err := r.ReadString('\n')
		return l, err == nil || l != ""
	}, server)
}

func smtpExtensions(next func() (string, bool), server string) (verdict, code, dsn string, exts map[string]string) {
	exts = map[string]string{}
	delim := "-"
	for n := 0; delim == "-"; n++ {
		line, ok := next()
		if !ok {
			break
		}
		line = strings.TrimRightFunc(line, unicode.IsSpace)
		m := smtpExtRE.FindStringSubmatch(line)
		if m == nil {
			return "TEMPFAIL", "451", "4.3.0", map[string]string{server + " said: " + line: ""}
		}
		code, delim = m[1], m[2]
		if n == 0 {
			exts["hostname"] = m[3]
			continue
		}
		exts[m[3]] = m[4]
	}
	switch {
	case strings.HasPrefix(code, "2"):
		return "CONTINUE", code, "2.5.0", exts
	case strings.HasPrefix(code, "4"):
		return "TEMPFAIL", code, "4.0.0", exts
	case strings.HasPrefix(code, "5"):
		return "REJECT", code, "5.0.0", exts
	}
	return "", code, "", exts
}

// errnoText is Perl's "$!" for a failed connection: the C library's
// text of the errno ("Connection refused").
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

// MdCheckAgainstSMTPServer is md_check_against_smtp_server($sender,
// $recip, $helo, $server, $port): it asks server (port 0 means 25)
// whether it would take recip from sender, for a Recipient callback to
// return (see SMTPResult.Answer). Sender and recip get angle brackets
// when they lack them.
//
// The dialogue is the original's: read the banner; reject with ("REJECT",
// "Verification server loop!  Trying to verify <recip> against myself!",
// "554", "5.4.6") when the banner's text starts with this host's name
// (GetHostName) and server is neither 127.0.0.1 nor ::1; EHLO; if the
// EHLO failed, HELO; if it advertised STARTTLS, STARTTLS and TLS without
// certificate verification (SNI server), then EHLO again, in plain text
// when the handshake fails; otherwise RSET and EHLO again; then MAIL
// FROM:<sender>, RCPT TO:<recip>, QUIT. The first reply that is not
// 1xx-3xx ends the dialogue with QUIT and is returned as (verdict, text,
// code, dsn); else the RCPT reply is. A connection that cannot be made
// gives ("TEMPFAIL", "Could not connect to other SMTP server <server>,
// error=<reason>") with Code and DSN empty. Connecting and every reply
// have a 25 s timeout, also bounded by the request's deadline.
func (c *Context) MdCheckAgainstSMTPServer(sender, recip, helo, server string, port int) SMTPResult {
	if !(strings.HasPrefix(sender, "<") && strings.HasSuffix(sender, ">") && len(sender) >= 2) {
		sender = "<" + sender + ">"
	}
	if !(strings.HasPrefix(recip, "<") && strings.HasSuffix(recip, ">") && len(recip) >= 2) {
		recip = "<" + recip + ">"
	}
	if port == 0 {
		port = 25
	}
	ctx := context.Context(c)
	if c.Context == nil {
		ctx = context.Background()
	}
	d := net.Dialer{Timeout: smtpTimeout}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(server, strconv.Itoa(port)))
	if err != nil {
		c.MdSyslog("warning", "Falling back to plaintext connection")
		return SMTPResult{Verdict: "TEMPFAIL", Text: "Could not connect to other SMTP server " + server + ", error=" + errnoText(err)}
	}
	s := &smtpConn{ctx: ctx, conn: conn, r: bufio.NewReader(conn)}
	defer func() { s.conn.Close() }()
	// The request's deadline (or cancellation) bounds the whole dialogue.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	code := func() (string, string, string, string) { return c.smtpReturnCode(s.readLine, recip, server) }
	quit := func(v, cd, dsn, text string) SMTPResult {
		s.send("QUIT")
		code()
		return SMTPResult{Verdict: v, Text: text, Code: cd, DSN: dsn}
	}

	v, cd, dsn, text := code()
	if v != "CONTINUE" {
		return quit(v, cd, dsn, text)
	}
	if server != "127.0.0.1" && server != "::1" {
		loop := regexp.MustCompile(`^` + regexp.QuoteMeta(c.GetHostName()) + `\b`)
		if loop.MatchString(text) {
			s.send("QUIT")
			code()
			return SMTPResult{Verdict: "REJECT", Text: "Verification server loop!  Trying to verify " + recip + " against myself!", Code: "554", DSN: "5.4.6"}
		}
	}
	s.send("EHLO " + helo)
	ev, _, _, exts := smtpExtensions(s.readLine, recip)
	switch {
	case ev != "CONTINUE":
		s.send("HELO " + helo)
	case hasKey(exts, "STARTTLS"):
		s.send("STARTTLS")
		v, cd, dsn, text = code()
		if v != "CONTINUE" {
			return quit(v, cd, dsn, text)
		}
		tc := tls.Client(s.conn, &tls.Config{InsecureSkipVerify: true, ServerName: server}) //nolint:gosec // the original does not verify either
		_ = s.conn.SetDeadline(time.Now().Add(smtpTimeout))
		if err := tc.HandshakeContext(ctx); err == nil {
			c.MdSyslog("debug", "md_check_against_smtp_server: start_SSL succeeded!")
			s.conn, s.r = tc, bufio.NewReader(tc)
		} else {
			c.MdSyslog("debug", fmt.Sprintf("md_check_against_smtp_server: %s offers STARTTLS but fails with error %v. Falling back to plaintext...", server, err))
		}
		_ = s.conn.SetDeadline(time.Time{})
		s.send("EHLO " + helo)
	default:
		c.MdSyslog("debug", "md_check_against_smtp_server: STARTTLS not available")
		s.send("RSET")
		code()
		s.send("EHLO " + helo)
	}
	v, cd, dsn, text = code()
	if v != "CONTINUE" {
		return quit(v, cd, dsn, text)
	}
	c.MdSyslog("debug", "md_check_against_smtp_server: Checking sender "+sender)
	s.send("MAIL FROM:" + sender)
	v, cd, dsn, text = code()
	if v != "CONTINUE" {
		return quit(v, cd, dsn, text)
	}
	c.MdSyslog("debug", "md_check_against_smtp_server: Checking recipient "+recip)
	s.send("RCPT TO:" + recip)
	v, cd, dsn, text = code()
	return quit(v, cd, dsn, text)
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}
