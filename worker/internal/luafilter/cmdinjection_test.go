package luafilter

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The Lua side of the command-injection tests of package filter
// (filter/cmdinjection_test.go): the bindings that start programs
// (send_mail, resend_message*, run_virus_scanner in its two forms,
// action_external_filter) hand a file name a Lua filter passes them to
// the program as one argument or refuse it, never to a shell.

// cmdinjArgvRecorder writes a program that stores the arguments of every
// run, NUL-terminated, and exits 0; it returns the program and a function
// that reads the argument lists in order.
func cmdinjArgvRecorder(t *testing.T, name string) (string, func() [][]string) {
	t.Helper()
	base := t.TempDir()
	out := filepath.Join(base, "runs")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(base, name)
	script := "#!/bin/sh\nd='" + out + "'\nn=$(ls \"$d\" | wc -l)\nprintf '%s\\0' \"$@\" > \"$d/$n\"\ncat > /dev/null\nexit 0\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return prog, func() [][]string {
		var runs [][]string
		for n := 0; ; n++ {
			b, err := os.ReadFile(filepath.Join(out, fmt.Sprint(n)))
			if err != nil {
				return runs
			}
			argv := strings.Split(string(b), "\x00")
			runs = append(runs, argv[:len(argv)-1])
		}
	}
}

// TestCmdInjectionLuaBindings: a filter that passes attachment names
// holding shell metacharacters, a newline or a leading "-" to send_mail,
// resend_message, resend_message_specifying_mode,
// resend_message_one_recipient and run_virus_scanner runs nothing of
// them: sendmail gets each as one argument, after "--" where it is a
// recipient, glued to -F where it is the full name, and replaced by -odd
// where it is the delivery mode; run_virus_scanner passes it as one
// argument of a list and refuses a command line a shell would read;
// action_external_filter still replaces each part's body.
func TestCmdInjectionLuaBindings(t *testing.T) {
	mark := t.TempDir()
	m := func(n string) string { return filepath.Join(mark, n) }
	names := []string{
		"x;touch " + m("semicolon"),
		"$(touch " + m("dollar") + ")",
		"`touch " + m("backtick") + "`",
		"x|touch " + m("pipe"),
		"x\ntouch " + m("newline") + ";",
		"-oQ" + m("optq") + "&",
		`-be'"`,
	}
	sm, sendmailRuns := cmdinjArgvRecorder(t, "sendmail")
	scanner, scannerRuns := cmdinjArgvRecorder(t, "scanner")
	tw := newTestWorker(t, fmt.Sprintf(`Features["Path:SENDMAIL"] = %q
local scanner = %q
function filter(entity, fname, ext, type)
  if fname == "" then return action_accept() end
  if not send_mail(Sender, fname, fname, "Subject: copy\n\n" .. fname .. "\n", fname) then error("send_mail failed") end
  if not resend_message(fname) then error("resend_message failed") end
  if not resend_message_specifying_mode(fname, {fname, "<b@example.com>"}) then error("resend_message_specifying_mode failed") end
  if not resend_message_one_recipient(fname, fname) then error("resend_message_one_recipient failed") end
  local code, cat, act = run_virus_scanner({scanner, "--", fname})
  if code ~= 0 or act ~= "proceed" then error("run_virus_scanner with a list: " .. code .. " " .. cat) end
  code, cat, act = run_virus_scanner(scanner .. " " .. fname)
  if cat ~= "cannot-execute" then error("run_virus_scanner ran a command line a shell would read: " .. code .. " " .. cat) end
  if not action_external_filter(entity, "{ echo FILTERED; cat FILTERINPUT; } > FILTEROUTPUT") then error("external filter failed") end
  return action_accept()
end
`, sm, scanner))
	var msg strings.Builder
	msg.WriteString("From: sender@example.com\nSubject: names\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nhi\n")
	for i, n := range names {
		enc := ""
		for _, c := range []byte(n) {
			enc += fmt.Sprintf("%%%02X", c)
		}
		fmt.Fprintf(&msg, "--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename*=utf-8''%s\n\nbody %d\n", enc, i)
	}
	msg.WriteString("--b--\n")
	res, dir, err := tw.scanDir(msg.String())
	if err != nil {
		t.Fatalf("scan: %v\nlog:\n%s", err, tw.log)
	}
	if !hasLine(res, "F") {
		t.Fatalf("RESULTS:\n%s", res)
	}
	nb := readFile(dir, "NEWBODY")
	var want [][]string
	for i, n := range names {
		if !strings.Contains(nb, fmt.Sprintf("FILTERED\nbody %d\n", i)) {
			t.Errorf("the external filter did not replace the body of part %d:\n%s", i, nb)
		}
		from := "-f<sender@example.com>"
		want = append(want,
			[]string{from, "-F" + n, "-odd", "-Ac", "-oi", "--", n},
			[]string{from, "-odd", "-Ac", "-oi", "--", n},
			[]string{from, "-odd", "-Ac", "-oi", "--", n, "<b@example.com>"},
			[]string{from, "-odd", "-Ac", "-oi", "--", n})
	}
	got := sendmailRuns()
	if len(got) != len(want) {
		t.Fatalf("sendmail ran %d times, want %d\n%q", len(got), len(want), got)
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("sendmail run %d: %q, want %q", i, got[i], want[i])
		}
	}
	scans := scannerRuns()
	if len(scans) != len(names) {
		t.Fatalf("the scanner ran %d times, want %d (once per name, from the list)", len(scans), len(names))
	}
	for i, n := range names {
		if !slices.Equal(scans[i], []string{"--", n}) {
			t.Errorf("scanner run %d: %q, want %q", i, scans[i], []string{"--", n})
		}
	}
	if ents, _ := os.ReadDir(mark); len(ents) != 0 {
		t.Errorf("a file name ran a command: %s holds %v", mark, ents)
	}
}
