package luafilter

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/worker/filter"
)

// commands is a COMMANDS file for one recipient, as md-milterd writes it.
const commands = `iTESTID1
S<sender@example.com>
=_ client.example.com%20[192.0.2.1]
=j mx.example.org
=auth_authen alice
Hclient.example.com
I192.0.2.1
Ehelo.example.com
R<rcpt@example.org> local example.org rcpt@example.org
R<other@example.net> smtp example.net other@example.net
UHello%20there
X<msgid@example.com>
QQID123
F
`

// plainMsg is a small single-part message.
const plainMsg = "From: sender@example.com\nTo: rcpt@example.org\nSubject: Hello there\nMessage-ID: <msgid@example.com>\n\nHello, world.\n"

// exeMsg has a text part and an .exe attachment.
const exeMsg = `From: sender@example.com
To: rcpt@example.org
Subject: Hello there
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="BOUNDARY"

--BOUNDARY
Content-Type: text/plain

See the attachment.

--BOUNDARY
Content-Type: application/octet-stream; name="setup.exe"
Content-Disposition: attachment; filename="setup.exe"
Content-Transfer-Encoding: base64

TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAA=

--BOUNDARY--
`

// writeFilter writes src to a .lua file in a temp dir and returns its path.
func writeFilter(t testing.TB, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "filter.lua")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// testWorker loads src and returns the worker running it, and its log.
type testWorker struct {
	t   testing.TB
	f   *Filter
	w   *filter.Worker
	log *bytes.Buffer
	// mailDir receives one file per message given to sendmail: its
	// arguments on the first line, then the message.
	mailDir string
}

func newTestWorker(t testing.TB, src string) *testWorker {
	t.Helper()
	cfg := filter.DefaultConfig()
	cfg.SpoolDir = t.TempDir()
	cfg.QuarantineDir = t.TempDir()
	mailDir := t.TempDir()
	cfg.Sendmail = filepath.Join(t.TempDir(), "sendmail")
	script := "#!/bin/sh\nf=$(mktemp " + mailDir + "/mail.XXXXXX)\necho \"$@\" > \"$f\"\ncat >> \"$f\"\n"
	if err := os.WriteFile(cfg.Sendmail, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := Load(writeFilter(t, src), cfg, Options{CallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(f.Close)
	cb := f.Callbacks()
	var log bytes.Buffer
	w := filter.NewWorker(&cb, cfg, filter.WorkerOptions{Log: &log})
	return &testWorker{t: t, f: f, w: w, log: &log, mailDir: mailDir}
}

// spool makes a working directory with COMMANDS and INPUTMSG.
func spool(t testing.TB, cmds, msg string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string]string{"COMMANDS": cmds, "INPUTMSG": msg} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hdr, _, _ := strings.Cut(msg, "\n\n")
	if err := os.WriteFile(filepath.Join(dir, "HEADERS"), []byte(hdr+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// scan runs a scan of msg and returns the RESULTS file and the scan error.
func (tw *testWorker) scan(msg string) (string, error) {
	tw.t.Helper()
	res, _, err := tw.scanDir(msg)
	return res, err
}

// scanDir is scan that also returns the working directory.
func (tw *testWorker) scanDir(msg string) (string, string, error) {
	tw.t.Helper()
	dir := spool(tw.t, commands, msg)
	err := tw.w.Scan(context.Background(), dir)
	res, rerr := os.ReadFile(filepath.Join(dir, "RESULTS"))
	if rerr != nil && err == nil {
		tw.t.Fatalf("no RESULTS: %v", rerr)
	}
	return string(res), dir, err
}

// mustScan is scan that fails the test on a scan error.
func (tw *testWorker) mustScan(msg string) string {
	tw.t.Helper()
	res, err := tw.scan(msg)
	if err != nil {
		tw.t.Fatalf("scan: %v\nlog:\n%s", err, tw.log)
	}
	return res
}

// readFile returns the content of dir/name, "" when missing.
func readFile(dir, name string) string {
	b, _ := os.ReadFile(filepath.Join(dir, name))
	return string(b)
}

// hasLine reports whether RESULTS res has the line want.
func hasLine(res, want string) bool {
	for _, l := range strings.Split(res, "\n") {
		if l == want {
			return true
		}
	}
	return false
}

// handle sends one request line.
func (tw *testWorker) handle(line string) string {
	return tw.w.Handle(context.Background(), line)
}

// mails returns the messages the fake sendmail received.
func (tw *testWorker) mails() []string {
	names, _ := filepath.Glob(filepath.Join(tw.mailDir, "mail.*"))
	var out []string
	for _, n := range names {
		out = append(out, readFile("", n))
	}
	return out
}
