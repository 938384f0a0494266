package harness

import (
	"testing"
	"time"
)

// StackOptions configures StartStack.
type StackOptions struct {
	// Multiplexor is the multiplexor binary: OriginalMultiplexor or
	// MDBinary(t, "md-multiplexor"). Required.
	Multiplexor string
	// Milter is the milter binary. Default: OriginalMilter; MDBinary(t,
	// "md-milterd") runs ours.
	Milter string
	// Filter is the Perl filter file. Required.
	Filter string
	// MultiplexorArgs and MilterArgs are extra flags for each daemon.
	MultiplexorArgs, MilterArgs []string
	// Postfix holds extra Postfix settings; its Dir and Milters are set by
	// StartStack.
	Postfix PostfixOptions
}

// Stack is a whole private mail stack: Postfix → original mimedefang
// milter → multiplexor → mimedefang.pl workers running the filter.
type Stack struct {
	Dir         string // the test's directory; logs are in Dir/logs
	Multiplexor *Multiplexor
	Milter      *Milter
	Postfix     *Postfix
}

// StartStack checks the prerequisites, then starts in order the
// multiplexor, the original milter and Postfix (with the milter as its
// smtpd_milters), each in the test's own directory and ports. Everything is
// stopped and removed when the test ends.
func StartStack(t testing.TB, o StackOptions) *Stack {
	t.Helper()
	RequireMIMEDefang(t)
	start := time.Now()
	s := &Stack{Dir: NewTestDir(t)}
	s.Multiplexor = StartMultiplexor(t, MultiplexorOptions{
		Path:   o.Multiplexor,
		Dir:    s.Dir,
		Filter: o.Filter,
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
	pf := o.Postfix
	pf.Dir = s.Dir
	pf.Milters = s.Milter.Postfix
	s.Postfix = StartPostfix(t, pf)
	t.Logf("harness: stack up in %v (MIMEDefang %v, Postfix %v; dir %s, SMTP %s, milter %s)",
		time.Since(start).Round(time.Millisecond), daemons.Sub(start).Round(time.Millisecond), time.Since(daemons).Round(time.Millisecond),
		s.Dir, s.Postfix.Addr, s.Milter.Addr)
	return s
}

// Send sends m through the stack's Postfix (see Send).
func (s *Stack) Send(t testing.TB, m *Message) *SMTPResult {
	t.Helper()
	return Send(t, s.Postfix.Addr, m)
}
