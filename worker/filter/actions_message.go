package filter

import "regexp"

// Whole-message dispositions. They write their RESULTS line at once; the
// milter obeys the first B, T or D line of the file, so the earliest call
// wins, and any of them cancels every header, envelope and body change
// (docs/reference/filter-api.md §4.21). Outside a scan they log "<name> called outside of
// message context" and return false.

func (c *Context) inMessageContext(name string) bool {
	if c.inMessage {
		return true
	}
	return c.refuse(name, "message context")
}

var (
	bounceCodeRE = regexp.MustCompile(`^5\d\d\n?$`)
	bounceDSNRE  = regexp.MustCompile(`^5\.\d{1,3}\.\d{1,3}\n?$`)
	tempCodeRE   = regexp.MustCompile(`^4\d\d\n?$`)
	tempDSNRE    = regexp.MustCompile(`^4\.\d{1,3}\.\d{1,3}\n?$`)
)

// ActionBounce is action_bounce($reply, $code, $dsn): reject the message
// with an SMTP 5xx at end of DATA. Empty reply means "Forbidden for policy
// reasons"; a code not matching ^5\d\d$ becomes 554, a DSN not matching
// ^5\.\d{1,3}\.\d{1,3}$ becomes 5.7.1. Writes "B<code> <dsn> <reply>".
// Processing of the message goes on.
func (c *Context) ActionBounce(reply, code, dsn string) bool {
	if !c.inMessageContext("action_bounce") {
		return false
	}
	if reply == "" {
		reply = "Forbidden for policy reasons"
	}
	if !bounceCodeRE.MatchString(code) {
		code = "554"
	}
	if !bounceDSNRE.MatchString(dsn) {
		dsn = "5.7.1"
	}
	c.WriteResultLine('B', code, dsn, reply)
	c.count("bounce")
	return true
}

// ActionTempfail is action_tempfail($reply, $code, $dsn): tempfail the
// message. Defaults "Try again later", 451 (code must match ^4\d\d$),
// 4.3.0. Writes "T<code> <dsn> <reply>".
func (c *Context) ActionTempfail(reply, code, dsn string) bool {
	if !c.inMessageContext("action_tempfail") {
		return false
	}
	if reply == "" {
		reply = "Try again later"
	}
	if !tempCodeRE.MatchString(code) {
		code = "451"
	}
	if !tempDSNRE.MatchString(dsn) {
		dsn = "4.3.0"
	}
	c.WriteResultLine('T', code, dsn, reply)
	c.count("tempfail")
	return true
}

// ActionDiscard is action_discard: accept the message at SMTP level and
// throw it away. Writes "D".
func (c *Context) ActionDiscard() bool {
	if !c.inMessageContext("action_discard") {
		return false
	}
	c.WriteResultLine('D')
	c.count("discard")
	return true
}

// MessageSize is the size of the message being scanned, INPUTMSG, in
// bytes: what a Perl filter gets with (-s "./INPUTMSG"), to skip costly
// checks on large mail (the original's examples skip SpamAssassin above
// 512 KiB). Lua has no file tests, hence this md-worker function
// (md_message_size in Lua). Outside a scan it is 0, as -s of a missing
// file is.
func (c *Context) MessageSize() int {
	if !c.inMessage {
		return 0
	}
	return c.inputSize
}

// MessageRejected is message_rejected: true once ActionBounce,
// ActionTempfail or ActionDiscard was called for this message.
func (c *Context) MessageRejected() bool {
	if !c.inMessageContext("message_rejected") {
		return false
	}
	return c.actions["bounce"] > 0 || c.actions["tempfail"] > 0 || c.actions["discard"] > 0
}
