package filter

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// Re-sending and streaming (Mail::MIMEDefang::Mail, mimedefang.pl). The
// copies are the original message (INPUTMSG, not the filtered one),
// re-injected with the original envelope sender through
//
//	sendmail -f<Sender> <mode> -Ac -oi -- <recipients...>
//
// ("-f<>" when Sender is empty), preceded by the IP-validation header
// ("<ValidateIPHeader>: <RelayAddr>", only when ValidateIPHeader starts
// with X-MIMEDefang-Relay) and by SynthesizeReceivedHeader. Streaming
// relies on the copies coming back through the milter, each with a
// single domain or recipient.

// ResendMessage is resend_message(@recips): message context;
// ResendMessageSpecifyingMode("-odd", recips). It reports success
// (sendmail ran and exited 0).
func (c *Context) ResendMessage(recips ...string) bool {
	if !c.inMessageContext("resend_message") {
		return false
	}
	return c.ResendMessageSpecifyingMode("-odd", recips)
}

// ResendMessageOneRecipient is resend_message_one_recipient($recip,
// $deliverymode): ResendMessageSpecifyingMode(mode, []string{recip}).
func (c *Context) ResendMessageOneRecipient(recip, mode string) bool {
	return c.ResendMessageSpecifyingMode(mode, []string{recip})
}

// ResendMessageSpecifyingMode is resend_message_specifying_mode(
// $deliverymode, \@recips): message context. It re-injects INPUTMSG to
// recips at once, with delivery mode mode (-odb, -odq, -odd or -odi;
// anything else means -odd). It returns true when sendmail exited 0;
// failures are logged ("sendmail non-zero exit status in resend_message:
// <status>" with Perl's $? status, exit code × 256).
func (c *Context) ResendMessageSpecifyingMode(mode string, recips []string) bool {
	if !c.inMessageContext("resend_message_specifying_mode") {
		return false
	}
	in, err := os.Open(c.path("INPUTMSG"))
	if err != nil {
		c.MdSyslog("err", fmt.Sprintf("Could not open INPUTMSG in resend_message: %v", err))
		return false
	}
	defer in.Close()
	var pre strings.Builder
	if strings.HasPrefix(c.Config.ValidateIPHeader, "X-MIMEDefang-Relay") {
		pre.WriteString(c.Config.ValidateIPHeader + ": " + c.RelayAddr + "\n")
	}
	pre.WriteString(c.SynthesizeReceivedHeader())
	args := []string{"-f<>"}
	if c.Sender != "" {
		args[0] = "-f" + c.Sender
	}
	args = append(args, deliveryMode(mode), "-Ac", "-oi", "--")
	args = append(args, recips...)
	err = c.runSendmail(args, io.MultiReader(strings.NewReader(pre.String()), in))
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			c.MdSyslog("err", fmt.Sprintf("sendmail non-zero exit status in resend_message: %d", ee.ExitCode()<<8))
		} else {
			c.MdSyslog("err", fmt.Sprintf("sendmail failure in resend_message: %v", err))
		}
		return false
	}
	return true
}

// recipientDomain is stream_by_domain's domain of a recipient: all < and
// > removed, then everything through the last "@".
func recipientDomain(r string) string {
	d := strings.NewReplacer("<", "", ">", "").Replace(r)
	if i := strings.LastIndex(d, "@"); i >= 0 {
		d = d[i+1:]
	}
	return d
}

// StreamByDomain is stream_by_domain(): message context, meant to be
// called first in filter_begin. It groups Recipients by domain
// (case-sensitively) and sets Domain to the last recipient's domain. With
// a single domain it returns false and the scan goes on. With several
// it re-sends the message once per domain (ResendMessage, in the order
// the domains first appear; Perl's order is its hash order) and returns
// true; when every copy was handed over it sets TerminateAndDiscard, so
// the scan writes D right after filter_begin and runs no other callback.
// When a copy fails it logs at crit "stream_by_domain: COULD NOT RESEND
// MESSAGE - PLEASE INVESTIGATE", bounces the message with "Unable to
// stream message" and returns true.
func (c *Context) StreamByDomain() bool {
	if !c.inMessageContext("stream_by_domain") {
		return false
	}
	var order []string
	groups := map[string][]string{}
	for _, r := range c.Recipients {
		d := recipientDomain(r)
		if _, ok := groups[d]; !ok {
			order = append(order, d)
		}
		groups[d] = append(groups[d], r)
		c.Domain = d
	}
	if len(order) <= 1 {
		return false
	}
	for _, d := range order {
		if !c.ResendMessage(groups[d]...) {
			c.MdSyslog("crit", "stream_by_domain: COULD NOT RESEND MESSAGE - PLEASE INVESTIGATE")
			c.ActionBounce("Unable to stream message", "", "")
			return true
		}
	}
	c.terminateAndDiscard = true
	return true
}

// StreamByRecipient is stream_by_recipient(): as StreamByDomain, but with
// more than one recipient the message is re-sent once per recipient
// (ResendMessageOneRecipient with -odd) and Domain is not touched.
func (c *Context) StreamByRecipient() bool {
	if !c.inMessageContext("stream_by_recipient") {
		return false
	}
	if len(c.Recipients) <= 1 {
		return false
	}
	for _, r := range c.Recipients {
		if !c.ResendMessageOneRecipient(r, "") {
			c.MdSyslog("crit", "stream_by_recipient: COULD NOT RESEND MESSAGE - PLEASE INVESTIGATE")
			c.ActionBounce("Unable to stream message", "", "")
			return true
		}
	}
	c.terminateAndDiscard = true
	return true
}

// TerminateAndDiscard reports $TerminateAndDiscard: StreamByDomain or
// StreamByRecipient re-sent the message and the scan will discard the
// original after filter_begin.
func (c *Context) TerminateAndDiscard() bool { return c.terminateAndDiscard }
