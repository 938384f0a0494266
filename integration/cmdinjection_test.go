package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// cmdinjTimeout bounds one `md-worker test` run (scaled by
// MD_TEST_SLOWDOWN); it takes well under a second.
const cmdinjTimeout = 60 * time.Second

// cmdinjRecorder writes a program under dir that stores the arguments of
// every run NUL-terminated (so that a blank or a newline inside one keeps
// the boundaries) in <name>-runs/<n>.argv, and its standard input in
// <n>.stdin, and exits 0. It returns the program's path and a function
// that reads the runs in order.
func cmdinjRecorder(t *testing.T, dir, name string) (string, func() []cmdinjRun) {
	t.Helper()
	out := filepath.Join(dir, name+"-runs")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(dir, name)
	script := "#!/bin/sh\nd='" + out + "'\nn=$(ls \"$d\" | grep -c '\\.argv$')\n" +
		"printf '%s\\0' \"$@\" > \"$d/$n.argv\"\ncat > \"$d/$n.stdin\"\nexit 0\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return prog, func() []cmdinjRun {
		var runs []cmdinjRun
		for n := 0; ; n++ {
			a, err := os.ReadFile(filepath.Join(out, fmt.Sprintf("%d.argv", n)))
			if err != nil {
				return runs
			}
			in, _ := os.ReadFile(filepath.Join(out, fmt.Sprintf("%d.stdin", n)))
			argv := strings.Split(string(a), "\x00")
			runs = append(runs, cmdinjRun{argv: argv[:len(argv)-1], stdin: string(in)})
		}
	}
}

// cmdinjRun is one run of a recording program.
type cmdinjRun struct {
	argv  []string
	stdin string
}

// cmdinjParam is an RFC 2231 parameter value (charset utf-8, every byte
// percent-encoded): it carries quotes, blanks and newlines.
func cmdinjParam(s string) string {
	var b strings.Builder
	b.WriteString("utf-8''")
	for _, c := range []byte(s) {
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// TestCmdInjection: `md-worker test` runs a Lua filter that hands every
// value a sender controls to the functions that start programs: attachment
// names (in Content-Disposition filename and in Content-Type name), the
// subject, the envelope sender and recipients, the HELO name, the relay's
// host name and the queue ID, all holding shell metacharacters (; | & $()
// backticks > quotes newlines) whose commands would each create a marker
// file, or a leading "-" that sendmail would read as an option (-oQ, -X,
// -be). The filter runs clamdscan on the message and on each part,
// notifies the sender and the administrator, runs an external filter on
// each part, re-sends the message and sends a copy with send_mail; the
// fake sendmail and clamdscan record their exact arguments. No marker
// file appears; sendmail gets the sender glued to -f (or -F for the full
// name) and the recipients after "--"; clamdscan gets paths md-worker
// named itself; the external filter transforms every attachment.
func TestCmdInjection(t *testing.T) {
	dir := harness.NewTestDir(t)
	mark := filepath.Join(dir, "marks")
	if err := os.Mkdir(mark, 0o755); err != nil {
		t.Fatal(err)
	}
	m := func(n string) string { return filepath.Join(mark, n) }
	sendmail, sendmailRuns := cmdinjRecorder(t, dir, "sendmail")
	clamdscan, clamdscanRuns := cmdinjRecorder(t, dir, "clamdscan")
	conf := filepath.Join(dir, "clamd.conf")
	extLog := filepath.Join(dir, "external.log")

	var (
		sender = "-oQ" + m("optq") + "$(touch " + m("sender") + ")"
		rcpts  = []string{
			"`touch " + m("rcpt1") + "`@example.com",
			"-X" + m("xlog") + ";touch " + m("rcpt2"),
			"<a@example.com>\ntouch " + m("rcpt3"),
		}
		helo    = "x|touch " + m("helo")
		relay   = "x&touch " + m("relay")
		queueID = "Q1;touch " + m("qid")
		subject = "$(touch " + m("subject") + ") `touch " + m("subject2") + "` >" + m("subject3")
		names   = []string{
			"report;touch " + m("fname1") + ".txt",
			"$(touch " + m("fname2") + ").pdf",
			"x\ntouch " + m("fname3"),
			"-be",
			`a'"|touch ` + m("fname4"),
			"&&touch " + m("ctname") + " #.doc", // in Content-Type name only
		}
	)

	filter := filepath.Join(dir, "cmdinj.lua")
	if err := os.WriteFile(filter, []byte(fmt.Sprintf(`Features["Path:SENDMAIL"] = %q
Features["Virus:CLAMDSCAN"] = %q
Features["Path:CLAMDCONF"] = %q
DaemonAddress = "mimedefang@example.net"
DaemonName = "MIMEDefang"
AdminAddress = "postmaster@example.net"

-- A failure is reported, and the filter goes on to the next program.
function fail(what) action_add_header("X-Cmdinj-Failed", what) end

function filter_begin(entity)
  local code, cat = message_contains_virus_clamdscan()
  if cat ~= "ok" then fail("message_contains_virus_clamdscan: " .. code .. " " .. cat) end
end

function filter(entity, fname, ext, type)
  if fname == "" then return action_accept() end
  local code, cat = entity_contains_virus_clamdscan(entity)
  if cat ~= "ok" then fail("entity_contains_virus_clamdscan: " .. code .. " " .. cat) end
  action_notify_sender("Your attachment " .. fname .. " (" .. type .. ") was filtered.\n")
  action_notify_administrator("attachment " .. fname .. " from " .. Sender .. " via " .. RelayHostname ..
    " HELO " .. Helo .. " queue " .. QueueID .. " subject " .. Subject .. "\n")
  if not action_external_filter(entity, "{ echo FILTERED; tr a-z A-Z < FILTERINPUT; } > FILTEROUTPUT && echo ran >> %s") then
    fail("action_external_filter")
  end
  return action_accept()
end

function filter_end(entity)
  if not resend_message_specifying_mode("-odq", Recipients) then fail("resend_message_specifying_mode") end
  if not send_mail(Sender, Subject, Sender, "Subject: copy\n\n" .. Subject .. "\n", Helo) then fail("send_mail") end
end
`, sendmail, clamdscan, conf, extLog)), 0o644); err != nil {
		t.Fatal(err)
	}

	var msg strings.Builder
	msg.WriteString("From: a@example.com\nTo: b@example.com\nSubject: " + subject + "\nMessage-ID: <cmdinj@example.com>\n" +
		"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nhello\n")
	for i, n := range names {
		if i == len(names)-1 {
			fmt.Fprintf(&msg, "--b\nContent-Type: application/octet-stream; name*=%s\n\nbody %d\n", cmdinjParam(n), i)
			continue
		}
		fmt.Fprintf(&msg, "--b\nContent-Type: application/octet-stream; name*=%s\nContent-Disposition: attachment; filename*=%s\n\nbody %d\n",
			cmdinjParam("other.bin"), cmdinjParam(n), i)
	}
	msg.WriteString("--b--\n")
	eml := filepath.Join(dir, "cmdinj.eml")
	if err := os.WriteFile(eml, []byte(msg.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"test", eml, "--filter", filter, "--sender", sender, "--helo", helo, "--relay-name", relay, "--queue-id", queueID}
	for _, r := range rcpts {
		args = append(args, "--recipient", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), harness.Scale(cmdinjTimeout))
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.MDBinary(t, "md-worker"), args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("md-worker %q: %v\nstdout:\n%s\nstderr:\n%s", args, err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	report := func() string { return "stdout:\n" + out + "\nstderr:\n" + stderr.String() }

	// No payload ran.
	if ents, _ := os.ReadDir(mark); len(ents) != 0 {
		for _, e := range ents {
			t.Errorf("a value of the message ran a command: %s was created", m(e.Name()))
		}
	}

	// The filter ran to the end, and the external filter replaced every
	// attachment's body ("body N", 6 bytes before the boundary's line
	// break) with its FILTEROUTPUT ("FILTERED\nBODY N", 15 bytes).
	if !strings.Contains(out, "\nverdict: accept\n") || !strings.Contains(out, "body replaced") || strings.Contains(out, "X-Cmdinj-Failed") {
		t.Fatalf("want an accepted message with a new body, and no call failed\n%s", report())
	}
	if got := strings.Count(out, " (15 bytes)\n"); got != len(names) {
		t.Errorf("%d parts of 15 bytes in the new body, want the %d attachments filtered\n%s", got, len(names), report())
	}
	if b, _ := os.ReadFile(extLog); strings.Count(string(b), "ran\n") != len(names) {
		t.Errorf("the external filter ran %d times, want %d", strings.Count(string(b), "ran\n"), len(names))
	}

	// Sendmail: the re-sent message, the send_mail copy, then the sender
	// and administrator notifications. md-worker test puts <> around a
	// sender or recipient given without them, as an MTA does.
	bracketed := func(s string) string {
		if strings.HasPrefix(s, "<") {
			return s
		}
		return "<" + s + ">"
	}
	env := make([]string, len(rcpts))
	for i, r := range rcpts {
		env[i] = bracketed(r)
	}
	s := bracketed(sender)
	want := [][]string{
		append([]string{"-f" + s, "-odq", "-Ac", "-oi", "--"}, env...),
		{"-f" + s, "-F" + subject, "-odd", "-Ac", "-oi", "--", s},
		{"-fmimedefang@example.net", "-FMIMEDefang", "-odd", "-Ac", "-oi", "--", s},
		{"-fmimedefang@example.net", "-FMIMEDefang", "-odd", "-Ac", "-oi", "--", "postmaster@example.net"},
	}
	runs := sendmailRuns()
	if len(runs) != len(want) {
		t.Fatalf("sendmail ran %d times, want %d: %q\n%s", len(runs), len(want), runs, report())
	}
	for i := range want {
		if !slices.Equal(runs[i].argv, want[i]) {
			t.Errorf("sendmail run %d: arguments %q, want %q", i, runs[i].argv, want[i])
		}
	}
	// The hostile values reached sendmail only as data on its input.
	for _, n := range names {
		if !strings.Contains(runs[2].stdin, "Your attachment "+n+" (application/octet-stream) was filtered.\n") {
			t.Errorf("the sender notification lacks %q:\n%s", n, runs[2].stdin)
		}
		if !strings.Contains(runs[3].stdin, "attachment "+n+" from "+s+" via "+relay+" HELO "+helo+" queue "+queueID+" subject "+subject+"\n") {
			t.Errorf("the administrator notification lacks the line about %q:\n%s", n, runs[3].stdin)
		}
	}

	// clamdscan: its options and ./Work, then a part file md-worker named.
	opts := []string{"-c", conf, "--no-summary", "--infected", "--fdpass", "--stream"}
	part := regexp.MustCompile(`^` + regexp.QuoteMeta(tmp) + `/[^/]+/Work/part-e?[0-9]+\.bin$`)
	scans := clamdscanRuns()
	if len(scans) != 1+len(names) {
		t.Errorf("clamdscan ran %d times, want %d", len(scans), 1+len(names))
	}
	for i, r := range scans {
		ok := len(r.argv) == len(opts)+1 && slices.Equal(r.argv[:len(opts)], opts)
		if ok && i == 0 {
			ok = r.argv[len(opts)] == "./Work"
		} else if ok {
			ok = part.MatchString(r.argv[len(opts)])
		}
		if !ok {
			t.Errorf("clamdscan run %d: arguments %q, want %q and ./Work or a part file", i, r.argv, opts)
		}
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("md-worker test left %d entries in its TMPDIR", len(ents))
	}
}
