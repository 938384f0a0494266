package filter

import (
	"fmt"
	"time"

	"github.com/mdgo/md/proto"
	"github.com/mdgo/md/worker/filter/clamd"
	"github.com/mdgo/md/worker/message"
)

// IntegrationCall is one question a filter put to a network integration
// during a request: which daemon, about what, its answer in the
// original's words, its class, and how long it took.
// WorkerOptions.OnCall receives each; `md-worker test` prints them, and a
// worker under md-multiplexor sends them to its metrics (server.Options.Calls).
type IntegrationCall struct {
	Integration string        // "clamd", "clamdscan", "clamscan", "spamd", "rspamd", "smtp"
	Subject     string        // what was asked about: "message", a part, a recipient
	Outcome     string        // e.g. "virus MD-Test-EICAR.UNOFFICIAL", "ok", "swerr (tempfail)"
	Result      string        // proto.CallClean, proto.CallHit or proto.CallError
	Took        time.Duration // wall time of the call
}

// String is the call as md-worker test prints it.
func (ic IntegrationCall) String() string {
	return fmt.Sprintf("%s (%s): %s [%v]", ic.Integration, ic.Subject, ic.Outcome, ic.Took.Round(time.Millisecond))
}

// noteCall hands the call to WorkerOptions.OnCall, if any. result is the
// call's class: proto.CallClean (the daemon found nothing), proto.CallHit
// (it found something: a virus, spam, a refused recipient) or
// proto.CallError (no usable answer).
func (c *Context) noteCall(integration, subject, outcome, result string, start time.Time) {
	if c.w == nil || c.w.opts.OnCall == nil {
		return
	}
	c.w.callMu.Lock()
	defer c.w.callMu.Unlock()
	c.w.opts.OnCall(IntegrationCall{Integration: integration, Subject: subject, Outcome: outcome, Result: result, Took: time.Since(start)})
}

// virusOutcome is a virus scanner's result in md-worker test's words.
func (c *Context) virusOutcome(r VirusResult) string {
	switch {
	case r.Category == "virus":
		return "virus " + c.VirusName
	case r.Category == "ok":
		return "ok"
	}
	return fmt.Sprintf("%s (code %d, %s)", r.Category, r.Code, r.Action)
}

// noteVirusCall notes a virus scanner's call once it has returned *res.
func (c *Context) noteVirusCall(scanner, subject string, start time.Time, res *VirusResult) {
	result := proto.CallError
	switch res.Category {
	case clamd.OK:
		result = proto.CallClean
	case clamd.Virus, "suspicious":
		result = proto.CallHit
	}
	c.noteCall(scanner, subject, c.virusOutcome(*res), result, start)
}

// spamResult classes a spamd answer for noteCall.
func spamResult(r SpamResult) string {
	switch {
	case !r.OK:
		return proto.CallError
	case r.IsSpam:
		return proto.CallHit
	}
	return proto.CallClean
}

// entitySubject names a part for a call's Subject.
func entitySubject(p *message.Part) string {
	if p == nil {
		return "no part"
	}
	if n := p.FileName(); n != "" {
		return "part " + n
	}
	return "part " + p.Type()
}
