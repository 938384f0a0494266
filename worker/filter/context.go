package filter

import (
	"context"
	"fmt"
	"strings"

	"github.com/mdgo/md/worker/filter/dnscheck"
	"github.com/mdgo/md/worker/internal/spooldir"
	"github.com/mdgo/md/worker/message"
)

// Context is everything a callback can see and do for one request. A new
// Context is made for every request (this is mimedefang.pl's init_globals);
// only Config and the Worker's state outlive it.
//
// Context embeds the request's context.Context: its deadline is the
// per-request deadline, and it can be passed to anything that takes a
// context (DNS lookups, network dialers) so that work stops when the
// request times out.
//
// The exported fields are the per-message globals of mimedefang-filter(5);
// each names its Perl variable. Which fields are filled depends on the
// request (docs/reference/filter-api.md §3.1): the check callbacks see what their request
// line carries, the message-phase callbacks see everything COMMANDS holds.
// Callbacks may change them; nothing reads them back except the actions
// documented to do so.
type Context struct {
	context.Context

	// Config is the worker's configuration; changes persist.
	Config *Config

	Sender                   string              // $Sender, as the MTA gave it (usually with <>)
	Recipients               []string            // @Recipients
	RecipientMailers         map[string]Mailer   // %RecipientMailers
	ESMTPArgs                []string            // @ESMTPArgs of the current MAIL FROM or RCPT TO (checks only)
	SenderESMTPArgs          []string            // @SenderESMTPArgs
	RecipientESMTPArgs       map[string][]string // %RecipientESMTPArgs
	RelayAddr                string              // $RelayAddr (may come from the IP-validation header)
	RealRelayAddr            string              // $RealRelayAddr
	RelayHostname            string              // $RelayHostname, "[ip]" when unresolved
	RealRelayHostname        string              // $RealRelayHostname
	WasResent                bool                // $WasResent
	Helo                     string              // $Helo
	QueueID                  string              // $QueueID, "NOQUEUE" when unknown
	MsgID                    string              // $MsgID, the log prefix: $QueueID
	MessageID                string              // $MessageID, "NOQUEUE" when there was none
	MIMEDefangID             string              // $MIMEDefangID
	Subject                  string              // $Subject, the first Subject: raw
	SubjectCount             int                 // $SubjectCount
	SendmailMacros           map[string]string   // %SendmailMacros, names without braces
	SuspiciousCharsInHeaders bool                // $SuspiciousCharsInHeaders
	SuspiciousCharsInBody    bool                // $SuspiciousCharsInBody
	// CWD is $CWD: the message's working directory during senderok,
	// recipok and scan; the spool directory otherwise, where RESULTS
	// lines are refused.
	CWD string
	// WasMultipart is $WasMultiPart: the message was multipart before
	// the worker wrapped it (scan only).
	WasMultipart bool
	// Message is the parsed INPUTMSG (scan only).
	Message *message.Message

	// Domain is $Domain (set by stream_by_domain).
	Domain string
	// VirusName is $VirusName, set by the virus scanner integrations;
	// a non-empty value suppresses sender notifications.
	VirusName string
	// VirusScannerMessages is $VirusScannerMessages: what the virus
	// scanners said, over all calls of the message.
	VirusScannerMessages string
	// CurrentVirusScannerMessage is $CurrentVirusScannerMessage: what the
	// last program RunVirusScanner ran said. Perl never resets it; a
	// Context starts with it empty, and the Lua global keeps its value
	// from one message to the next, as in Perl.
	CurrentVirusScannerMessage string

	w *Worker

	inMessage, inFilter, inFilterEnd, inWrapup bool
	// inputSize is the size of INPUTMSG in bytes, during a scan.
	inputSize int
	spoolDir  string

	// Results state.
	results *spooldir.Results

	// Part walk state ($Action, $ReplacementEntity).
	action      string
	replacement *message.Part

	warnings            []string
	actions             map[string]int
	changed             bool
	rebuild             bool
	added               []message.Added
	warningCounter      int
	replaceEntire       *message.Part
	terminateAndDiscard bool

	// Quarantine state, for the quarantine actions ($QuarantineSubdir,
	// $QuarantineCount, $EntireMessageQuarantined).
	quarantineSubdir         string
	quarantineCount          int
	entireMessageQuarantined bool

	// The files of Work/ holding decoded bodies (for the virus
	// scanners), by part, and how many bodyPath wrote; the virus scanners
	// of a Context made without a Worker.
	workFiles     map[*message.Part]string
	workFileCount int
	virusScanners []virusScanner

	// dns is the request's DNS resolver, made on first use (Context.DNS):
	// its cache lives as long as the request.
	dns *dnscheck.Resolver

	// err is the first failure an action hit (RESULTS not writable ...).
	err error
}

// Mailer is a %RecipientMailers entry: the Sendmail {rcpt_mailer},
// {rcpt_host} and {rcpt_addr} of a recipient, "?" when unknown.
type Mailer struct {
	Mailer, Host, Addr string
}

// InMessageContext is in_message_context: true during a scan, from
// filter_begin to filter_wrapup.
func (c *Context) InMessageContext() bool { return c.inMessage }

// InFilterContext is in_filter_context: true during the part walk
// (filter, filter_multipart).
func (c *Context) InFilterContext() bool { return c.inFilter }

// InFilterEnd is in_filter_end: true during filter_end.
func (c *Context) InFilterEnd() bool { return c.inFilterEnd }

// InFilterWrapUp is in_filter_wrapup: true during filter_wrapup.
func (c *Context) InFilterWrapUp() bool { return c.inWrapup }

// Warnings returns @Warnings: the warning texts queued so far, each ending
// in "\n".
func (c *Context) Warnings() []string { return append([]string(nil), c.warnings...) }

// ActionCount returns $Actions{name}: how often the named action
// (e.g. "bounce", "drop_with_warning") was called for this message.
func (c *Context) ActionCount(name string) int { return c.actions[name] }

func (c *Context) count(name string) {
	if c.actions == nil {
		c.actions = map[string]int{}
	}
	c.actions[name]++
}

// Logf writes a log line for this request, prefixed with $MsgID as
// mimedefang.pl's md_syslog lines are ("<qid>: text"). In server mode the
// line goes to stderr, which the multiplexor logs.
func (c *Context) Logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	msg = strings.TrimRight(msg, "\n")
	if c.MsgID != "" && c.MsgID != "NOQUEUE" {
		msg = c.MsgID + ": " + msg
	}
	if c.w != nil {
		c.w.logLine(msg)
	}
}

// refuse logs that fn was called outside its context, as the original's
// guards do, and returns false.
func (c *Context) refuse(fn, where string) bool {
	c.Logf("%s called outside of %s", fn, where)
	return false
}
