package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// The SpamAssassin integration (worker/filter/spamd, docs/integrations.md)
// against the real spamd of Debian's spamd package, started by
// harness.StartSpamd with the packaged rules and local tests only. Each
// case runs testdata/spamd.lua, a filter that scores every message
// (X-Spam-Score), tags or rejects spam, and passes a message spamd could
// not score with a log line and X-Spam-Status: unchecked (the original's
// spam_assassin_check fails open), through `md-worker test`;
// TestSpamdStack runs it behind Postfix.

// spamMail is a message whose body holds text (GTUBE for spam).
func spamMail(subject, text string) *harness.Message {
	return &harness.Message{
		From: "tester@" + harness.Domain, To: "alice@" + harness.Domain, Subject: subject,
		Body: "Hello Alice,\n\n" + text + "\n\nRegards,\nthe tester\n",
	}
}

// gtubeScore is the filter's log line for GTUBE: 1000, give or take the
// other rules that hit, of 5, spam.
var gtubeScore = regexp.MustCompile(`spam score (9\d\d|1\d\d\d)\.\d of 5\.0: true`)

const cleanText = "Here are the minutes of Tuesday's meeting. We agreed to move the review to next week."

// spamdFilter writes settings (Lua lines) followed by testdata/spamd.lua
// to dir/name and returns its path.
func spamdFilter(t *testing.T, dir, name string, settings ...string) string {
	t.Helper()
	return withSettings(t, "spamd.lua", dir, name, settings...)
}

// withSettings writes settings (Lua lines) followed by testdata/<src> to
// dir/name and returns its path.
func withSettings(t *testing.T, src, dir, name string, settings ...string) string {
	t.Helper()
	b, err := os.ReadFile(harness.Testdata(t, src))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(strings.Join(settings, "\n")+"\n"+string(b)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// has checks that md-worker test printed s.
func (r clamdRun) has(t *testing.T, s string) {
	t.Helper()
	if !strings.Contains(r.out, s) {
		t.Errorf("output lacks %q:\nstdout:\n%s\nstderr:\n%s", s, r.out, r.log)
	}
}

// TestSpamdVerdicts: GTUBE scores 1000 of 5 and is tagged or rejected; a
// clean message scores under the threshold and passes with its score;
// through md_spamc_check, spam_assassin_check and spam_assassin_status,
// over TCP and spamd's Unix socket.
func TestSpamdVerdicts(t *testing.T) {
	dir := harness.NewTestDir(t)
	s := harness.StartSpamd(t, harness.SpamdOptions{Dir: dir, Config: []string{"required_score 5.0"}})
	for _, tc := range []struct{ name, check, host, port string }{
		{"check tcp", "check", s.Host, s.PortString()},
		{"spamc tcp", "spamc", s.Host, s.PortString()},
		{"status unix", "status", s.Socket, "nil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := harness.MkdirOwned(t, filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")), harness.Account{}, 0o755)
			settings := []string{"SpamdHost = " + lua(tc.host), "SpamdPort = " + tc.port, "Check = " + lua(tc.check)}
			tag := spamdFilter(t, work, "tag.lua", settings...)
			r := runMDWorkerTest(t, work, tag, spamMail("buy now", harness.GTUBE()))
			r.expect(t, "accept")
			if !gtubeScore.MatchString(r.log) {
				t.Errorf("log lacks GTUBE's score (about 1000 of 5):\n%s", r.log)
			}
			r.has(t, "[SPAM] buy now")
			r.has(t, "X-Spam-Score")
			r.has(t, "call:      spamd (message")
			r.has(t, ", spam true")
			if tc.check != "spamc" {
				r.has(t, "GTUBE")
			}
			reject := spamdFilter(t, work, "reject.lua", append(settings, "Reject = true")...)
			runMDWorkerTest(t, work, reject, spamMail("buy now", harness.GTUBE())).expect(t, "reject 554 5.7.1 Message rejected as spam")
			r = runMDWorkerTest(t, work, reject, spamMail("minutes", cleanText))
			r.expect(t, "accept", ": false")
			r.has(t, "X-Spam-Score")
			if strings.Contains(r.out, "[SPAM]") || strings.Contains(r.log, "no verdict") {
				t.Errorf("clean message:\n%s\n%s", r.out, r.log)
			}
		})
	}
}

// TestSpamdDown: nothing listens on the port or the socket: spamd gives no
// verdict, which the original's functions return as their empty list; the
// message passes unchecked (the original's behaviour), logged.
func TestSpamdDown(t *testing.T) {
	dir := harness.NewTestDir(t)
	port := harness.FreePort(t)
	for _, tc := range []struct{ name, check, host, port, log string }{
		{"tcp check", "check", "127.0.0.1", "", "spam_assassin_check: Failed to create connection to spamd daemon: Connection refused"},
		{"tcp spamc", "spamc", "127.0.0.1", "", "md_spamc_check: Failed to create connection to spamd daemon: Connection refused"},
		{"unix", "status", filepath.Join(dir, "none.sock"), "nil", "spam_assassin_check: Failed to create connection to spamd daemon: No such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.port == "" {
				tc.port = strconv.Itoa(port)
			}
			work := harness.MkdirOwned(t, filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")), harness.Account{}, 0o755)
			filter := spamdFilter(t, work, "f.lua", "SpamdHost = "+lua(tc.host), "SpamdPort = "+tc.port, "Check = "+lua(tc.check), "Reject = true")
			r := runMDWorkerTest(t, work, filter, spamMail("buy now", harness.GTUBE()))
			r.expect(t, "accept", "CLAMDQ1: "+tc.log, "no verdict from spamd", "spamd gave no verdict: the message passes unchecked")
			r.has(t, "unchecked")
		})
	}
}

// TestSpamdHung: a spamd that accepts and never answers gives no verdict
// when SpamdTimeout passes, or at the latest at the request's deadline.
func TestSpamdHung(t *testing.T) {
	dir := harness.NewTestDir(t)
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			addr := hungClamd(t, dir, network)
			host, port := addr, "nil"
			if network == "tcp" {
				host, port, _ = strings.Cut(addr, ":")
			}
			work := harness.MkdirOwned(t, filepath.Join(dir, network), harness.Account{}, 0o755)
			filter := spamdFilter(t, work, "f.lua", "SpamdHost = "+lua(host), "SpamdPort = "+port, `Check = "spamc"`, "SpamdTimeout = 1", "Reject = true")
			r := runMDWorkerTest(t, work, filter, spamMail("buy now", harness.GTUBE()))
			r.expect(t, "accept", "md_spamc_check: spamd at "+addr+": timeout reading", "spamd gave no verdict")
			if r.elapsed < time.Second || r.elapsed > harness.Scale(20*time.Second) {
				t.Errorf("took %v with a timeout of 1 s", r.elapsed)
			}

			// The default 30 s timeout is longer than the request's
			// deadline: the deadline ends the call, and the callback with
			// it, which tempfails the message.
			filter = spamdFilter(t, work, "deadline.lua", "SpamdHost = "+lua(host), "SpamdPort = "+port, `Check = "check"`)
			r = runMDWorkerTest(t, work, filter, spamMail("buy now", harness.GTUBE()), "--timeout", "2s")
			if !strings.HasPrefix(r.verdict, "tempfail") || r.elapsed > harness.Scale(20*time.Second) {
				t.Errorf("verdict %q after %v, want a tempfail at the 2 s deadline\n%s\n%s", r.verdict, r.elapsed, r.out, r.log)
			}
		})
	}
}

// TestSpamdStack: the whole stack, Postfix → md-milterd → md-multiplexor →
// md-worker running testdata/spamd.lua against spamd: GTUBE is rejected
// at the end of DATA, a clean message is delivered with its X-Spam-Score.
func TestSpamdStack(t *testing.T) {
	dir := harness.NewTestDir(t)
	s := harness.StartSpamd(t, harness.SpamdOptions{Dir: dir})
	filter := spamdFilter(t, dir, "spamd.lua", "SpamdHost = "+lua(s.Host), "SpamdPort = "+s.PortString(), `Check = "check"`, "Reject = true")
	stack, metrics := startStackWithMetrics(t, filter)
	res := stack.Send(t, spamMail("GTUBE through the stack", harness.GTUBE()))
	if res.Stage != harness.StageMessage || res.Reply.Code != 554 || !strings.Contains(res.Reply.String(), "Message rejected as spam") {
		t.Errorf("GTUBE: %s reply %q, want 554 ... Message rejected as spam", res.Stage, res.Reply)
	}
	clean := spamMail("minutes through the stack", cleanText)
	if res := stack.Send(t, clean); !res.Accepted() {
		t.Fatalf("clean message: %s reply %q", res.Stage, res.Reply)
	}
	stack.MTA.WaitForMessage(t, clean.MessageID)
	for _, m := range stack.MTA.Messages(t) {
		if m.Header.Get("Subject") != "minutes through the stack" {
			t.Errorf("delivered %q", m.Header.Get("Subject"))
		}
		if score := m.Header.Get("X-Spam-Score"); !strings.Contains(score, "/5.0") {
			t.Errorf("X-Spam-Score %q", score)
		}
	}
	expectIntegrationCalls(t, metrics, "spamd", map[string]float64{"hit": 1, "clean": 1})
}
