package policy

import (
	"strconv"
	"strings"

	"github.com/mdgo/md/proto"
)

// MaxReplyLines is the most lines of a multi-line SMTP reply the milter
// sends (mimedefang.c: MAX_ML_LINES, the argument limit of
// smfi_setmlreply).
const MaxReplyLines = 31

// The texts set_reply uses when the filter gave none.
const (
	DefaultTempFailText = "Please try again later"
	DefaultRejectText   = "Forbidden for policy reasons"
)

// SMTPReply is a custom SMTP reply the milter asks the MTA to send: what the
// original passes to smfi_setreply or smfi_setmlreply.
type SMTPReply struct {
	Code  string   // three digits whose first is the class, e.g. "554"
	DSN   string   // enhanced status code of the same class, e.g. "5.7.1"
	Lines []string // at least one; no CR, LF or other control byte
}

// NewReply is SetReply returning an SMTPReply.
func NewReply(class byte, code, dsn, text string) SMTPReply {
	c, d, l := SetReply(class, code, dsn, text)
	return SMTPReply{Code: c, DSN: d, Lines: l}
}

// CodeNumber is Code as a number, for go-milter's
// RejectWithCodeAndReason.
func (r SMTPReply) CodeNumber() uint16 {
	n, _ := strconv.Atoi(r.Code)
	return uint16(n)
}

// Reason is the reply text in the form go-milter's RejectWithCodeAndReason
// takes: the DSN, a space, and the lines joined with "\n". go-milter then
// prefixes every line with the code (and, when the DSN is well formed by its
// stricter rule — no leading zeros — the DSN), doubles every %, and sends
// "554-5.7.1 first\r\n554 5.7.1 last" — the same bytes libmilter's
// smfi_setmlreply produces.
func (r SMTPReply) Reason() string {
	return r.DSN + " " + strings.Join(r.Lines, "\n")
}

// String renders the reply as the SMTP client sees it, lines separated by
// "\r\n" and without the final one.
func (r SMTPReply) String() string {
	var b strings.Builder
	for i, l := range r.Lines {
		if i > 0 {
			b.WriteString("\r\n")
		}
		sep := " "
		if i < len(r.Lines)-1 {
			sep = "-"
		}
		b.WriteString(r.Code + sep + r.DSN + " " + l)
	}
	return b.String()
}

// SetReply is the milter-side reply policy (mimedefang.c: set_reply and
// do_reply; utils.c: validate_smtp_code, validate_smtp_dsn; reference
// §2.3). class is '4' for a tempfail and '5' for a reject. It returns the
// code, DSN and text lines to hand to the MTA:
//
//   - code must be three bytes, the first equal to class and the other two
//     digits; otherwise it becomes 451 (class 4) or 554 (any other class);
//   - dsn must be class "." 1-3 digits "." 1-3 digits and nothing else;
//     otherwise it becomes 4.3.0 or 5.7.1;
//   - an empty text becomes DefaultTempFailText or DefaultRejectText;
//   - every byte below 0x20 other than LF, 0x7F, and — as on the amd64
//     build of the original, where char is signed — every byte 0x80-0xFF
//     becomes a space;
//   - the text is split at LF into at most MaxReplyLines lines; LFs in the
//     last allowed line become spaces, and one LF at the very end ends the
//     list instead of adding an empty line.
//
// All three arguments are C strings in the original, so each is cut at its
// first NUL byte; a text that is empty after that gets the default text.
//
// SetReply does not double "%". libmilter needs that, because the MTA treats
// the text as a format, and set_reply does it before calling smfi_setreply;
// go-milter's RejectWithCodeAndReason (milterutil.FormatResponse) doubles
// every % itself, so doubling here would show "%%" to the SMTP client.
//
// Two libmilter limits are not reproduced and are left to the caller:
// smfi_setreply refuses a text longer than 980 bytes (MAXREPLYLEN) and the
// MTA then sends its default reply text, whereas go-milter splits long
// lines at 950 bytes; and go-milter drops trailing empty lines, which
// libmilter would send as "554 5.7.1 ".
func SetReply(class byte, code, dsn, text string) (rcode, rdsn string, lines []string) {
	code, dsn, text = proto.CString(code), proto.CString(dsn), proto.CString(text)
	if text == "" {
		if class == '4' {
			text = DefaultTempFailText
		} else {
			text = DefaultRejectText
		}
	}
	rcode, rdsn = code, dsn
	if !validCode(code, class) {
		rcode = "554"
		if class == '4' {
			rcode = "451"
		}
	}
	if !validDSN(dsn, class) {
		rdsn = "5.7.1"
		if class == '4' {
			rdsn = "4.3.0"
		}
	}
	b := []byte(text)
	for i, c := range b {
		if (c < ' ' && c != '\n') || c >= 0x7f {
			b[i] = ' '
		}
	}
	return rcode, rdsn, splitReply(string(b))
}

// splitReply is do_reply's split: lines at LF, at most MaxReplyLines, LFs
// in the last allowed line turned into spaces, a final LF ending the list.
func splitReply(s string) []string {
	var lines []string
	for len(lines) < MaxReplyLines-1 {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return append(lines, s)
		}
		lines = append(lines, s[:i])
		s = s[i+1:]
		if s == "" {
			return lines
		}
	}
	return append(lines, strings.ReplaceAll(s, "\n", " "))
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// validCode is validate_smtp_code.
func validCode(code string, class byte) bool {
	return len(code) == 3 && code[0] == class && isDigit(code[1]) && isDigit(code[2])
}

// validDSN is validate_smtp_dsn: class "." d{1,3} "." d{1,3}.
func validDSN(dsn string, class byte) bool {
	if len(dsn) < 2 || dsn[0] != class || dsn[1] != '.' {
		return false
	}
	s := dsn[2:]
	for field := 0; field < 2; field++ {
		n := 0
		for n < len(s) && isDigit(s[n]) {
			n++
		}
		if n == 0 || n > 3 {
			return false
		}
		s = s[n:]
		if field == 0 {
			if s == "" || s[0] != '.' {
				return false
			}
			s = s[1:]
		}
	}
	return s == ""
}
