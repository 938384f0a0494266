package integration

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// TestWorkerFaultsTempfail: a filter that loops for ever, raises an error or
// allocates without bound each end in a temporary failure at end of DATA
// (Postfix keeps the mail), and a message nested deeper than md-worker
// parses in a permanent one (554: it will never parse, and the original
// bounces a message too complicated to filter), logged with the queue ID;
// the stack keeps serving, and the next clean message is delivered.
func TestWorkerFaultsTempfail(t *testing.T) {
	// inherited by md-multiplexor's workers
	// 10 s: the endless loop's deadline, and room for the unbounded
	// allocation to reach the heap limit first even on a loaded machine.
	t.Setenv("MD_WORKER_TIMEOUT", "10s")
	t.Setenv("MD_WORKER_MAX_HEAP_MB", "256")
	stack := harness.StartStack(t, harness.StackOptions{
		Multiplexor:     harness.MDBinary(t, "md-multiplexor"),
		Milter:          harness.MDBinary(t, "md-milterd"),
		Worker:          harness.MDBinary(t, "md-worker"),
		Filter:          harness.Testdata(t, "faults.lua"),
		MultiplexorArgs: []string{"-b", "30"},
	})
	from := "tester@" + harness.Domain
	to := "alice@" + harness.Domain

	clean := func(t *testing.T) {
		t.Helper()
		msg := &harness.Message{From: from, To: to, Subject: "faults clean", Body: "still here\n"}
		res := harness.Send(t, stack.Postfix.Addr, msg)
		if !res.Accepted() {
			t.Fatalf("clean message after a fault: %s reply %q", res.Stage, res.Reply)
		}
		got := stack.Postfix.WaitForMessage(t, msg.MessageID)
		if v := got.Header.Get("X-MD-Faults"); v != "survived" {
			t.Errorf("clean message after a fault has X-MD-Faults %q; message:\n%s", v, got.Raw)
		}
	}

	deep := strings.Repeat("Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\n", 100) + "Content-Type: text/plain\n\ndeep\n"
	cases := []struct {
		name, subject string
		headers       []string
		body          string
		logs          string // what the daemons' log line about it says
		reply         string // how the reply starts; default "451 4."
	}{
		{name: "endless loop", subject: "MDFAULT-LOOP", body: "loop\n", logs: "callback deadline exceeded"},
		{name: "error", subject: "MDFAULT-ERROR", body: "error\n", logs: "deliberate failure"},
		{name: "unbounded allocation", subject: "MDFAULT-ALLOC", body: "alloc\n", logs: "filter used more than 256 MiB of memory"},
		// ... and the worker gave the memory back and went on serving,
		// rather than exiting after its answer (when the multiplexor could
		// have handed it the next message first).
		{name: "memory given back", subject: "MDFAULT-ALLOC", body: "alloc\n", logs: "the memory is back"},
		{name: "nesting too deep", subject: "deep", headers: []string{"MIME-Version: 1.0", `Content-Type: multipart/mixed; boundary="b"`},
			body: "--b\n" + deep, logs: "nested too deeply", reply: "554 5.7.1 Message contained MIME parts nested too deeply"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// A sender of its own, to find this message's queue ID in
			// Postfix's log.
			sender := "fault-" + strings.ReplaceAll(c.name, " ", "-") + "@" + harness.Domain
			msg := &harness.Message{From: sender, To: to, Subject: c.subject, Headers: c.headers, Body: c.body}
			res := harness.Send(t, stack.Postfix.Addr, msg)
			if c.reply == "" {
				c.reply = "451 4."
			}
			if res.Stage != harness.StageMessage || !strings.HasPrefix(res.Reply.String(), c.reply) {
				t.Fatalf("%s: %s reply %q, want %q... at end of DATA", c.name, res.Stage, res.Reply, c.reply)
			}
			var qid string
			rejected := regexp.MustCompile(`(?m)\b([0-9A-F]{9,12}): milter-reject: END-OF-MESSAGE .*from=<` + regexp.QuoteMeta(sender) + `>`)
			harness.WaitFor(t, 30*time.Second, "Postfix to log the reply to "+sender, func() bool {
				if m := rejected.FindStringSubmatch(stack.Postfix.Maillog()); m != nil {
					qid = m[1]
					return true
				}
				return false
			})
			// The daemons' line about this message: its queue ID and the
			// fault's text on one line (an earlier message's line does
			// not count). Some are written after the reply (the worker's
			// recovery), so wait for it.
			re := regexp.MustCompile(`(?m)^.*\b` + qid + `\b.*` + regexp.QuoteMeta(c.logs) + `.*$`)
			if err := harness.Await(30*time.Second, func() bool {
				return re.MatchString(stack.Multiplexor.Log() + stack.Milter.Log())
			}); err != nil {
				t.Errorf("%s: no log line about %s says %q (%v); logs:\n%s", c.name, qid, c.logs, err, stack.Multiplexor.Log()+stack.Milter.Log())
			}
			clean(t)
		})
	}
}
