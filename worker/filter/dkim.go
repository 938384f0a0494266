package filter

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/mdgo/md/proto"
	"github.com/mdgo/md/worker/filter/dkim"
)

// fallbackKeys serves md_dkim_sign for a Context made without a Worker.
var fallbackKeys dkim.KeyCache

// DKIMSignResult is md_dkim_sign's result: the header's name and value, or
// OK false (the original returns the empty list).
type DKIMSignResult struct {
	OK          bool
	Name, Value string
}

// Values is the original's list: (name, value), or nothing.
func (r DKIMSignResult) Values() []any {
	if !r.OK {
		return nil
	}
	return []any{r.Name, r.Value}
}

// MdDKIMSign is md_dkim_sign($keyfile, $algorithm, $method, $domain,
// $selector, $headers, $wrap) (package dkim): the DKIM-Signature header
// for INPUTMSG, byte for byte what MIMEDefang gets from Mail::DKIM, for
// action_add_header or action_insert_header. The key is read once per
// worker. Defaults: rsa-sha1, relaxed/simple, example.org, selector
// "default", wrap on. A missing key file or INPUTMSG, or a key that cannot
// sign with the algorithm, is logged and gives OK false.
func (c *Context) MdDKIMSign(keyfile string, o dkim.SignOptions) DKIMSignResult {
	if _, err := os.Stat(keyfile); err != nil {
		c.MdSyslog("err", "Could not open private DKIM key in md_dkim_sign: "+errnoText(err))
		return DKIMSignResult{}
	}
	if !c.inMessageContext("md_dkim_sign") {
		return DKIMSignResult{}
	}
	msg, err := os.ReadFile(c.path("INPUTMSG"))
	if err != nil {
		c.MdSyslog("err", "Could not open INPUTMSG in md_dkim_sign: "+errnoText(err))
		return DKIMSignResult{}
	}
	keys := &fallbackKeys
	if c.w != nil {
		keys = &c.w.dkimKeys
	}
	key, err := keys.Load(keyfile)
	if err == nil {
		var r DKIMSignResult
		if r.Name, r.Value, err = dkim.Sign(key, msg, o); err == nil {
			r.OK = true
			return r
		}
	}
	c.MdSyslog("err", "md_dkim_sign: "+err.Error())
	return DKIMSignResult{}
}

// MdDKIMVerify is md_dkim_verify() (package dkim): the result of the best
// DKIM signature of INPUTMSG ("pass", "fail", "invalid", "none";
// "temperror" when the key's DNS did not answer), its domain, key size and
// b= tag, with the request's resolver.
func (c *Context) MdDKIMVerify() dkim.VerifyResult {
	if !c.inMessageContext("md_dkim_verify") {
		return dkim.VerifyResult{Result: "none"}
	}
	msg, err := os.ReadFile(c.path("INPUTMSG"))
	if err != nil {
		c.MdSyslog("err", "Could not open INPUTMSG in md_dkim_verify: "+errnoText(err))
		return dkim.VerifyResult{Result: "none"}
	}
	start := time.Now()
	res := dkim.Verify(c.ctx(), msg, c.DNS().Net().LookupTXT, time.Now())
	result := proto.CallClean
	switch res.Result {
	case "fail", "invalid":
		result = proto.CallHit
	case "temperror":
		result = proto.CallError
	}
	outcome := res.Result
	if res.HasKey {
		outcome += " d=" + res.Domain
	}
	if res.Detail != "" {
		outcome += " (" + res.Detail + ")"
	}
	c.noteCall("dkim", "message", outcome, result, start)
	return res
}

// errnoText is Perl's $! for err: the system's message, capitalized as
// strerror writes it ("No such file or directory").
func errnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return err.Error()
}
