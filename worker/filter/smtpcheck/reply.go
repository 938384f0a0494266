package smtpcheck

import (
	"bufio"
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// Reading SMTP replies: get_smtp_return_code and get_smtp_extensions.

var (
	finalRE = regexp.MustCompile(`^\d\d\d(\s|$)`)
	replyRE = regexp.MustCompile(`^(\d\d\d)\s*(.*)$`)
	dsnRE   = regexp.MustCompile(`^(\d\.\d{1,3}\.\d{1,3})\s+(.*)$`)
	extRE   = regexp.MustCompile(`([245][0-9][0-9])([- ])([^ ]+) *(.*)`)
)

// emptyReply is get_smtp_return_code's answer when the input ends before
// a final reply line.
var emptyReply = Result{Verdict: TempFail, Text: "get_smtp_return_code: Empty response from SMTP server", Code: "451", DSN: "4.3.0"}

// ReadReply is get_smtp_return_code($sock, $recip, $server): it reads
// reply lines from r until a final one ("ddd" or "ddd text"; continuation
// lines "ddd-..." and anything else are skipped) and returns its verdict
// (Continue for 1xx-3xx, TempFail for 4xx, Reject for 5xx, TempFail for
// other codes), code, text, and DSN: an enhanced status code at the start
// of the text, or "". At end of input it returns (TempFail, "451",
// "4.3.0", "get_smtp_return_code: Empty response from SMTP server"). 4xx,
// 5xx, odd codes and an empty response are logged with rcpt and server. r
// is read with no deadline of its own; set one on the connection.
func (c *Client) ReadReply(r *bufio.Reader, rcpt, server string) Result {
	return c.readReply(bufferedLines(r), rcpt, server)
}

func (c *Client) readReply(next func() (string, bool), rcpt, server string) Result {
	for {
		line, ok := next()
		if !ok {
			break
		}
		line = strings.TrimRightFunc(line, unicode.IsSpace)
		if !finalRE.MatchString(line) {
			continue
		}
		m := replyRE.FindStringSubmatch(line)
		res := Result{Code: m[1], Text: m[2]}
		if d := dsnRE.FindStringSubmatch(res.Text); d != nil {
			res.DSN, res.Text = d[1], d[2]
		}
		switch res.Code[0] {
		case '1', '2', '3':
			res.Verdict = Continue
		case '4':
			c.cfg.Log("info", fmt.Sprintf("get_smtp_return_code: for %s on %s returned %s %s %s", rcpt, server, res.Code, res.DSN, res.Text))
			res.Verdict = TempFail
		case '5':
			c.cfg.Log("info", fmt.Sprintf("get_smtp_return_code: for %s on %s returned %s %s %s", rcpt, server, res.Code, res.DSN, res.Text))
			res.Verdict = Reject
		default:
			c.cfg.Log("warning", fmt.Sprintf("get_smtp_return_code: Invalid SMTP reply code %s from server %s for %s", res.Code, server, rcpt))
			res.Verdict = TempFail
		}
		return res
	}
	c.cfg.Log("info", fmt.Sprintf("get_smtp_return_code: for %s on %s returned an empty response", rcpt, server))
	return emptyReply
}

// ReadExtensions is get_smtp_extensions($sock, $server): it reads an EHLO
// reply from r and returns its verdict, code and DSN (Continue/2.5.0,
// TempFail/4.0.0 or Reject/5.0.0 by the last line's code; Text is always
// "") and the extensions: each advertised keyword (as written, case kept)
// mapped to its parameters, and "hostname" to the first word of the first
// line. A line that is not an SMTP reply gives (TempFail, "451", "4.3.0")
// with extensions {"<server> said: <line>": ""}; no reply at all, or a
// code that is not 2xx, 4xx or 5xx, gives Verdict "".
func ReadExtensions(r *bufio.Reader, server string) (Result, map[string]string) {
	return readExtensions(bufferedLines(r), server)
}

func readExtensions(next func() (string, bool), server string) (Result, map[string]string) {
	exts := map[string]string{}
	code, delim := "", "-"
	for n := 0; delim == "-"; n++ {
		line, ok := next()
		if !ok {
			break
		}
		line = strings.TrimRightFunc(line, unicode.IsSpace)
		m := extRE.FindStringSubmatch(line)
		if m == nil {
			return Result{Verdict: TempFail, Code: "451", DSN: "4.3.0"}, map[string]string{server + " said: " + line: ""}
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
		return Result{Verdict: Continue, Code: code, DSN: "2.5.0"}, exts
	case strings.HasPrefix(code, "4"):
		return Result{Verdict: TempFail, Code: code, DSN: "4.0.0"}, exts
	case strings.HasPrefix(code, "5"):
		return Result{Verdict: Reject, Code: code, DSN: "5.0.0"}, exts
	}
	return Result{Code: code}, exts
}

// bufferedLines reads r line by line; a last line without its newline
// still counts.
func bufferedLines(r *bufio.Reader) func() (string, bool) {
	return func() (string, bool) {
		l, err := r.ReadString('\n')
		return l, err == nil || l != ""
	}
}
