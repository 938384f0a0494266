// Package demo is `make demo`: it sends a few sample messages through a
// running milter (the one `make run` starts) with go-milter's client, the
// way an MTA would, and reports what the milter did to each one.
package demo

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"regexp"
	"strings"
	"time"

	milter "github.com/d--j/go-milter"
)

// Header is one header field as the MTA passes it to the milter.
type Header struct {
	Name, Value string
}

// Message is one sample message.
type Message struct {
	Name    string // short description
	Headers []Header
	Body    []byte // CRLF line endings
}

// Part is a leaf of a (rewritten) message.
type Part struct {
	Type     string `json:"type"`
	Filename string `json:"filename,omitempty"`
}

// Result is what the milter did to one message.
type Result struct {
	Name string `json:"name"`
	// Verdict is accept, reject, tempfail or discard.
	Verdict string `json:"verdict"`
	// Stage is where the verdict came: end of message, or an earlier stage.
	Stage string `json:"stage"`
	// Reply is the SMTP reply the milter asked for, if any.
	Reply string `json:"reply,omitempty"`
	// HeaderChanges are the header edits, e.g. "add X-Scanned-By: ...".
	HeaderChanges []string `json:"header_changes,omitempty"`
	// OtherChanges are envelope changes and quarantine requests.
	OtherChanges []string `json:"other_changes,omitempty"`
	BodyReplaced bool     `json:"body_replaced"`
	// Parts are the leaves of the message as delivered (after the edits).
	Parts []Part `json:"parts"`
	// Warnings are the texts of warning parts the filter added.
	Warnings []string `json:"warnings,omitempty"`
}

// Samples returns the three sample messages: plain text, one with an
// .exe attachment, one with a zip archive holding an .exe.
func Samples() []Message {
	zipped := zipWith(map[string][]byte{
		"readme.txt":  []byte("Unpack and run setup.exe.\n"),
		"setup.exe":   append([]byte("MZ"), bytes.Repeat([]byte{0x90}, 200)...),
		"picture.txt": []byte("not really a picture\n"),
	})
	return []Message{
		{
			Name:    "clean text message",
			Headers: headers("Lunch on Friday?", "text/plain; charset=us-ascii", ""),
			Body:    crlf("Hi Bob,\n\nare we still on for lunch on Friday at noon?\n\nAlice\n"),
		},
		mixed("message with an .exe attachment", "Invoice attached",
			"Please find the invoice attached.\n",
			"invoice.exe", "application/octet-stream", append([]byte("MZ"), bytes.Repeat([]byte{0x90}, 300)...)),
		mixed("message with a zip holding an .exe", "Photos from the trip",
			"The photos are in the archive.\n",
			"photos.zip", "application/zip", zipped),
	}
}

const boundary = "demo-boundary-4f1c"

func headers(subject, ctype, extra string) []Header {
	h := []Header{
		{"Received", "from client.example.org (client.example.org [192.0.2.10])\r\n\tby mx.example.com (md demo) with ESMTP id DEMO"},
		{"From", "Alice <alice@example.org>"},
		{"To", "Bob <bob@example.com>"},
		{"Subject", subject},
		{"Date", time.Now().UTC().Format(time.RFC1123Z)},
		{"Message-ID", fmt.Sprintf("<%d.%s@example.org>", time.Now().UnixNano(), strings.ReplaceAll(strings.ToLower(subject), " ", "-"))},
		{"MIME-Version", "1.0"},
		{"Content-Type", ctype},
	}
	if extra != "" {
		h = append(h, Header{"Content-Transfer-Encoding", extra})
	}
	return h
}

// mixed is a multipart/mixed message: a text part and one attachment.
func mixed(name, subject, text, filename, ctype string, data []byte) Message {
	var b strings.Builder
	b.WriteString("This is a multi-part message in MIME format.\n\n")
	fmt.Fprintf(&b, "--%s\nContent-Type: text/plain; charset=us-ascii\n\n%s\n", boundary, text)
	fmt.Fprintf(&b, "--%s\nContent-Type: %s; name=\"%s\"\nContent-Disposition: attachment; filename=\"%s\"\nContent-Transfer-Encoding: base64\n\n",
		boundary, ctype, filename, filename)
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\n")
	fmt.Fprintf(&b, "--%s--\n", boundary)
	return Message{
		Name:    name,
		Headers: headers(subject, fmt.Sprintf("multipart/mixed; boundary=\"%s\"", boundary), ""),
		Body:    crlf(b.String()),
	}
}

func zipWith(files map[string][]byte) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, name := range []string{"readme.txt", "setup.exe", "picture.txt"} {
		f, err := w.Create(name)
		if err != nil {
			panic(err)
		}
		f.Write(files[name])
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

// bodyChunk is the largest body packet, as Postfix and Sendmail send it.
const bodyChunk = 65535

// ErrNotRunning means nothing answers on the milter socket.
var ErrNotRunning = errors.New("no milter answers")

// NewClient is a go-milter client for the milter at network/address
// ("unix", "/path" or "tcp", "host:port"), asking for Postfix's default macros.
func NewClient(network, address string) *milter.Client {
	return milter.NewClient(network, address,
		milter.WithMaximumVersion(6),
		milter.WithActions(milter.AllClientSupportedActionMasks),
		milter.WithReadTimeout(2*time.Minute),
		milter.WithWriteTimeout(time.Minute),
		milter.WithoutDefaultMacros(),
		milter.WithMacroRequest(milter.StageConnect, []milter.MacroName{milter.MacroMTAFQDN, milter.MacroDaemonName, "{daemon_addr}", "v", "_"}),
		milter.WithMacroRequest(milter.StageMail, []milter.MacroName{milter.MacroQueueId, milter.MacroMailMailer, milter.MacroMailHost, milter.MacroMailAddr}),
		milter.WithMacroRequest(milter.StageRcpt, []milter.MacroName{milter.MacroRcptMailer, milter.MacroRcptHost, milter.MacroRcptAddr}),
		milter.WithMacroRequest(milter.StageEOM, []milter.MacroName{milter.MacroQueueId}),
	)
}

// Send passes one message through the milter in its own session, as
// Postfix would (connect, HELO, MAIL, RCPT, DATA, headers, body), and
// returns what the milter did.
func Send(c *milter.Client, n int, m Message) (*Result, error) {
	return SendPausing(c, n, m, nil)
}

// SendPausing is Send, calling beforeEnd (when not nil) after the body has
// been sent and before the end of the message: the message is then in the
// milter's hands, as when an MTA is between its last body chunk and the
// final dot's reply.
func SendPausing(c *milter.Client, n int, m Message, beforeEnd func()) (*Result, error) {
	qid := fmt.Sprintf("DEMO%04X%d", time.Now().Unix()&0xffff, n)
	macros := milter.NewMacroBag()
	macros.Set(milter.MacroMTAFQDN, "mx.example.com")
	macros.Set(milter.MacroDaemonName, "smtpd")
	macros.Set("{daemon_addr}", "127.0.0.1")
	macros.Set("v", "Postfix 3.7")
	macros.Set("_", "client.example.org [192.0.2.10]")
	macros.Set(milter.MacroQueueId, qid)
	macros.Set(milter.MacroMailMailer, "smtp")
	macros.Set(milter.MacroMailAddr, "alice@example.org")
	macros.Set(milter.MacroRcptMailer, "local")
	macros.Set(milter.MacroRcptAddr, "bob@example.com")

	s, err := c.Session(macros)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotRunning, err)
	}
	defer s.Close()
	res := &Result{Name: m.Name}

	// Each stage before the end of the message normally says continue;
	// anything else is the verdict.
	steps := []struct {
		stage string
		do    func() (*milter.Action, error)
	}{
		{"connect", func() (*milter.Action, error) {
			return s.Conn("client.example.org", milter.FamilyInet, 41234, "192.0.2.10")
		}},
		{"HELO", func() (*milter.Action, error) { return s.Helo("client.example.org") }},
		{"MAIL FROM", func() (*milter.Action, error) { return s.Mail("<alice@example.org>", "") }},
		{"RCPT TO", func() (*milter.Action, error) { return s.Rcpt("<bob@example.com>", "") }},
		{"DATA", s.DataStart},
	}
	for _, h := range m.Headers {
		h := h
		steps = append(steps, struct {
			stage string
			do    func() (*milter.Action, error)
		}{"header " + h.Name, func() (*milter.Action, error) { return s.HeaderField(h.Name, h.Value, nil) }})
	}
	steps = append(steps, struct {
		stage string
		do    func() (*milter.Action, error)
	}{"end of headers", s.HeaderEnd})
	for _, st := range steps {
		act, err := st.do()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", st.stage, err)
		}
		if act.Type != milter.ActionContinue {
			res.Stage = st.stage
			verdict(res, act)
			return res, nil
		}
	}
	for body := m.Body; len(body) > 0; {
		chunk := body[:min(len(body), bodyChunk)]
		body = body[len(chunk):]
		act, err := s.BodyChunk(chunk)
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		if act.Type != milter.ActionContinue {
			res.Stage = "body"
			verdict(res, act)
			return res, nil
		}
	}
	if beforeEnd != nil {
		beforeEnd()
	}
	mods, act, err := s.End()
	if err != nil {
		return nil, fmt.Errorf("end of message: %w", err)
	}
	res.Stage = "end of message"
	verdict(res, act)
	apply(res, m, mods)
	return res, nil
}

func verdict(res *Result, act *milter.Action) {
	switch act.Type {
	case milter.ActionAccept, milter.ActionContinue:
		res.Verdict = "accept"
	case milter.ActionDiscard:
		res.Verdict = "discard"
	case milter.ActionReject:
		res.Verdict = "reject"
	case milter.ActionTempFail:
		res.Verdict = "tempfail"
	case milter.ActionRejectWithCode:
		res.Verdict = "reject"
		if act.SMTPCode < 500 {
			res.Verdict = "tempfail"
		}
		res.Reply = act.SMTPReply
	default:
		res.Verdict = fmt.Sprintf("action %d", act.Type)
	}
}

// apply records the modifications and works out the delivered message.
func apply(res *Result, m Message, mods []milter.ModifyAction) {
	hdrs := append([]Header(nil), m.Headers...)
	var body []byte
	for _, mod := range mods {
		switch mod.Type {
		case milter.ActionAddHeader:
			res.HeaderChanges = append(res.HeaderChanges, fmt.Sprintf("add %s: %s", mod.HeaderName, oneLine(mod.HeaderValue)))
			hdrs = append(hdrs, Header{mod.HeaderName, mod.HeaderValue})
		case milter.ActionInsertHeader:
			res.HeaderChanges = append(res.HeaderChanges, fmt.Sprintf("insert at %d %s: %s", mod.HeaderIndex, mod.HeaderName, oneLine(mod.HeaderValue)))
			i := min(int(mod.HeaderIndex), len(hdrs))
			hdrs = append(hdrs[:i], append([]Header{{mod.HeaderName, mod.HeaderValue}}, hdrs[i:]...)...)
		case milter.ActionChangeHeader:
			if mod.HeaderValue == "" {
				res.HeaderChanges = append(res.HeaderChanges, fmt.Sprintf("delete %s #%d", mod.HeaderName, mod.HeaderIndex))
			} else {
				res.HeaderChanges = append(res.HeaderChanges, fmt.Sprintf("change %s #%d to: %s", mod.HeaderName, mod.HeaderIndex, oneLine(mod.HeaderValue)))
			}
			hdrs = changeHeader(hdrs, mod.HeaderName, int(mod.HeaderIndex), mod.HeaderValue)
		case milter.ActionReplaceBody:
			res.BodyReplaced = true
			body = append(body, mod.Body...)
		case milter.ActionAddRcpt:
			res.OtherChanges = append(res.OtherChanges, "add recipient "+mod.Rcpt)
		case milter.ActionDelRcpt:
			res.OtherChanges = append(res.OtherChanges, "delete recipient "+mod.Rcpt)
		case milter.ActionChangeFrom:
			res.OtherChanges = append(res.OtherChanges, "change sender to "+mod.From)
		case milter.ActionQuarantine:
			res.OtherChanges = append(res.OtherChanges, "MTA quarantine: "+mod.Reason)
		}
	}
	if !res.BodyReplaced {
		body = m.Body
	}
	ctype, cte := "text/plain", ""
	for _, h := range hdrs {
		switch strings.ToLower(h.Name) {
		case "content-type":
			ctype = h.Value
		case "content-transfer-encoding":
			cte = h.Value
		}
	}
	walk(res, ctype, cte, "", body, 0)
}

// changeHeader is SMFIR_CHGHEADER: the index-th field named name (1-based)
// gets value, or is deleted if value is empty.
func changeHeader(hdrs []Header, name string, index int, value string) []Header {
	if index < 1 {
		index = 1
	}
	seen := 0
	for i, h := range hdrs {
		if strings.EqualFold(h.Name, name) {
			seen++
			if seen == index {
				if value == "" {
					return append(hdrs[:i], hdrs[i+1:]...)
				}
				hdrs[i].Value = value
				return hdrs
			}
		}
	}
	if value != "" {
		hdrs = append(hdrs, Header{name, value})
	}
	return hdrs
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

var warningName = regexp.MustCompile(`(?i)^warning\d*\.txt$`)

// walk lists the leaves of a MIME entity and collects warning texts.
func walk(res *Result, ctype, cte, disp string, body []byte, depth int) {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" && depth < 10 {
		r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			p, err := r.NextRawPart()
			if err != nil {
				break
			}
			data, _ := io.ReadAll(p)
			pt := p.Header.Get("Content-Type")
			if pt == "" {
				pt = "text/plain"
			}
			walk(res, pt, p.Header.Get("Content-Transfer-Encoding"), p.Header.Get("Content-Disposition"), data, depth+1)
		}
		return
	}
	name := ""
	if _, dp, err := mime.ParseMediaType(disp); err == nil {
		name = dp["filename"]
	}
	if name == "" {
		name = params["name"]
	}
	res.Parts = append(res.Parts, Part{Type: mt, Filename: name})
	if mt == "text/plain" && warningName.MatchString(name) {
		res.Warnings = append(res.Warnings, strings.TrimSpace(string(decode(cte, body))))
	}
}

func decode(cte string, data []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		out, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, data))))
		if err == nil {
			return out
		}
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(data)))
		if err == nil {
			return out
		}
	}
	return bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
}

// Print writes a Result for a person.
func Print(w io.Writer, n int, r *Result) {
	fmt.Fprintf(w, "%d. %s\n", n, r.Name)
	v := r.Verdict
	if r.Reply != "" {
		v += " (" + r.Reply + ")"
	}
	if r.Stage != "end of message" {
		v += " at " + r.Stage
	}
	fmt.Fprintf(w, "   verdict:  %s\n", v)
	if r.Stage != "end of message" {
		return
	}
	if len(r.HeaderChanges) == 0 {
		fmt.Fprintf(w, "   headers:  unchanged\n")
	}
	for i, h := range r.HeaderChanges {
		label := "headers: "
		if i > 0 {
			label = "         "
		}
		fmt.Fprintf(w, "   %s %s\n", label, h)
	}
	for _, o := range r.OtherChanges {
		fmt.Fprintf(w, "   envelope: %s\n", o)
	}
	if !r.BodyReplaced {
		fmt.Fprintf(w, "   body:     unchanged\n")
	} else {
		fmt.Fprintf(w, "   body:     replaced; the parts now are:\n")
		for _, p := range r.Parts {
			name := p.Filename
			if name == "" {
				name = "(no file name)"
			}
			fmt.Fprintf(w, "               %-26s %s\n", p.Type, name)
		}
		for _, warn := range r.Warnings {
			for i, line := range strings.Split(warn, "\n") {
				label := "warning: "
				if i > 0 {
					label = "         "
				}
				fmt.Fprintln(w, strings.TrimRight("   "+label+" "+line, " "))
			}
		}
	}
	fmt.Fprintln(w)
}

// Describe is the milter address as an MTA would write it.
func Describe(network, address string) string {
	if network == "unix" {
		return "unix:" + address
	}
	return "inet:" + address
}
