package filter

import (
	"bufio"
	"context"
	"strings"
	"time"

	"github.com/mdgo/md/proto"
	"github.com/mdgo/md/worker/filter/smtpcheck"
)

// The Go filter API of md-worker's network integrations
// (docs/integrations.md). Each integration is a package under
// worker/filter/ with its own Config (a field of Config here) and a typed
// result; this file gives a callback each of its functions as a Context
// method under the Perl name, which fills in what the request knows (its
// deadline, the host name, md_syslog with the queue ID) and delegates.
// The Lua bindings call these methods, so Lua and Go filters share one
// path. Package filter imports the integration packages, never the other
// way round.

// SMTPResult is what md_check_against_smtp_server returns: ($retval,
// $text, $code, $dsn) (smtpcheck.Result). Verdict is "CONTINUE" (1xx-3xx),
// "TEMPFAIL" (4xx, a bad or missing reply, a failed connection) or
// "REJECT" (5xx). Code and DSN are "" when the original returns only two
// values (a failed connection); DSN is also "" when the server's reply
// had none.
type SMTPResult smtpcheck.Result

// Answer turns the result into a Recipient callback's answer, as a Perl
// filter_recipient does with "return md_check_against_smtp_server(...)".
func (r SMTPResult) Answer() Answer {
	return Answer{Verdict: Verdict(r.Verdict), Msg: r.Text, Code: r.Code, DSN: r.DSN}
}

// Values is the original's return list (smtpcheck.Result.Values): two
// values when the connection failed, four otherwise.
func (r SMTPResult) Values() []any { return smtpcheck.Result(r).Values() }

// MdCheckAgainstSMTPServer is md_check_against_smtp_server($sender,
// $recip, $helo, $server, $port): it asks server (port 0 means 25)
// whether it would take recip from sender, for a Recipient callback to
// return (see SMTPResult.Answer). The dialogue, its outcomes and its
// timeouts are smtpcheck.Client.Check's, with Config.SMTPCheck; the
// request's deadline bounds the whole call, the loop check compares the
// banner with GetHostName unless Config.SMTPCheck.HostName is set, and
// the original's log lines go to MdSyslog. A server that cannot be
// reached or does not answer gives a TEMPFAIL result.
func (c *Context) MdCheckAgainstSMTPServer(sender, recip, helo, server string, port int) SMTPResult {
	start := time.Now()
	res := SMTPResult(c.smtpCheck().Check(c.ctx(), sender, recip, helo, server, port))
	// A refusal is a hit; no answer, or only a temporary one, an error.
	result := proto.CallHit
	switch {
	case res.Verdict == "CONTINUE":
		result = proto.CallClean
	case res.Verdict == "TEMPFAIL" || res.Code == "" && res.DSN == "":
		result = proto.CallError
	}
	c.noteCall("smtp", recip+" at "+server, strings.TrimSpace(strings.Join([]string{res.Verdict, res.Code, res.DSN, res.Text}, " ")), result, start)
	return res
}

// GetSMTPReturnCode is get_smtp_return_code($sock, $recip, $server)
// (smtpcheck.Client.ReadReply): it reads SMTP reply lines from r up to a
// final one and returns (verdict, code, dsn, text); the end of input gives
// ("TEMPFAIL", "451", "4.3.0", "get_smtp_return_code: Empty response from
// SMTP server"). 4xx, 5xx and odd codes are logged with MdSyslog. r is
// read with no deadline of its own; set one on the connection.
func (c *Context) GetSMTPReturnCode(r *bufio.Reader, rcpt, server string) (verdict, code, dsn, text string) {
	res := c.smtpCheck().ReadReply(r, rcpt, server)
	return res.Verdict, res.Code, res.DSN, res.Text
}

// GetSMTPExtensions is get_smtp_extensions($sock, $server)
// (smtpcheck.ReadExtensions): it reads an EHLO reply from r and returns
// (verdict, code, dsn, exts), exts mapping each advertised keyword to its
// parameters and "hostname" to the first word of the first line.
func (c *Context) GetSMTPExtensions(r *bufio.Reader, server string) (verdict, code, dsn string, exts map[string]string) {
	res, exts := smtpcheck.ReadExtensions(r, server)
	return res.Verdict, res.Code, res.DSN, exts
}

// smtpCheck returns the call-out client of this request: Config.SMTPCheck,
// with GetHostName and MdSyslog where it leaves HostName and Log unset.
func (c *Context) smtpCheck() *smtpcheck.Client {
	var cfg smtpcheck.Config
	if c.Config != nil {
		cfg = c.Config.SMTPCheck
	}
	if cfg.HostName == "" {
		cfg.HostName = c.GetHostName()
	}
	if cfg.Log == nil {
		cfg.Log = c.MdSyslog
	}
	return smtpcheck.New(cfg)
}

// ctx returns the request's context, for the integrations: Background
// when the Context was made without one.
func (c *Context) ctx() context.Context {
	if c.Context == nil {
		return context.Background()
	}
	return c
}
