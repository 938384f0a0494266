package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// TestPostfixMilterd is TestPostfixOriginalStack with our milter,
// md-milterd, in place of the original mimedefang: Postfix → md-milterd →
// multiplexor (the original and ours) → mimedefang.pl with
// testdata/test.filter.
func TestPostfixMilterd(t *testing.T) {
	for _, mx := range multiplexors {
		t.Run(mx.name, func(t *testing.T) {
			stack := harness.StartStack(t, harness.StackOptions{
				Multiplexor: mx.path(t),
				Milter:      harness.MDBinary(t, "md-milterd"),
				Filter:      harness.Testdata(t, "test.filter"),
			})
			from := "tester@" + harness.Domain
			to := "alice@" + harness.Domain

			t.Run("clean message gets the header", func(t *testing.T) {
				msg := &harness.Message{
					From:    from,
					To:      to,
					Subject: "integration clean",
					Body:    "Hello from the integration tests.\n",
				}
				res := stack.Send(t, msg)
				if !res.Accepted() {
					t.Fatalf("clean message not accepted: %s reply %q", res.Stage, res.Reply)
				}
				got := stack.Postfix.WaitForMessage(t, msg.MessageID)
				if v := got.Header.Get("X-MD-Test"); v != "passed" {
					t.Errorf("delivered message has X-MD-Test %q, want %q; message:\n%s", v, "passed", got.Raw)
				}
				if v := got.Header.Get("X-Scanned-By"); v == "" {
					t.Errorf("delivered message has no X-Scanned-By; message:\n%s", got.Raw)
				}
			})

			t.Run("marked subject is rejected", func(t *testing.T) {
				msg := &harness.Message{
					From:    from,
					To:      to,
					Subject: "please MDTEST-REJECT this",
					Body:    "Should be refused.\n",
				}
				res := stack.Send(t, msg)
				const want = "554 5.7.1 Message rejected by test policy: forbidden subject marker"
				if res.Stage != harness.StageMessage || res.Reply.String() != want {
					t.Errorf("marked message: %s reply %q, want end-of-data reply %q", res.Stage, res.Reply, want)
				}
			})
		})
	}
}

// keptWorkDir returns the name and files of the only working directory in
// spool (the milter runs with -d, so it is kept).
func keptWorkDir(t *testing.T, spool string) map[string]string {
	t.Helper()
	var dirs []string
	for range 100 {
		dirs, _ = filepath.Glob(filepath.Join(spool, "mdefang-*"))
		if len(dirs) == 1 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(dirs) != 1 {
		t.Fatalf("spool %s holds %d working directories, want 1", spool, len(dirs))
	}
	out := map[string]string{"name": filepath.Base(dirs[0])}
	for _, f := range []string{"COMMANDS", "HEADERS", "INPUTMSG"} {
		b, err := os.ReadFile(filepath.Join(dirs[0], f))
		if err != nil {
			t.Fatal(err)
		}
		out[f] = string(b)
	}
	return out
}

// varying are the COMMANDS lines that differ from run to run (the MTA queue
// ID, the client port, the MIMEDefang ID) and =daemon_port, which
// md-milterd asks Postfix for and the original (without -y) does not.
var varying = regexp.MustCompile(`(?m)^(Q.*|i.*|=client_port .*|=daemon_port .*)\n`)

// TestMilterdSpoolMatchesOriginal sends the same message through the
// original milter and through md-milterd (both with -d, behind the original
// multiplexor) and compares the working directories they leave, and the
// headers of the delivered copies.
func TestMilterdSpoolMatchesOriginal(t *testing.T) {
	runSpoolComparison(t, false, varying)
}

// runSpoolComparison is TestMilterdSpoolMatchesOriginal behind Postfix or,
// with sendmail, behind Sendmail; mask removes the COMMANDS lines that
// vary from run to run.
func runSpoolComparison(t *testing.T, sendmail bool, mask *regexp.Regexp) {
	got := map[string]map[string]string{}
	for _, m := range []struct{ name, path string }{
		{"original", harness.OriginalMilter},
		{"md-milterd", harness.MDBinary(t, "md-milterd")},
	} {
		stack := harness.StartStack(t, harness.StackOptions{
			Multiplexor: harness.OriginalMultiplexor,
			Milter:      m.path,
			MilterArgs:  []string{"-d"},
			Filter:      harness.Testdata(t, "test.filter"),
			Sendmail:    sendmail,
		})
		msg := &harness.Message{
			From: "tester@" + harness.Domain, To: "alice@" + harness.Domain,
			Subject: "compare", MessageID: "<compare-" + m.name + "@client>",
			Headers: []string{"X-Folded: one\r\n two", "Content-Type: text/plain", "Content-Type: text/html"},
			Body:    "line 1\nline 2\n",
		}
		res := stack.Send(t, msg)
		if !res.Accepted() {
			t.Fatalf("%s: not accepted: %s %q", m.name, res.Stage, res.Reply)
		}
		files := keptWorkDir(t, stack.Multiplexor.Spool)
		files["COMMANDS"] = mask.ReplaceAllString(strings.ReplaceAll(files["COMMANDS"], msg.MessageID, "<MSGID>"), "")
		files["HEADERS"] = strings.ReplaceAll(files["HEADERS"], msg.MessageID, "<MSGID>")
		files["INPUTMSG"] = strings.ReplaceAll(files["INPUTMSG"], msg.MessageID, "<MSGID>")
		delivered := stack.MTA.WaitForMessage(t, msg.MessageID)
		for _, h := range []string{"X-MD-Test", "X-Scanned-By", "Content-Type", "X-Folded"} {
			files["delivered "+h] = strings.Join(delivered.Header[h], "|")
		}
		got[m.name] = files
	}
	// the Received header carries the queue ID and the time, Date the time
	received := regexp.MustCompile(`(?s)Received: .*?\n(\S)`)
	date := regexp.MustCompile(`(?m)^Date: .*\n`)
	if !strings.Contains(got["md-milterd"]["COMMANDS"], "Ucompare\n") || !strings.Contains(got["md-milterd"]["INPUTMSG"], "line 2\n") {
		t.Fatalf("md-milterd's working directory lacks the message: %q", got["md-milterd"])
	}
	for f, a := range got["original"] {
		if f == "name" {
			continue // the MIMEDefang ID differs with the second
		}
		b := got["md-milterd"][f]
		if f == "HEADERS" || f == "INPUTMSG" {
			a = date.ReplaceAllString(received.ReplaceAllString(a, "$1"), "")
			b = date.ReplaceAllString(received.ReplaceAllString(b, "$1"), "")
		}
		if a != b {
			t.Errorf("%s differs:\n--- original\n%s\n--- md-milterd\n%s", f, a, b)
		}
	}
}

// debugArgs are extra milter flags for TestMilterdChecksMatchOriginal, from
// $MDTEST_MILTER_ARGS (for example "-d" with MD_KEEP_TMP=1 to keep the
// working directories for inspection).
var debugArgs = strings.Fields(os.Getenv("MDTEST_MILTER_ARGS"))

// milters are the two milters the comparison tests run: the original and ours.
var milters = []struct {
	name string
	path func(t *testing.T) string
}{
	{"original", func(t *testing.T) string { return harness.OriginalMilter }},
	{"md-milterd", func(t *testing.T) string { return harness.MDBinary(t, "md-milterd") }},
}

// checkOutcome is what one message got, reduced to what must be the same
// for both milters.
type checkOutcome struct {
	stage, reply string
	delivered    string
}

// copyFor waits for the copy of a message delivered to rcpt (a filter may
// have added recipients, whose copies can arrive first).
func copyFor(t *testing.T, p harness.MTA, messageID, rcpt string) *harness.Delivered {
	t.Helper()
	p.WaitForMessage(t, messageID)
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, m := range p.Messages(t) {
			if m.Header.Get("Message-Id") == messageID && m.Header.Get("Delivered-To") == rcpt {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no copy of %s delivered to %s", messageID, rcpt)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// deliveredSummary is the delivered copy without what varies between runs:
// Received, Date, Message-Id, Return-Path/Delivered-To are kept (they
// show the changed sender and the added recipient).
func deliveredSummary(raw []byte) string {
	s := strings.ReplaceAll(string(raw), "\r\n", "\n")
	s = regexp.MustCompile(`(?s)Received: .*?\n(\S)`).ReplaceAllString(s, "$1")
	s = regexp.MustCompile(`(?m)^(Date|Message-Id|X-Scanned-By): .*\n`).ReplaceAllString(s, "")
	s = regexp.MustCompile(`_----------=_[0-9A-Za-z.=_-]+`).ReplaceAllString(s, "BOUNDARY")
	return s
}

// TestMilterdChecksMatchOriginal runs the original milter and md-milterd
// with -r -H -s -t behind the original multiplexor and checks that the
// SMTP-stage checks and every kind of modification come out the same.
func TestMilterdChecksMatchOriginal(t *testing.T) {
	runChecksComparison(t, false, "550 5.7.1 Sender refused by test policy")
}

// runChecksComparison is TestMilterdChecksMatchOriginal behind Postfix or,
// with sendmail, behind Sendmail. senderRejected is the reply the client
// must get for the rejected sender.
func runChecksComparison(t *testing.T, sendmail bool, senderRejected string) {
	type msgCase struct {
		name string
		env  harness.Envelope
		msg  harness.Message
	}
	d := harness.Domain
	cases := []msgCase{
		{"helo rejected", harness.Envelope{Helo: "blocked-helo.invalid", From: "tester@" + d, To: []string{"alice@" + d}}, harness.Message{Subject: "helo"}},
		{"sender rejected", harness.Envelope{From: "blocked@" + d, To: []string{"alice@" + d}}, harness.Message{Subject: "sender"}},
		{"sender tempfailed", harness.Envelope{From: "later@" + d, To: []string{"alice@" + d}}, harness.Message{Subject: "sender"}},
		{"recipient rejected", harness.Envelope{From: "tester@" + d, To: []string{"nobody@" + d}}, harness.Message{Subject: "rcpt"}},
		{"modified", harness.Envelope{From: "tester@" + d, To: []string{"alice@" + d}}, harness.Message{
			Subject: "please MDTEST-MODIFY this", Headers: []string{"X-MD-Delete-Me: yes"}, Body: "Original body.\n"}},
	}
	got := map[string]map[string]checkOutcome{}
	for _, m := range milters {
		got[m.name] = map[string]checkOutcome{}
		stack := harness.StartStack(t, harness.StackOptions{
			Multiplexor: harness.OriginalMultiplexor,
			Milter:      m.path(t),
			MilterArgs:  append([]string{"-r", "-H", "-s", "-t"}, debugArgs...),
			Filter:      harness.Testdata(t, "checks.filter"),
			Sendmail:    sendmail,
		})
		for _, c := range cases {
			msg := c.msg
			msg.From, msg.To = c.env.From, c.env.To[0]
			msg.MessageID = "<" + strings.ReplaceAll(c.name, " ", "-") + "-" + m.name + "@client>"
			res := harness.SendMail(t, stack.MTA.SMTPAddr(), c.env, msg.Bytes())
			o := checkOutcome{stage: res.Stage, reply: res.Reply.String()}
			if res.Accepted() {
				o.reply = "250 (queued)"
				// The added recipient gets a copy too: compare the copy
				// for the envelope recipient, whichever arrives first.
				o.delivered = deliveredSummary(copyFor(t, stack.MTA, msg.MessageID, c.env.To[0]).Raw)
				if c.name == "modified" {
					copyFor(t, stack.MTA, msg.MessageID, "bob@"+d) // the recipient the filter added
				}
				o.delivered = strings.ReplaceAll(o.delivered, m.name, "MILTER")
			}
			got[m.name][c.name] = o
		}
		if m.name == "md-milterd" {
			// every working directory is gone
			time.Sleep(200 * time.Millisecond)
			left, _ := filepath.Glob(filepath.Join(stack.Multiplexor.Spool, "mdefang-*"))
			if len(left) != 0 {
				t.Errorf("md-milterd left working directories behind: %v", left)
			}
		}
	}
	for _, c := range cases {
		a, b := got["original"][c.name], got["md-milterd"][c.name]
		if a != b {
			t.Errorf("%s:\n--- original: %s %q\n%s\n--- md-milterd: %s %q\n%s", c.name, a.stage, a.reply, a.delivered, b.stage, b.reply, b.delivered)
		}
	}
	if o := got["md-milterd"]["sender rejected"]; o.reply != senderRejected {
		t.Errorf("sender rejected: md-milterd reply %q", o.reply)
	}
	if o := got["md-milterd"]["modified"]; !strings.Contains(o.delivered, "MDTEST BOILERPLATE") || !strings.Contains(o.delivered, "X-MD-Inserted: at the top") ||
		!strings.Contains(o.delivered, "Return-Path: <changed@"+d+">") {
		t.Errorf("modified message lacks the modifications:\n%s", o.delivered)
	}
}
