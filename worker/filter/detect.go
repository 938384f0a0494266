package filter

import (
	"context"
	"fmt"
	"time"
)

// detectTimeout bounds detect_and_load_perl_modules's question to spamd.
const detectTimeout = 2 * time.Second

// DetectAndLoadPerlModules is detect_and_load_perl_modules(), which every
// upstream example filter calls first. mimedefang.pl loads the optional
// Perl modules there and sets $Features{"SpamAssassin"}, "HTML::Parser",
// "Archive::Zip", "Net::DNS" to whether each loaded, unless
// $Features{"AutoDetectPerlModules"} is false; a flag set to anything
// but 1 beforehand is left alone. md-worker has the HTML and archive code
// built in (those flags are true from the start) and no SpamAssassin of
// its own: "SpamAssassin" is whether the spamd that spam_assassin_check
// would ask (Config.Spamd, md_spamc_init) answers PING within two
// seconds, so a filter's `if Features["SpamAssassin"]` block runs when
// spamd is there. It logs what it found at info.
func (c *Context) DetectAndLoadPerlModules() {
	if c.Config == nil {
		return
	}
	if v, set := c.Config.Features["AutoDetectPerlModules"]; set && (v == "" || v == "0") {
		return
	}
	if v, set := c.Config.Features["SpamAssassin"]; set && v != "1" {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx(), detectTimeout)
	defer cancel()
	client := c.spamdClient(c.Config.Spamd)
	found := client.Ping(ctx)
	if c.Config.Features == nil {
		c.Config.Features = map[string]string{}
	}
	c.Config.Features["SpamAssassin"] = "0"
	verdict := "does not answer: SpamAssassin checks are off"
	if found {
		c.Config.Features["SpamAssassin"] = "1"
		verdict = "answers: SpamAssassin checks are on"
	}
	c.MdSyslog("info", fmt.Sprintf("detect_and_load_perl_modules: spamd at %s %s", client.Addr(), verdict))
}
