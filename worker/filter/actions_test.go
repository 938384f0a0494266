package filter

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdgo/md/worker/message"
)

// runInBegin scans twoParts with fn as filter_begin and returns RESULTS.
func runInBegin(t *testing.T, fn func(c *Context)) (string, string) {
	t.Helper()
	w, log := testWorker(t, func(*Config) *Callbacks {
		return &Callbacks{Begin: func(c *Context, _ *message.Part) error { fn(c); return nil }}
	})
	dir := writeCase(t, simpleCommands, "Subject: hi\nX-Old: 1\nx-old: 2\nX-Other: 3\nX-OLD:3\n\nbody\n")
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatalf("reply %q\n%s", r, log)
	}
	return readFile(t, filepath.Join(dir, "RESULTS")), dir
}

func TestActionResultLines(t *testing.T) {
	cases := []struct {
		name string
		fn   func(c *Context)
		want string
	}{
		{"bounce", func(c *Context) { c.ActionBounce("Too big", "", "") }, "B554 5.7.1 Too%20big\n"},
		{"bounce defaults", func(c *Context) { c.ActionBounce("", "", "") }, "B554 5.7.1 Forbidden%20for%20policy%20reasons\n"},
		{"bounce code dsn", func(c *Context) { c.ActionBounce("no", "550", "5.1.1") }, "B550 5.1.1 no\n"},
		{"bounce bad code", func(c *Context) { c.ActionBounce("no", "450", "4.1.1") }, "B554 5.7.1 no\n"},
		{"tempfail", func(c *Context) { c.ActionTempfail("", "", "") }, "T451 4.3.0 Try%20again%20later\n"},
		{"tempfail code", func(c *Context) { c.ActionTempfail("busy", "421", "4.7.0") }, "T421 4.7.0 busy\n"},
		{"tempfail bad code", func(c *Context) { c.ActionTempfail("busy", "550", "5.7.0") }, "T451 4.3.0 busy\n"},
		{"discard", func(c *Context) { c.ActionDiscard() }, "D\n"},
		{"add header", func(c *Context) { c.ActionAddHeader("X-Spam-Score", "5.0 (*****)") }, "HX-Spam-Score 5.0%20(*****)\n"},
		{"insert header", func(c *Context) { c.ActionInsertHeader("X-First", "a b", 0) }, "NX-First 0 a%20b\n"},
		{"change header", func(c *Context) { c.ActionChangeHeader("Subject", "caf\xc3\xa9", 1) }, "ISubject 1 caf%C3%A9\n"},
		{"delete header", func(c *Context) { c.ActionDeleteHeader("X-Old", 2) }, "JX-Old 2\n"},
		{"delete all headers", func(c *Context) { c.ActionDeleteAllHeaders("x-old") }, "Jx-old 3\nJx-old 2\nJx-old 1\n"},
		{"add recipient", func(c *Context) { c.AddRecipient("<new@example.com>") }, "R<new@example.com>\n"},
		{"delete recipient", func(c *Context) { c.DeleteRecipient("<b@example.com>") }, "S<b@example.com>\n"},
		{"change sender", func(c *Context) { c.ChangeSender("<x@example.com>") }, "f<x@example.com>\n"},
		{"encoding", func(c *Context) { c.ActionAddHeader("X-Q", "'\"\\%\t") }, "HX-Q %27%22%5C%25%09\n"},
		// First B/T/D wins at the milter; all are written in call order.
		{"precedence", func(c *Context) {
			c.ActionAddHeader("X-A", "1")
			c.ActionDiscard()
			c.ActionBounce("a", "", "")
			c.ActionTempfail("b", "", "")
		}, "HX-A 1\nD\nB554 5.7.1 a\nT451 4.3.0 b\n"},
		// Part actions are refused outside the part walk.
		{"part action in begin", func(c *Context) {
			if c.ActionDrop() || c.ActionAccept() || c.ActionDropWithWarning("x") || c.ActionReplaceWithWarning("x") || c.ActionAcceptWithWarning("x") {
				c.ActionAddHeader("X-Bad", "1")
			}
		}, ""},
		{"end-only actions in begin", func(c *Context) {
			if c.ReplaceEntireMessage(message.NewPart("text/plain", "7bit", nil, "", "")) || c.RemoveRedundantHTMLParts(c.Message.Top()) {
				c.ActionAddHeader("X-Bad", "1")
			}
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := runInBegin(t, tc.fn)
			if res != tc.want+"F\n" {
				t.Errorf("RESULTS %q, want %q", res, tc.want+"F\n")
			}
		})
	}
}

func TestMessageRejected(t *testing.T) {
	for _, fn := range []func(c *Context){
		func(c *Context) { c.ActionBounce("", "", "") },
		func(c *Context) { c.ActionTempfail("", "", "") },
		func(c *Context) { c.ActionDiscard() },
	} {
		var before, after bool
		runInBegin(t, func(c *Context) {
			before = c.MessageRejected()
			fn(c)
			after = c.MessageRejected()
		})
		if before || !after {
			t.Errorf("MessageRejected before %v after %v", before, after)
		}
	}
}

func TestResultLineTruncated(t *testing.T) {
	res, _ := runInBegin(t, func(c *Context) { c.ActionAddHeader("X-Long", strings.Repeat("a", 20000)) })
	line, _, _ := strings.Cut(res, "\n")
	if len(line) != 16382 || !strings.HasPrefix(line, "HX-Long aaa") {
		t.Errorf("line length %d", len(line))
	}
}

func TestHeaderNowRewritesInputmsg(t *testing.T) {
	const input = "Subject: hi\nX-Old: 1\n\tfolded\nx-old: 2\nX-Other: 3\n\nbody\n"
	cases := []struct {
		name string
		fn   func(c *Context)
		want string
		res  string
	}{
		{"add", func(c *Context) { c.ActionAddHeaderNow("X-New", "v") }, "Subject: hi\nX-Old: 1\n\tfolded\nx-old: 2\nX-Other: 3\nX-New: v\n\nbody\n", "HX-New v\n"},
		{"insert", func(c *Context) { c.ActionInsertHeaderNow("X-New", "v", 1) }, "Subject: hi\nX-New: v\nX-Old: 1\n\tfolded\nx-old: 2\nX-Other: 3\n\nbody\n", "NX-New 1 v\n"},
		{"insert clamped", func(c *Context) { c.ActionInsertHeaderNow("X-New", "v", 99) }, "Subject: hi\nX-Old: 1\n\tfolded\nx-old: 2\nX-Other: 3\nX-New: v\n\nbody\n", "NX-New 99 v\n"},
		{"change", func(c *Context) { c.ActionChangeHeaderNow("x-OLD", "new", 1) }, "Subject: hi\nx-OLD: new\nx-old: 2\nX-Other: 3\n\nbody\n", "Ix-OLD 1 new\n"},
		{"change missing", func(c *Context) { c.ActionChangeHeaderNow("X-None", "new", 1) }, input, "IX-None 1 new\n"},
		{"delete", func(c *Context) { c.ActionDeleteHeaderNow("X-Old", 2) }, "Subject: hi\nX-Old: 1\n\tfolded\nX-Other: 3\n\nbody\n", "JX-Old 2\n"},
		{"delete all", func(c *Context) { c.ActionDeleteAllHeadersNow("X-Old") }, "Subject: hi\nX-Other: 3\n\nbody\n", "JX-Old 2\nJX-Old 1\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := testWorker(t, func(*Config) *Callbacks {
				return &Callbacks{Begin: func(c *Context, _ *message.Part) error { tc.fn(c); return nil }}
			})
			dir := writeCase(t, simpleCommands, input)
			if r := scan(t, w, dir); r != "ok\n" {
				t.Fatal(r)
			}
			if got := readFile(t, filepath.Join(dir, "INPUTMSG")); got != tc.want {
				t.Errorf("INPUTMSG %q, want %q", got, tc.want)
			}
			if got := readFile(t, filepath.Join(dir, "RESULTS")); got != tc.res+"F\n" {
				t.Errorf("RESULTS %q", got)
			}
		})
	}
}

// TestChecksWriteResults: header and envelope edits from filter_sender
// append to the working directory's RESULTS (docs/reference/filter-api.md §3.6); context-checked
// actions do nothing there; nothing is written from filter_relay, whose
// CWD is the spool directory.
func TestChecksWriteResults(t *testing.T) {
	w, log := testWorker(t, func(*Config) *Callbacks {
		return &Callbacks{
			Relay: func(c *Context, r RelayRequest) (Answer, error) {
				c.ActionAddHeader("X-Relay", "1")
				return Answer{Verdict: Continue, Msg: "ok"}, nil
			},
			Sender: func(c *Context, r SenderRequest) (Answer, error) {
				c.ActionAddHeader("X-Sender", r.Sender)
				c.ActionInsertHeader("X-Ins", "1", 0)
				c.AddRecipient("<extra@example.com>")
				c.ActionBounce("nope", "", "")
				c.ActionChangeHeader("Subject", "x", 1)
				return Answer{Verdict: Continue, Msg: "ok"}, nil
			},
			Recipient: func(c *Context, r RecipientRequest) (Answer, error) {
				c.DeleteRecipient(r.Rcpt)
				if err := c.ReadCommandsFile(); err != nil {
					return Answer{}, err
				}
				c.ChangeSender(strings.Join(c.Recipients, ","))
				return Answer{Verdict: Reject, Msg: "no such user", Code: "550", DSN: "5.1.1"}, nil
			},
		}
	})
	dir := writeCase(t, simpleCommands, "\nbody\n")
	ctx := context.Background()
	if r := w.Handle(ctx, "relayok 192.0.2.1 host 25 127.0.0.1 25 NOQUEUE\n"); r != "ok 1 ok 250 2.1.0 0\n" {
		t.Errorf("relayok reply %q", r)
	}
	if !strings.Contains(log.String(), "write_result_line called before working directory established") {
		t.Errorf("relay write not refused in log:\n%s", log)
	}
	if r := w.Handle(ctx, "senderok <a@example.com> 192.0.2.1 host helo "+dir+" NOQUEUE BODY=8BITMIME\n"); r != "ok 1 ok 250 2.1.0 0\n" {
		t.Errorf("senderok reply %q", r)
	}
	if r := w.Handle(ctx, "recipok <b@example.com> <a@example.com> 192.0.2.1 host <b@example.com> helo "+dir+" NOQUEUE local h a\n"); r != "ok 0 no%20such%20user 550 5.1.1 0\n" {
		t.Errorf("recipok reply %q", r)
	}
	want := "HX-Sender <a@example.com>\nNX-Ins 0 1\nR<extra@example.com>\nS<b@example.com>\nf<b@example.com>,<b@example.com>\n"
	if got := readFile(t, filepath.Join(dir, "RESULTS")); got != want {
		t.Errorf("RESULTS %q, want %q", got, want)
	}
}

func TestPartActions(t *testing.T) {
	docRoot := t.TempDir()
	var hits []string
	w, log := testWorker(t, func(*Config) *Callbacks {
		return &Callbacks{Filter: func(c *Context, p *message.Part, fname, ext, typ string) error {
			switch typ {
			case "application/octet-stream":
				ok := c.ActionReplaceWithURL(p, docRoot, "https://files.example/d", "Get it at _URL_ (_URL_)", "attachment; filename=x.exe", "salt")
				hits = append(hits, "url:"+boolStr(ok))
			case "text/html":
				ok := c.ActionDefang(p, "", "safe.html.txt", "text/plain")
				hits = append(hits, "defang:"+boolStr(ok))
			case "text/plain":
				ok := c.ActionExternalFilter(p, "tr a-z A-Z < FILTERINPUT > FILTEROUTPUT")
				hits = append(hits, "ext:"+boolStr(ok))
			}
			return nil
		}}
	})
	dir := writeCase(t, simpleCommands, twoParts)
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatalf("%q\n%s", r, log)
	}
	if strings.Join(hits, ",") != "ext:1,url:1,defang:1" {
		t.Errorf("hits %v", hits)
	}
	exe, _ := base64.StdEncoding.DecodeString("TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	h := sha1.Sum(append(append([]byte(nil), exe...), "salt"...))
	name := hex.EncodeToString(h[:]) + ".exe"
	if b, err := os.ReadFile(filepath.Join(docRoot, name)); err != nil || string(b) != string(exe) {
		t.Errorf("stored body: %v %q", err, b)
	}
	if b, _ := os.ReadFile(filepath.Join(docRoot, "."+name)); string(b) != "attachment; filename=x.exe" {
		t.Errorf("cd data %q", b)
	}
	body := readFile(t, filepath.Join(dir, "NEWBODY"))
	for _, want := range []string{
		"BODY TEXT",
		"Get it at https://files.example/d/" + name + " (https://files.example/d/" + name + ")\n",
		"Content-Description: safe.html.txt",
		"An attachment named '' was converted to 'safe.html.txt'.\nTo recover the file, click on the attachment and Save As\n'' in order to access it.\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("NEWBODY lacks %q:\n%s", want, body)
		}
	}
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func TestBoilerplateAndRedundantHTML(t *testing.T) {
	const alt = "Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\nplain\n--b\nContent-Type: text/html\n\n<html><body>hi</body></html>\n--b--\n"
	w, _ := testWorker(t, func(*Config) *Callbacks {
		return &Callbacks{End: func(c *Context, top *message.Part) error {
			if !c.AppendTextBoilerplate(top, "TXT", false) || !c.AppendHTMLBoilerplate(top, "<p>HTML</p>", false) {
				t.Error("boilerplate not applied")
			}
			if c.ActionCount("append_text_boilerplate") != 1 || c.ActionCount("append_html_boilerplate") != 1 {
				t.Error("counters")
			}
			return nil
		}}
	})
	dir := writeCase(t, simpleCommands, alt)
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatal(r)
	}
	body := readFile(t, filepath.Join(dir, "NEWBODY"))
	if !strings.Contains(body, "plain\nTXT\n") || !strings.Contains(body, "<html><body>hi<p>HTML</p>\n</body></html>") {
		t.Errorf("NEWBODY:\n%s", body)
	}

	w, _ = testWorker(t, func(*Config) *Callbacks {
		return &Callbacks{End: func(c *Context, top *message.Part) error {
			if !c.RemoveRedundantHTMLParts(top) {
				t.Error("nothing removed")
			}
			return nil
		}}
	})
	dir = writeCase(t, simpleCommands, alt)
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatal(r)
	}
	if body := readFile(t, filepath.Join(dir, "NEWBODY")); strings.Contains(body, "html") {
		t.Errorf("html kept:\n%s", body)
	}
	if res := readFile(t, filepath.Join(dir, "RESULTS")); !strings.HasPrefix(res, "Mtext/plain\nC\nF\n") {
		t.Errorf("RESULTS %q", res)
	}
}

func TestWrapupRefusesStructureEdits(t *testing.T) {
	var got []bool
	w, _ := testWorker(t, func(*Config) *Callbacks {
		return &Callbacks{Wrapup: func(c *Context, top *message.Part) error {
			got = append(got, c.ActionRebuild(), c.ActionAddPart("text/plain", "7bit", nil, "", "", -1) != nil, c.ActionAddHeader("X-W", "1"))
			return nil
		}}
	})
	dir := writeCase(t, simpleCommands, twoParts)
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatal(r)
	}
	if got[0] || got[1] || !got[2] {
		t.Errorf("wrapup: %v", got)
	}
	if res := readFile(t, filepath.Join(dir, "RESULTS")); res != "HX-W 1\nF\n" {
		t.Errorf("RESULTS %q", res)
	}
}

func TestReplaceEntireMessageAndRebuild(t *testing.T) {
	w, _ := testWorker(t, func(*Config) *Callbacks {
		return &Callbacks{End: func(c *Context, top *message.Part) error {
			c.ReplaceEntireMessage(message.NewPart("text/plain", "7bit", []byte("replaced\n"), "", ""))
			return nil
		}}
	})
	dir := writeCase(t, simpleCommands, twoParts)
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatal(r)
	}
	if body := readFile(t, filepath.Join(dir, "NEWBODY")); body != "replaced\n" {
		t.Errorf("NEWBODY %q", body)
	}
	if res := readFile(t, filepath.Join(dir, "RESULTS")); res != "Mtext/plain\nIContent-Transfer-Encoding 1 7bit\nC\nF\n" {
		t.Errorf("RESULTS %q", res)
	}
}
