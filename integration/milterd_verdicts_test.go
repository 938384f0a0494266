package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// verdictOutcome is what one case got through one milter.
type verdictOutcome struct {
	stage, reply string
	// delivered is "not delivered" or the presence of the headers the
	// filter adds: "X-Scanned-By=yes X-MD-Verdicts=yes".
	delivered string
	elapsed   time.Duration
}

func (o verdictOutcome) String() string {
	return fmt.Sprintf("%s %q %s", o.stage, o.reply, o.delivered)
}

// TestMilterdVerdictsMatchOriginal runs the original milter and md-milterd
// with -r -H -s -t behind the original multiplexor and verdicts.filter,
// which makes filter_sender and filter_recipient return every verdict
// (CONTINUE, ACCEPT_AND_NO_MORE_FILTERING, DISCARD, REJECT, TEMPFAIL, with
// and without text, code and DSN, an invalid code replaced by
// mimedefang.pl and one the milter must replace, a delay), and checks
// that the SMTP stage, the reply and the delivery come out the same.
func TestMilterdVerdictsMatchOriginal(t *testing.T) {
	runVerdictsComparison(t, false, nil)
}

// runVerdictsComparison is TestMilterdVerdictsMatchOriginal behind Postfix
// or, with sendmail, behind Sendmail. wantOverride replaces the expected
// outcome of the named cases ("sender v-reject", ...) where the MTA, not
// the milter, decides what the client sees.
func runVerdictsComparison(t *testing.T, sendmail bool, wantOverride map[string]verdictOutcome) {
	d := harness.Domain
	type verdictCase struct {
		name     string
		from, to string
		want     verdictOutcome // the expected outcome (elapsed unused)
	}
	scanned := "X-Scanned-By=yes X-MD-Verdicts=yes"
	var cases []verdictCase
	for _, at := range []string{"sender", "recipient"} {
		stage := harness.StageMail
		if at == "recipient" {
			stage = harness.StageRcpt
		}
		for _, v := range []struct {
			key  string
			want verdictOutcome
		}{
			{"v-continue", verdictOutcome{harness.StageMessage, "250 (queued)", scanned, 0}},
			{"v-accept", verdictOutcome{harness.StageMessage, "250 (queued)", "X-Scanned-By=no X-MD-Verdicts=no", 0}},
			{"v-discard", verdictOutcome{harness.StageMessage, "250 (queued)", "not delivered", 0}},
			{"v-reject", verdictOutcome{stage, "553 5.7.2 custom text", "", 0}},
			{"v-rejectbare", verdictOutcome{stage, "554 5.7.1 ?", "", 0}},
			{"v-tempfail", verdictOutcome{stage, "452 4.2.2 try later", "", 0}},
			{"v-badcode", verdictOutcome{stage, "554 5.7.1 bad code", "", 0}},
			{"v-rawreject", verdictOutcome{stage, "554 5.7.1 raw reject", "", 0}},
			{"v-rawtemp", verdictOutcome{stage, "451 4.3.0 raw tempfail", "", 0}},
			{"v-delay", verdictOutcome{harness.StageMessage, "250 (queued)", scanned, 0}},
		} {
			c := verdictCase{name: at + " " + v.key, from: "tester@" + d, to: "alice@" + d, want: v.want}
			if at == "sender" {
				c.from = v.key + "@" + d
			} else {
				c.to = v.key + "@" + d
			}
			if w, ok := wantOverride[c.name]; ok {
				c.want = w
			}
			cases = append(cases, c)
		}
	}
	got := map[string]map[string]verdictOutcome{}
	for _, m := range milters {
		got[m.name] = map[string]verdictOutcome{}
		stack := harness.StartStack(t, harness.StackOptions{
			Multiplexor: harness.OriginalMultiplexor,
			Milter:      m.path(t),
			MilterArgs:  append([]string{"-r", "-H", "-s", "-t"}, debugArgs...),
			Filter:      harness.Testdata(t, "verdicts.filter"),
			Sendmail:    sendmail,
		})
		ids := map[string]string{}
		for _, c := range cases {
			msg := harness.Message{From: c.from, To: c.to, Subject: c.name, Body: "verdict " + c.name + "\n",
				MessageID: "<verdict-" + strings.ReplaceAll(c.name, " ", "-") + "-" + m.name + "@client>"}
			start := time.Now()
			res := harness.SendMail(t, stack.MTA.SMTPAddr(), harness.Envelope{From: c.from, To: []string{c.to}}, msg.Bytes())
			o := verdictOutcome{stage: res.Stage, reply: res.Reply.String(), elapsed: time.Since(start)}
			if res.Accepted() {
				o.reply = "250 (queued)"
				ids[c.name] = msg.MessageID
			}
			got[m.name][c.name] = o
		}
		// A last, plain message: once it is delivered, the messages sent
		// before it that were going to be delivered are too.
		last := &harness.Message{From: "tester@" + d, To: "alice@" + d, Subject: "last",
			MessageID: "<verdict-last-" + m.name + "@client>", Body: "last\n"}
		if res := stack.Send(t, last); !res.Accepted() {
			t.Fatalf("%s: last message: %s %q", m.name, res.Stage, res.Reply)
		}
		// Then wait up to one more second for any still missing (the
		// discarded ones never come).
		stack.MTA.WaitForMessage(t, last.MessageID)
		delivered := map[string]*harness.Delivered{}
		for deadline := time.Now().Add(time.Second); ; time.Sleep(50 * time.Millisecond) {
			for _, dm := range stack.MTA.Messages(t) {
				delivered[strings.TrimSpace(dm.Header.Get("Message-Id"))] = dm
			}
			missing := 0
			for _, id := range ids {
				if delivered[id] == nil {
					missing++
				}
			}
			if missing == 0 || time.Now().After(deadline) {
				break
			}
		}
		for name, id := range ids {
			o := got[m.name][name]
			if dm := delivered[id]; dm == nil {
				o.delivered = "not delivered"
			} else {
				o.delivered = fmt.Sprintf("X-Scanned-By=%s X-MD-Verdicts=%s",
					yesNo(dm.Header.Get("X-Scanned-By") != ""), yesNo(dm.Header.Get("X-MD-Verdicts") == "scanned"))
			}
			got[m.name][name] = o
		}
	}
	for _, c := range cases {
		a, b := got["original"][c.name], got["md-milterd"][c.name]
		t.Logf("%s: original %s (%v), md-milterd %s (%v)", c.name, a, a.elapsed.Round(time.Millisecond), b, b.elapsed.Round(time.Millisecond))
		a.elapsed, b.elapsed = 0, 0
		if a != b {
			t.Errorf("%s:\n--- original:   %s\n--- md-milterd: %s", c.name, a, b)
		}
		if a != c.want {
			t.Errorf("%s: original got %s, want %s", c.name, a, c.want)
		}
	}
	for _, m := range milters {
		for _, name := range []string{"sender v-delay", "recipient v-delay"} {
			if e := got[m.name][name].elapsed; e < 900*time.Millisecond {
				t.Errorf("%s: %s took %v, want the 1 s delay", m.name, name, e)
			}
		}
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
