// Package workdir builds MIMEDefang working directories (INPUTMSG, HEADERS,
// COMMANDS) from raw messages, the way md-milterd spools a message before it
// sends `scan <qid> <dir>` (docs/reference/protocol.md §5.2, §5.3). It is the
// one place that does so outside md-milterd: `md-worker test` (package
// offline), the conformance harness and the benchmark driver all use it, so
// that they feed the workers the same bytes.
//
// It is not a milter: the envelope is given (Envelope), and there are no
// per-connection macros beyond the ones the envelope lists.
package workdir

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mdgo/md/proto"
)

// The envelope of DefaultEnvelope, as md-milterd would record it in
// COMMANDS.
const (
	Sender    = "<alice@example.org>"
	RelayIP   = "192.0.2.10"
	RelayHost = "client.example.org"
	Helo      = "client.example.org"
)

// Recipient is one RCPT TO as COMMANDS records it: the address as given,
// and the mailer, host and address the MTA resolved it to ("?" when
// unknown).
type Recipient struct {
	Addr, Mailer, Host, RcptAddr string
}

// Recipients are the envelope recipients of DefaultEnvelope.
var Recipients = []Recipient{
	{"<bob@example.com>", "esmtp", "mx.example.com", "bob@example.com"},
	{"<carol@example.net>", "esmtp", "mx.example.net", "carol@example.net"},
}

// Macro is one "=name value" line of COMMANDS.
type Macro struct{ Name, Value string }

// Envelope is what COMMANDS says about the SMTP session, apart from what the
// message's own header gives (U and X lines).
type Envelope struct {
	MXID       string // i line: the milter's identifier of the message
	QueueID    string // Q line; none when "" or NOQUEUE
	Sender     string // S line, as given in MAIL FROM (with its <>)
	RelayIP    string // I line
	RelayHost  string // H line
	Helo       string // E line
	Recipients []Recipient
	Macros     []Macro // "=" lines, in this order, after the S line
}

// DefaultEnvelope is the fixed envelope of the conformance corpus and the
// benchmarks: alice to bob and carol from client.example.org, with the
// macros filters read.
func DefaultEnvelope(mxID, queueID string) Envelope {
	return Envelope{
		MXID: mxID, QueueID: queueID,
		Sender: Sender, RelayIP: RelayIP, RelayHost: RelayHost, Helo: Helo,
		Recipients: Recipients,
		Macros: []Macro{
			{"_", RelayHost + " [" + RelayIP + "]"},
			{"j", "mx.example.com"},
			{"{daemon_name}", "mx.example.com"},
			{"{if_addr}", "192.0.2.1"},
			{"i", queueID},
		},
	}
}

// Header is one top-level header field as the milter sees it: the name, and
// the raw value (folding kept, without the trailing newline).
type Header struct {
	Name, Value string
}

// SplitMessage splits a message with LF line endings into its header fields
// and body. A message without a blank line is all headers; a line that is
// neither a header nor a continuation starts the body.
func SplitMessage(msg []byte) ([]Header, []byte) {
	var hs []Header
	rest := msg
	for len(rest) > 0 {
		nl := bytes.IndexByte(rest, '\n')
		var line []byte
		if nl < 0 {
			line, rest = rest, nil
		} else {
			line, rest = rest[:nl], rest[nl+1:]
		}
		if len(line) == 0 {
			return hs, rest
		}
		if (line[0] == ' ' || line[0] == '\t') && len(hs) > 0 {
			hs[len(hs)-1].Value += "\n" + string(line)
			continue
		}
		name, value, ok := strings.Cut(string(line), ":")
		if !ok {
			// Not a header: the milter would have seen the body start here.
			return hs, append(append([]byte{}, line...), append([]byte{'\n'}, rest...)...)
		}
		hs = append(hs, Header{Name: name, Value: strings.TrimLeft(value, " \t")})
	}
	return hs, nil
}

// Unfold joins a folded header value the way md-milterd writes HEADERS:
// every CR and LF is deleted, the continuation's leading white space stays.
func Unfold(v string) string {
	return strings.NewReplacer("\r", "", "\n", "").Replace(v)
}

// ToLF converts CRLF line endings to LF, as the milter does for INPUTMSG.
func ToLF(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
}

// Files returns the contents of INPUTMSG, HEADERS and COMMANDS for raw
// under DefaultEnvelope(mxID, queueID), by file name.
func Files(raw []byte, mxID, queueID string) map[string][]byte {
	return DefaultEnvelope(mxID, queueID).Files(raw)
}

// Files returns the contents of INPUTMSG, HEADERS and COMMANDS for raw, by
// file name: INPUTMSG with LF line endings and only the first Content-Type
// header, HEADERS with one unfolded header per line, COMMANDS with the
// envelope, the Subject lines, the first Message-ID, the flags for a CR in
// a header (!) or a CR or NUL in the body (?), and F.
func (e Envelope) Files(raw []byte) map[string][]byte {
	msg := ToLF(raw)
	hs, body := SplitMessage(msg)

	var input, headers, cmds bytes.Buffer
	var suspiciousHeaders bool
	seenCT := false
	var subjects []string
	messageID := ""
	for _, h := range hs {
		if strings.EqualFold(h.Name, "Content-Type") {
			if seenCT {
				continue
			}
			seenCT = true
		}
		value := h.Value
		if strings.Contains(value, "\r") {
			suspiciousHeaders = true
			value = strings.ReplaceAll(value, "\r", " ")
		}
		fmt.Fprintf(&input, "%s: %s\n", h.Name, value)
		fmt.Fprintf(&headers, "%s: %s\n", h.Name, Unfold(value))
		switch {
		case strings.EqualFold(h.Name, "Subject"):
			subjects = append(subjects, Unfold(value))
		case strings.EqualFold(h.Name, "Message-ID") && messageID == "":
			messageID = Unfold(value)
		}
	}
	input.WriteByte('\n')
	input.Write(body)

	line := func(letter string, args ...string) {
		cmds.WriteString(letter)
		for i, a := range args {
			if i > 0 {
				cmds.WriteByte(' ')
			}
			cmds.WriteString(proto.EncodeCommands(a))
		}
		cmds.WriteByte('\n')
	}
	line("i", e.MXID)
	line("S", e.Sender)
	for _, m := range e.Macros {
		line("=", m.Name, m.Value)
	}
	if e.QueueID != "" && e.QueueID != proto.NoQueue {
		line("Q", e.QueueID)
	}
	line("H", e.RelayHost)
	line("I", e.RelayIP)
	line("E", e.Helo)
	for _, r := range e.Recipients {
		line("R", r.Addr, r.Mailer, r.Host, r.RcptAddr)
	}
	for _, s := range subjects {
		line("U", s)
	}
	if messageID != "" {
		line("X", messageID)
	}
	if suspiciousHeaders {
		cmds.WriteString("!\n")
	}
	if bytes.ContainsAny(body, "\r\x00") {
		cmds.WriteString("?\n")
	}
	cmds.WriteString("F\n")

	return map[string][]byte{
		"INPUTMSG": input.Bytes(),
		"HEADERS":  headers.Bytes(),
		"COMMANDS": cmds.Bytes(),
	}
}

// Build writes the files of Files(raw, mxID, queueID) into dir, which must
// exist, with mode 0600.
func Build(dir string, raw []byte, mxID, queueID string) error {
	return WriteFiles(dir, Files(raw, mxID, queueID), 0o600)
}

// WriteFiles writes files (name to content, as Files returns them) into
// dir with the given mode.
func WriteFiles(dir string, files map[string][]byte, mode os.FileMode) error {
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, mode); err != nil {
			return fmt.Errorf("workdir: %w", err)
		}
	}
	return nil
}
