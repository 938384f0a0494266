package integration

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mdgo/md/integration/internal/harness"
)

// The Sendmail tests run the end-to-end cases of the Postfix tests behind
// Debian's Sendmail 8.17, which runs from a chroot built once with
// debootstrap (see harness.SendmailRoot): Sendmail → milter (the original
// mimedefang or md-milterd) → multiplexor → mimedefang.pl. Sendmail relays
// what it accepts to an SMTP sink in the test process, which keeps one copy
// per recipient with Return-Path and Delivered-To in front, as Postfix's
// virtual(8) does.

// sendmailAccepted is Sendmail's reply to an accepted message, queue ID
// masked (see maskQueueID).
const sendmailAccepted = "250 2.0.0 QUEUEID Message accepted for delivery"

// TestSendmailPassThrough runs testdata/test.filter behind Sendmail with
// the original milter and md-milterd behind the original multiplexor, and
// md-milterd behind md-multiplexor: a clean message is accepted and
// delivered with X-MD-Test: passed, a marked subject gets the filter's 554
// at end of data, and the replies and the delivered copies (Received, Date
// and Message-Id masked) are the same for all three.
func TestSendmailPassThrough(t *testing.T) {
	type outcome struct{ clean, cleanCopy, reject string }
	combos := []struct {
		name        string
		milter, mux func(t *testing.T) string
	}{
		{"original+original", milters[0].path, multiplexors[0].path},
		{"md-milterd+original", milters[1].path, multiplexors[0].path},
		{"md-milterd+md-multiplexor", milters[1].path, multiplexors[1].path},
	}
	got := map[string]outcome{}
	for _, c := range combos {
		t.Run(c.name, func(t *testing.T) {
			stack := harness.StartStack(t, harness.StackOptions{
				Multiplexor: c.mux(t),
				Milter:      c.milter(t),
				Filter:      harness.Testdata(t, "test.filter"),
				Sendmail:    true,
			})
			from := "tester@" + harness.Domain
			to := "alice@" + harness.Domain
			var o outcome

			clean := &harness.Message{From: from, To: to, Subject: "integration clean",
				Body: "Hello from the integration tests.\n"}
			res := stack.Send(t, clean)
			o.clean = maskQueueID(res.Reply.String())
			if !res.Accepted() {
				t.Errorf("clean message not accepted: %s reply %q", res.Stage, res.Reply)
			} else {
				d := stack.MTA.WaitForMessage(t, clean.MessageID)
				if v := d.Header.Get("X-MD-Test"); v != "passed" {
					t.Errorf("delivered message has X-MD-Test %q, want %q; message:\n%s", v, "passed", d.Raw)
				}
				if v := d.Header.Get("X-Scanned-By"); v == "" {
					t.Errorf("delivered message has no X-Scanned-By; message:\n%s", d.Raw)
				}
				o.cleanCopy = deliveredSummary(d.Raw)
			}
			if o.clean != sendmailAccepted {
				t.Errorf("clean message: reply %q, want %q", o.clean, sendmailAccepted)
			}

			marked := &harness.Message{From: from, To: to, Subject: "please MDTEST-REJECT this",
				Body: "Should be refused.\n"}
			res = stack.Send(t, marked)
			o.reject = res.Stage + " " + res.Reply.String()
			const want = "554 5.7.1 Message rejected by test policy: forbidden subject marker"
			if res.Stage != harness.StageMessage || res.Reply.String() != want {
				t.Errorf("marked message: %s reply %q, want end-of-data reply %q", res.Stage, res.Reply, want)
			}
			got[c.name] = o
		})
	}
	ref := got[combos[0].name]
	for _, c := range combos[1:] {
		if o, ok := got[c.name]; ok && o != ref {
			t.Errorf("%s differs from %s:\n--- %s\n%+v\n--- %s\n%+v", c.name, combos[0].name, combos[0].name, ref, c.name, o)
		}
	}
}

// maskQueueID replaces the MTA's queue ID in an SMTP reply line by
// QUEUEID: Postfix's "queued as ID" and Sendmail's "250 2.0.0 ID Message
// accepted for delivery".
func maskQueueID(s string) string {
	return typicalQueueID.ReplaceAllString(s, "${1}QUEUEID")
}

// TestSendmailTypicalMatchesOriginal is TestMilterdTypicalMatchesOriginal
// behind Sendmail: testdata/typical.filter (header added, .exe dropped with
// a warning, disclaimer, marked subject refused), the same three messages
// through the original milter and md-milterd, the same replies and
// delivered messages (only Received masked), and the filter's effects.
func TestSendmailTypicalMatchesOriginal(t *testing.T) {
	runTypicalComparison(t, true, sendmailAccepted)
}

// TestSendmailChecksMatchOriginal is TestMilterdChecksMatchOriginal behind
// Sendmail: -r -H -s -t with testdata/checks.filter (HELO, sender and
// recipient rejected, sender tempfailed, every kind of modification).
func TestSendmailChecksMatchOriginal(t *testing.T) {
	// Sendmail puts the address in front of the text of a milter's
	// reply to MAIL and RCPT.
	runChecksComparison(t, true, "550 5.7.1 <blocked@"+harness.Domain+">... Sender refused by test policy")
}

// TestSendmailVerdictsMatchOriginal is TestMilterdVerdictsMatchOriginal
// behind Sendmail: every verdict of filter_sender and filter_recipient
// (testdata/verdicts.filter) has the same effect with both milters.
func TestSendmailVerdictsMatchOriginal(t *testing.T) {
	// Sendmail puts the address in front of the text of a milter's
	// reply to MAIL and RCPT (not of a bare "?").
	d := harness.Domain
	runVerdictsComparison(t, true, map[string]verdictOutcome{
		"sender v-reject":    {harness.StageMail, "553 5.7.2 <v-reject@" + d + ">... custom text", "", 0},
		"recipient v-reject": {harness.StageRcpt, "553 5.7.2 <v-reject@" + d + ">... custom text", "", 0},
	})
}

// TestSendmailSpoolMatchesOriginal is TestMilterdSpoolMatchesOriginal
// behind Sendmail: the working directories both milters leave with -d
// (COMMANDS, HEADERS, INPUTMSG) and the delivered headers are the same.
func TestSendmailSpoolMatchesOriginal(t *testing.T) {
	runSpoolComparison(t, true, sendmailVarying)
}

// sendmailVarying is varying plus Sendmail's queue ID, which Sendmail
// already gives the milter at MAIL FROM as the {i} macro (=i).
var sendmailVarying = regexp.MustCompile(`(?m)^(Q.*|i.*|=i .*|=client_port .*|=daemon_port .*)\n`)

// TestSendmailInstalledLayout is TestInstalledLayout behind Sendmail: the
// layout deploy/install.sh installs into a staging root, md-multiplexor
// and md-milterd started as their installed units start them, and in
// front of them the private Sendmail with the lines of the shipped
// deploy/sendmail/mimedefang.mc, read when the test runs, verbatim but
// for the port of S= (the test's milter port, which the installed options
// file gets as MD_SOCKET). A clean message and one with an .exe attachment
// go through the installed default filter; then, with md-milterd stopped,
// a message must be tempfailed (F=T), not delivered unscanned.
func TestSendmailInstalledLayout(t *testing.T) {
	in, _ := newInstalledLayout(t)
	in.start(t)

	mcPath := filepath.Join(in.deploy, "sendmail/mimedefang.mc")
	mc, milterLine := sendmailMCLines(t, mcPath, in.defaults["MD_SOCKET"], fmt.Sprintf("inet:%d@127.0.0.1", in.milterPort))
	sm := harness.StartSendmail(t, harness.SendmailOptions{Dir: in.dir, MC: mc})

	// What m4 made of the lines: our filter, and only ours (the harness's
	// own INPUT_MAIL_FILTER is left out without SendmailOptions.Milter).
	cf := string(readFile(t, filepath.Join(sm.Dir, "sendmail.cf")))
	var filters []string
	for _, l := range strings.Split(cf, "\n") {
		if strings.HasPrefix(l, "X") || strings.HasPrefix(l, "O InputMailFilters=") {
			filters = append(filters, l)
		}
	}
	want := []string{"O InputMailFilters=md-milterd", milterLine}
	if strings.Join(filters, "\n") != strings.Join(want, "\n") {
		t.Errorf("sendmail.cf from %s has the milter lines\n%s\nwant\n%s", mcPath, strings.Join(filters, "\n"), strings.Join(want, "\n"))
	}

	in.sendTypical(t, sm)

	// F=T: with md-milterd down, Sendmail must refuse the message with a
	// temporary error, not deliver it unscanned.
	in.md.Stop(t)
	down := &harness.Message{From: "alice@" + harness.Domain, To: "bob@" + harness.Domain,
		Subject: "milter down", Body: "Must not pass unscanned.\n"}
	res := harness.Send(t, sm.Addr, down)
	if res.Accepted() || res.Reply.Code/100 != 4 {
		t.Errorf("with md-milterd stopped: %s reply %q, want a 4xx refusal (F=T)", res.Stage, res.Reply)
	}
	for _, m := range sm.Messages(t) {
		if strings.TrimSpace(m.Header.Get("Message-Id")) == down.MessageID {
			t.Errorf("with md-milterd stopped, the message was delivered:\n%s", m.Raw)
		}
	}

	in.stop(t)
}

// sendmailMCLines returns the lines of the shipped .mc file that are not
// comments (dnl lines), with the S= address, which must be socket (the
// installed MD_SOCKET default), replaced by addr; and the X line of
// sendmail.cf that its INPUT_MAIL_FILTER becomes.
func sendmailMCLines(t *testing.T, path, socket, addr string) ([]string, string) {
	t.Helper()
	if socket == "" {
		t.Fatalf("the installed options file sets no MD_SOCKET")
	}
	filterRe := regexp.MustCompile("^INPUT_MAIL_FILTER\\(`([^']+)', `([^']*)'\\)dnl$")
	var lines []string
	var xline string
	for _, l := range strings.Split(string(readFile(t, path)), "\n") {
		if f := strings.Fields(l); len(f) == 0 || f[0] == "dnl" {
			continue
		}
		m := filterRe.FindStringSubmatch(l)
		if m == nil {
			lines = append(lines, l)
			continue
		}
		if xline != "" {
			t.Fatalf("%s: more than one INPUT_MAIL_FILTER", path)
		}
		var eqs []string
		for _, eq := range strings.Split(m[2], ", ") {
			if v, ok := strings.CutPrefix(eq, "S="); ok {
				if v != socket {
					t.Errorf("%s: S=%s, but md-milterd listens on MD_SOCKET=%s by default", path, v, socket)
				}
				eq = "S=" + addr
			}
			eqs = append(eqs, eq)
		}
		rewritten := strings.Replace(l, m[2], strings.Join(eqs, ", "), 1)
		if rewritten == l || !strings.Contains(rewritten, "S="+addr) {
			t.Fatalf("%s: no S=%s to rewrite in %q", path, socket, l)
		}
		lines = append(lines, rewritten)
		xline = "X" + m[1] + ", " + strings.Join(eqs, ", ")
	}
	if xline == "" {
		t.Fatalf("%s: no INPUT_MAIL_FILTER line", path)
	}
	t.Logf("%s, as the test uses it:\n%s", path, strings.Join(lines, "\n"))
	return lines, xline
}
