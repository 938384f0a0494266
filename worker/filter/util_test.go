package filter

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/worker/message"
)

func TestTimeStrings(t *testing.T) {
	oldLocal := time.Local
	time.Local = time.FixedZone("XST", -(3*3600 + 30*60))
	defer func() { time.Local = oldLocal }()
	at := time.Date(2026, 3, 7, 9, 5, 1, 0, time.Local)
	fixedClock(t, at)
	for _, tc := range []struct{ got, want string }{
		{TimeStr(), "2026-03-07-09.05.01"},
		{HourStr(), "2026-03-07-09"},
		{RFC2822Date(), "Sat, 07 Mar 2026 09:05:01 -0330"},
		{HeaderTimezone(at), "-0330"},
		{HeaderTimezone(time.Date(2026, 3, 7, 9, 5, 1, 0, time.FixedZone("E", 5*3600+45*60))), "-0330"},
		{MdVersion(), "3.3"},
		{PercentEncode("foo\r\nbar\tbl%t'\""), "foo%0D%0Abar%09bl%25t%27%22"},
		{PercentDecode("foo%0D%0Abar%09bl%25t%zz"), "foo\r\nbar\tbl%t%zz"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	time.Local = time.FixedZone("E", 5*3600+45*60)
	if got := RFC2822Date(); got != "Sat, 07 Mar 2026 18:20:01 +0545" {
		t.Errorf("RFC2822Date %q", got)
	}
}

func TestGenMsgidHeaders(t *testing.T) {
	fixedClock(t, time.Date(2026, 11, 25, 13, 4, 5, 0, time.Local))
	w, _ := testWorker(t, func(cfg *Config) *Callbacks { cfg.PrivateMyHostName = "mx.example.net"; return &Callbacks{} })
	c := w.NewContext(context.Background())
	if got := c.GetHostName(); got != "mx.example.net" {
		t.Errorf("GetHostName %q", got)
	}
	if got := c.GenMsgidHeader(); !regexp.MustCompile(`^Message-ID: <202611251304\.0\.\d+(e-\d+)?@mx\.example\.net>\n$`).MatchString(got) {
		t.Errorf("NOQUEUE: %q", got)
	}
	c.QueueID = "4AbCdE"
	if got, want := c.GenMsgidHeader(), "Message-ID: <202611251304.4AbCdE@mx.example.net>\n"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	date := "Date: " + rfc2822Date(now()) + "\n"
	if got := c.GenDateMsgidHeaders("Message-ID: <x@y>\n"); got != date+"Message-ID: <x@y>\n" {
		t.Errorf("%q", got)
	}
	if got := c.GenDateMsgidHeaders(""); got != date+"Message-ID: <202611251304.4AbCdE@mx.example.net>\n" {
		t.Errorf("%q", got)
	}
	w.Config().PrivateMyHostName = ""
	if got := c.GetHostName(); got == "" || got == "mx.example.net" {
		t.Errorf("system host name %q", got)
	}
}

func TestCanonicalFromHosts(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(p, []byte("127.0.0.1 localhost\n# 10.0.0.1 box.example.com box\n192.0.2.5\tmx.example.net   mx # mail\n"), 0o600)
	for name, want := range map[string]string{"mx": "mx.example.net", "MX.example.net": "mx.example.net", "box": "", "other": ""} {
		if got := canonicalFromHosts(p, name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
}

// TestSynthesizeReceivedHeader compares with MIMEDefang 3.3's output for
// the same variables.
func TestSynthesizeReceivedHeader(t *testing.T) {
	fixedClock(t, time.Date(2026, 11, 25, 5, 51, 39, 0, time.Local))
	w, _ := testWorker(t, func(cfg *Config) *Callbacks { cfg.PrivateMyHostName = "vm"; return &Callbacks{} })
	c := w.NewContext(context.Background())
	c.Sender, c.Recipients, c.MsgID, c.Helo = "<a@example.com>", []string{"<b@example.com>"}, "QID1", "client.example"
	c.RealRelayHostname, c.RealRelayAddr = "host.example", "192.0.2.1"
	c.SendmailMacros = map[string]string{"if_name": "mx.example.net", "auth_authen": "bob"}
	date := rfc2822Date(now())
	want := "Received: from client.example (host.example [192.0.2.1])\n" +
		"\tby mx.example.net (envelope-sender <a@example.com>) (MIMEDefang) with ESMTPA id QID1\n" +
		"\tfor <b@example.com>; " + date + "\n"
	if got := c.SynthesizeReceivedHeader(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	c.Recipients = append(c.Recipients, "<c@example.com>")
	c.RealRelayHostname = "[192.0.2.1]"
	c.SendmailMacros = map[string]string{}
	want = "Received: from client.example ([192.0.2.1])\n" +
		"\tby vm (envelope-sender <a@example.com>) (MIMEDefang) with ESMTP id QID1; " + date + "\n"
	if got := c.SynthesizeReceivedHeader(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	c.RealRelayHostname = ""
	want = "Received: from client.example ( [192.0.2.1])\n" +
		"\tby vm (envelope-sender <a@example.com>) (MIMEDefang) with ESMTP id QID1; " + date + "\n"
	if got := c.SynthesizeReceivedHeader(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestCopyOrigMsgToWorkDir(t *testing.T) {
	fixedClock(t, time.Date(2026, 11, 25, 5, 51, 39, 0, time.Local))
	var ok1, ok2 bool
	w, log := testWorker(t, func(*Config) *Callbacks {
		return &Callbacks{Begin: func(c *Context, _ *message.Part) error {
			ok1 = c.MdCopyOrigMsgToWorkDir()
			ok2 = c.MdCopyOrigMsgToWorkDirAsMboxFile()
			return nil
		}}
	})
	input := "Subject: hi\n\nbody\n"
	dir := writeCase(t, simpleCommands, input)
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatalf("reply %q", r)
	}
	if !ok1 || !ok2 {
		t.Fatalf("copy %v mbox %v; log %s", ok1, ok2, log)
	}
	if got := readFile(t, filepath.Join(dir, "Work", "INPUTMSG")); got != input {
		t.Errorf("Work/INPUTMSG %q", got)
	}
	if got, want := readFile(t, filepath.Join(dir, "Work", "INPUTMBOX")), "From a@example.com "+rfc2822Date(now())+"\n"+input; got != want {
		t.Errorf("Work/INPUTMBOX %q, want %q", got, want)
	}
	c := w.NewContext(context.Background())
	if c.MdCopyOrigMsgToWorkDir() || c.MdCopyOrigMsgToWorkDirAsMboxFile() {
		t.Error("accepted outside message context")
	}
	if !strings.Contains(log.String(), "md_copy_orig_msg_to_work_dir called outside of message context") {
		t.Errorf("log %s", log)
	}
}

func TestCopyOrLink(t *testing.T) {
	d := t.TempDir()
	src := filepath.Join(d, "src")
	os.WriteFile(src, []byte("data"), 0o600)
	if !CopyOrLink(src, filepath.Join(d, "dst")) || readFile(t, filepath.Join(d, "dst")) != "data" {
		t.Error("link")
	}
	if CopyOrLink(src, filepath.Join(d, "dst")) {
		// Link fails (exists), the copy overwrites: true, as in Perl.
	} else {
		t.Error("copy over an existing file failed")
	}
	if CopyOrLink(filepath.Join(d, "missing"), filepath.Join(d, "x")) {
		t.Error("missing source copied")
	}
}
