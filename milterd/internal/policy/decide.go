package policy

import (
	"time"

	"github.com/mdgo/md/proto"
)

// Stage is the SMTP stage a check belongs to.
type Stage int

// The stages with a check (docs/reference/protocol.md §4.1-§4.4).
const (
	Connect   Stage = iota // relayok (-r)
	Helo                   // helook (-H)
	Sender                 // senderok (-s)
	Recipient              // recipok (-t)
)

func (s Stage) String() string {
	switch s {
	case Connect:
		return "connect"
	case Helo:
		return "helo"
	case Sender:
		return "sender"
	case Recipient:
		return "recipient"
	}
	return "stage(?)"
}

// Decision is what the milter does with a check reply.
type Decision struct {
	// Verdict is the callback's answer: TempFail, Reject, Continue,
	// AcceptNoMoreFiltering or Discard (SMFIS_TEMPFAIL, _REJECT,
	// _CONTINUE, _ACCEPT, _DISCARD).
	Verdict proto.Verdict
	// Reply is the custom SMTP reply, or nil for the MTA's default one.
	// It is set only for Reject and TempFail when the reply carried a
	// text, and never at Connect.
	Reply *SMTPReply
	// Delay is how long the original sleeps inside the callback before
	// answering (do_delay: the fourth field, when it is > 0). It is zero
	// at Connect and for the bare "ok N" replies.
	Delay time.Duration
}

// maxDelay caps a delay so that it fits in a time.Duration.
const maxDelay = time.Duration(1<<63-1) / time.Second * time.Second

// Decide turns a parsed check reply into the milter's answer, as the
// original's callbacks do (mimedefang.c: mfconnect, helo, envfrom, rcptto,
// set_dsn; docs/reference/protocol.md §3.3, §4):
//
//   - at Connect no reply text is set and no delay applied, because
//     libmilter cannot set a reply at connect;
//   - at the other stages a reply with text ("ok N msg code dsn delay")
//     applies its delay whatever N is, and for Reject and TempFail sets
//     the reply through SetReply with class 5 or 4;
//   - a bare "ok N" sets nothing.
//
// An error from a Client check is not a reply: the milter answers it with
// Decision{Verdict: proto.TempFail} and the MTA's default text.
//
// Which milter response follows, and whether the working directory is
// cleaned up, is the session's business (§4.2-§4.4): for example a Reject
// at Recipient rejects only that recipient.
func Decide(stage Stage, r proto.CheckReply) Decision {
	d := Decision{Verdict: r.Verdict}
	switch {
	case r.Verdict < proto.TempFail:
		d.Verdict = proto.TempFail
	case r.Verdict > proto.Discard:
		d.Verdict = proto.Continue
	}
	if stage == Connect || !r.HasText {
		return d
	}
	if r.Delay > 0 {
		d.Delay = maxDelay
		if int64(r.Delay) < int64(maxDelay/time.Second) {
			d.Delay = time.Duration(r.Delay) * time.Second
		}
	}
	switch d.Verdict {
	case proto.Reject:
		rep := NewReply('5', r.Code, r.DSN, r.Msg)
		d.Reply = &rep
	case proto.TempFail:
		rep := NewReply('4', r.Code, r.DSN, r.Msg)
		d.Reply = &rep
	}
	return d
}
