package filter

import (
	"os"
	"time"

	"github.com/mdgo/md/worker/filter/dkim"
)

// MdARCSign is md_arc_sign($keyfile, $algorithm, $chain, $domain, $srvid,
// $selector, $headers) (package dkim): the ARC set for INPUTMSG, byte for
// byte what MIMEDefang gets from Mail::DKIM::ARC::Signer, as a map from
// field name (ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results)
// to value (folds "\n\t") for action_insert_header; when the signer skips
// the message, {"error": why}. The key is read once per worker. Defaults:
// rsa-sha256, selector "default", srvid the domain; o.Chain and o.Domain
// are required. A missing key file, chain, domain or INPUTMSG is logged
// with the original's message and gives nil (the original returns
// nothing), and so does what Mail::DKIM dies on (an algorithm other than
// rsa-sha256, a bad chain value, a key it cannot read or sign with, an
// earlier ARC field that is not a tag list), logged "md_arc_sign: ...".
// Mail::DKIM's warnings are logged as the original's handler logs them.
func (c *Context) MdARCSign(keyfile string, o dkim.ARCOptions) map[string]string {
	if fi, err := os.Stat(keyfile); err != nil || !fi.Mode().IsRegular() {
		why := ""
		if err != nil {
			why = errnoText(err)
		}
		c.MdSyslog("err", "Could not open private ARC key in md_arc_sign: "+why)
		return nil
	}
	if o.Chain == "" {
		c.MdSyslog("err", "Could not ARC sign a message without specifying a chain")
		return nil
	}
	if o.Domain == "" {
		c.MdSyslog("err", "Could not ARC sign a message without specifying a domain")
		return nil
	}
	keys := &fallbackKeys
	if c.w != nil {
		keys = &c.w.dkimKeys
	}
	key, err := keys.Load(keyfile)
	if err != nil {
		c.MdSyslog("err", "md_arc_sign: "+err.Error())
		return nil
	}
	if !c.inMessageContext("md_arc_sign") {
		return nil
	}
	msg, err := os.ReadFile(c.path("INPUTMSG"))
	if err != nil {
		c.MdSyslog("err", "Could not open INPUTMSG in md_arc_sign: "+errnoText(err))
		return nil
	}
	res, err := dkim.ARCSign(key, msg, o, time.Now())
	for _, w := range res.Warnings {
		c.MdSyslog("Warning", "md_arc_sign: "+w)
	}
	if err != nil {
		c.MdSyslog("err", "md_arc_sign: "+err.Error())
		return nil
	}
	return res.Map()
}
