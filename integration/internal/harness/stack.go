package harness

import (
	"fmt"
	"testing"
	"time"
)

// StackOptions configures StartStack.
type StackOptions struct {
	// Dir is the test's directory (from NewTestDir). Default: a new one.
	Dir string
	// Spool is the spool directory (-z) of both daemons. Default:
	// NewSpool(t, Dir).
	Spool string
	// Multiplexor is the multiplexor binary: OriginalMultiplexor or
	// MDBinary(t, "md-multiplexor"). Required.
	Multiplexor string
	// Milter is the milter binary. Default: OriginalMilter; MDBinary(t,
	// "md-milterd") runs ours.
	Milter string
	// Filter is the filter file (Perl for mimedefang.pl, Lua for md-worker).
	// Required.
	Filter string
	// Worker is the worker program. Default: the original mimedefang.pl;
	// MDBinary(t, "md-worker") is installed where the defang user can run it.
	Worker string
	// MultiplexorArgs and MilterArgs are extra flags for each daemon.
	MultiplexorArgs, MilterArgs []string
	// Postfix holds extra Postfix settings; its Dir and Milters are set by
	// StartStack.
	Postfix PostfixOptions
	// Sendmail puts Debian's Sendmail (in its chroot, see StartSendmail)
	// in front of the milter instead of Postfix.
	Sendmail bool
}

// MTA is what the tests need from the mail server in front of the milter,
// whichever it is (*Postfix or *Sendmail).
type MTA interface {
	// SMTPAddr is the address of the SMTP listener (127.0.0.1:PORT).
	SMTPAddr() string
	// Messages returns every message delivered so far, oldest first.
	Messages(t testing.TB) []*Delivered
	// WaitForMessage waits for the message with that Message-Id.
	WaitForMessage(t testing.TB, messageID string) *Delivered
}

// Stack is a whole private mail stack: Postfix → original mimedefang
// milter → multiplexor → mimedefang.pl workers running the filter.
type Stack struct {
	Dir         string // the test's directory; logs are in Dir/logs
	Multiplexor *Multiplexor
	Milter      *Milter
	Postfix     *Postfix  // nil with StackOptions.Sendmail
	Sendmail    *Sendmail // set with StackOptions.Sendmail
	MTA         MTA       // Postfix or Sendmail
}

// StartStack checks the prerequisites, then starts in order the
// multiplexor, the milter and Postfix (with the milter as its
// smtpd_milters) or Sendmail (with the milter as its INPUT_MAIL_FILTER), each in the test's own directory and ports. Everything is
// stopped and removed when the test ends.
func StartStack(t testing.TB, o StackOptions) *Stack {
	t.Helper()
	RequireMIMEDefang(t)
	if o.Sendmail {
		SendmailRoot(t) // builds the chroot on first use, before any daemon runs
	}
	start := time.Now()
	if o.Dir == "" {
		o.Dir = NewTestDir(t)
	}
	s := &Stack{Dir: o.Dir}
	s.Multiplexor = StartMultiplexor(t, MultiplexorOptions{
		Path:   o.Multiplexor,
		Dir:    s.Dir,
		Spool:  o.Spool,
		Filter: o.Filter,
		Worker: o.Worker,
		Args:   o.MultiplexorArgs,
	})
	s.Milter = StartMilter(t, MilterOptions{
		Path:              o.Milter,
		Dir:               s.Dir,
		Spool:             s.Multiplexor.Spool,
		MultiplexorSocket: s.Multiplexor.Socket,
		Args:              o.MilterArgs,
	})
	daemons := time.Now()
	if o.Sendmail {
		s.Sendmail = StartSendmail(t, SendmailOptions{
			Dir:    s.Dir,
			Milter: fmt.Sprintf("inet:%d@127.0.0.1", s.Milter.Port),
		})
		s.MTA = s.Sendmail
	} else {
		pf := o.Postfix
		pf.Dir = s.Dir
		pf.Milters = s.Milter.Postfix
		s.Postfix = StartPostfix(t, pf)
		s.MTA = s.Postfix
	}
	mta := "Postfix"
	if o.Sendmail {
		mta = "Sendmail"
	}
	t.Logf("harness: stack up in %v (MIMEDefang %v, %s %v; dir %s, SMTP %s, milter %s)",
		time.Since(start).Round(time.Millisecond), daemons.Sub(start).Round(time.Millisecond), mta, time.Since(daemons).Round(time.Millisecond),
		s.Dir, s.MTA.SMTPAddr(), s.Milter.Addr)
	return s
}

// Send sends m through the stack's MTA (see Send).
func (s *Stack) Send(t testing.TB, m *Message) *SMTPResult {
	t.Helper()
	return Send(t, s.MTA.SMTPAddr(), m)
}
