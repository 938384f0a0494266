package filter

import (
	"bytes"
	"errors"
	"fmt"
	"log/syslog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fakeSendmail is a real sendmail stand-in: a shell script that stores
// the arguments and the standard input of every call in dir as
// <n>.args (one argument a line) and <n>.body, and exits with the status
// in dir/status (0 when absent).
type fakeSendmail struct {
	dir, path string
}

type sentMail struct {
	Args []string
	Body string
}

func newFakeSendmail(t *testing.T, cfg *Config) *fakeSendmail {
	t.Helper()
	base := t.TempDir()
	f := &fakeSendmail{dir: filepath.Join(base, "out"), path: filepath.Join(base, "sendmail")}
	if err := os.Mkdir(f.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`#!/bin/sh
d='%s'
n=$(ls "$d" | grep -c '\.args$')
for a in "$@"; do printf '%%s\n' "$a"; done > "$d/$n.args"
cat > "$d/$n.body"
if [ -f "$d/../status" ]; then exit $(cat "$d/../status"); fi
exit 0
`, f.dir)
	if err := os.WriteFile(f.path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg.Sendmail = f.path
	return f
}

// fail makes every later call exit with status.
func (f *fakeSendmail) fail(t *testing.T, status int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(filepath.Dir(f.dir), "status"), []byte(fmt.Sprint(status)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (f *fakeSendmail) mails(t *testing.T) []sentMail {
	t.Helper()
	var out []sentMail
	for n := 0; ; n++ {
		a, err := os.ReadFile(filepath.Join(f.dir, fmt.Sprintf("%d.args", n)))
		if err != nil {
			return out
		}
		b, err := os.ReadFile(filepath.Join(f.dir, fmt.Sprintf("%d.body", n)))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sentMail{Args: strings.Split(strings.TrimSuffix(string(a), "\n"), "\n"), Body: string(b)})
	}
}

// noSyslog makes MdSyslog write to the worker's log for the test.
func noSyslog(t *testing.T) {
	t.Helper()
	old := dialSyslog
	dialSyslog = func(syslog.Priority, string) (syslogWriter, error) { return nil, errors.New("no syslog in tests") }
	syslogs.Lock()
	syslogs.w = nil
	syslogs.Unlock()
	t.Cleanup(func() {
		dialSyslog = old
		syslogs.Lock()
		syslogs.w = nil
		syslogs.Unlock()
	})
}

// fixedClock sets the helpers' clock to t for the test.
func fixedClock(t *testing.T, at time.Time) {
	t.Helper()
	old := now
	now = func() time.Time { return at }
	t.Cleanup(func() { now = old })
}

// coreWorker is testWorker with a fake sendmail, a fixed host name, the
// quarantine under the test's directory and syslog off.
func coreWorker(t *testing.T, mk func(*Config) *Callbacks) (*Worker, *fakeSendmail, *bytes.Buffer) {
	t.Helper()
	noSyslog(t)
	var sm *fakeSendmail
	w, log := testWorker(t, func(cfg *Config) *Callbacks {
		sm = newFakeSendmail(t, cfg)
		cfg.PrivateMyHostName = "mx.example.net"
		cfg.QuarantineDir = filepath.Join(t.TempDir(), "quarantine")
		if err := os.Mkdir(cfg.QuarantineDir, 0o700); err != nil {
			t.Fatal(err)
		}
		return mk(cfg)
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker log:\n%s", log.String())
		}
	})
	return w, sm, log
}

// msgHeaderRE matches the Date and Message-ID lines of generated mail.
var msgHeaderRE = regexp.MustCompile(`(?m)^Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\nMessage-ID: <\d{12}\.[^@>]+@[^>]+>\n`)

// normMail replaces the Date and Message-ID lines by "<DATE+MSGID>\n".
func normMail(s string) string { return msgHeaderRE.ReplaceAllString(s, "<DATE+MSGID>\n") }

// dateRE matches an RFC2822Date.
var dateRE = regexp.MustCompile(`[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}`)
