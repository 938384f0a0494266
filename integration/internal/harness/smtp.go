package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// SMTPTimeout bounds a whole SMTP session of SendMail. The first message
// through a fresh stack may wait for a worker to start.
const SMTPTimeout = 2 * time.Minute

// Stages of an SMTP session, as reported in SMTPResult.Stage.
const (
	StageConnect = "connect" // the greeting
	StageEHLO    = "ehlo"
	StageMail    = "mail"
	StageRcpt    = "rcpt"
	StageData    = "data"    // the reply to DATA itself (354)
	StageMessage = "message" // the reply after the final "."
)

// Reply is an SMTP reply: its code and the text of each line after the
// code and separator.
type Reply struct {
	Code  int
	Lines []string
}

// String returns the reply as sent on the wire without line endings, for
// example "554 5.7.1 Message rejected"; multi-line replies are joined with
// "\n" with their "NNN-" continuation markers.
func (r Reply) String() string {
	lines := make([]string, len(r.Lines))
	for i, l := range r.Lines {
		sep := "-"
		if i == len(r.Lines)-1 {
			sep = " "
		}
		lines[i] = strings.TrimRight(fmt.Sprintf("%03d%s%s", r.Code, sep, l), " ")
	}
	return strings.Join(lines, "\n")
}

// SMTPResult is what SendMail saw.
type SMTPResult struct {
	// Stage is the last stage that got a reply: StageMessage when the
	// whole message was sent, or the stage that was refused.
	Stage string
	// Reply is the reply at Stage.
	Reply Reply
	// QueueID is the Postfix queue ID from "250 2.0.0 Ok: queued as ID",
	// when the message was accepted.
	QueueID string
	// Transcript is the session in swaks's notation: "<-  " server, " -> "
	// client, "<** " server reply with an error code.
	Transcript string
}

// Accepted reports whether the server accepted the message (250 after the
// final ".").
func (r *SMTPResult) Accepted() bool {
	return r.Stage == StageMessage && r.Reply.Code == 250
}

// Envelope is the SMTP envelope for SendMail.
type Envelope struct {
	Helo string // default "client." + Domain
	From string // MAIL FROM address, without angle brackets
	To   []string
}

// SendMail sends data (a whole message, header and body; bare LF line ends
// are turned into CRLF and leading dots are doubled) to the SMTP server at
// addr with EHLO, MAIL, RCPT for each recipient, DATA. It stops at the first
// reply that refuses a stage (code 400 and up), then says QUIT. Refusals are
// results, not test failures; a network error or a malformed reply fails
// the test. The transcript is written to the test log.
func SendMail(t testing.TB, addr string, env Envelope, data []byte) *SMTPResult {
	t.Helper()
	if env.Helo == "" {
		env.Helo = "client." + Domain
	}
	s := &smtpSession{}
	res, err := s.run(addr, env, data)
	t.Logf("harness: SMTP session with %s:\n%s", addr, s.transcript.String())
	if err != nil {
		t.Fatalf("harness: SMTP with %s: %v", addr, err)
	}
	return res
}

// Message is a simple test message: a plain-text body and the usual
// headers, in swaks's order.
type Message struct {
	From, To, Subject string
	// MessageID, with angle brackets. Send and Bytes fill it in with a
	// unique value when empty, so that WaitForMessage can find the copy.
	MessageID string
	// Headers are extra header lines ("Name: value"), placed after the
	// standard ones.
	Headers []string
	Body    string
}

var messageSeq atomic.Int64

// Bytes renders the message with CRLF line ends.
func (m *Message) Bytes() []byte {
	if m.MessageID == "" {
		m.MessageID = fmt.Sprintf("<%d.%d@client.%s>", time.Now().UnixNano(), messageSeq.Add(1), Domain)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "To: %s\r\n", m.To)
	fmt.Fprintf(&b, "From: %s\r\n", m.From)
	fmt.Fprintf(&b, "Subject: %s\r\n", m.Subject)
	fmt.Fprintf(&b, "Message-Id: %s\r\n", m.MessageID)
	for _, h := range m.Headers {
		fmt.Fprintf(&b, "%s\r\n", h)
	}
	b.WriteString("\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n"))
	return b.Bytes()
}

// Send is SendMail with the envelope taken from the message's From and To.
func Send(t testing.TB, addr string, m *Message) *SMTPResult {
	t.Helper()
	data := m.Bytes()
	return SendMail(t, addr, Envelope{From: m.From, To: []string{m.To}}, data)
}

type smtpSession struct {
	conn       net.Conn
	r          *bufio.Reader
	transcript strings.Builder
	quiet      bool // no transcript of the message's lines (TrySendMail)
}

// TrySendMail is SendMail for load generators: a network error is returned
// (the outcome of the message is then unknown to the client, as it is to a
// sending MTA), nothing is logged, and the transcript holds the commands
// and replies but not the message's lines.
func TrySendMail(addr string, env Envelope, data []byte) (*SMTPResult, error) {
	if env.Helo == "" {
		env.Helo = "client." + Domain
	}
	s := &smtpSession{quiet: true}
	return s.run(addr, env, data)
}

func (s *smtpSession) run(addr string, env Envelope, data []byte) (*SMTPResult, error) {
	fmt.Fprintf(&s.transcript, "=== Trying %s...\n", addr)
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(SMTPTimeout))
	s.conn, s.r = c, bufio.NewReader(c)
	fmt.Fprintf(&s.transcript, "=== Connected to %s.\n", addr)

	res := &SMTPResult{}
	step := func(stage, cmd string, want int) (bool, error) {
		if cmd != "" {
			if err := s.send(cmd); err != nil {
				return false, err
			}
		}
		r, err := s.read()
		if err != nil {
			return false, fmt.Errorf("%s: %w", stage, err)
		}
		res.Stage, res.Reply = stage, r
		return r.Code == want, nil
	}
	defer func() { res.Transcript = s.transcript.String() }()

	type smtpStep struct {
		stage, cmd string
		want       int // the code that lets the session go on
	}
	steps := []smtpStep{
		{StageConnect, "", 220},
		{StageEHLO, "EHLO " + env.Helo, 250},
		{StageMail, "MAIL FROM:<" + env.From + ">", 250},
	}
	for _, to := range env.To {
		steps = append(steps, smtpStep{StageRcpt, "RCPT TO:<" + to + ">", 250})
	}
	steps = append(steps, smtpStep{StageData, "DATA", 354})
	for _, st := range steps {
		ok, err := step(st.stage, st.cmd, st.want)
		if err != nil {
			return res, err
		}
		if !ok {
			s.quit()
			return res, nil
		}
	}
	if err := s.sendData(data); err != nil {
		return res, err
	}
	if _, err := step(StageMessage, "", 250); err != nil {
		return res, err
	}
	if res.Reply.Code == 250 {
		if _, id, ok := strings.Cut(res.Reply.Lines[len(res.Reply.Lines)-1], "queued as "); ok {
			res.QueueID = strings.TrimSpace(id)
		}
	}
	s.quit()
	return res, nil
}

func (s *smtpSession) send(line string) error {
	fmt.Fprintf(&s.transcript, " -> %s\n", line)
	_, err := s.conn.Write([]byte(line + "\r\n"))
	return err
}

// sendData writes the message with CRLF line ends and dot-stuffing, then
// the terminating ".".
func (s *smtpSession) sendData(data []byte) error {
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	text = strings.TrimSuffix(text, "\n")
	var b bytes.Buffer
	for _, l := range strings.Split(text, "\n") {
		if !s.quiet {
			fmt.Fprintf(&s.transcript, " -> %s\n", l)
		}
		if strings.HasPrefix(l, ".") {
			b.WriteByte('.')
		}
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	b.WriteString(".\r\n")
	s.transcript.WriteString(" -> .\n")
	_, err := s.conn.Write(b.Bytes())
	return err
}

func (s *smtpSession) read() (Reply, error) {
	return readReply(s.r, &s.transcript)
}

func (s *smtpSession) quit() {
	if s.send("QUIT") == nil {
		_, _ = s.read()
	}
	s.transcript.WriteString("=== Connection closed with remote host.\n")
}

// readReply reads one possibly multi-line reply and records it.
func readReply(r *bufio.Reader, transcript *strings.Builder) (Reply, error) {
	var rep Reply
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return rep, fmt.Errorf("reading reply: %w (got %q)", err, line)
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 3 {
			return rep, fmt.Errorf("malformed reply line %q", line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil || code < 200 || code > 599 {
			return rep, fmt.Errorf("malformed reply line %q", line)
		}
		if rep.Lines != nil && code != rep.Code {
			return rep, fmt.Errorf("reply code changed inside a multi-line reply: %q", line)
		}
		if transcript != nil {
			mark := "<-  "
			if code >= 400 {
				mark = "<** "
			}
			fmt.Fprintf(transcript, "%s%s\n", mark, line)
		}
		rep.Code = code
		more := len(line) > 3 && line[3] == '-'
		if len(line) > 3 && line[3] != '-' && line[3] != ' ' {
			return rep, fmt.Errorf("malformed reply line %q", line)
		}
		text := ""
		if len(line) > 4 {
			text = line[4:]
		}
		rep.Lines = append(rep.Lines, text)
		if !more {
			return rep, nil
		}
	}
}

// dialSMTPBanner checks that addr answers with a 220 greeting, then says
// QUIT.
func dialSMTPBanner(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	rep, err := readReply(r, nil)
	if err == nil && rep.Code != 220 {
		err = fmt.Errorf("greeting %s", rep)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	if _, err := c.Write([]byte("QUIT\r\n")); err == nil {
		_, _ = readReply(r, nil)
	}
	return c, nil
}
