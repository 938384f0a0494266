package integration

import (
	"testing"

	"github.com/mdgo/md/integration/internal/harness"
)

// multiplexors are the multiplexors every end-to-end test runs against: the
// original and ours, which must behave identically behind the original
// milter. Path resolves the binary, failing the subtest if it is missing.
var multiplexors = []struct {
	name string
	path func(t *testing.T) string
}{
	{"original", func(t *testing.T) string {
		harness.RequireProgram(t, harness.OriginalMultiplexor, "mimedefang")
		return harness.OriginalMultiplexor
	}},
	{"md-multiplexor", func(t *testing.T) string {
		return harness.MDBinary(t, "md-multiplexor")
	}},
}

// TestPostfixOriginalStack sends mail through Postfix → original
// mimedefang milter → multiplexor → mimedefang.pl with testdata/test.filter,
// and checks the two outcomes of the filter: a header added to a clean
// message, and a 554 5.7.1 for a subject carrying the reject marker.
func TestPostfixOriginalStack(t *testing.T) {
	for _, mx := range multiplexors {
		t.Run(mx.name, func(t *testing.T) {
			stack := harness.StartStack(t, harness.StackOptions{
				Multiplexor: mx.path(t),
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
