package filter

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mdgo/md/worker/message"
	"github.com/mdgo/md/worker/workdir"
)

// Nothing a message controls can make the worker run a command (issue 14).
// Every program the worker starts is started without a shell, from a list
// of arguments (sendmail, the command-line virus scanners), except
// action_external_filter's command, which is the filter's own string and
// reaches /bin/sh as it is. These tests put shell metacharacters and
// option-like values in every field of a message that reaches such a
// program (file names, the envelope sender and recipients, the subject,
// the HELO name, the relay's host name, the queue ID) and check that each
// one arrives as one argument or as data, never as a command or an option,
// while the programs still run and do their work.

// cmdinjPayloads are hostile values: each would create a file under mark
// if a shell ran it (the file tells which one got through), or would be
// read as an option if it were an argument of its own before "--"
// (sendmail's -oQ queue directory, -be address test mode, -X traffic log,
// -C configuration file).
func cmdinjPayloads(mark string) []string {
	m := func(n string) string { return filepath.Join(mark, n) }
	return []string{
		"a;touch " + m("semicolon"),
		"a|touch " + m("pipe"),
		"a&touch " + m("ampersand"),
		"a&&touch " + m("andand"),
		"a||touch " + m("oror"),
		"$(touch " + m("dollar") + ")",
		"`touch " + m("backtick") + "`",
		"a>" + m("redirect"),
		"a\ntouch " + m("newline"),
		"a'; touch " + m("squote") + "; echo '",
		`a"; touch ` + m("dquote") + `; echo "`,
		"-oQ" + m("optq"),
		"-be",
		"-X" + m("xlog"),
		"-C" + m("evil.cf"),
		"-- -X" + m("xlog2"),
	}
}

// cmdinjNoMarkers fails the test if a payload created its file.
func cmdinjNoMarkers(t *testing.T, mark string) {
	t.Helper()
	ents, err := os.ReadDir(mark)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("a hostile value ran a command or reached a program as an option: %s was created", filepath.Join(mark, e.Name()))
	}
}

// cmdinjCall is one run of a recording program: its arguments, exactly,
// and its standard input.
type cmdinjCall struct {
	Argv  []string
	Stdin string
}

// cmdinjRecorder writes a program that stores the arguments of every run
// (NUL-terminated, so that a newline or a blank inside an argument keeps
// the boundaries) and its standard input, and exits 0. It returns its
// path and a function that reads the runs in order.
func cmdinjRecorder(t *testing.T, name string) (string, func() []cmdinjCall) {
	t.Helper()
	base := t.TempDir()
	out := filepath.Join(base, "runs")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(base, name)
	script := "#!/bin/sh\nd='" + out + "'\nn=$(ls \"$d\" | grep -c '\\.argv$')\n" +
		"printf '%s\\0' \"$@\" > \"$d/$n.argv\"\ncat > \"$d/$n.stdin\"\nexit 0\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return prog, func() []cmdinjCall {
		var calls []cmdinjCall
		for n := 0; ; n++ {
			a, err := os.ReadFile(filepath.Join(out, fmt.Sprintf("%d.argv", n)))
			if err != nil {
				return calls
			}
			in, _ := os.ReadFile(filepath.Join(out, fmt.Sprintf("%d.stdin", n)))
			argv := strings.Split(string(a), "\x00")
			calls = append(calls, cmdinjCall{Argv: argv[:len(argv)-1], Stdin: string(in)})
		}
	}
}

// rfc2231 encodes s as an RFC 2231 parameter value (utf-8”...), which
// carries any byte, a newline and quotes included.
func rfc2231(s string) string {
	var b strings.Builder
	b.WriteString("utf-8''")
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// cmdinjMessage is a message with a text part and one attachment per
// name, its file name in both Content-Type name and Content-Disposition
// filename, its body "body <n>\n".
func cmdinjMessage(subject string, names []string) string {
	var b strings.Builder
	b.WriteString("From: a@example.com\nSubject: " + strings.ReplaceAll(subject, "\n", " ") +
		"\nMessage-ID: <m1@example.com>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n" +
		"--b\nContent-Type: text/plain\n\nhello\n")
	for i, n := range names {
		fmt.Fprintf(&b, "--b\nContent-Type: application/octet-stream; name*=%s\nContent-Disposition: attachment; filename*=%s\n\nbody %d\n", rfc2231(n), rfc2231(n), i)
	}
	b.WriteString("--b--\n")
	return b.String()
}

// cmdinjCase writes a working directory as md-milterd does for msg, with
// every envelope field hostile: the sender, the HELO name, the relay's
// host name, the queue ID and a recipient are v, next to a plain
// recipient.
func cmdinjCase(t *testing.T, v, msg string) (dir string, rcpts []string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "mdefang-cmdinj")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	rcpts = []string{"<b@example.com>", v}
	env := workdir.Envelope{MXID: "cmdinj", QueueID: v, Sender: v, RelayIP: "192.0.2.1", RelayHost: v, Helo: v}
	for _, r := range rcpts {
		env.Recipients = append(env.Recipients, workdir.Recipient{Addr: r, Mailer: "?", Host: "?", RcptAddr: "?"})
	}
	if err := workdir.WriteFiles(dir, env.Files([]byte(msg)), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, rcpts
}

// TestCmdInjectionSendmail: every function that runs sendmail
// (send_mail, resend_message*, the sender and administrator notifications,
// send_quarantine_notifications), with every hostile value as the
// envelope sender, a recipient, the HELO name, the relay's host name, the
// queue ID, the subject and an attachment's name. Sendmail (a recording
// stand-in) runs each time, with exactly the arguments MIMEDefang gives
// it: the sender glued to -f (one argument, so never an option of its
// own), -F likewise, a delivery mode from the four allowed, and the
// recipients after "--"; the hostile values reach it only as those
// arguments and as the mail on its standard input, and nothing ran them.
func TestCmdInjectionSendmail(t *testing.T) {
	for i := range cmdinjPayloads("") {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			mark := t.TempDir()
			v := cmdinjPayloads(mark)[i]
			noSyslog(t)
			sm, runs := cmdinjRecorder(t, "sendmail")
			var fnames []string
			var subject string
			w, log := testWorker(t, func(cfg *Config) *Callbacks {
				cfg.Sendmail = sm
				cfg.PrivateMyHostName = "mx.example.net"
				cfg.QuarantineDir = t.TempDir()
				return &Callbacks{
					Filter: func(c *Context, p *message.Part, fname, _, _ string) error {
						if fname == "" {
							return nil
						}
						fnames = append(fnames, fname)
						if !c.ActionNotifySender("attachment " + fname + "\n") {
							t.Error("ActionNotifySender = false")
						}
						if !c.ActionNotifyAdministrator("attachment " + fname + "\n") {
							t.Error("ActionNotifyAdministrator = false")
						}
						if !c.ActionQuarantine(p, "quarantined "+fname) {
							t.Error("ActionQuarantine = false")
						}
						return nil
					},
					End: func(c *Context, _ *message.Part) error {
						subject = c.Subject
						if !c.SendQuarantineNotifications() {
							t.Error("SendQuarantineNotifications = false")
						}
						if !c.ResendMessage(c.Recipients...) {
							t.Error("ResendMessage = false")
						}
						// The mode is a value too: only -odb, -odq, -odd and
						// -odi pass.
						if !c.ResendMessageOneRecipient(v, v) {
							t.Error("ResendMessageOneRecipient = false")
						}
						if err := c.SendMail(c.Sender, c.Subject, v, "Subject: copy\n\n"+v+"\n", v); err != nil {
							t.Errorf("SendMail: %v", err)
						}
						return nil
					},
				}
			})
			dir, rcpts := cmdinjCase(t, v, cmdinjMessage(v, []string{v}))
			if r := scan(t, w, dir); r != "ok\n" {
				t.Fatalf("scan: %q\n%s", r, log)
			}
			if !slices.Equal(fnames, []string{v}) {
				t.Fatalf("the filter saw the file names %q, want %q", fnames, v)
			}
			admin := []string{"-fmailer-daemon@localhost", "-FMIMEDefang", "-odd", "-Ac", "-oi", "--", "postmaster@localhost"}
			want := [][]string{
				admin, // send_quarantine_notifications
				{"-f" + v, "-odd", "-Ac", "-oi", "--", rcpts[0], rcpts[1]},                   // resend_message
				{"-f" + v, "-odd", "-Ac", "-oi", "--", v},                                    // resend_message_one_recipient
				{"-f" + v, "-F" + subject, "-odd", "-Ac", "-oi", "--", v},                    // send_mail
				{"-fmailer-daemon@localhost", "-FMIMEDefang", "-odd", "-Ac", "-oi", "--", v}, // the sender notification
				admin, // the administrator notification
			}
			calls := runs()
			if len(calls) != len(want) {
				t.Fatalf("sendmail ran %d times, want %d\n%s", len(calls), len(want), log)
			}
			for i, c := range calls {
				if !slices.Equal(c.Argv, want[i]) {
					t.Errorf("sendmail run %d: arguments %q, want %q", i, c.Argv, want[i])
				}
			}
			// The values reached sendmail as data: the notifications
			// carry the file name, the re-sent copy the HELO name.
			if !strings.Contains(calls[4].Stdin, "attachment "+v+"\n") || !strings.Contains(calls[5].Stdin, "attachment "+v+"\n") {
				t.Errorf("the notifications lack the file name:\n%s\n%s", calls[4].Stdin, calls[5].Stdin)
			}
			if !strings.Contains(calls[1].Stdin, "Received: from "+v) {
				t.Errorf("the re-sent copy lacks the HELO name:\n%s", calls[1].Stdin)
			}
			cmdinjNoMarkers(t, mark)
		})
	}
}

// TestCmdInjectionSendMailNUL: a value with a NUL byte cannot be cut
// short into another argument: sendmail is not run at all.
func TestCmdInjectionSendMailNUL(t *testing.T) {
	noSyslog(t)
	sm, runs := cmdinjRecorder(t, "sendmail")
	w, _ := testWorker(t, func(cfg *Config) *Callbacks { cfg.Sendmail = sm; return &Callbacks{} })
	c := w.NewContext(t.Context())
	if err := c.SendMail("a@example.com\x00-be", "", "<b@example.com>", "x", ""); err == nil {
		t.Error("SendMail with a NUL in the sender: no error")
	}
	if err := c.SendMail("a@example.com", "", "<b@example.com>\x00-be", "x", ""); err == nil {
		t.Error("SendMail with a NUL in the recipient: no error")
	}
	if n := len(runs()); n != 0 {
		t.Errorf("sendmail ran %d times", n)
	}
}

// TestCmdInjectionExternalFilter: action_external_filter's command is the
// filter's string, run by /bin/sh in the working directory, with nothing
// of the message in it: no value is substituted into it, the part's body
// is in ./FILTERINPUT whatever the attachment's name, and the
// environment holds nothing of the message. With every hostile value as
// the file name, the subject and the envelope, the command runs and its
// output replaces each part's body, and no payload ran.
func TestCmdInjectionExternalFilter(t *testing.T) {
	noSyslog(t)
	mark := t.TempDir()
	payloads := cmdinjPayloads(mark)
	envDump := filepath.Join(t.TempDir(), "env")
	cmd := "{ echo FILTERED; tr a-z A-Z < FILTERINPUT; } > FILTEROUTPUT && ls -A >> " + envDump + " && env >> " + envDump
	var fnames []string
	w, log := testWorker(t, func(cfg *Config) *Callbacks {
		return &Callbacks{Filter: func(c *Context, p *message.Part, fname, _, _ string) error {
			if fname == "" {
				return nil
			}
			fnames = append(fnames, fname)
			body, _ := p.Body()
			if !c.ActionExternalFilter(p, cmd) {
				t.Errorf("ActionExternalFilter on %q = false", fname)
			}
			if got, _ := p.Body(); string(got) != "FILTERED\n"+strings.ToUpper(string(body)) {
				t.Errorf("the part named %q has the body %q after the external filter, want its FILTEROUTPUT", fname, got)
			}
			// The command string is used as it is: nothing is put into
			// it (MIMEDefang has no placeholders).
			if !c.ActionExternalFilter(p, "printf '%s' 'FILTERINPUT FILTEROUTPUT FILTERTYPE FILTERNAME' > FILTEROUTPUT") {
				t.Error("ActionExternalFilter = false")
			}
			if got, _ := p.Body(); string(got) != "FILTERINPUT FILTEROUTPUT FILTERTYPE FILTERNAME" {
				t.Errorf("the command was changed: its output is %q", got)
			}
			return nil
		}}
	})
	v := strings.Join(payloads, " ")
	dir, _ := cmdinjCase(t, v, cmdinjMessage(v, payloads))
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatalf("scan: %q\n%s", r, log)
	}
	if !slices.Equal(fnames, payloads) {
		t.Fatalf("the filter saw the file names %q, want %q", fnames, payloads)
	}
	dump, err := os.ReadFile(envDump)
	if err != nil {
		t.Fatalf("the external filter did not run: %v", err)
	}
	// No payload (each names the marker directory, but -be) is in the
	// command's working directory listing or environment.
	if bytes.Contains(dump, []byte(mark)) || bytes.Contains(dump, []byte("-be\n")) {
		t.Errorf("the external filter's directory or environment holds a value of the message:\n%s", dump)
	}
	if got := strings.Count(string(dump), "FILTERINPUT\n"); got != len(payloads) {
		t.Errorf("the command saw FILTERINPUT %d times, want %d", got, len(payloads))
	}
	cmdinjNoMarkers(t, mark)
}

// TestCmdInjectionVirusScanners: the command-line scanners (clamdscan and
// clamscan, for the whole message and part by part, directly and through
// message_contains_virus / entity_contains_virus) get their options and a
// path the worker names itself (./Work, or Work/part-*.bin under the
// working directory), never an attachment's name; run_virus_scanner with
// an argument list passes a hostile value as one argument, and with a
// command line refuses one that needs a shell instead of running it.
func TestCmdInjectionVirusScanners(t *testing.T) {
	noSyslog(t)
	mark := t.TempDir()
	payloads := cmdinjPayloads(mark)
	clamdscan, clamdscanRuns := cmdinjRecorder(t, "clamdscan")
	clamscan, clamscanRuns := cmdinjRecorder(t, "clamscan")
	listProg, listRuns := cmdinjRecorder(t, "list-scanner")
	lineProg, lineRuns := cmdinjRecorder(t, "line-scanner")
	conf := filepath.Join(t.TempDir(), "clamd.conf")
	var fnames []string
	var cwd string
	w, log := testWorker(t, func(cfg *Config) *Callbacks {
		cfg.Features = map[string]string{"Virus:CLAMDSCAN": clamdscan, "Virus:CLAMAV": clamscan, "Path:CLAMDCONF": conf}
		return &Callbacks{
			Begin: func(c *Context, _ *message.Part) error {
				cwd = c.CWD
				wantVirus(t, c.MessageContainsVirusClamdscan(), 0, "ok", "ok")
				wantVirus(t, c.MessageContainsVirusClamav(), 0, "ok", "ok")
				wantVirus(t, c.MessageContainsVirus(), 0, "ok", "ok")
				return nil
			},
			Filter: func(c *Context, p *message.Part, fname, _, _ string) error {
				if fname == "" {
					return nil
				}
				fnames = append(fnames, fname)
				wantVirus(t, c.EntityContainsVirusClamdscan(p), 0, "ok", "ok")
				wantVirus(t, c.EntityContainsVirusClamav(p), 0, "ok", "ok")
				wantVirus(t, c.EntityContainsVirus(p), 0, "ok", "ok")
				// A filter that puts a name in an argument list: one
				// argument, as given.
				wantVirus(t, c.RunVirusScanner([]string{listProg, "--", fname}, ""), 0, "ok", "proceed")
				// ... or in a command line: split at blanks, never given
				// to a shell; a word a shell would read is refused.
				n := len(lineRuns())
				r := c.RunVirusScannerCommand(lineProg+" "+fname, "")
				if strings.ContainsAny(fname, "|&;<>()$`\\\"'*?[]{}~#") {
					wantVirus(t, r, 999, "cannot-execute", "tempfail")
					if len(lineRuns()) != n {
						t.Errorf("RunVirusScannerCommand ran %q", lineProg+" "+fname)
					}
				} else if got := lineRuns(); len(got) != n+1 || !slices.Equal(got[n].Argv, strings.Fields(fname)) {
					t.Errorf("RunVirusScannerCommand(%q) ran %q", lineProg+" "+fname, got[n:])
				}
				return nil
			},
		}
	})
	v := strings.Join(payloads, " ")
	dir, _ := cmdinjCase(t, v, cmdinjMessage(v, payloads))
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatalf("scan: %q\n%s", r, log)
	}
	if !slices.Equal(fnames, payloads) {
		t.Fatalf("the filter saw the file names %q, want %q", fnames, payloads)
	}
	work := filepath.Join(cwd, "Work")
	part := regexp.MustCompile(`^` + regexp.QuoteMeta(work) + `/part-e?[0-9]+\.bin$`)
	check := func(name string, calls []cmdinjCall, options ...[]string) {
		t.Helper()
		// The message scans, then one entity scan per attachment, each
		// also through the dispatcher.
		if want := 2 + 2*len(payloads); len(calls) != want {
			t.Errorf("%s ran %d times, want %d", name, len(calls), want)
		}
		for _, c := range calls {
			ok := false
			for _, opts := range options {
				if len(c.Argv) == len(opts)+1 && slices.Equal(c.Argv[:len(opts)], opts) {
					last := c.Argv[len(opts)]
					ok = last == "./Work" || part.MatchString(last)
				}
			}
			if !ok {
				t.Errorf("%s ran with %q, want its options and ./Work or a part file under %s", name, c.Argv, work)
			}
		}
	}
	check("clamdscan", clamdscanRuns(), []string{"-c", conf, "--no-summary", "--infected", "--fdpass", "--stream"})
	check("clamscan", clamscanRuns(), []string{"-r", "--stdout", "--no-summary", "--infected"}, []string{"--stdout", "--no-summary", "--infected"})
	// run_virus_scanner with a list: the name is one argument.
	var listed []string
	for _, c := range listRuns() {
		if len(c.Argv) != 2 || c.Argv[0] != "--" {
			t.Errorf("run_virus_scanner with a list ran with %q", c.Argv)
			continue
		}
		listed = append(listed, c.Argv[1])
	}
	if !slices.Equal(listed, payloads) {
		t.Errorf("run_virus_scanner with a list passed %q, want %q", listed, payloads)
	}
	cmdinjNoMarkers(t, mark)
}
