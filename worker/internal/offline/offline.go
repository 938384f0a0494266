// Package offline runs a filter on a message file without an MTA, milter or
// multiplexor: "md-worker test MESSAGE.eml --filter FILE". It builds a
// temporary working directory the way md-milterd would (COMMANDS, HEADERS,
// INPUTMSG), sends the worker the requests the milter would send (relayok,
// helook, senderok, recipok, scan), and reports what the milter would do
// with the answers and with RESULTS. Nothing is kept.
package offline

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mdgo/md/proto"
	"github.com/mdgo/md/worker/filter"
	"github.com/mdgo/md/worker/message"
	"github.com/mdgo/md/worker/workdir"
)

// Envelope is the SMTP side of the test message.
type Envelope struct {
	Sender     string   // MAIL FROM, with or without <>; "" means <>
	Recipients []string // RCPT TO
	RelayAddr  string   // client IP; default 127.0.0.1
	RelayName  string   // client host name; default [RelayAddr]
	Helo       string   // HELO argument; default localhost
	QueueID    string   // default NOQUEUE
}

func bracket(s string) string {
	if strings.HasPrefix(s, "<") {
		return s
	}
	return "<" + s + ">"
}

func (e *Envelope) defaults() {
	if e.RelayAddr == "" {
		e.RelayAddr = "127.0.0.1"
	}
	if e.RelayName == "" {
		e.RelayName = "[" + e.RelayAddr + "]"
	}
	if e.Helo == "" {
		e.Helo = "localhost"
	}
	if e.QueueID == "" {
		e.QueueID = proto.NoQueue
	}
	e.Sender = bracket(e.Sender)
	if e.Sender == "<>" || e.Sender == "<<>>" {
		e.Sender = "<>"
	}
	for i, r := range e.Recipients {
		e.Recipients[i] = bracket(r)
	}
}

// BuildWorkingDir writes COMMANDS, HEADERS and INPUTMSG for raw and env into
// dir as md-milterd does (package workdir).
func BuildWorkingDir(dir string, raw []byte, env Envelope) error {
	env.defaults()
	e := workdir.Envelope{
		MXID: "offline", QueueID: env.QueueID,
		Sender: env.Sender, RelayIP: env.RelayAddr, RelayHost: env.RelayName, Helo: env.Helo,
		Macros: []workdir.Macro{{Name: "_", Value: env.RelayName}, {Name: "client_port", Value: "0"}},
	}
	if env.QueueID != proto.NoQueue {
		e.Macros = append(e.Macros, workdir.Macro{Name: "i", Value: env.QueueID})
	}
	for _, r := range env.Recipients {
		e.Recipients = append(e.Recipients, workdir.Recipient{Addr: r, Mailer: "?", Host: "?", RcptAddr: "?"})
	}
	if err := workdir.WriteFiles(dir, e.Files(raw), 0o600); err != nil {
		return fmt.Errorf("offline: %w", err)
	}
	return nil
}

// Run tests w on raw with env and writes a report to out. It returns the
// final disposition: "accept", "reject", "tempfail", "discard".
func Run(ctx context.Context, w *filter.Worker, raw []byte, env Envelope, out io.Writer) (string, error) {
	env.defaults()
	dir, err := os.MkdirTemp("", "mdefang-test-")
	if err != nil {
		return "", fmt.Errorf("offline: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := BuildWorkingDir(dir, raw, env); err != nil {
		return "", err
	}
	check := func(what string, req proto.Request) (stop string) {
		reply := w.Handle(ctx, req.Line())
		fmt.Fprintf(out, "%-10s %s", what, reply)
		r, err := proto.ParseCheckReply(reply)
		switch {
		case err != nil:
			return "tempfail"
		case r.Verdict == proto.Reject:
			return "reject"
		case r.Verdict == proto.TempFail:
			return "tempfail"
		case r.Verdict == proto.Discard:
			return "discard"
		case r.Verdict == proto.AcceptNoMoreFiltering:
			return "accept"
		}
		return ""
	}
	if v := check("relay:", proto.RelayOK{IP: env.RelayAddr, Name: env.RelayName, ClientPort: "0", MyIP: "127.0.0.1", DaemonPort: "25", QueueID: env.QueueID}); v != "" {
		return finish(out, v, "connection")
	}
	if v := check("helo:", proto.HeloOK{IP: env.RelayAddr, Name: env.RelayName, Helo: env.Helo, ClientPort: "0", MyIP: "127.0.0.1", DaemonPort: "25", QueueID: env.QueueID}); v != "" {
		return finish(out, v, "HELO")
	}
	if v := check("sender:", proto.SenderOK{Sender: env.Sender, IP: env.RelayAddr, Name: env.RelayName, Helo: env.Helo, Dir: dir, QueueID: env.QueueID}); v != "" {
		return finish(out, v, "MAIL FROM")
	}
	for i, r := range env.Recipients {
		v := check("recipient:", proto.RecipOK{Rcpt: r, Sender: env.Sender, IP: env.RelayAddr, Name: env.RelayName,
			FirstRcpt: env.Recipients[0], Helo: env.Helo, Dir: dir, QueueID: env.QueueID, Mailer: "?", Host: "?", Addr: "?"})
		if v == "discard" || v == "accept" {
			return finish(out, v, "RCPT TO "+env.Recipients[i])
		}
		if v != "" {
			fmt.Fprintf(out, "           (recipient %s refused: %s)\n", r, v)
		}
	}
	reply := w.Handle(ctx, proto.Scan{QueueID: env.QueueID, Dir: dir}.Line())
	fmt.Fprintf(out, "%-10s %s", "scan:", reply)
	if reply != proto.ScanOK {
		return finish(out, "tempfail", "scan failed")
	}
	return report(out, dir)
}

func finish(out io.Writer, v, stage string) (string, error) {
	fmt.Fprintf(out, "verdict: %s (at %s)\n", v, stage)
	return v, nil
}

// report prints what the milter would do with RESULTS (its rules of
// docs/reference/protocol.md §5.5).
func report(out io.Writer, dir string) (string, error) {
	res, err := os.ReadFile(filepath.Join(dir, "RESULTS"))
	if err != nil {
		return finish(out, "tempfail", "RESULTS missing")
	}
	lines := strings.Split(strings.TrimSuffix(string(res), "\n"), "\n")
	verdict := ""
	var changes []string
	sawF := false
	for _, l := range lines {
		if l == "" {
			continue
		}
		f := strings.Split(l[1:], " ")
		for i := range f {
			f[i] = proto.Decode(f[i])
		}
		arg := func(i int) string {
			if i < len(f) {
				return f[i]
			}
			return ""
		}
		rest := func(i int) string {
			if i < len(f) {
				return strings.Join(f[i:], " ")
			}
			return ""
		}
		switch l[0] {
		case 'B':
			if verdict == "" {
				verdict = fmt.Sprintf("reject %s %s %s", arg(0), arg(1), rest(2))
			}
		case 'T':
			if verdict == "" {
				verdict = fmt.Sprintf("tempfail %s %s %s", arg(0), arg(1), rest(2))
			}
		case 'D':
			if verdict == "" {
				verdict = "discard"
			}
		case 'H':
			changes = append(changes, fmt.Sprintf("add header      %s: %s", arg(0), rest(1)))
		case 'N':
			changes = append(changes, fmt.Sprintf("insert header   %s: %s (at %s)", arg(0), rest(2), arg(1)))
		case 'I':
			changes = append(changes, fmt.Sprintf("change header   %s[%s]: %s", arg(0), arg(1), rest(2)))
		case 'J':
			changes = append(changes, fmt.Sprintf("delete header   %s[%s]", arg(0), arg(1)))
		case 'R':
			changes = append(changes, "add recipient   "+arg(0))
		case 'S':
			changes = append(changes, "del recipient   "+arg(0))
		case 'f':
			changes = append(changes, "change sender   "+arg(0))
		case 'M':
			changes = append(changes, "content-type    "+rest(0))
		case 'Q':
			changes = append(changes, "quarantine      "+rest(0))
		case 'C':
			changes = append(changes, "body replaced   (NEWBODY)")
		case 'F':
			sawF = true
		}
	}
	if !sawF {
		return finish(out, "tempfail", "RESULTS without F")
	}
	v := "accept"
	if verdict != "" {
		fmt.Fprintf(out, "verdict: %s\n", verdict)
		if len(changes) > 0 {
			fmt.Fprintln(out, "(changes below are not applied because of the verdict)")
		}
		v = strings.Fields(verdict)[0]
	} else {
		fmt.Fprintln(out, "verdict: accept")
	}
	for _, c := range changes {
		fmt.Fprintln(out, "  "+c)
	}
	if nb, err := os.ReadFile(filepath.Join(dir, "NEWBODY")); err == nil {
		printParts(out, dir, nb)
	}
	return v, nil
}

// printParts lists the leaves of the new body.
func printParts(out io.Writer, dir string, nb []byte) {
	ct := ""
	res, _ := os.ReadFile(filepath.Join(dir, "RESULTS"))
	for _, l := range strings.Split(string(res), "\n") {
		if strings.HasPrefix(l, "M") {
			ct = proto.Decode(l[1:])
		}
	}
	if ct == "" {
		return
	}
	msg, err := message.Parse(append([]byte("Content-Type: "+ct+"\n\n"), nb...), message.Limits{})
	if err != nil {
		fmt.Fprintf(out, "new body: unparsable: %v\n", err)
		return
	}
	fmt.Fprintln(out, "new body parts:")
	message.Walk(msg.Top(), func(p *message.Part, depth int) bool {
		if depth == 0 && !msg.WasMultipart() {
			return true
		}
		name := p.FileName()
		if name != "" {
			name = " " + name
		}
		size := ""
		if !p.IsMultipart() {
			size = fmt.Sprintf(" (%d bytes)", p.BodySize())
		}
		fmt.Fprintf(out, "  %s%s%s%s\n", strings.Repeat("  ", depth), p.Type(), name, size)
		return true
	})
}
