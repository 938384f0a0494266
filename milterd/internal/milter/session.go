package milter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/mdgo/md/internal/logging"
	"github.com/mdgo/md/milterd/internal/mxclient"
	"github.com/mdgo/md/milterd/internal/policy"
	"github.com/mdgo/md/milterd/internal/rawfile"
	"github.com/mdgo/md/milterd/internal/results"
	"github.com/mdgo/md/milterd/internal/spool"
	"github.com/mdgo/md/proto"
)

// session is one MTA connection.
type session struct {
	cfg *Config
	log *slog.Logger

	// connection data
	ip         string // client address string (§4.1); "" when unset
	hostname   string
	clientPort uint16
	myip       string
	daemonPort string
	helo       string
	qid        string

	// message data
	wd        *spool.WorkingDir
	sender    string
	firstRcpt string
	// failed is a failure at a stage that could not answer (no-reply):
	// the message is tempfailed at the next stage that answers.
	failed error
	// size counts the header and body bytes of the message, for metrics.
	size int64
}

func newSession(c *Config) *session {
	return &session{cfg: c, log: c.logger()}
}

func (s *session) qidText() string {
	if s.qid == "" {
		return "NOQUEUE"
	}
	return s.qid
}

// logf logs a line about this session's message, its queue ID (NOQUEUE
// before there is one) as the logging.QID attribute, which the handler
// renders as the "QID: " prefix.
func (s *session) logf(level slog.Level, format string, args ...any) {
	s.log.Log(context.Background(), level, fmt.Sprintf(format, args...), slog.String(logging.QID, s.qidText()))
}

// setQueueID reads macro i, as set_queueid does at every callback (§13.4).
func (s *session) setQueueID(m gomilter.Modifier) {
	if q := m.Get(gomilter.MacroQueueId); q != "" {
		s.qid = q
		if s.wd != nil {
			s.wd.SetQueueID(q)
		}
	}
}

// guard turns a panic in a callback into a tempfail.
func (s *session) guard(stage string, resp **gomilter.Response, err *error) {
	if r := recover(); r != nil {
		s.logf(slog.LevelError, "panic in %s callback: %v: tempfailing\n%s", stage, r, debug.Stack())
		s.cfg.Metrics.error(errPanic)
		s.failed = fmt.Errorf("panic in %s", stage)
		s.cleanup(true)
		*resp, *err = gomilter.RespTempFail, nil
	}
}

// cleanup closes and removes the working directory (§5.7).
func (s *session) cleanup(filterFailed bool) {
	if s.wd == nil {
		return
	}
	wd := s.wd
	s.wd = nil
	if filterFailed {
		wd.MarkFilterFailed()
	}
	disp, err := wd.Cleanup()
	switch disp {
	case spool.KeptDebug:
		s.logf(slog.LevelInfo, "Not cleaning up %s because of command-line `-d' flag", wd.Path())
	case spool.KeptNoDeleteFile:
		s.logf(slog.LevelInfo, "Not cleaning up %s because of DO-NOT-DELETE-WORK-DIRS", wd.Path())
	case spool.KeptFilterFailed:
		s.logf(slog.LevelWarn, "Filter failed.  Message kept in %s", wd.Path())
	}
	if err != nil {
		s.logf(slog.LevelError, "cleanup of %s: %v", wd.Path(), err)
	}
}

// countMessage counts the message a response ends: any answer but continue
// at MAIL FROM (with -s, when it replies) and end of message, accept and discard at RCPT TO (a
// rejected recipient does not end the message).
func (s *session) countMessage(resp *gomilter.Response, rejectEnds bool) {
	if s.cfg.Metrics == nil || resp == nil {
		return
	}
	msg := resp.Response()
	outcome := ""
	switch byte(msg.Code) {
	case 'a':
		outcome = outcomeAccept
	case 'd':
		outcome = outcomeDiscard
	case 'r':
		outcome = outcomeReject
	case 't':
		outcome = outcomeTempFail
	case 'y': // reply code: "4xx ..." or "5xx ..."
		outcome = outcomeTempFail
		if len(msg.Data) > 0 && msg.Data[0] == '5' {
			outcome = outcomeReject
		}
	}
	if !rejectEnds && (outcome == outcomeReject || outcome == outcomeTempFail) {
		return
	}
	s.cfg.Metrics.message(outcome) // "" (continue, skip) counts nothing
}

// response turns a check decision into a go-milter response.
func (s *session) response(d policy.Decision) *gomilter.Response {
	if d.Delay > 0 {
		s.delay(d.Delay)
	}
	switch d.Verdict {
	case proto.Reject, proto.TempFail:
		if d.Reply != nil {
			r, err := gomilter.RejectWithCodeAndReason(d.Reply.CodeNumber(), d.Reply.Reason())
			if err == nil {
				return r
			}
			s.logf(slog.LevelWarn, "cannot send reply %q: %v", d.Reply.String(), err)
		}
		if d.Verdict == proto.Reject {
			return gomilter.RespReject
		}
		return gomilter.RespTempFail
	case proto.AcceptNoMoreFiltering:
		return gomilter.RespAccept
	case proto.Discard:
		return gomilter.RespDiscard
	case proto.Continue:
		return gomilter.RespContinue
	}
	return gomilter.RespTempFail
}

// delay waits d before a check's answer, as the original's do_delay
// sleeps in the callback (a filter's tarpit), unless md-milterd is shutting
// down (Config.Stopping): then the answer goes out at once.
func (s *session) delay(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.cfg.Stopping: // a nil channel never fires
		s.logf(slog.LevelInfo, "shutting down: answering without the rest of the filter's %v delay", d)
	}
}

// checkError logs a failed check and returns the tempfail decision.
func (s *session) checkError(what string, err error) policy.Decision {
	s.cfg.Metrics.error(errMultiplexor)
	var e *mxclient.Error
	if errors.As(err, &e) {
		s.logf(slog.LevelError, "%s: %s", what, e.LogText())
	} else {
		s.logf(slog.LevelError, "%s: %v", what, err)
	}
	return policy.Decision{Verdict: proto.TempFail}
}

func (s *session) NewConnection(gomilter.Modifier) error { return nil }

// clientAddress is the address string of §4.1; ok is false for an
// unsupported family.
func (s *session) clientAddress(family, addr string) (ip string, local, ok bool) {
	switch family {
	case "unknown":
		return "", true, true
	case "unix":
		return "127.0.0.1", false, true
	case "tcp4", "tcp6":
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return addr, false, true
		}
		a = a.WithZone("")
		if a.Is4In6() {
			a = a.Unmap()
		} else if a.Is6() {
			b := a.As16()
			compat := true
			for _, x := range b[:12] {
				if x != 0 {
					compat = false
				}
			}
			if compat && !(b[12] == 0 && b[13] == 0 && b[14] == 0 && b[15] <= 1) {
				a = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
			}
		}
		local = a == netip.MustParseAddr("127.0.0.1") || a == netip.IPv6Loopback()
		ip = a.String()
		if s.cfg.LoopbackAddr != "" && ip == s.cfg.LoopbackAddr {
			ip = "127.0.0.1"
		}
		return ip, local, true
	}
	return "", false, false
}

func (s *session) Connect(host, family string, port uint16, addr string, m gomilter.Modifier) (resp *gomilter.Response, err error) {
	defer s.guard("connect", &resp, &err)
	s.cleanup(false)
	*s = session{cfg: s.cfg, log: s.log}
	s.setQueueID(m)
	ip, local, ok := s.clientAddress(family, addr)
	if !ok {
		s.logf(slog.LevelError, "mfconnect: unsupported address family %q: tempfailing", family)
		return gomilter.RespTempFail, nil
	}
	if !s.cfg.NoFreeCheck {
		start := time.Now()
		n, err := s.cfg.MX.Free(context.Background())
		s.cfg.Metrics.request("free", start)
		if err != nil {
			s.checkError("mfconnect: Error communicating with multiplexor", err)
			return gomilter.RespTempFail, nil
		}
		required := 0
		r := s.cfg.ReservedForLoopback
		if r >= 0 && !local {
			required = r
		}
		if n < 0 || (n <= required && !(r >= 0 && local)) {
			s.logf(slog.LevelWarn, "mfconnect: No free workers: Need %d, found %d", required+1, n)
			return gomilter.RespTempFail, nil
		}
	}
	s.ip, s.hostname = ip, host
	if family == "tcp4" || family == "tcp6" {
		s.clientPort = port
	}
	ifAddr, haveIf := m.GetEx(gomilter.MacroIfAddr)
	switch {
	case haveIf && ifAddr != "" && ifAddr == s.cfg.MyIPAddress:
		s.myip = s.cfg.MyIPAddress
	case haveIf && ifAddr != "" && ifAddr != "127.0.0.1":
		s.myip = ifAddr
	default:
		s.myip = s.cfg.MyIPAddress
	}
	if dp, err := strconv.ParseUint(m.Get(gomilter.MacroDaemonPort), 10, 32); err == nil {
		s.daemonPort = strconv.FormatUint(dp, 10)
	}
	if !s.cfg.RelayCheck {
		return gomilter.RespContinue, nil
	}
	start := time.Now()
	r, err := s.cfg.MX.RelayOK(context.Background(), proto.RelayOK{
		IP: s.ip, Name: s.hostname, ClientPort: strconv.Itoa(int(s.clientPort)),
		MyIP: s.myip, DaemonPort: s.daemonPort, QueueID: s.qid,
	})
	s.cfg.Metrics.request("relayok", start)
	var d policy.Decision
	if err != nil {
		d = s.checkError("relayok", err)
	} else {
		d = policy.Decide(policy.Connect, r)
	}
	return s.response(d), nil
}

func (s *session) Helo(name string, m gomilter.Modifier) (resp *gomilter.Response, err error) {
	defer s.guard("helo", &resp, &err)
	s.setQueueID(m)
	s.helo = name
	if !s.cfg.HeloCheck {
		return gomilter.RespContinue, nil
	}
	start := time.Now()
	r, err := s.cfg.MX.HeloOK(context.Background(), proto.HeloOK{
		IP: s.ip, Name: s.hostname, Helo: s.helo, ClientPort: strconv.Itoa(int(s.clientPort)),
		MyIP: s.myip, DaemonPort: s.daemonPort, QueueID: s.qid,
	})
	s.cfg.Metrics.request("helook", start)
	var d policy.Decision
	if err != nil {
		d = s.checkError("helook", err)
	} else {
		d = policy.Decide(policy.Helo, r)
	}
	if d.Verdict != proto.Continue {
		s.cleanup(false)
	}
	return s.response(d), nil
}

func splitArgs(args string) []string {
	return strings.Fields(args)
}

func (s *session) MailFrom(from, esmtpArgs string, m gomilter.Modifier) (resp *gomilter.Response, err error) {
	defer func() {
		if s.cfg.SenderCheck { // else MAIL FROM has no reply: end of message answers
			s.countMessage(resp, true)
		}
	}()
	defer s.guard("envfrom", &resp, &err)
	if s.wd != nil {
		if err := s.wd.Remove(); err != nil {
			s.logf(slog.LevelWarn, "removing leftover %s: %v", s.wd.Path(), err)
		}
		s.wd = nil
	}
	s.failed, s.firstRcpt, s.size = nil, "", 0
	s.setQueueID(m)
	s.sender = gomilter.AddAngle(from)
	macros := map[string]string{}
	for _, n := range append(spool.StandardMacros(), s.cfg.ExtraMacros...) {
		if v, ok := m.GetEx(spool.MacroSymbol(n)); ok {
			macros[n] = v
		}
	}
	mf := spool.MailFrom{
		ID: spool.NewID(), Sender: s.sender, ESMTPArgs: splitArgs(esmtpArgs),
		Macros: macros, ExtraMacros: s.cfg.ExtraMacros, ClientPort: s.clientPort,
		QueueID: s.qid, Hostname: s.hostname, ClientIP: s.ip, Helo: s.helo,
	}
	// §4.3: myip survives MAIL FROM only when it is the host's own address.
	if s.myip != s.cfg.MyIPAddress {
		s.myip = ""
	}
	wd, err := spool.Create(s.cfg.Spool, mf)
	if err != nil {
		s.logf(slog.LevelError, "envfrom: cannot create working directory: %v: tempfailing", err)
		s.cfg.Metrics.error(errSpool)
		s.failed = err
		return gomilter.RespTempFail, nil
	}
	s.wd = wd
	if !s.cfg.SenderCheck {
		return gomilter.RespContinue, nil
	}
	start := time.Now()
	r, err := s.cfg.MX.SenderOK(context.Background(), proto.SenderOK{
		Sender: s.sender, IP: s.ip, Name: s.hostname, Helo: s.helo, Dir: wd.Path(),
		QueueID: s.qid, ESMTPArgs: mf.ESMTPArgs,
	})
	s.cfg.Metrics.request("senderok", start)
	var d policy.Decision
	if err != nil {
		d = s.checkError("senderok", err)
	} else {
		d = policy.Decide(policy.Sender, r)
	}
	if d.Verdict != proto.Continue {
		s.cleanup(false)
	}
	return s.response(d), nil
}

func (s *session) RcptTo(rcptTo, esmtpArgs string, m gomilter.Modifier) (resp *gomilter.Response, err error) {
	defer func() { s.countMessage(resp, false) }()
	defer s.guard("rcptto", &resp, &err)
	s.setQueueID(m)
	if s.failed != nil || s.wd == nil {
		if s.failed == nil {
			s.failed = errors.New("no working directory")
		}
		s.logf(slog.LevelError, "rcptto: earlier failure (%v): tempfailing", s.failed)
		return gomilter.RespTempFail, nil
	}
	if err := s.wd.WriteQueueID(); err != nil {
		return s.spoolError("rcptto", err), nil
	}
	rc := spool.Recipient{
		Addr: gomilter.AddAngle(rcptTo), ESMTPArgs: splitArgs(esmtpArgs),
		Mailer: m.Get(gomilter.MacroRcptMailer), Host: m.Get(gomilter.MacroRcptHost), RcptAddr: m.Get(gomilter.MacroRcptAddr),
	}
	d := policy.Decision{Verdict: proto.Continue}
	if s.cfg.RecipCheck {
		if s.firstRcpt == "" {
			s.firstRcpt = rc.Addr
		}
		start := time.Now()
		r, err := s.cfg.MX.RecipOK(context.Background(), proto.RecipOK{
			Rcpt: rc.Addr, Sender: s.sender, IP: s.ip, Name: s.hostname, FirstRcpt: s.firstRcpt,
			Helo: s.helo, Dir: s.wd.Path(), QueueID: s.qid, Mailer: rc.Mailer, Host: rc.Host,
			Addr: rc.RcptAddr, ESMTPArgs: rc.ESMTPArgs,
		})
		s.cfg.Metrics.request("recipok", start)
		if err != nil {
			d = s.checkError("recipok", err)
		} else {
			d = policy.Decide(policy.Recipient, r)
		}
	}
	switch d.Verdict {
	case proto.Continue, proto.AcceptNoMoreFiltering, proto.Discard:
		if err := s.wd.AddRecipient(rc); err != nil {
			return s.spoolError("rcptto", err), nil
		}
	}
	if d.Verdict == proto.AcceptNoMoreFiltering || d.Verdict == proto.Discard {
		s.cleanup(false)
	}
	return s.response(d), nil
}

// spoolError logs a failed spool write, removes the directory and returns
// the tempfail; at a no-reply stage the tempfail comes at the next stage
// that answers.
func (s *session) spoolError(stage string, err error) *gomilter.Response {
	s.logf(slog.LevelError, "%s: error writing working directory: %v: tempfailing", stage, err)
	s.cfg.Metrics.error(errSpool)
	s.failed = err
	s.cleanup(false)
	return gomilter.RespTempFail
}

func (s *session) Data(m gomilter.Modifier) (resp *gomilter.Response, err error) {
	defer s.guard("data", &resp, &err)
	s.setQueueID(m)
	return gomilter.RespContinue, nil
}

func (s *session) Header(name, value string, m gomilter.Modifier) (resp *gomilter.Response, err error) {
	defer s.guard("header", &resp, &err)
	s.setQueueID(m)
	if s.failed != nil || s.wd == nil {
		return gomilter.RespTempFail, nil
	}
	s.size += int64(len(name) + len(value) + 4) // "Name: value\r\n"
	if err := s.wd.Header(name, value); err != nil {
		return s.spoolError("header", err), nil
	}
	return gomilter.RespContinue, nil
}

func (s *session) Headers(m gomilter.Modifier) (resp *gomilter.Response, err error) {
	defer s.guard("eoh", &resp, &err)
	s.setQueueID(m)
	if s.failed != nil || s.wd == nil {
		return gomilter.RespTempFail, nil
	}
	if err := s.wd.EndOfHeaders(); err != nil {
		return s.spoolError("eoh", err), nil
	}
	return gomilter.RespContinue, nil
}

func (s *session) BodyChunk(chunk []byte, m gomilter.Modifier) (resp *gomilter.Response, err error) {
	defer s.guard("body", &resp, &err)
	if s.failed != nil || s.wd == nil {
		return gomilter.RespTempFail, nil
	}
	s.size += int64(len(chunk))
	if err := s.wd.Body(chunk); err != nil {
		return s.spoolError("body", err), nil
	}
	return gomilter.RespContinue, nil
}

func (s *session) EndOfMessage(m gomilter.Modifier) (resp *gomilter.Response, err error) {
	defer func() { s.countMessage(resp, true) }()
	defer s.guard("eom", &resp, &err)
	start := time.Now()
	s.setQueueID(m)
	s.cfg.Metrics.messageSize(s.size)
	if s.failed != nil || s.wd == nil {
		if s.failed == nil {
			s.failed = errors.New("no working directory")
		}
		s.logf(slog.LevelError, "eom: earlier failure (%v): tempfailing", s.failed)
		s.cleanup(false)
		return gomilter.RespTempFail, nil
	}
	wd := s.wd
	if err := wd.Finish(); err != nil {
		return s.spoolError("eom", err), nil
	}
	scanStart := time.Now()
	err = s.cfg.MX.Scan(context.Background(), proto.Scan{QueueID: s.qid, Dir: wd.Path()})
	s.cfg.Metrics.request("scan", scanStart)
	if err != nil {
		s.checkError("scan", err)
		s.cleanup(true)
		return gomilter.RespTempFail, nil
	}
	plan := results.Load(wd.Path(), results.Env{
		SeenMIMEVersion:    wd.SawMIMEVersion(),
		ScannedBy:          s.cfg.ScannedBy,
		MyIP:               s.myip,
		ValidateHeader:     s.cfg.Spool.ValidateHeader,
		ValidatePresent:    wd.SawValidationHeader(),
		ContentTypeHeaders: wd.ContentTypeHeaders(),
	})
	if plan.FilterFailed || (!plan.SawF && !plan.Rejecting) {
		s.cfg.Metrics.error(errResults)
	}
	for _, n := range plan.Notes {
		s.logf(n.Level, "%s", n.Text)
	}
	for _, a := range plan.Actions {
		if err := s.apply(a, m); err != nil {
			s.logf(slog.LevelError, "%s returned MI_FAILURE: %v", a.Kind, err)
		}
	}
	if s.cfg.FilterTime {
		s.logf(slog.LevelInfo, "Filter time is %dms", time.Since(start).Milliseconds())
	}
	s.cleanup(plan.FilterFailed)
	switch plan.Disposition {
	case results.Accept:
		return gomilter.RespAccept, nil
	case results.Discard:
		return gomilter.RespDiscard, nil
	case results.Reject:
		return s.response(policy.Decision{Verdict: proto.Reject, Reply: plan.Reply}), nil
	}
	return s.response(policy.Decision{Verdict: proto.TempFail, Reply: plan.Reply}), nil
}

// apply makes one RESULTS modification through the Modifier.
func (s *session) apply(a results.Action, m gomilter.Modifier) error {
	switch a.Kind {
	case results.AddHeader:
		return m.AddHeader(a.Name, a.Value)
	case results.InsertHeader:
		return m.InsertHeader(a.Index, a.Name, a.Value)
	case results.ChangeHeader:
		return m.ChangeHeader(a.Index, a.Name, a.Value)
	case results.DeleteHeader:
		return m.ChangeHeader(a.Index, a.Name, "")
	case results.AddRecipient:
		return m.AddRecipient(a.Value, "")
	case results.DeleteRecipient:
		return m.DeleteRecipient(a.Value)
	case results.ChangeSender:
		return m.ChangeFrom(a.Value, "")
	case results.Quarantine:
		return m.Quarantine(a.Value)
	case results.ReplaceBody:
		return replaceBody(a.Value, m)
	}
	return fmt.Errorf("unknown action %v", a.Kind)
}

// replaceBody streams NEWBODY to the MTA in 4096-byte chunks, as the
// original's smfi_replacebody calls.
func replaceBody(path string, m gomilter.Modifier) error {
	f, err := rawfile.Open(path, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, bodyChunk)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if werr := m.ReplaceBodyRawChunk(buf[:n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (s *session) Abort(m gomilter.Modifier) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.logf(slog.LevelError, "panic in abort callback: %v", r)
		}
	}()
	s.cleanup(false)
	s.failed = nil
	return nil
}

func (s *session) Unknown(cmd string, m gomilter.Modifier) (*gomilter.Response, error) {
	return gomilter.RespContinue, nil
}

func (s *session) Cleanup(m gomilter.Modifier) {
	defer func() {
		if r := recover(); r != nil {
			s.logf(slog.LevelError, "panic in close callback: %v", r)
		}
	}()
	s.cfg.Metrics.sessionEnd()
	s.cleanup(false)
}
