package integration

import (
	"regexp"
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
