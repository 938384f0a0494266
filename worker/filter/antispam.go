package filter

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mdgo/md/proto"
	"github.com/mdgo/md/worker/filter/rspamd"
	"github.com/mdgo/md/worker/filter/spamd"
)

// The anti-spam functions of Mail::MIMEDefang::Antispam
// (docs/reference/filter-api.md §4.14; docs/integrations.md): the
// SpamAssassin functions, which the original runs in the Perl worker and
// md-worker hands to spamd (worker/filter/spamd), and rspamd_check
// (worker/filter/rspamd).

// SpamResult is what spamd said about the message (spamd.Result): Values
// is md_spamc_check's (score, threshold, report, isspam), CheckValues
// spam_assassin_check's (hits, required, tests, report); both are empty
// when the check failed (OK false), as the original's.
type SpamResult = spamd.Result

// SpamcClient is what md_spamc_init returns and md_spamc_check takes: the
// spamd to ask and how (a spamd.Config; Log and Dial come from
// Config.Spamd when unset).
type SpamcClient struct {
	Config spamd.Config
}

// MdSpamcInit is md_spamc_init($host, $port, $user, $max_size): it returns
// the client md_spamc_check takes, for spamd at host ("" means
// "localhost"; a path beginning with "/" is spamd's Unix socket, an
// md-worker extension) and port (0 means 783), sending user ("" means the
// worker's login name) and cutting the message to maxSize bytes (0: no
// limit). It also makes that spamd the one the spam_assassin_* functions
// ask, for this and later messages (Config.Spamd), as md-worker has no
// SpamAssassin of its own. It contacts nothing.
func (c *Context) MdSpamcInit(host string, port int, user string, maxSize int) *SpamcClient {
	var cfg spamd.Config
	if c.Config != nil {
		c.Config.Spamd.Host, c.Config.Spamd.Port, c.Config.Spamd.User, c.Config.Spamd.MaxSize = host, port, user, maxSize
		cfg = c.Config.Spamd
	} else {
		cfg = spamd.Config{Host: host, Port: port, User: user, MaxSize: maxSize}
	}
	return &SpamcClient{Config: cfg}
}

// MdSpamcCheck is md_spamc_check($client): it sends SpamAssassinMail's
// copy of the message to the spamd of client with REPORT and returns what
// spamd said; Values is (score, threshold, report, isspam), isspam being
// spamd's "True" or "False". A nil client logs "md_spamc_check:
// SpamAssassin client not initialized" and fails. Every failure (spamd
// down, hung past Timeout or the request's deadline, an error or garbage)
// returns the original's empty list, logged (spamd.Client.Report): the
// original then lets the message pass as not spam, and so does a filter
// that does not test the result.
func (c *Context) MdSpamcCheck(client *SpamcClient) SpamResult {
	if client == nil {
		c.MdSyslog("Warning", "md_spamc_check: SpamAssassin client not initialized")
		return SpamResult{}
	}
	msg, ok := c.spamAssassinMail("md_spamc_check")
	if !ok {
		return SpamResult{}
	}
	start := time.Now()
	res := c.spamdClient(client.Config).Report(c.ctx(), msg)
	c.noteCall("spamd", "message (REPORT)", spamOutcome(res), spamResult(res), start)
	return res
}

// SpamAssassinInit is spam_assassin_init([$config]): md-worker has no
// SpamAssassin object; it returns the client of the spamd the
// spam_assassin_* functions ask (Config.Spamd, set by md_spamc_init;
// localhost port 783 by default). config, SpamAssassin's preferences file
// in the original, is ignored: spamd reads its own configuration
// (docs/integrations.md, spamd).
func (c *Context) SpamAssassinInit(config string) *SpamcClient {
	var cfg spamd.Config
	if c.Config != nil {
		cfg = c.Config.Spamd
	}
	return &SpamcClient{Config: cfg}
}

// SpamAssassinMail is spam_assassin_mail(): the copy of the message
// SpamAssassin scores, INPUTMSG with "Return-Path: <Sender>", the lines
// of SynthesizeReceivedHeader and, when AddApparentlyToForSpamAssassin is
// set and there are recipients, "Apparently-To: r1, r2" in front. ok is
// false outside message context or when INPUTMSG cannot be read.
func (c *Context) SpamAssassinMail() (msg []byte, ok bool) {
	return c.spamAssassinMail("spam_assassin_mail")
}

func (c *Context) spamAssassinMail(fn string) ([]byte, bool) {
	if !c.inMessageContext(fn) {
		return nil, false
	}
	in, err := os.ReadFile(c.path("INPUTMSG"))
	if err != nil {
		c.MdSyslog("err", fn+": cannot read INPUTMSG: "+err.Error())
		return nil, false
	}
	var b strings.Builder
	b.WriteString("Return-Path: " + c.Sender + "\n")
	b.WriteString(c.SynthesizeReceivedHeader())
	if c.Config != nil && c.Config.AddApparentlyToForSpamAssassin && len(c.Recipients) > 0 {
		b.WriteString("Apparently-To: " + strings.Join(c.Recipients, ", ") + "\n")
	}
	b.Write(in)
	return []byte(b.String()), true
}

// SpamAssassinStatus is spam_assassin_status([$config]): the whole answer
// of spamd (Config.Spamd) about SpamAssassinMail's copy: score,
// threshold, verdict, rule names and report (SYMBOLS, then REPORT). OK is
// false on every failure, logged; the original then returns undef.
// config is ignored, as in SpamAssassinInit.
func (c *Context) SpamAssassinStatus(config string) SpamResult {
	msg, ok := c.spamAssassinMail("spam_assassin_status")
	if !ok {
		return SpamResult{}
	}
	var cfg spamd.Config
	if c.Config != nil {
		cfg = c.Config.Spamd
	}
	start := time.Now()
	res := c.spamdClient(cfg).Check(c.ctx(), msg)
	c.noteCall("spamd", "message", spamOutcome(res), spamResult(res), start)
	return res
}

// SpamCheckResult is spam_assassin_check's result: Values is (hits,
// required, tests, report), or empty when the check failed.
type SpamCheckResult spamd.Result

// Values is spam_assassin_check's return list.
func (r SpamCheckResult) Values() []any { return spamd.Result(r).CheckValues() }

// SpamAssassinCheck is spam_assassin_check([$config]): (hits, required,
// tests, report) from spamd (SpamAssassinStatus), tests being the rule
// names joined with commas. On failure it returns the original's empty
// list, logged; a filter that compares hits with required must test hits
// first (in Lua, comparing nil is an error, which tempfails the message).
func (c *Context) SpamAssassinCheck(config string) SpamCheckResult {
	return SpamCheckResult(c.SpamAssassinStatus(config))
}

// SpamIsSpamResult is spam_assassin_is_spam's result: Values is (true) or
// (false) as hits >= required, or (nil) when the check failed.
type SpamIsSpamResult spamd.Result

// Values is spam_assassin_is_spam's return list.
func (r SpamIsSpamResult) Values() []any {
	if !r.OK {
		return []any{nil}
	}
	return []any{r.Score >= r.Threshold}
}

// SpamAssassinIsSpam is spam_assassin_is_spam([$config]): whether hits >=
// required. On failure it returns undef (nil), which a filter takes as
// "not spam", as the original's does; the failure is logged.
func (c *Context) SpamAssassinIsSpam(config string) SpamIsSpamResult {
	return SpamIsSpamResult(c.SpamAssassinStatus(config))
}

// spamdClient returns a spamd client for cfg, with Config.Spamd's Dial,
// Timeout and Log, else MdSyslog, where cfg leaves them unset.
func (c *Context) spamdClient(cfg spamd.Config) *spamd.Client {
	if c.Config != nil {
		if cfg.Dial == nil {
			cfg.Dial = c.Config.Spamd.Dial
		}
		if cfg.Timeout == 0 {
			cfg.Timeout = c.Config.Spamd.Timeout
		}
		if cfg.Log == nil {
			cfg.Log = c.Config.Spamd.Log
		}
	}
	if cfg.Log == nil {
		cfg.Log = c.MdSyslog
	}
	return spamd.New(cfg)
}

// RspamdResult is rspamd_check's result (rspamd.Result): Values is (hits,
// required, tests, report, action, is_spam).
type RspamdResult = rspamd.Result

// RspamdCheck is rspamd_check([$url]): it posts INPUTMSG to url's
// /checkv2 ("" means Config.Rspamd.URL, else http://127.0.0.1:11333) with
// the envelope as rspamd's request headers (From, Rcpt, IP, Helo,
// Queue-Id) and returns (hits, required, tests, report, action, is_spam).
// Every failure (no connection, a timeout, an HTTP error, a body that is
// not rspamd's JSON) returns the original's (0, 0, "", "", "soft reject",
// "false"), logged, for the filter to tempfail on.
func (c *Context) RspamdCheck(url string) RspamdResult {
	var cfg rspamd.Config
	if c.Config != nil {
		cfg = c.Config.Rspamd
	}
	if cfg.Log == nil {
		cfg.Log = c.MdSyslog
	}
	client := rspamd.New(cfg)
	if !c.inMessageContext("rspamd_check") {
		return rspamd.SoftReject()
	}
	f, err := os.Open(c.path("INPUTMSG"))
	if err != nil {
		c.MdSyslog("err", "rspamd_check: cannot read INPUTMSG: "+err.Error())
		return rspamd.SoftReject()
	}
	defer f.Close()
	env := rspamd.Envelope{From: c.Sender, Rcpt: c.Recipients, IP: c.RelayAddr, Helo: c.Helo, QueueID: c.QueueID, User: c.SendmailMacros["auth_authen"]}
	if c.RelayHostname != "" && !strings.HasPrefix(c.RelayHostname, "[") {
		env.Hostname = c.RelayHostname
	}
	if env.QueueID == "NOQUEUE" {
		env.QueueID = ""
	}
	start := time.Now()
	res := client.Check(c.ctx(), url, f, env)
	outcome, result := "no verdict: soft reject", proto.CallError
	if res.OK {
		outcome, result = fmt.Sprintf("%g/%g, action %q, spam %s", res.Hits, res.Required, res.Action, res.IsSpam), proto.CallClean
		if res.IsSpam == "true" {
			result = proto.CallHit
		}
	}
	c.noteCall("rspamd", "message", outcome, result, start)
	return res
}

// spamOutcome is a spamd answer in md-worker test's words.
func spamOutcome(r SpamResult) string {
	if !r.OK {
		return "no verdict: not checked for spam"
	}
	return fmt.Sprintf("%g/%g, spam %t, %s", r.Score, r.Threshold, r.IsSpam, strings.Join(r.Tests, ","))
}
