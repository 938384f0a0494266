package conformance

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The envelope every conformance message arrives with, as md-milterd would
// record it in COMMANDS.
const (
	envSender    = "<alice@example.org>"
	envRelayIP   = "192.0.2.10"
	envRelayHost = "client.example.org"
	envHelo      = "client.example.org"
)

var envRecipients = []struct{ addr, mailer, host, rcptAddr string }{
	{"<bob@example.com>", "esmtp", "mx.example.com", "bob@example.com"},
	{"<carol@example.net>", "esmtp", "mx.example.net", "carol@example.net"},
}

// header is one top-level header field as the milter sees it: the name, and
// the raw value (folding kept, without the trailing newline).
type header struct {
	name, value string
}

// splitMessage splits a message with LF line endings into its header fields
// and body. A message without a blank line is all headers.
func splitMessage(msg []byte) ([]header, []byte) {
	var hs []header
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
			hs[len(hs)-1].value += "\n" + string(line)
			continue
		}
		name, value, ok := strings.Cut(string(line), ":")
		if !ok {
			// Not a header: the milter would have seen the body start here.
			return hs, append(append([]byte{}, line...), append([]byte{'\n'}, rest...)...)
		}
		hs = append(hs, header{name: name, value: strings.TrimLeft(value, " \t")})
	}
	return hs, nil
}

// unfold joins a folded header value the way md-milterd writes HEADERS:
// every CR and LF is deleted, the continuation's leading white space stays.
func unfold(v string) string {
	return strings.NewReplacer("\r", "", "\n", "").Replace(v)
}

// commandsEncode is the COMMANDS percent-encoding of the C milter
// (c:append_percent_encoded): bytes <= 0x20, >= 0x7F and '%'.
func commandsEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c >= 0x7f || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// toLF converts CRLF line endings to LF, as the milter does for INPUTMSG.
func toLF(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
}

// buildWorkDir writes INPUTMSG, HEADERS and COMMANDS for raw into dir the
// way md-milterd spools a message: INPUTMSG with LF line endings and only the
// first Content-Type header, HEADERS with one unfolded header per line,
// COMMANDS with the envelope, the Subject and Message-ID lines and F.
func buildWorkDir(dir string, raw []byte, mxID, queueID string) error {
	msg := toLF(raw)
	hs, body := splitMessage(msg)

	var input, headers, cmds bytes.Buffer
	var suspiciousHeaders bool
	seenCT := false
	var subjects []string
	messageID := ""
	for _, h := range hs {
		if strings.EqualFold(h.name, "Content-Type") {
			if seenCT {
				continue
			}
			seenCT = true
		}
		value := h.value
		if strings.Contains(value, "\r") {
			suspiciousHeaders = true
			value = strings.ReplaceAll(value, "\r", " ")
		}
		fmt.Fprintf(&input, "%s: %s\n", h.name, value)
		fmt.Fprintf(&headers, "%s: %s\n", h.name, unfold(value))
		switch {
		case strings.EqualFold(h.name, "Subject"):
			subjects = append(subjects, unfold(value))
		case strings.EqualFold(h.name, "Message-ID") && messageID == "":
			messageID = unfold(value)
		}
	}
	input.WriteByte('\n')
	input.Write(body)

	line := func(letter, arg string) {
		cmds.WriteString(letter + commandsEncode(arg) + "\n")
	}
	macro := func(name, value string) {
		cmds.WriteString("=" + commandsEncode(name) + " " + commandsEncode(value) + "\n")
	}
	line("i", mxID)
	line("S", envSender)
	macro("_", envRelayHost+" ["+envRelayIP+"]")
	macro("j", "mx.example.com")
	macro("{daemon_name}", "mx.example.com")
	macro("{if_addr}", "192.0.2.1")
	macro("i", queueID)
	line("Q", queueID)
	line("H", envRelayHost)
	line("I", envRelayIP)
	line("E", envHelo)
	for _, r := range envRecipients {
		cmds.WriteString("R" + commandsEncode(r.addr) + " " + commandsEncode(r.mailer) + " " +
			commandsEncode(r.host) + " " + commandsEncode(r.rcptAddr) + "\n")
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

	for name, data := range map[string][]byte{
		"INPUTMSG": input.Bytes(),
		"HEADERS":  headers.Bytes(),
		"COMMANDS": cmds.Bytes(),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
