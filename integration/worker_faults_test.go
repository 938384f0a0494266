package integration

import (
	"regexp"
	"strings"
	"testing"

	"github.com/mdgo/md/integration/internal/harness"
)

// TestWorkerFaultsTempfail: a filter that loops for ever, raises an error or
// allocates without bound, and a message nested deeper than md-worker
// parses, each end in a temporary failure at end of DATA (Postfix keeps the
// mail), logged with the queue ID; the stack keeps serving, and the next
// clean message is delivered.
// postfixQueueID matches a Postfix short queue ID in a log line.
var postfixQueueID = regexp.MustCompile(`\b[0-9A-F]{9,12}\b`)

func TestWorkerFaultsTempfail(t *testing.T) {
	// inherited by md-multiplexor's workers
	t.Setenv("MD_WORKER_TIMEOUT", "3s")
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
		logs          string // what the logs must say about it
	}{
		{name: "endless loop", subject: "MDFAULT-LOOP", body: "loop\n", logs: "callback deadline exceeded"},
		{name: "error", subject: "MDFAULT-ERROR", body: "error\n", logs: "deliberate failure"},
		{name: "unbounded allocation", subject: "MDFAULT-ALLOC", body: "alloc\n", logs: "filter used more than 256 MiB of memory"},
		// ... and the worker gave the memory back and went on serving,
		// rather than exiting after its answer (when the multiplexor could
		// have handed it the next message first).
		{name: "memory given back", subject: "MDFAULT-ALLOC", body: "alloc\n", logs: "the memory is back"},
		{name: "nesting too deep", subject: "deep", headers: []string{"MIME-Version: 1.0", `Content-Type: multipart/mixed; boundary="b"`},
			body: "--b\n" + deep, logs: "deep"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := &harness.Message{From: from, To: to, Subject: c.subject, Headers: c.headers, Body: c.body}
			res := harness.Send(t, stack.Postfix.Addr, msg)
			if res.Stage != harness.StageMessage || !strings.HasPrefix(res.Reply.String(), "451 4.") {
				t.Fatalf("%s: %s reply %q, want a 451 4.x.x at end of DATA", c.name, res.Stage, res.Reply)
			}
			if c.logs != "" {
				logs := stack.Multiplexor.Log() + stack.Milter.Log()
				re := regexp.MustCompile(`(?m)^.*` + regexp.QuoteMeta(c.logs) + `.*$`)
				line := re.FindString(logs)
				if line == "" {
					t.Errorf("%s: no log line says %q; logs:\n%s", c.name, c.logs, logs)
				} else if !postfixQueueID.MatchString(line) {
					t.Errorf("%s: the log line has no queue ID: %s", c.name, line)
				}
			}
			clean(t)
		})
	}
}
