package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdgo/md/integration/internal/harness"
)

// TestHeaderValueCannotAddHeaderLines: a filter that copies a decoded file
// name into a header (a common pattern) must not let the sender choose
// header lines of the delivered message. The name is the encoded word
// "report<LF>X-Evil: injected.txt"; through Postfix and the whole stack,
// the delivered message has the filter's X-Attachment field, folded, and no
// X-Evil field, behind Postfix and behind Sendmail (Postfix folds such a
// value itself; Sendmail passes it on as md-milterd gives it).
func TestHeaderValueCannotAddHeaderLines(t *testing.T) {
	for _, mta := range []string{"postfix", "sendmail"} {
		t.Run(mta, func(t *testing.T) { headerInjection(t, mta == "sendmail") })
	}
}

func headerInjection(t *testing.T, sendmail bool) {
	dir := harness.NewTestDir(t)
	filter := filepath.Join(dir, "names.lua")
	if err := os.WriteFile(filter, []byte(`function filter(entity, fname, ext, type)
  if fname ~= "" then
    action_add_header("X-Attachment", fname)
  end
  return action_accept()
end
`), 0o644); err != nil {
		t.Fatal(err)
	}
	stack := harness.StartStack(t, harness.StackOptions{
		Multiplexor: harness.MDBinary(t, "md-multiplexor"),
		Milter:      harness.MDBinary(t, "md-milterd"),
		Worker:      harness.MDBinary(t, "md-worker"),
		Filter:      filter,
		Sendmail:    sendmail,
	})
	msg := &harness.Message{
		From: "tester@" + harness.Domain, To: "alice@" + harness.Domain, Subject: "a crafted file name",
		Headers: []string{"MIME-Version: 1.0", `Content-Type: multipart/mixed; boundary="b"`},
		Body: "--b\nContent-Type: text/plain\n\nhello\n--b\n" +
			"Content-Type: application/octet-stream; name=\"=?utf-8?q?report=0AX-Evil:_injected=2Etxt?=\"\n" +
			"Content-Disposition: attachment; filename=\"=?utf-8?q?report=0AX-Evil:_injected=2Etxt?=\"\n" +
			"Content-Transfer-Encoding: base64\n\naGVsbG8K\n--b--\n",
	}
	if res := stack.Send(t, msg); !res.Accepted() {
		t.Fatalf("%s reply %q", res.Stage, res.Reply)
	}
	d := stack.MTA.WaitForMessage(t, msg.MessageID)
	if v := d.Header.Get("X-Evil"); v != "" {
		t.Errorf("the delivered message has a header line the sender chose: X-Evil: %q\n%s", v, d.Raw)
	}
	if v := d.Header.Get("X-Attachment"); !strings.Contains(v, "report") || !strings.Contains(v, "X-Evil: injected.txt") {
		t.Errorf("X-Attachment %q, want the name folded into it\n%s", v, d.Raw)
	}
}
