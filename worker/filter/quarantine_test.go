package filter

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdgo/md/worker/message"
)

var quarantineTime = time.Date(2026, 11, 25, 13, 4, 5, 0, time.Local)

func TestGetQuarantineDirLayout(t *testing.T) {
	fixedClock(t, quarantineTime)
	var dirs []string
	w, _, _ := coreWorker(t, func(*Config) *Callbacks {
		return &Callbacks{Begin: func(c *Context, _ *message.Part) error {
			d := c.GetQuarantineDir()
			if again := c.GetQuarantineDir(); again != d {
				t.Errorf("second call %q, first %q", again, d)
			}
			dirs = append(dirs, d)
			return nil
		}}
	})
	for i := 0; i < 2; i++ {
		dir := writeCase(t, "S<a@example.com>\nR<b@example.com> ? ? ?\nR<c@example.org> ? ? ?\nQQID1\nF\n",
			"Subject: hi\nX-Long: a\n b\n\nbody\n")
		if r := scan(t, w, dir); r != "ok\n" {
			t.Fatalf("reply %q", r)
		}
	}
	root := w.Config().QuarantineDir
	want := []string{
		root + "/2026-11-25-13/qdir-2026-11-25-13.04.05-001",
		root + "/2026-11-25-13/qdir-2026-11-25-13.04.05-002",
	}
	if strings.Join(dirs, "\n") != strings.Join(want, "\n") {
		t.Fatalf("dirs\n%s\nwant\n%s", strings.Join(dirs, "\n"), strings.Join(want, "\n"))
	}
	for name, content := range map[string]string{
		"SENDER":       "<a@example.com>\n",
		"SENDMAIL-QID": "QID1\n",
		"RECIPIENTS":   "<b@example.com>\n<c@example.org>\n",
		"HEADERS":      "Subject: hi\nX-Long: a b\n",
	} {
		if got := readFile(t, filepath.Join(dirs[0], name)); got != content {
			t.Errorf("%s = %q, want %q", name, got, content)
		}
	}
	for _, d := range []string{filepath.Dir(dirs[0]), dirs[0]} {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&^0o750 != 0 {
			t.Errorf("%s mode %v, want at most 0750", d, st.Mode().Perm())
		}
	}
	st, _ := os.Stat(filepath.Join(dirs[0], "SENDER"))
	if st.Mode().Perm()&^0o640 != 0 {
		t.Errorf("SENDER mode %v, want at most 0640", st.Mode().Perm())
	}
}

// TestWorkerFileModesFollowUmask: what the worker creates in the working
// directory and the quarantine has mimedefang.pl's modes under the umask
// the multiplexor sets: 0700 directories and 0600 files, or 0750 and 0640
// under -G's 027 (integration/modes_test.go compares with the original).
// Under a loose umask (022) files stay 0640: never world-readable.
func TestWorkerFileModesFollowUmask(t *testing.T) {
	for _, tc := range []struct {
		umask       int
		dirs, files os.FileMode
	}{
		{0o077, 0o700, 0o600},
		{0o027, 0o750, 0o640},
		{0o022, 0o750, 0o640},
	} {
		var qdir string
		w, _, _ := coreWorker(t, func(*Config) *Callbacks {
			return &Callbacks{
				Begin: func(c *Context, _ *message.Part) error {
					c.ActionQuarantineEntireMessage("whole")
					return nil
				},
				Filter: func(c *Context, p *message.Part, fname, ext, typ string) error {
					if ext == ".exe" {
						c.ActionQuarantine(p, "removed")
					}
					if _, err := c.bodyPath(p); err != nil {
						t.Errorf("bodyPath: %v", err)
					}
					return nil
				},
				End: func(c *Context, _ *message.Part) error {
					qdir = c.GetQuarantineDir()
					return nil
				},
			}
		})
		dir := writeCase(t, simpleCommands, twoParts)
		old := syscall.Umask(tc.umask)
		r := scan(t, w, dir)
		syscall.Umask(old)
		if r != "ok\n" {
			t.Fatalf("reply %q", r)
		}
		paths := []string{"RESULTS", "NEWBODY", "tmp", "Work"}
		for _, n := range []string{"SENDER", "SENDMAIL-QID", "RECIPIENTS", "HEADERS", "MSG.0", "PART.1.BODY", "PART.1.HEADERS", "MSG.1"} {
			paths = append(paths, filepath.Join(qdir, n))
		}
		paths = append(paths, qdir, filepath.Dir(qdir))
		work, _ := filepath.Glob(filepath.Join(dir, "Work", "*"))
		if len(work) == 0 {
			t.Errorf("umask %03o: nothing in Work/", tc.umask)
		}
		paths = append(paths, work...)
		for _, p := range paths {
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			st, err := os.Stat(p)
			if err != nil {
				t.Errorf("umask %03o: %v", tc.umask, err)
				continue
			}
			want := tc.files
			if st.IsDir() {
				want = tc.dirs
			}
			if st.Mode().Perm() != want {
				t.Errorf("umask %03o: %s has mode %04o, want %04o", tc.umask, p, st.Mode().Perm(), want)
			}
		}
	}
}

func TestGetQuarantineDirFails(t *testing.T) {
	var got string
	var ok bool
	w, _, _ := coreWorker(t, func(cfg *Config) *Callbacks {
		cfg.QuarantineDir = filepath.Join(t.TempDir(), "missing", "deeper")
		return &Callbacks{Begin: func(c *Context, _ *message.Part) error {
			got = c.GetQuarantineDir()
			ok = c.ActionQuarantineEntireMessage("x")
			return nil
		}}
	})
	if r := scan(t, w, writeCase(t, simpleCommands, "Subject: x\n\nbody\n")); r != "ok\n" {
		t.Fatalf("reply %q", r)
	}
	if got != "" || ok {
		t.Errorf("GetQuarantineDir = %q, ActionQuarantineEntireMessage = %v; want \"\", false", got, ok)
	}
}

// TestQuarantinePartAndReport quarantines the .exe of twoParts and mails
// the report of docs/reference/filter-api.md §6.2 from filter_end.
func TestQuarantinePartAndReport(t *testing.T) {
	fixedClock(t, quarantineTime)
	var qdir string
	var rets []bool
	w, sm, _ := coreWorker(t, func(*Config) *Callbacks {
		return &Callbacks{
			Multipart: func(c *Context, p *message.Part, _, _, _ string) error { return nil },
			Filter: func(c *Context, p *message.Part, fname, ext, typ string) error {
				if ext == ".exe" {
					rets = append(rets, c.ActionQuarantine(p, "An attachment named x.exe was removed."))
				}
				return nil
			},
			End: func(c *Context, _ *message.Part) error {
				qdir = c.GetQuarantineDir()
				if c.QuarantineCount() != 1 || c.EntireMessageQuarantined() {
					t.Errorf("count %d entire %v", c.QuarantineCount(), c.EntireMessageQuarantined())
				}
				if !c.SendQuarantineNotifications() {
					t.Error("SendQuarantineNotifications = false")
				}
				return nil
			},
		}
	})
	dir := writeCase(t, simpleCommands, twoParts)
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatalf("reply %q", r)
	}
	if len(rets) != 1 || !rets[0] {
		t.Fatalf("ActionQuarantine returned %v", rets)
	}
	exe, _ := base64.StdEncoding.DecodeString("TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	if got := readFile(t, filepath.Join(qdir, "PART.1.BODY")); got != string(exe) {
		t.Errorf("PART.1.BODY = %q", got)
	}
	partHeaders := "Content-Type: application/octet-stream; name=\"x.exe\"\nContent-Transfer-Encoding: base64\n"
	if got := readFile(t, filepath.Join(qdir, "PART.1.HEADERS")); got != partHeaders {
		t.Errorf("PART.1.HEADERS = %q", got)
	}
	if got := readFile(t, filepath.Join(qdir, "MSG.1")); got != "An attachment named x.exe was removed.\n" {
		t.Errorf("MSG.1 = %q", got)
	}
	// The part is dropped with the warning.
	results := readFile(t, filepath.Join(dir, "RESULTS"))
	if !strings.Contains(results, "C\n") || !strings.HasSuffix(results, "F\n") {
		t.Errorf("RESULTS %q", results)
	}
	if nb := readFile(t, filepath.Join(dir, "NEWBODY")); strings.Contains(nb, "x.exe\"") || !strings.Contains(nb, "An attachment named x.exe was removed.") {
		t.Errorf("NEWBODY still has the part or lacks the warning:\n%s", nb)
	}

	mails := sm.mails(t)
	if len(mails) != 1 {
		t.Fatalf("%d mails, want 1", len(mails))
	}
	wantArgs := "-fmailer-daemon@localhost -FMIMEDefang -odd -Ac -oi -- postmaster@localhost"
	if got := strings.Join(mails[0].Args, " "); got != wantArgs {
		t.Errorf("args %q, want %q", got, wantArgs)
	}
	want := "From: MIMEDefang <mailer-daemon@localhost>\n" +
		"To: \"MIMEDefang Administrator\" <postmaster@localhost>\n" +
		"Date: " + rfc2822Date(quarantineTime) + "\n" +
		"Message-ID: <202611251304.QID1@mx.example.net>\n" +
		"Auto-Submitted: auto-generated\n" +
		"MIME-Version: 1.0\n" +
		"Content-Type: text/plain\n" +
		"Precedence: bulk\n" +
		"Subject: MIMEDefang Quarantine Report\n" +
		"\n" +
		"An e-mail had 1 part quarantined in the directory\n" +
		qdir + " on mx.example.net.\n" +
		"\n" +
		"The sender was '<a@example.com>'.\n" +
		"\n" +
		"The Sendmail queue identifier was QID1.\n" +
		"\n" +
		"The relay machine was [192.0.2.1] (192.0.2.1).\n" +
		"\n" +
		"Recipient: <b@example.com>\n" +
		"Quarantine Messages:\n" +
		"An attachment named x.exe was removed.\n" +
		"\n" +
		"\n" +
		"----------\n" +
		"Here are the message headers:\n" +
		"Subject: hello\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XX\"\n" +
		"\n" +
		"----------\n" +
		"Here are the headers for quarantined part 1:\n" +
		partHeaders +
		"\n" +
		"----------\n" +
		"Here are the warning details:\n" +
		"\n" +
		"An attachment named x.exe was removed.\n"
	if mails[0].Body != want {
		t.Errorf("report:\n%s\nwant:\n%s", mails[0].Body, want)
	}
}

// TestQuarantineEntireMessageReport compares with what MIMEDefang 3.3
// mailed for the same state (apart from the Message-ID line, which 3.3
// garbles; see SendQuarantineNotifications).
func TestQuarantineEntireMessageReport(t *testing.T) {
	var qdir string
	var second bool
	w, sm, _ := coreWorker(t, func(*Config) *Callbacks {
		return &Callbacks{Begin: func(c *Context, _ *message.Part) error {
			c.ActionQuarantineEntireMessage("whole thing")
			second = c.ActionQuarantineEntireMessage("again")
			c.ActionDiscard()
			c.warnings = append(c.warnings, "w1\n", "w2\n")
			qdir = c.GetQuarantineDir()
			c.SendQuarantineNotifications()
			return nil
		}}
	})
	commands := "S<a@example.com>\nH[192.0.2.1]\nI192.0.2.1\nR<b@example.com> ? ? ?\nR<c@example.org> ? ? ?\nQQID1\nF\n"
	input := "Subject: hi\nFrom: a@example.com\n\nbody\n"
	dir := writeCase(t, commands, input)
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatalf("reply %q", r)
	}
	if !second {
		t.Error("second ActionQuarantineEntireMessage = false")
	}
	if got := readFile(t, filepath.Join(qdir, "ENTIRE_MESSAGE")); got != input {
		t.Errorf("ENTIRE_MESSAGE = %q", got)
	}
	if got := readFile(t, filepath.Join(qdir, "MSG.0")); got != "whole thing\n" {
		t.Errorf("MSG.0 = %q", got)
	}
	// The warnings make the pipeline add a warning part; D comes first.
	if got := readFile(t, filepath.Join(dir, "RESULTS")); !strings.HasPrefix(got, "D\n") || !strings.HasSuffix(got, "F\n") {
		t.Errorf("RESULTS = %q", got)
	}
	mails := sm.mails(t)
	if len(mails) != 1 {
		t.Fatalf("%d mails", len(mails))
	}
	want := "From: MIMEDefang <mailer-daemon@localhost>\n" +
		"To: \"MIMEDefang Administrator\" <postmaster@localhost>\n" +
		"<DATE+MSGID>\n" +
		"Auto-Submitted: auto-generated\n" +
		"MIME-Version: 1.0\n" +
		"Content-Type: text/plain\n" +
		"Precedence: bulk\n" +
		"Subject: MIMEDefang Quarantine Report\n" +
		"\n" +
		"An e-mail message was quarantined in the directory\n" +
		qdir + " on mx.example.net.\n" +
		"\n" +
		"The sender was '<a@example.com>'.\n" +
		"\n" +
		"The Sendmail queue identifier was QID1.\n" +
		"\n" +
		"The relay machine was [192.0.2.1] (192.0.2.1).\n" +
		"\n" +
		"The entire message was quarantined in " + qdir + "/ENTIRE_MESSAGE\n" +
		"\n" +
		"Recipient: <b@example.com>\n" +
		"Recipient: <c@example.org>\n" +
		"Quarantine Messages:\n" +
		"whole thing\n" +
		"\n" +
		"\n" +
		"----------\n" +
		"Here are the message headers:\n" +
		"Subject: hi\n" +
		"From: a@example.com\n" +
		"\n" +
		"----------\n" +
		"Here are the warning details:\n" +
		"\n" +
		"w1\n" +
		" w2\n"
	if got := normMail(mails[0].Body); got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}
}

func TestQuarantineContexts(t *testing.T) {
	var log string
	w, sm, buf := coreWorker(t, func(*Config) *Callbacks {
		return &Callbacks{
			Begin: func(c *Context, top *message.Part) error {
				if c.ActionQuarantine(top.Parts()[0], "no") {
					t.Error("ActionQuarantine in filter_begin succeeded")
				}
				if c.SendQuarantineNotifications() {
					t.Error("report sent with nothing quarantined")
				}
				c.ActionSMQuarantine("spam detected")
				return nil
			},
			Multipart: func(c *Context, p *message.Part, _, _, _ string) error {
				if c.ActionQuarantine(p, "container") {
					t.Error("ActionQuarantine of a container returned true")
				}
				return nil
			},
		}
	})
	dir := writeCase(t, simpleCommands, "Subject: x\nContent-Type: multipart/mixed; boundary=A\n\n--A\nContent-Type: multipart/alternative; boundary=B\n\n--B\n\ntext\n--B--\n--A--\n")
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatalf("reply %q", r)
	}
	log = buf.String()
	if !strings.Contains(log, "action_quarantine called outside of filter context") {
		t.Errorf("log lacks the context refusal:\n%s", log)
	}
	results := readFile(t, filepath.Join(dir, "RESULTS"))
	if !strings.HasPrefix(results, "Qspam%20detected\n") {
		t.Errorf("RESULTS = %q", results)
	}
	if len(sm.mails(t)) != 0 {
		t.Error("mail sent")
	}
	// Outside message context: refused.
	c := w.NewContext(nil)
	if c.ActionSMQuarantine("x") || c.ActionQuarantineEntireMessage("x") {
		t.Error("message-context actions accepted outside a scan")
	}
}
