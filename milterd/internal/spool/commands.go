package spool

import (
	"strconv"

	"github.com/mdgo/md/proto"
)

// standardMacros are the 23 macros the original writes at MAIL FROM, in its
// order (mimedefang.c: StandardSendmailMacros; docs/reference/protocol.md §5.3 item 4).
var standardMacros = [...]string{
	"_", "auth_authen", "auth_author", "auth_ssf", "auth_type",
	"cert_issuer", "cert_subject", "cipher", "cipher_bits", "daemon_name",
	"daemon_port", "i", "if_addr", "if_name", "j", "mail_addr", "mail_host",
	"mail_mailer", "tls_version", "verify", "rcpt_addr", "rcpt_host",
	"rcpt_mailer",
}

// StandardMacros returns the names of the 23 standard macros, without braces,
// in the order in which their `=` lines are written. The milter glue asks its
// MTA for these (see MacroSymbol) and puts the ones that have a value into
// MailFrom.Macros.
func StandardMacros() []string {
	s := make([]string, len(standardMacros))
	copy(s, standardMacros[:])
	return s
}

// MacroSymbol returns the symbol under which the MTA supplies a macro: names
// longer than one character in braces ("{daemon_name}"), one-character names
// as they are ("j", "_").
func MacroSymbol(name string) string {
	if len(name) > 1 {
		return "{" + name + "}"
	}
	return name
}

// MailFrom holds what the milter knows at MAIL FROM, the inputs of the first
// batch of COMMANDS lines and of the directory name.
type MailFrom struct {
	// ID is the 7-character MIMEDefang ID (NewID), written as the `i` line
	// and used as the directory name when QueueID is empty.
	ID string
	// Sender is the MAIL FROM address exactly as the MTA gives it, usually
	// with angle brackets.
	Sender string
	// ESMTPArgs are the MAIL FROM parameters, one `s` line each, in order.
	ESMTPArgs []string
	// Macros maps macro names without braces to their values. A name that is
	// present is written, even with an empty value; an absent name is not
	// (the original writes exactly the macros smfi_getsymval returns
	// non-NULL).
	Macros map[string]string
	// ExtraMacros are the -a macro names, without braces, in command-line
	// order; each one present in Macros gets an `=` line after
	// `=client_port`.
	ExtraMacros []string
	// ClientPort is the client's TCP port from the connect callback, 0 for
	// non-IP clients. It is always written as `=client_port`.
	ClientPort uint16
	// QueueID is the MTA queue ID (macro i) if known at MAIL FROM, else "".
	QueueID string
	// Hostname is the client host name from the connect callback; "" writes
	// a bare `H` line.
	Hostname string
	// ClientIP is the client address string of docs/reference/protocol.md §4.1; "" writes a
	// bare `I` line.
	ClientIP string
	// Helo is the last HELO/EHLO argument; "" means none was seen and no `E`
	// line is written.
	Helo string
}

// Recipient is one accepted RCPT TO.
type Recipient struct {
	// Addr is the RCPT TO address exactly as the MTA gives it.
	Addr string
	// ESMTPArgs are the RCPT parameters, one `r` line each.
	ESMTPArgs []string
	// Mailer, Host and RcptAddr are the {rcpt_mailer}, {rcpt_host} and
	// {rcpt_addr} macros; an empty value is written as "?", as the original
	// does for a missing or empty macro.
	Mailer, Host, RcptAddr string
}

// Commands builds COMMANDS lines (docs/reference/protocol.md §5.3): a command letter, the
// argument encoded with P-narrow (proto.EncodeCommands), then "\n"; the
// fields of `R` and `=` lines are encoded one by one and joined with single
// spaces. The zero value is an empty buffer ready to use. Commands only
// builds bytes; WorkingDir writes them to the file at the moments the
// original does.
type Commands struct {
	b []byte
}

// Bytes returns the lines built so far. The slice is valid until the next
// call that changes c.
func (c *Commands) Bytes() []byte { return c.b }

// String returns the lines built so far.
func (c *Commands) String() string { return string(c.b) }

// Len returns the number of bytes built so far.
func (c *Commands) Len() int { return len(c.b) }

// Reset empties the buffer, keeping its storage.
func (c *Commands) Reset() { c.b = c.b[:0] }

func (c *Commands) enc(s string) { c.b = append(c.b, proto.EncodeCommands(s)...) }

// Line appends letter, the P-narrow encoded arg and "\n". An empty arg
// leaves just the letter, as for `H` with no host name.
func (c *Commands) Line(letter byte, arg string) {
	c.b = append(c.b, letter)
	c.enc(arg)
	c.b = append(c.b, '\n')
}

// ID appends `i<mxid>`.
func (c *Commands) ID(mxid string) { c.Line('i', mxid) }

// Sender appends `S<sender>`.
func (c *Commands) Sender(s string) { c.Line('S', s) }

// SenderArg appends `s<arg>` for one MAIL FROM parameter.
func (c *Commands) SenderArg(arg string) { c.Line('s', arg) }

// Macro appends `=<name> <value>`, each field encoded on its own.
func (c *Commands) Macro(name, value string) {
	c.b = append(c.b, '=')
	c.enc(name)
	c.b = append(c.b, ' ')
	c.enc(value)
	c.b = append(c.b, '\n')
}

// ClientPort appends `=client_port <port>`.
func (c *Commands) ClientPort(port uint16) {
	c.Macro("client_port", strconv.FormatUint(uint64(port), 10))
}

// QueueID appends `Q<qid>`.
func (c *Commands) QueueID(qid string) { c.Line('Q', qid) }

// Hostname appends `H<name>`.
func (c *Commands) Hostname(name string) { c.Line('H', name) }

// ClientIP appends `I<ip>`.
func (c *Commands) ClientIP(ip string) { c.Line('I', ip) }

// Helo appends `E<helo>`.
func (c *Commands) Helo(helo string) { c.Line('E', helo) }

func orQuestion(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

// Recipient appends `R<rcpt> <mailer> <host> <addr>` and one `r<arg>` line
// per ESMTP parameter.
func (c *Commands) Recipient(r Recipient) {
	c.b = append(c.b, 'R')
	c.enc(r.Addr)
	c.b = append(c.b, ' ')
	c.enc(orQuestion(r.Mailer))
	c.b = append(c.b, ' ')
	c.enc(orQuestion(r.Host))
	c.b = append(c.b, ' ')
	c.enc(orQuestion(r.RcptAddr))
	c.b = append(c.b, '\n')
	for _, a := range r.ESMTPArgs {
		c.Line('r', a)
	}
}

// SuspiciousHeader appends `!`: a header held a bare CR.
func (c *Commands) SuspiciousHeader() { c.b = append(c.b, '!', '\n') }

// Subject appends `U<subject>`; value must already be unfolded.
func (c *Commands) Subject(value string) { c.Line('U', value) }

// MessageID appends `X<message-id>`; value must already be unfolded.
func (c *Commands) MessageID(value string) { c.Line('X', value) }

// RelayAddr appends `J<a.b.c.d>`, the address from a valid IP-validation
// header.
func (c *Commands) RelayAddr(ip string) { c.Line('J', ip) }

// SuspiciousBody appends `?`: the body held a bare CR or a NUL.
func (c *Commands) SuspiciousBody() { c.b = append(c.b, '?', '\n') }

// End appends `F`, always the last line.
func (c *Commands) End() { c.b = append(c.b, 'F', '\n') }

// MailFrom appends the whole batch the original writes at MAIL FROM, in its
// order: i, S, s..., the standard macros that are present, =client_port, the
// extra macros that are present, Q (only if QueueID is known), H, I, and E
// (only if a HELO was seen).
func (c *Commands) MailFrom(m *MailFrom) {
	c.ID(m.ID)
	c.Sender(m.Sender)
	for _, a := range m.ESMTPArgs {
		c.SenderArg(a)
	}
	for _, name := range standardMacros {
		if v, ok := m.Macros[name]; ok {
			c.Macro(name, v)
		}
	}
	c.ClientPort(m.ClientPort)
	for _, name := range m.ExtraMacros {
		if v, ok := m.Macros[name]; ok {
			c.Macro(name, v)
		}
	}
	if m.QueueID != "" {
		c.QueueID(m.QueueID)
	}
	c.Hostname(m.Hostname)
	c.ClientIP(m.ClientIP)
	if m.Helo != "" {
		c.Helo(m.Helo)
	}
}
