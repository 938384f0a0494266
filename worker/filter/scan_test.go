package filter

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mdgo/md/worker/message"

	"github.com/mdgo/md/internal/golden"
)

// goldenSpool is the working directories the original kept
// (testdata/golden/spool at the top of the repository).
func goldenSpool(t testing.TB) string { return golden.Dir(t, "spool") }

// typicalFilter is the Go port of golden/filters/typical.filter, the Perl
// filter that produced the golden spools.
func typicalFilter(cfg *Config) *Callbacks {
	cfg.AdminAddress = "postmaster@localhost"
	cfg.AdminName = "MIMEDefang lab administrator"
	cfg.DaemonAddress = "mimedefang@localhost"
	const marker = "MDLAB-REJECT"
	const disclaimer = "--\nDisclaimer: this message passed through the MIMEDefang lab typical filter.\nIt is provided for testing only; attachments with dangerous extensions are removed."
	bad := regexp.MustCompile(`(?i)\.(ade|adp|app|asd|asf|asx|bas|bat|chm|cmd|com|cpl|crt|dll|exe|fxp|hlp|hta|hto|inf|ini|ins|isp|jse?|lib|lnk|mdb|mde|msc|msi|msp|mst|ocx|pcd|pif|prg|reg|scr|sct|sh|shb|shs|sys|url|vb|vbe|vbs|vcs|vxd|wmd|wms|wmz|wsc|wsf|wsh|\{[^\}]+\})\.*$`)
	badName := func(p *message.Part) bool { return bad.MatchString(p.FileName()) }
	return &Callbacks{
		Begin: func(c *Context, top *message.Part) error {
			if strings.Contains(c.Subject, marker) {
				c.ActionBounce("Message rejected by lab policy: forbidden subject marker", "554", "5.7.1")
			}
			return nil
		},
		Filter: func(c *Context, p *message.Part, fname, ext, typ string) error {
			if c.MessageRejected() {
				return nil
			}
			if typ == "message/partial" {
				c.ActionBounce("MIME type message/partial not accepted here", "", "")
				return nil
			}
			if badName(p) {
				c.ActionDropWithWarning("An attachment named " + fname + " was removed from this document as it\nconstituted a security hazard.  If you require this document, please contact\nthe sender and arrange an alternate means of receiving it.\n")
				return nil
			}
			c.ActionAccept()
			return nil
		},
		Multipart: func(c *Context, p *message.Part, fname, ext, typ string) error {
			if c.MessageRejected() {
				return nil
			}
			if badName(p) {
				c.ActionDropWithWarning("An attachment of type " + typ + ", named " + fname + " was removed from this document as it\nconstituted a security hazard.  If you require this document, please contact\nthe sender and arrange an alternate means of receiving it.\n")
				return nil
			}
			c.ActionAccept()
			return nil
		},
		End: func(c *Context, top *message.Part) error {
			if c.MessageRejected() {
				return nil
			}
			c.AppendTextBoilerplate(top, disclaimer, true)
			c.ActionAddHeader("X-Scanned", "MIMEDefang lab typical filter")
			return nil
		},
	}
}

// testWorker returns a worker for cb built by mk, logging into the test.
func testWorker(t testing.TB, mk func(*Config) *Callbacks) (*Worker, *bytes.Buffer) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.SpoolDir = t.TempDir()
	cb := mk(cfg)
	var log bytes.Buffer
	return NewWorker(cb, cfg, WorkerOptions{Log: &log, LookupAddr: func(string) (string, bool) { return "", false }}), &log
}

// copyCase copies the milter-written files of a golden spool into a new
// working directory.
func copyCase(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mdefang-"+name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"COMMANDS", "HEADERS", "INPUTMSG"} {
		b, err := os.ReadFile(filepath.Join(goldenSpool(t), name, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestScanGolden runs the Go port of the golden typical filter on the
// golden working directories and compares RESULTS and NEWBODY with what
// mimedefang.pl 3.3 wrote.
func TestScanGolden(t *testing.T) {
	for _, name := range []string{"clean", "exe", "reject", "clean-allchecks"} {
		t.Run(name, func(t *testing.T) {
			w, log := testWorker(t, typicalFilter)
			dir := copyCase(t, name)
			if reply := w.Handle(context.Background(), "scan QID "+dir+"\n"); reply != "ok\n" {
				t.Fatalf("reply %q, log:\n%s", reply, log)
			}
			if got, want := readFile(t, filepath.Join(dir, "RESULTS")), readFile(t, filepath.Join(goldenSpool(t), name, "RESULTS")); got != want {
				t.Errorf("RESULTS:\n%s\nwant:\n%s", got, want)
			}
			wantBody, err := os.ReadFile(filepath.Join(goldenSpool(t), name, "NEWBODY"))
			gotBody, gerr := os.ReadFile(filepath.Join(dir, "NEWBODY"))
			switch {
			case err != nil && gerr == nil:
				t.Errorf("NEWBODY written, golden has none")
			case err == nil && gerr != nil:
				t.Errorf("no NEWBODY: %v", gerr)
			case err == nil && !bytes.Equal(gotBody, wantBody):
				t.Errorf("NEWBODY:\n%q\nwant:\n%q", gotBody, wantBody)
			}
		})
	}
}

// writeCase makes a working directory with COMMANDS and INPUTMSG (and
// HEADERS derived from it).
func writeCase(t *testing.T, commands, inputmsg string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mdefang-test")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	hdr, _, _ := strings.Cut(inputmsg, "\n\n")
	hdr = strings.ReplaceAll(hdr, "\n ", " ")
	hdr = strings.ReplaceAll(hdr, "\n\t", "\t")
	for f, s := range map[string]string{"COMMANDS": commands, "INPUTMSG": inputmsg, "HEADERS": hdr + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const simpleCommands = "itest123\nS<a@example.com>\nH[192.0.2.1]\nI192.0.2.1\nR<b@example.com> ? ? ?\nUhello\nQQID1\nF\n"

const twoParts = "Subject: hello\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XX\"\n\npreamble\n--XX\nContent-Type: text/plain\n\nbody text\n--XX\nContent-Type: application/octet-stream; name=\"x.exe\"\nContent-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n--XX\nContent-Type: text/html\n\n<p>keep   me</p>\n--XX--\nepilogue\n"

func scan(t *testing.T, w *Worker, dir string) string {
	t.Helper()
	return w.Handle(context.Background(), "scan QID1 "+dir+"\n")
}

func TestScanDropWithWarningExactText(t *testing.T) {
	w, log := testWorker(t, func(cfg *Config) *Callbacks {
		return &Callbacks{Filter: func(c *Context, p *message.Part, fname, ext, typ string) error {
			if ext == ".exe" {
				c.ActionDropWithWarning("Dropped " + fname)
			}
			return nil
		}}
	})
	dir := writeCase(t, simpleCommands, twoParts)
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatalf("reply %q\n%s", r, log)
	}
	body := readFile(t, filepath.Join(dir, "NEWBODY"))
	wantWarning := "Content-Type: text/plain; name=\"warning1.txt\"\nContent-Disposition: inline; filename=\"warning1.txt\"\nContent-Transfer-Encoding: 7bit\n\n" +
		DefaultGeneralWarning("MIMEDefang Administrator", "postmaster@localhost", "https://mimedefang.org/enduser/") +
		"Dropped x.exe\n"
	if !strings.Contains(body, wantWarning) {
		t.Errorf("warning part missing; NEWBODY:\n%s", body)
	}
	// Untouched parts are copied byte for byte.
	for _, keep := range []string{"Content-Type: text/plain\n\nbody text\n", "Content-Type: text/html\n\n<p>keep   me</p>\n", "preamble\n"} {
		if !strings.Contains(body, keep) {
			t.Errorf("NEWBODY lost %q:\n%s", keep, body)
		}
	}
	if strings.Contains(body, "TVqQ") {
		t.Errorf("dropped part still present")
	}
	// The warning part is first (WarningLocation 0).
	if i, j := strings.Index(body, "warning1.txt"), strings.Index(body, "body text"); i < 0 || i > j {
		t.Errorf("warning part not first:\n%s", body)
	}
	res := readFile(t, filepath.Join(dir, "RESULTS"))
	if res != "Mmultipart/mixed;%20boundary=%22XX%22\nC\nF\n" {
		t.Errorf("RESULTS %q", res)
	}
}

// The summary of a message's actions goes to syslog at debug under
// mimedefang.pl's tag, as mimedefang.pl's signal_complete logs it, not to
// the worker's stderr (which the multiplexor would relay once more).
func TestScanActionSummaryToSyslog(t *testing.T) {
	lines := fakeSyslog(t)
	w, log := testWorker(t, func(cfg *Config) *Callbacks {
		return &Callbacks{Filter: func(c *Context, p *message.Part, fname, ext, typ string) error {
			if ext == ".exe" {
				c.ActionDropWithWarning("Dropped " + fname)
			}
			return nil
		}}
	})
	dir := writeCase(t, simpleCommands, twoParts)
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatalf("reply %q\n%s", r, log)
	}
	var summary []string
	for _, l := range *lines {
		if strings.Contains(l, "filter: ") {
			summary = append(summary, l)
		}
	}
	// 2 is LOG_MAIL >> 3; "filter: " and the list, which starts with a blank.
	if want := "2.debug QID1: filter:  drop_with_warning=1"; len(summary) != 1 || summary[0] != want {
		t.Errorf("syslog summary %q, want [%q]", summary, want)
	}
	if strings.Contains(log.String(), "drop_with_warning") {
		t.Errorf("the summary also went to the worker's log: %q", log)
	}
}

func TestScanUnchangedWritesOnlyF(t *testing.T) {
	w, _ := testWorker(t, func(*Config) *Callbacks { return &Callbacks{} })
	dir := writeCase(t, simpleCommands, twoParts)
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatal(r)
	}
	if res := readFile(t, filepath.Join(dir, "RESULTS")); res != "F\n" {
		t.Errorf("RESULTS %q", res)
	}
	if _, err := os.Stat(filepath.Join(dir, "NEWBODY")); err == nil {
		t.Errorf("NEWBODY written for an unchanged message")
	}
	// Work/ is there but empty: no file per part unless asked.
	if ents, err := os.ReadDir(filepath.Join(dir, "Work")); err != nil || len(ents) != 0 {
		t.Errorf("Work has %d files (%v), want none", len(ents), err)
	}
}

// With WriteWorkParts, Work/ holds every decoded leaf before the callbacks
// run, as mimedefang.pl's does, for scanners that read the directory.
func TestScanWriteWorkParts(t *testing.T) {
	var inBegin int
	w, _ := testWorker(t, func(cfg *Config) *Callbacks {
		cfg.WriteWorkParts = true
		return &Callbacks{Begin: func(c *Context, top *message.Part) error {
			ents, _ := os.ReadDir(filepath.Join(c.CWD, "Work"))
			inBegin = len(ents)
			return nil
		}}
	})
	dir := writeCase(t, simpleCommands, twoParts)
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatal(r)
	}
	if inBegin != 3 {
		t.Errorf("Work had %d files in filter_begin, want 3", inBegin)
	}
}

func TestScanVariables(t *testing.T) {
	var seen *Context
	var args []string
	w, _ := testWorker(t, func(*Config) *Callbacks {
		return &Callbacks{
			Begin: func(c *Context, top *message.Part) error { seen = c; return nil },
			Filter: func(c *Context, p *message.Part, fname, ext, typ string) error {
				args = append(args, fname+"|"+ext+"|"+typ)
				return nil
			},
		}
	})
	cmds := "iABCDEFG\nS<a@example.com>\nsBODY=8BITMIME\n=_ host%20[1.2.3.4]\n=client_port 25\nQQ1\nHhost.example\nI1.2.3.4\nEhelo.example\nR<b@example.com> esmtp mx.example b@example.com\nrNOTIFY=NEVER\nR<c@example.com>\nUfirst\nUsecond\nX<id@x>\n!\n?\nF\nSignored\n"
	dir := writeCase(t, cmds, "Subject: first\nSubject: second\n\nhello\n")
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatal(r)
	}
	c := seen
	checks := []struct{ got, want any }{
		{c.MIMEDefangID, "ABCDEFG"}, {c.Sender, "<a@example.com>"}, {strings.Join(c.SenderESMTPArgs, ","), "BODY=8BITMIME"},
		{c.SendmailMacros["_"], "host [1.2.3.4]"}, {c.SendmailMacros["client_port"], "25"},
		{c.QueueID, "Q1"}, {c.MsgID, "Q1"}, {c.RelayHostname, "host.example"}, {c.RealRelayHostname, "host.example"},
		{c.RelayAddr, "1.2.3.4"}, {c.RealRelayAddr, "1.2.3.4"}, {c.Helo, "helo.example"},
		{strings.Join(c.Recipients, ","), "<b@example.com>,<c@example.com>"},
		{c.RecipientMailers["<b@example.com>"], Mailer{"esmtp", "mx.example", "b@example.com"}},
		{c.RecipientMailers["<c@example.com>"], Mailer{"?", "?", "?"}},
		{strings.Join(c.RecipientESMTPArgs["<b@example.com>"], ","), "NOTIFY=NEVER"},
		{c.Subject, "first"}, {c.SubjectCount, 2}, {c.MessageID, "<id@x>"},
		{c.SuspiciousCharsInHeaders, true}, {c.SuspiciousCharsInBody, true}, {c.CWD, dir}, {c.WasMultipart, false},
		{strings.Join(args, ";"), "||text/plain"},
	}
	for i, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("check %d: got %v, want %v", i, ch.got, ch.want)
		}
	}
	// Step 8: the extra Subject is deleted.
	if res := readFile(t, filepath.Join(dir, "RESULTS")); res != "JSubject 2\nF\n" {
		t.Errorf("RESULTS %q", res)
	}
}

func TestScanResentJLine(t *testing.T) {
	var seen *Context
	w, _ := testWorker(t, func(*Config) *Callbacks {
		return &Callbacks{Begin: func(c *Context, top *message.Part) error { seen = c; return nil }}
	})
	w.opts.LookupAddr = func(ip string) (string, bool) { return "resent.example", ip == "10.0.0.1" }
	dir := writeCase(t, "Hhost\nI1.2.3.4\nJ10.0.0.1\nF\n", "\nx\n")
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatal(r)
	}
	if !seen.WasResent || seen.RelayAddr != "10.0.0.1" || seen.RealRelayAddr != "1.2.3.4" || seen.RelayHostname != "resent.example" || seen.RealRelayHostname != "host" {
		t.Errorf("resent: %+v", seen)
	}
}

func TestScanFailures(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		name    string
		cmds    string
		cb      *Callbacks
		wantErr string
	}{
		{"no F", "S<a@b>\n", &Callbacks{}, "error: COMMANDS file did not end with F\n"},
		{"begin error", simpleCommands, &Callbacks{Begin: func(c *Context, _ *message.Part) error {
			c.ActionAddHeader("X-A", "1")
			return boom
		}}, "error: filter_begin: boom\n"},
		{"filter panic", simpleCommands, &Callbacks{Filter: func(c *Context, _ *message.Part, _, _, _ string) error {
			panic("kaboom")
		}}, "error: filter: filter: callback panicked: kaboom\n"},
		{"end error after bounce", simpleCommands, &Callbacks{End: func(c *Context, _ *message.Part) error {
			c.ActionBounce("x", "", "")
			return boom
		}}, "error: filter_end: boom\n"},
		{"wrapup error", simpleCommands, &Callbacks{Wrapup: func(c *Context, _ *message.Part) error { return boom }}, "error: filter_wrapup: boom\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, log := testWorker(t, func(*Config) *Callbacks { return tc.cb })
			dir := writeCase(t, tc.cmds, twoParts)
			if r := scan(t, w, dir); r != tc.wantErr {
				t.Errorf("reply %q, want %q", r, tc.wantErr)
			}
			if res, _ := os.ReadFile(filepath.Join(dir, "RESULTS")); bytes.Contains(res, []byte("F\n")) && !bytes.HasPrefix(res, []byte("F")) {
				t.Errorf("failed scan wrote F: %q", res)
			}
			if res, _ := os.ReadFile(filepath.Join(dir, "RESULTS")); bytes.HasSuffix(res, []byte("\nF\n")) || string(res) == "F\n" {
				t.Errorf("failed scan wrote F: %q", res)
			}
			if tc.name != "no F" && !strings.Contains(log.String(), "QID1: ") {
				t.Errorf("log lacks queue ID:\n%s", log)
			}
		})
	}
}

func TestScanDeadline(t *testing.T) {
	w, _ := testWorker(t, func(*Config) *Callbacks {
		return &Callbacks{Filter: func(c *Context, _ *message.Part, _, _, _ string) error {
			<-c.Done()
			return nil // a callback that ignores the error still fails the scan
		}}
	})
	dir := writeCase(t, simpleCommands, twoParts)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := w.Handle(ctx, "scan QID1 "+dir+"\n")
	if !strings.HasPrefix(r, "error: filter: context canceled") {
		t.Errorf("reply %q", r)
	}
	if res, _ := os.ReadFile(filepath.Join(dir, "RESULTS")); len(res) > 0 {
		t.Errorf("RESULTS %q", res)
	}
}

// TestScanTooComplicated: a message over MaxMIMEParts, or nested deeper
// than md-worker parses, is bounced for good without calling the filter,
// as the original bounces one over MaxMIMEParts: a tempfail would have the
// sending MTA retry for days.
func TestScanTooComplicated(t *testing.T) {
	deep := "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\n" +
		strings.Repeat("Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\n", message.DefaultMaxDepth+1) +
		"Content-Type: text/plain\n\ndeep\n"
	for _, c := range []struct {
		name, msg string
		maxParts  int
		want      string
	}{
		{"MaxMIMEParts", twoParts, 2, "too%20many%20MIME%20parts"},
		{"nested too deeply", deep, 0, "MIME%20parts%20nested%20too%20deeply"},
	} {
		t.Run(c.name, func(t *testing.T) {
			called := false
			w, _ := testWorker(t, func(cfg *Config) *Callbacks {
				if c.maxParts > 0 {
					cfg.MaxMIMEParts = c.maxParts
				}
				return &Callbacks{Begin: func(*Context, *message.Part) error { called = true; return nil }}
			})
			dir := writeCase(t, simpleCommands, c.msg)
			if r := scan(t, w, dir); r != "ok\n" {
				t.Fatal(r)
			}
			if called {
				t.Error("filter_begin called")
			}
			want := "B554 5.7.1 Message%20contained%20" + c.want + ".%20%20We%20do%20not%20accept%20such%20complicated%20messages.\nF\n"
			if res := readFile(t, filepath.Join(dir, "RESULTS")); res != want {
				t.Errorf("RESULTS %q", res)
			}
		})
	}
}

func TestScanWarningsInline(t *testing.T) {
	w, _ := testWorker(t, func(cfg *Config) *Callbacks {
		cfg.AddWarningsInline = true
		cfg.SetGeneralWarning("GW\n")
		return &Callbacks{Filter: func(c *Context, p *message.Part, fname, ext, typ string) error {
			if ext == ".exe" {
				c.ActionDropWithWarning("gone <x> & y")
			}
			return nil
		}}
	})
	dir := writeCase(t, simpleCommands, twoParts)
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatal(r)
	}
	body := readFile(t, filepath.Join(dir, "NEWBODY"))
	if !strings.Contains(body, "body text\n"+strings.Repeat("=", 75)+"\nGW\ngone <x> & y\n\n") {
		t.Errorf("inline text warning missing:\n%s", body)
	}
	if !strings.Contains(body, "<hr>\n<pre>\nGW\ngone &lt;x&gt; &amp; y\n</pre>") {
		t.Errorf("inline html warning missing:\n%s", body)
	}
	if strings.Contains(body, "warning1.txt") {
		t.Errorf("separate warning part added")
	}
}

func TestScanReplaceAndAddPart(t *testing.T) {
	w, _ := testWorker(t, func(cfg *Config) *Callbacks {
		return &Callbacks{
			Filter: func(c *Context, p *message.Part, fname, ext, typ string) error {
				if ext == ".exe" {
					c.ActionReplaceWithWarning("replaced")
				}
				return nil
			},
			End: func(c *Context, top *message.Part) error {
				c.ActionAddPart("text/plain", "-suggest", []byte("added\n"), "added.txt", "attachment", -1)
				return nil
			},
		}
	})
	dir := writeCase(t, simpleCommands, twoParts)
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatal(r)
	}
	body := readFile(t, filepath.Join(dir, "NEWBODY"))
	for _, want := range []string{
		"Content-Type: text/plain; name=\"warning1.txt\"\nContent-Disposition: inline; filename=\"warning1.txt\"\nContent-Transfer-Encoding: 7bit\n\nreplaced\n",
		"Content-Disposition: attachment; filename=\"added.txt\"",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("NEWBODY lacks %q:\n%s", want, body)
		}
	}
	if i, j := strings.Index(body, "replaced"), strings.Index(body, "added\n"); i < 0 || j < i {
		t.Errorf("added part not last")
	}
}

func TestScanSinglePartBecomesMultipart(t *testing.T) {
	w, _ := testWorker(t, func(cfg *Config) *Callbacks {
		return &Callbacks{Filter: func(c *Context, p *message.Part, fname, ext, typ string) error {
			c.ActionAcceptWithWarning("note")
			return nil
		}}
	})
	dir := writeCase(t, simpleCommands, "Subject: x\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nhello=\n world\n")
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatal(r)
	}
	res := readFile(t, filepath.Join(dir, "RESULTS"))
	if !regexp.MustCompile(`^Mmultipart/mixed;%20boundary=%22[^%]+%22\nJContent-Transfer-Encoding 1\nC\nF\n$`).MatchString(res) {
		t.Errorf("RESULTS %q", res)
	}
}

func TestScanNoMultipleInlines(t *testing.T) {
	w, _ := testWorker(t, func(cfg *Config) *Callbacks {
		cfg.Stupidity.NoMultipleInlines = true
		return &Callbacks{Filter: func(c *Context, p *message.Part, fname, ext, typ string) error {
			if ext == ".exe" {
				c.ActionDefang(p, "x.bin", "x.bin", "")
			}
			return nil
		}}
	})
	dir := writeCase(t, simpleCommands, strings.Replace(twoParts, "Content-Type: text/plain\n", "Content-Type: text/plain; charset=us-ascii\n", 1))
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatal(r)
	}
	body := readFile(t, filepath.Join(dir, "NEWBODY"))
	for _, want := range []string{
		"Content-Type: text/plain; charset=\"us-ascii\"; name=\"MESSAGE.TXT\"\n",
		"Content-Disposition: inline; filename=\"MESSAGE.TXT\"\n",
		"Content-Description: MESSAGE.TXT\n",
		"Content-Type: application/octet-stream; name=\"x.bin\"\n",
		"Content-Description: x.bin\n",
		"An attachment named 'x.exe' was converted to 'x.bin'.\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("NEWBODY lacks %q:\n%s", want, body)
		}
	}
}

// MessageSize is INPUTMSG's size during a scan, 0 outside one.
func TestMessageSize(t *testing.T) {
	var during int
	w, log := testWorker(t, func(cfg *Config) *Callbacks {
		return &Callbacks{Begin: func(c *Context, _ *message.Part) error {
			during = c.MessageSize()
			return nil
		}}
	})
	if got := w.NewContext(context.Background()).MessageSize(); got != 0 {
		t.Errorf("outside a scan: MessageSize() = %d, want 0", got)
	}
	dir := writeCase(t, simpleCommands, twoParts)
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatalf("reply %q\n%s", r, log)
	}
	if during != len(twoParts) {
		t.Errorf("during the scan: MessageSize() = %d, want %d (INPUTMSG)", during, len(twoParts))
	}
}
