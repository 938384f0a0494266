package integration

import (
	"regexp"
	"strings"
	"testing"

	"github.com/mdgo/md/integration/internal/harness"
)

// typicalDisclaimer is what testdata/typical.filter appends to every
// text/plain part.
const typicalDisclaimer = "--\nDisclaimer: this message passed through the MIMEDefang lab typical filter.\n" +
	"It is provided for testing only; attachments with dangerous extensions are removed."

// typicalCase is one message for TestMilterdTypicalMatchesOriginal. The
// Message-Id and Date are fixed so that they need no masking.
type typicalCase struct {
	name    string
	subject string
	headers []string
	body    string
}

// typicalExeBoundary is a fixed boundary, like the golden exe message's.
const typicalExeBoundary = "----=_MIME_BOUNDARY_000_4242"

var typicalCases = []typicalCase{
	{name: "clean", subject: "typical clean", headers: []string{"X-MD-Case: typical-clean"},
		body: "Hello from the integration tests.\n"},
	// built like the golden exe message (transcripts/exe.swaks.txt,
	// evidence/typical-exe.swaks.txt): a text part, a harmless attachment and
	// a fake .exe
	{name: "exe", subject: "typical exe", headers: []string{
		"MIME-Version: 1.0",
		`Content-Type: multipart/mixed; boundary="` + typicalExeBoundary + `"`,
		"X-MD-Case: typical-exe",
	}, body: "--" + typicalExeBoundary + "\n" +
		"Content-Type: text/plain\n" +
		"\n" +
		"See attached.\n" +
		"--" + typicalExeBoundary + "\n" +
		"Content-Type: text/plain; name=\"notes.txt\"\n" +
		"Content-Description: notes.txt\n" +
		"Content-Disposition: attachment; filename=\"notes.txt\"\n" +
		"Content-Transfer-Encoding: BASE64\n" +
		"\n" +
		"cXVhcnRlcmx5IG51bWJlcnM6IDEgMiAzCg==\n" +
		"\n" +
		"--" + typicalExeBoundary + "\n" +
		"Content-Type: application/octet-stream; name=\"invoice.exe\"\n" +
		"Content-Description: invoice.exe\n" +
		"Content-Disposition: attachment; filename=\"invoice.exe\"\n" +
		"Content-Transfer-Encoding: BASE64\n" +
		"\n" +
		"TVqQACBoYXJtbGVzcyBmYWtlIGV4ZWN1dGFibGUgZm9yIHRoZSBNSU1FRGVmYW5nIGxhYgo=\n" +
		"\n" +
		"--" + typicalExeBoundary + "--\n" +
		"\n"},
	{name: "reject", subject: "please MDLAB-REJECT this", headers: []string{"X-MD-Case: typical-reject"},
		body: "Should be refused.\n"},
}

// typicalOutcome is what one message got through one milter, masked.
type typicalOutcome struct {
	stage, reply string
	replies      string // every server line of the session, queue ID masked
	delivered    string // the delivered copy, masked; empty if refused
}

var (
	// Postfix: "queued as ID"; Sendmail: "250 2.0.0 ID Message accepted"
	typicalQueueID  = regexp.MustCompile(`(queued as |250 2\.0\.0 )[0-9A-Za-z]{10,}`)
	typicalReceived = regexp.MustCompile(`(?m)^Received: .*\n(?:[ \t].*\n)*`)
)

// maskTypical removes from a delivered message what varies between runs
// and stacks: the Received header (queue ID, time). The filter keeps the
// sender's MIME boundary, Date and Message-Id are fixed by the test, and
// X-Scanned-By ("MIMEDefang 3.3 on 127.0.0.1") is the same for both
// milters, so nothing else is masked.
func maskTypical(raw []byte) string {
	s := strings.ReplaceAll(string(raw), "\r\n", "\n")
	s = typicalReceived.ReplaceAllString(s, "Received: MASKED\n")
	return s
}

// serverLines returns the server's side of an SMTP transcript.
func serverLines(transcript string) string {
	var out []string
	for _, l := range strings.Split(transcript, "\n") {
		if strings.HasPrefix(l, "<-") || strings.HasPrefix(l, "<**") {
			out = append(out, maskQueueID(l))
		}
	}
	return strings.Join(out, "\n")
}

// TestMilterdTypicalMatchesOriginal runs testdata/typical.filter (the
// golden "typical" site policy: header added, .exe attachments dropped with
// a warning, a disclaimer appended, a marked subject refused) behind the
// original multiplexor with the original milter and with md-milterd, sends
// the same three messages through each stack and checks that the SMTP
// replies and the delivered messages are the same, and that the filter's
// effects are really there.
func TestMilterdTypicalMatchesOriginal(t *testing.T) {
	runTypicalComparison(t, false, "250 2.0.0 Ok: queued as QUEUEID")
}

// runTypicalComparison is TestMilterdTypicalMatchesOriginal behind Postfix
// or, with sendmail, behind Sendmail; accepted is the MTA's reply to an
// accepted message, queue ID masked.
func runTypicalComparison(t *testing.T, sendmail bool, accepted string) {
	harness.RequireProgram(t, harness.OriginalMultiplexor, "mimedefang")
	from := "tester@" + harness.Domain
	to := "alice@" + harness.Domain
	got := map[string]map[string]typicalOutcome{}
	for _, m := range milters {
		got[m.name] = map[string]typicalOutcome{}
		stack := harness.StartStack(t, harness.StackOptions{
			Multiplexor: harness.OriginalMultiplexor,
			Milter:      m.path(t),
			Filter:      harness.Testdata(t, "typical.filter"),
			Sendmail:    sendmail,
		})
		for _, c := range typicalCases {
			msgID := "<typical-" + c.name + "@client." + harness.Domain + ">"
			data := "Date: Tue, 24 Nov 2026 18:48:33 +0000\n" +
				"To: " + to + "\n" +
				"From: " + from + "\n" +
				"Subject: " + c.subject + "\n" +
				"Message-Id: " + msgID + "\n" +
				strings.Join(c.headers, "\n") + "\n" +
				"\n" + c.body
			data = strings.ReplaceAll(data, "\n", "\r\n")
			res := harness.SendMail(t, stack.MTA.SMTPAddr(), harness.Envelope{From: from, To: []string{to}}, []byte(data))
			o := typicalOutcome{stage: res.Stage, reply: res.Reply.String(), replies: serverLines(res.Transcript)}
			if res.Accepted() {
				o.reply = maskQueueID(o.reply)
				o.delivered = maskTypical(stack.MTA.WaitForMessage(t, msgID).Raw)
			}
			got[m.name][c.name] = o
		}
	}

	for _, c := range typicalCases {
		a, b := got["original"][c.name], got["md-milterd"][c.name]
		if a.stage != b.stage || a.reply != b.reply || a.replies != b.replies {
			t.Errorf("%s: SMTP replies differ:\n--- original: %s %q\n%s\n--- md-milterd: %s %q\n%s",
				c.name, a.stage, a.reply, a.replies, b.stage, b.reply, b.replies)
		}
		if a.delivered != b.delivered {
			t.Errorf("%s: delivered messages differ:\n--- original\n%s\n--- md-milterd\n%s", c.name, a.delivered, b.delivered)
		}
	}

	// the filter's effects, for each milter, so that the test cannot pass
	// by both being equally wrong
	for _, m := range milters {
		t.Run(m.name, func(t *testing.T) {
			checkTypicalEffects(t, got[m.name], accepted)
		})
	}
}

func checkTypicalEffects(t *testing.T, got map[string]typicalOutcome, accepted string) {
	clean := got["clean"]
	if clean.reply != accepted {
		t.Errorf("clean: %s reply %q, want 250", clean.stage, clean.reply)
	} else {
		head, body, _ := strings.Cut(clean.delivered, "\n\n")
		if !strings.Contains(head, "\nX-Scanned: MIMEDefang lab typical filter\n") {
			t.Errorf("clean: no X-Scanned header:\n%s", clean.delivered)
		}
		if !strings.Contains(head, "\nX-Scanned-By: MIMEDefang ") {
			t.Errorf("clean: no X-Scanned-By header:\n%s", clean.delivered)
		}
		if body != "Hello from the integration tests.\n\n"+typicalDisclaimer+"\n" {
			t.Errorf("clean: body is not the text followed by the disclaimer:\n%s", clean.delivered)
		}
	}

	exe := got["exe"]
	if exe.reply != accepted {
		t.Errorf("exe: %s reply %q, want 250", exe.stage, exe.reply)
	} else {
		d := exe.delivered
		for _, want := range []string{
			"\nX-Scanned: MIMEDefang lab typical filter\n",
			"Content-Disposition: inline; filename=\"warning1.txt\"\n",
			"An attachment named invoice.exe was removed from this document as it\nconstituted a security hazard.",
			"See attached.\n" + typicalDisclaimer + "\n",
			"filename=\"notes.txt\"",
			"--" + typicalExeBoundary + "--\n",
		} {
			if !strings.Contains(d, want) {
				t.Errorf("exe: delivered message lacks %q:\n%s", want, d)
			}
		}
		for _, bad := range []string{"name=\"invoice.exe\"", "application/octet-stream", "TVqQ"} {
			if strings.Contains(d, bad) {
				t.Errorf("exe: delivered message still has the .exe part (%q):\n%s", bad, d)
			}
		}
	}

	rej := got["reject"]
	const want = "554 5.7.1 Message rejected by lab policy: forbidden subject marker"
	if rej.stage != harness.StageMessage || rej.reply != want || rej.delivered != "" {
		t.Errorf("reject: %s reply %q, want end-of-data reply %q", rej.stage, rej.reply, want)
	}
}
