package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// The rspamd integration (worker/filter/rspamd, docs/integrations.md)
// against the real rspamd of Debian's package, started by
// harness.StartRspamd. Each case runs testdata/rspamd.lua, a filter that
// rejects on rspamd's "reject", tempfails on "soft reject" (which
// rspamd_check also returns when rspamd cannot be asked) and adds
// X-Spam-Score and X-Spam-Action, through `md-worker test`;
// TestRspamdStack runs it behind Postfix.

const rspamdTempfail = "tempfail 451 4.3.0 Spam check unavailable, try again later"

func rspamdFilter(t *testing.T, dir, name string, settings ...string) string {
	t.Helper()
	return withSettings(t, "rspamd.lua", dir, name, settings...)
}

// TestRspamdVerdicts: GTUBE is rspamd's "reject", with a score at least
// the required one and is_spam "true"; a clean message is "no action";
// the envelope reaches rspamd as its request headers.
func TestRspamdVerdicts(t *testing.T) {
	dir := harness.NewTestDir(t)
	r := harness.StartRspamd(t, harness.RspamdOptions{Dir: dir})
	filter := rspamdFilter(t, dir, "f.lua", "RspamdURL = "+lua(r.URL))

	res := runMDWorkerTest(t, dir, filter, spamMail("buy now", harness.GTUBE()))
	res.expect(t, "reject 554 5.7.1 Message rejected as spam", "rspamd: reject 15/15 true [GTUBE (0)]")
	res.has(t, `call:      rspamd (message): 15/15, action "reject", spam true [`)

	res = runMDWorkerTest(t, dir, filter, spamMail("minutes", cleanText))
	res.expect(t, "accept", "rspamd: no action ")
	res.has(t, "X-Spam-Action")
	if !strings.Contains(res.log, "/15 false [") {
		t.Errorf("clean message:\n%s", res.log)
	}
}

// TestRspamdDown: nothing listens: rspamd_check returns the original's
// (0, 0, "", "", "soft reject", "false") and logs; the filter tempfails.
func TestRspamdDown(t *testing.T) {
	dir := harness.NewTestDir(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", harness.FreePort(t))
	filter := rspamdFilter(t, dir, "f.lua", "RspamdURL = "+lua(url))
	runMDWorkerTest(t, dir, filter, spamMail("buy now", harness.GTUBE())).expect(t, rspamdTempfail,
		"CLAMDQ1: rspamd_check: "+url+"/checkv2: ", "connection refused",
		"CLAMDQ1: Cannot connect to Rspamd server, the message will be temporarily delayed",
		"rspamd: soft reject 0/0 false []")
}

// TestRspamdHung: an rspamd that accepts and never answers gives the soft
// reject when RspamdTimeout passes, or at the request's deadline; one
// that answers an HTTP error or a body that is not its JSON too.
func TestRspamdHung(t *testing.T) {
	dir := harness.NewTestDir(t)
	url := "http://" + hungClamd(t, dir, "tcp")
	filter := rspamdFilter(t, dir, "f.lua", "RspamdURL = "+lua(url), "RspamdTimeout = 1")
	res := runMDWorkerTest(t, dir, filter, spamMail("buy now", harness.GTUBE()))
	res.expect(t, rspamdTempfail, "timeout", "Cannot connect to Rspamd server")
	if res.elapsed < time.Second || res.elapsed > harness.Scale(20*time.Second) {
		t.Errorf("took %v with a timeout of 1 s", res.elapsed)
	}

	filter = rspamdFilter(t, dir, "deadline.lua", "RspamdURL = "+lua(url))
	res = runMDWorkerTest(t, dir, filter, spamMail("buy now", harness.GTUBE()), "--timeout", "2s")
	if !strings.HasPrefix(res.verdict, "tempfail") || res.elapsed > harness.Scale(20*time.Second) {
		t.Errorf("verdict %q after %v, want a tempfail at the 2 s deadline\n%s\n%s", res.verdict, res.elapsed, res.out, res.log)
	}

	for _, tc := range []struct {
		name, log string
		h         http.HandlerFunc
	}{
		{"500", "HTTP status 500", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "oops", 500) }},
		{"garbage", "not JSON", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "<html>hello</html>") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.h)
			defer srv.Close()
			work := harness.MkdirOwned(t, filepath.Join(dir, tc.name), harness.Account{}, 0o755)
			filter := rspamdFilter(t, work, "f.lua", "RspamdURL = "+lua(srv.URL))
			runMDWorkerTest(t, work, filter, spamMail("buy now", harness.GTUBE())).expect(t, rspamdTempfail, tc.log)
		})
	}
}

// TestRspamdStack: the whole stack, Postfix → md-milterd → md-multiplexor
// → md-worker running testdata/rspamd.lua against rspamd: GTUBE is
// rejected at the end of DATA, a clean message is delivered with
// X-Spam-Score and X-Spam-Action, and once rspamd is stopped mail is
// tempfailed.
func TestRspamdStack(t *testing.T) {
	dir := harness.NewTestDir(t)
	r := harness.StartRspamd(t, harness.RspamdOptions{Dir: dir})
	filter := rspamdFilter(t, dir, "rspamd.lua", "RspamdURL = "+lua(r.URL))
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

	r.Terminate(harness.Scale(harness.StopTimeout))
	res = stack.Send(t, spamMail("rspamd down", cleanText))
	if res.Stage != harness.StageMessage || res.Reply.Code != 451 || !strings.Contains(res.Reply.String(), "Spam check unavailable") {
		t.Errorf("rspamd down: %s reply %q, want 451 ... Spam check unavailable", res.Stage, res.Reply)
	}
	for _, m := range stack.MTA.Messages(t) {
		if m.Header.Get("Subject") != "minutes through the stack" || m.Header.Get("X-Spam-Action") != "no action" || !strings.Contains(m.Header.Get("X-Spam-Score"), "/15.0 false") {
			t.Errorf("delivered %q with X-Spam-Action %q, X-Spam-Score %q", m.Header.Get("Subject"), m.Header.Get("X-Spam-Action"), m.Header.Get("X-Spam-Score"))
		}
	}
	expectIntegrationCalls(t, metrics, "rspamd", map[string]float64{"hit": 1, "clean": 1, "error": 1})
}
