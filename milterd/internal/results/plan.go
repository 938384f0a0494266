package results

import (
	"fmt"
	"log/slog"
	"strconv"

	"github.com/mdgo/md/milterd/internal/policy"
)

// The limits of the original (mimedefang.c: eom).
const (
	// MaxLine is the longest RESULTS line, without its LF, that the milter
	// accepts; a longer one rejects the message (SMALLBUF-2).
	MaxLine = 16382
	// MaxSize is the largest RESULTS file the milter reads; a larger one
	// is a tempfail (BIGBUF-1).
	MaxSize = 65535
)

// Disposition is what the milter answers at end of message.
type Disposition int

// The dispositions. The zero value is Accept.
const (
	// Accept: SMFIS_CONTINUE at end of message, which delivers the
	// message with the Actions applied.
	Accept Disposition = iota
	// Reject: SMFIS_REJECT with Plan.Reply (from a B line, or the
	// overlong-line 554 5.4.0).
	Reject
	// TempFail: SMFIS_TEMPFAIL, with Plan.Reply for a T line and the MTA's
	// default reply otherwise (no F line, unreadable or oversize RESULTS,
	// NEWBODY missing).
	TempFail
	// Discard: SMFIS_DISCARD (a D line). The message is accepted and
	// dropped.
	Discard
)

func (d Disposition) String() string {
	switch d {
	case Accept:
		return "accept"
	case Reject:
		return "reject"
	case TempFail:
		return "tempfail"
	case Discard:
		return "discard"
	}
	return "disposition(" + strconv.Itoa(int(d)) + ")"
}

// Kind is the milter call an Action stands for.
type Kind int

// The action kinds, with the libmilter call the original makes.
const (
	// AddHeader appends header Name: Value (smfi_addheader; H, and the
	// milter's own X-Scanned-By).
	AddHeader Kind = iota + 1
	// InsertHeader inserts Name: Value before the header at position
	// Index, 0 being the top (smfi_insheader; N).
	InsertHeader
	// ChangeHeader sets the Index-th (from 1) header called Name to Value
	// (smfi_chgheader; I and M). An Index beyond the last such header
	// adds one. An empty Value goes on the wire exactly as a delete does,
	// and the MTA deletes the header.
	ChangeHeader
	// DeleteHeader deletes the Index-th (from 1) header called Name
	// (smfi_chgheader with a NULL value; J, and the milter's own clean-up
	// of the IP-validation header and surplus Content-Type headers).
	DeleteHeader
	// AddRecipient adds envelope recipient Value (smfi_addrcpt; R).
	AddRecipient
	// DeleteRecipient removes envelope recipient Value (smfi_delrcpt; S).
	DeleteRecipient
	// ChangeSender sets the envelope sender to Value, with no ESMTP
	// arguments (smfi_chgfrom; f).
	ChangeSender
	// ReplaceBody replaces the body with the content of the file Value,
	// NEWBODY (smfi_replacebody in 4096-byte chunks; C). Each C line
	// yields one; the MTA concatenates what several of them send.
	ReplaceBody
	// Quarantine puts the message in the MTA's quarantine with reason
	// Value (smfi_quarantine; Q). It is kept even when the message is
	// rejected.
	Quarantine
)

var kindNames = map[Kind]string{AddHeader: "add-header", InsertHeader: "insert-header",
	ChangeHeader: "change-header", DeleteHeader: "delete-header", AddRecipient: "add-rcpt",
	DeleteRecipient: "delete-rcpt", ChangeSender: "change-sender", ReplaceBody: "replace-body",
	Quarantine: "quarantine"}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// smfiName is the libmilter call the original logs when one fails.
func (k Kind) smfiName() string {
	switch k {
	case AddHeader:
		return "smfi_addheader"
	case InsertHeader:
		return "smfi_insheader"
	case ChangeHeader, DeleteHeader:
		return "smfi_chgheader"
	case AddRecipient:
		return "smfi_addrcpt"
	case DeleteRecipient:
		return "smfi_delrcpt"
	case ChangeSender:
		return "smfi_chgfrom"
	case ReplaceBody:
		return "smfi_replacebody"
	case Quarantine:
		return "do_sm_quarantine"
	}
	return "smfi_?"
}

// Action is one modification, to be applied in Plan order.
type Action struct {
	Kind Kind
	// Line is the 1-based RESULTS line the action comes from, or 0 for the
	// milter's own actions after RESULTS (§5.6).
	Line int
	// Name is the header name, for the header kinds.
	Name string
	// Index is the header position: for InsertHeader 0 and up (0 = the
	// top), for ChangeHeader and DeleteHeader 1 and up.
	Index int
	// Value is the header value, the recipient, the sender, the
	// quarantine reason, or for ReplaceBody the path of NEWBODY ("" when
	// the plan was made by Parse, without a directory).
	Value string
}

func (a Action) String() string {
	switch a.Kind {
	case AddHeader:
		return fmt.Sprintf("%v %s: %q", a.Kind, a.Name, a.Value)
	case InsertHeader, ChangeHeader:
		return fmt.Sprintf("%v %s[%d]: %q", a.Kind, a.Name, a.Index, a.Value)
	case DeleteHeader:
		return fmt.Sprintf("%v %s[%d]", a.Kind, a.Name, a.Index)
	}
	return fmt.Sprintf("%v %q", a.Kind, a.Value)
}

// Env is what the milter knows about the message and its own options,
// besides RESULTS. It decides the M line's MIME-Version fix and the actions
// after RESULTS (§5.6). The zero value means: no MIME-Version header seen,
// no X-Scanned-By, no IP-validation header, at most one Content-Type.
type Env struct {
	// SeenMIMEVersion is true when the message had a MIME-Version header
	// (any case). Without one, every M line also sets MIME-Version: 1.0.
	SeenMIMEVersion bool
	// ScannedBy is the X-Scanned-By text (-x; the original's default is
	// "MIMEDefang <VERSION>"); empty means no header (-X).
	ScannedBy string
	// MyIP is the connection's myip at end of message, or "" when it is
	// unset; when set, X-Scanned-By reads "<ScannedBy> on <MyIP>"
	// (§13.1).
	MyIP string
	// ValidateHeader is the configured IP-validation header name, "" when
	// none; ValidatePresent is true when a valid one was seen (§13.3).
	// Then its first occurrence is deleted.
	ValidateHeader  string
	ValidatePresent bool
	// ContentTypeHeaders is how many Content-Type headers the message had.
	// All but the first are deleted.
	ContentTypeHeaders int
}

// Note is a line the original logs while it reads RESULTS, without its
// "<qid>: " prefix, at the original's syslog priority.
type Note struct {
	Level slog.Level
	Text  string
}

// Plan is the outcome of reading RESULTS.
type Plan struct {
	// Disposition is the answer at end of message, given after every
	// Action has been applied.
	Disposition Disposition
	// Reply is the custom SMTP reply for Reject and TempFail, already
	// through the milter's reply policy (policy.SetReply); nil means
	// the MTA's default reply.
	Reply *policy.SMTPReply
	// Actions are the modifications, in the order the original makes
	// them. When the message is rejected, tempfailed or discarded they
	// hold only what the original still does before it gives that answer:
	// Quarantine actions, and, when no line starts with B, T or D, the
	// modifications before an overlong line, before an unopenable NEWBODY,
	// or in a file without an F line. Applying them is harmless, since the
	// message is not delivered, and keeps the quarantine.
	Actions []Action
	// Rejecting is the first pass's verdict: some line starts with B, T
	// or D.
	Rejecting bool
	// SawF is true when processing reached an F line.
	SawF bool
	// FilterFailed is set where the original sets filterFailed (-k keeps
	// the directory): RESULTS missing, unreadable by fstat, oversize, or
	// NEWBODY missing. Of these the original keeps the directory only
	// for a missing RESULTS; in the other cases it has removed it before
	// it sets the flag (§5.7, §14 item 28). A missing F line is not a
	// filter failure.
	FilterFailed bool
	// Notes are the log lines, in order.
	Notes []Note
}

func (p *Plan) note(level slog.Level, format string, args ...any) {
	p.Notes = append(p.Notes, Note{Level: level, Text: fmt.Sprintf(format, args...)})
}
