package mxctrl

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	mdgolden "github.com/mdgo/md/internal/golden"
)

// golden reads md-mx-ctrl/<name> of the captures (testdata/golden at the
// top, or $MD_GOLDEN_DIR): the original's output or, under raw/, the
// multiplexor's raw reply.
func golden(t testing.TB, name string) string { return mdgolden.ReadMxCtrl(t, name) }

// TestFormattersGolden feeds the multiplexor's replies of record to each
// formatter and compares with what the original printed for them. The
// raw*.txt outputs are the replies unchanged (the original prints them as
// they are), so they serve as the input of the formatted commands.
func TestFormattersGolden(t *testing.T) {
	type fn func(reply string) Result
	status := FormatStatus
	bars := FormatBarStatus
	load := func(l Labels) fn { return func(r string) Result { return FormatLoad(r, l) } }
	hload := func(l Labels) fn { return func(r string) Result { return FormatHLoad(r, l) } }
	raw := func(r string) Result { return FormatRaw(r, false) }
	decoded := func(r string) Result { return FormatRaw(r, true) }

	tests := []struct {
		name   string
		format fn
		reply  string // golden file holding the reply
		want   string // golden file holding the output
		failed bool
	}{
		{"status", status, "rawstatus.txt", "status.txt", false},
		{"status busy", status, "rawstatus.busy.txt", "status.busy.txt", false},
		{"status after reread", status, "rawstatus.after-reread.txt", "status.after-reread.txt", false},
		{"barstatus", bars, "rawstatus.txt", "barstatus.txt", false},
		{"load", load(scanLabels), "rawload.txt", "load.txt", false},
		{"load after load", load(scanLabels), "rawload.after-load.txt", "load.after-load.txt", false},
		{"load-relayok", load(relayokLabels), "rawload-relayok.txt", "load-relayok.txt", false},
		{"load-senderok", load(senderokLabels), "rawload-senderok.txt", "load-senderok.txt", false},
		{"load-recipok", load(recipokLabels), "rawload-recipok.txt", "load-recipok.txt", false},
		{"hload", hload(scanLabels), "rawhload.txt", "hload.txt", false},
		{"hload-relayok", hload(relayokLabels), "rawhload-relayok.txt", "hload-relayok.txt", false},
		{"hload-senderok", hload(senderokLabels), "rawhload-senderok.txt", "hload-senderok.txt", false},
		{"hload-recipok", hload(recipokLabels), "rawhload-recipok.txt", "hload-recipok.txt", false},
		{"load1 60", FormatLoad1, "rawload1_60.txt", "load1_60.txt", false},
		{"load1 10 busy", FormatLoad1, "rawload1_10.busy.txt", "load1_10.busy.txt", false},
		{"rawstatus", raw, "rawstatus.txt", "rawstatus.txt", false},
		{"rawload", raw, "rawload.txt", "rawload.txt", false},
		{"rawhload", raw, "rawhload.txt", "rawhload.txt", false},
		{"rawload1 60", raw, "rawload1_60.txt", "rawload1_60.txt", false},
		{"msgs", raw, "raw/priv.msgs.txt", "msgs.after-load.txt", false},
		{"version without newline", decoded, "raw/priv.version.txt", "version.txt", false},
		{"free", decoded, "raw/priv.free.txt", "free.txt", false},
		{"tick refused", decoded, "raw/priv.tick.txt", "tick_refused.txt", false},
		{"foo_no_such_command", decoded, "raw/priv.foo_no_such_command.txt", "foo_no_such_command.txt", false},
		{"ping", decoded, "raw/priv.ping.txt", "ping_via_worker.txt", false},
		{"busyworkers empty", decoded, "raw/priv.busyworkers.txt", "busyworkers.txt", false},
		{"histo", decoded, "raw/priv.histo.txt", "histo.after-load.txt", false},
		{"workers", decoded, "workers.txt", "workers.txt", false},
		{"workerinfo 0", decoded, "workerinfo_0.txt", "workerinfo_0.txt", false},
		{"workerinfo 99", decoded, "workerinfo_99_out_of_range.txt", "workerinfo_99_out_of_range.txt", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.format(golden(t, tc.reply))
			if want := golden(t, tc.want); got.Stdout != want {
				t.Errorf("stdout\n got %q\nwant %q", got.Stdout, want)
			}
			if got.Errout != "" || got.Failed != tc.failed {
				t.Errorf("errout %q failed %v, want none and %v", got.Errout, got.Failed, tc.failed)
			}
		})
	}

	t.Run("barstatus busy", func(t *testing.T) {
		reply := mdgolden.BarStatusBusyReply(t)
		got := FormatBarStatus(reply)
		if want := golden(t, "barstatus.busy.txt"); got != (Result{Stdout: want}) {
			t.Errorf("reply %q: got %+v, want %q", reply, got, want)
		}
	})

	t.Run("load1 5 rejected", func(t *testing.T) {
		got := FormatLoad1("error: Invalid 'back' amount (must be 10-600)\n")
		want := Result{Stdout: golden(t, "load1_5_invalid.txt"), Failed: true}
		if got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
}

// TestFormatEdges covers replies the golden run did not produce. The
// expectations were taken from the original (see the cross test in
// cmd/md-mx-ctrl, which checks each of these against it).
func TestFormatEdges(t *testing.T) {
	tests := []struct {
		name string
		got  Result
		want Result
	}{
		{"status empty reply", FormatStatus(""), Result{Errout: "ERROR ", Failed: true}},
		{"status error reply", FormatStatus("error: No free workers\n"), Result{Errout: "ERROR error: No free workers\n", Failed: true}},
		{"status NUL ends reply", FormatStatus("X\x00Y"), Result{Errout: "ERROR X", Failed: true}},
		{"status unknown states", FormatStatus("I%41Z\x00%42"), Result{Stdout: "Max workers: 5\nWorker 0: idle\n" +
			"Worker 1: unknown state '%'\nWorker 2: unknown state '4'\nWorker 3: unknown state '1'\nWorker 4: unknown state 'Z'\n"}},
		{"status newline is a worker", FormatStatus("KB\n"), Result{Stdout: "Max workers: 3\nWorker 0: killed\nWorker 1: busy\nWorker 2: unknown state '\n'\n"}},
		{"barstatus no numbers", FormatBarStatus("IIII"), Result{Stdout: "  0/4 .... 0\n"}},
		{"barstatus no queue", FormatBarStatus("IBBS 7 2 0 0 9\n"), Result{Stdout: "  2/4 BB.. 7\n"}},
		{"barstatus scaled", FormatBarStatus(strings.Repeat("B", 40) + strings.Repeat("I", 28) + " 5 6 30 7"),
			Result{Stdout: " 40/68 BBBBBBBBBBBBBBB..........    7/30 QQQQQ............... 5\n"}},
		{"barstatus third", FormatBarStatus("B" + strings.Repeat("I", 29) + " 1 1 3 1\n"),
			Result{Stdout: "  1/30 B........................    1/3 Q.. 1\n"}},
		{"load of an error", FormatLoad("error: foo\n", scanLabels), Result{Stdout: "" +
			"  Load              Msgs        Msgs/Sec     Avg ms/Scan   Avg Busy Workers\n" +
			"10 Sec               0            0.00             0.0            0.00\n" +
			" 1 Min               0            0.00             0.0            0.00\n" +
			" 5 Min               0            0.00             0.0            0.00\n" +
			"10 Min               0            0.00             0.0            0.00\n"}},
		{"hload rate over span", FormatHLoad("10 20 30 40 1.5 2.5 3.5 4.5 10 20 30 40 5 0 7 8\n", recipokLabels), Result{Stdout: "" +
			"  Load              RCPT        RCPT/Sec     Avg ms/RCPT   Avg Busy Workers\n" +
			"    1h              10            2.00            10.0            1.50\n" +
			"    4h              20            0.00            20.0            2.50\n" +
			"   12h              30            4.29            30.0            3.50\n" +
			"   24h              40            5.00            40.0            4.50\n"}},
		{"load1 window of zero", FormatLoad1("3 1 2 0 0 0 0 0 0 0 0 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4\n"), Result{Stdout: "" +
			"Statistics for last 0 seconds:\n" +
			"       Cmd             Num           Num/s      AvgWorkers           AvgMS\n" +
			"      Scan               3             inf             1.0             2.0\n" +
			"   Relayok               0            -nan             0.0             0.0\n" +
			"  Senderok               0            -nan             0.0             0.0\n" +
			"   Recipok               0            -nan             0.0             0.0\n" +
			"\nCurrent Snapshot:\nWorkers: busy=1 idle=2 stopped=3 killed=4\n" +
			"Cmds:   scan=1 relayok=2 senderok=3 recipok=4\n" +
			"Queue:  size=7 queued=8\n"}},
		{"load1 25 fields", FormatLoad1("1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25"),
			Result{Stdout: "Could not interpret response: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25", Failed: true}},
		{"decode", FormatRaw("a%20b%25c%zz%4", true), Result{Stdout: "a b%c%zz%4\n"}},
		{"decode NUL", FormatRaw("ab%00cd\n", true), Result{Stdout: "ab\n"}},
		{"raw keeps escapes", FormatRaw("a%20b", false), Result{Stdout: "a%20b\n"}},
		{"raw NUL", FormatRaw("\x00abc", false), Result{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("\n got %+v\nwant %+v", tc.got, tc.want)
			}
		})
	}
}

// jsonStatusWant is what jsonstatus prints (stamped "Wed Nov  4 08:05:09
// 2026" on mx1.example) for the reply behind status<suffix>.txt: the worker
// states the original's status printed for it, which change with the load
// of each capture.
func jsonStatusWant(t testing.TB, suffix string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"timestamp": "Wed Nov  4 08:05:09 2026","hostname": "mx1.example"`)
	workers := regexp.MustCompile(`(?m)^Worker (\d+): (idle|busy|stopped|killed)$`).FindAllStringSubmatch(golden(t, "status"+suffix+".txt"), -1)
	if len(workers) == 0 {
		t.Fatalf("status%s.txt lists no workers", suffix)
	}
	for _, w := range workers {
		fmt.Fprintf(&b, `,"Worker%s": "%s"`, w[1], w[2])
	}
	return b.String() + "}"
}

// jsonLoad1Want is what jsonload1 prints (stamped as jsonStatusWant) for
// the reply behind load1<suffix>.txt: its numbers, which change with the
// load of each capture, as the original's load1 printed them.
func jsonLoad1Want(t testing.TB, suffix string) string {
	t.Helper()
	out := golden(t, "load1"+suffix+".txt")
	num := func(re string) string {
		t.Helper()
		m := regexp.MustCompile(`(?m)` + re).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("load1%s.txt: no match for %s", suffix, re)
		}
		return m[1]
	}
	return `{"timestamp": "Wed Nov  4 08:05:09 2026","hostname": "mx1.example",` +
		`"busyworkers":` + num(`^Workers: busy=(\d+) `) + `, "idleworkers":` + num(`^Workers: .* idle=(\d+) `) +
		`, "stoppedworkers":` + num(`^Workers: .* stopped=(\d+) `) + `, "killedworkers":` + num(`^Workers: .* killed=(\d+)$`) +
		`,"scan":` + num(`^ +Scan +(\d+) `) + `, "relayok":` + num(`^ +Relayok +(\d+) `) +
		`, "senderok":` + num(`^ +Senderok +(\d+) `) + `, "recipok":` + num(`^ +Recipok +(\d+) `) +
		`,"queue_size":` + num(`^Queue: +size=(\d+) `) + `, "queued_requests":` + num(`^Queue: .* queued=(\d+)$`) + "}\n"
}

func TestFormatJSON(t *testing.T) {
	at := Stamp{Time: time.Date(2026, 11, 4, 8, 5, 9, 0, time.UTC), Hostname: "mx1.example"}
	tests := []struct {
		name string
		got  Result
		want Result
	}{
		{"jsonstatus", FormatJSONStatus(golden(t, "rawstatus.txt"), at), Result{Stdout: jsonStatusWant(t, "")}},
		{"jsonstatus busy", FormatJSONStatus(golden(t, "rawstatus.busy.txt"), at), Result{Stdout: jsonStatusWant(t, ".busy")}},
		{"jsonstatus error", FormatJSONStatus("error: x\n", at), Result{Errout: "ERROR error: x\n", Failed: true}},
		{"jsonload1", FormatJSONLoad1(golden(t, "rawload1_10.busy.txt"), at), Result{Stdout: jsonLoad1Want(t, "_10.busy")}},
		{"jsonload1 60", FormatJSONLoad1(golden(t, "rawload1_60.txt"), at), Result{Stdout: jsonLoad1Want(t, "_60")}},
		{"jsonload1 error", FormatJSONLoad1("error: x\n", at), Result{Stdout: "Could not interpret response: error: x\n", Failed: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("\n got %+v\nwant %+v", tc.got, tc.want)
			}
		})
	}
}

// TestControllerGoldenInteractive replays the golden -i session with the
// replies of the one-shot rawstatus, msgs, rawload and workers. The session
// was taken a little later than those, so the fields that count whole
// seconds (uptimes, ago=) may have moved on in between (README of the
// captures, Recapturing): they are masked in both outputs. The one-shot
// outputs are compared unmasked in TestFormattersGolden.
func TestControllerGoldenInteractive(t *testing.T) {
	replies := map[string]string{
		"status\n":  golden(t, "rawstatus.txt"),
		"msgs\n":    golden(t, "msgs.txt"),
		"load\n":    golden(t, "rawload.txt"),
		"workers\n": golden(t, "workers.txt"),
	}
	var sent []string
	var stdout, stderr strings.Builder
	c := &Controller{
		Stdin:  strings.NewReader("status\nrawstatus\nmsgs\nrawload\nworkers\n"),
		Stdout: &stdout,
		Stderr: &stderr,
		Exchange: func(sock, req string, limit int) (string, error) {
			if sock != DefaultSocket {
				t.Errorf("socket %q, want the default", sock)
			}
			sent = append(sent, req)
			return replies[req], nil
		},
	}
	if rc := c.Main([]string{"md-mx-ctrl", "-i"}); rc != 0 {
		t.Errorf("exit status %d, want 0", rc)
	}
	if got, want := mdgolden.MaskSeconds(stdout.String()), mdgolden.MaskSeconds(golden(t, "interactive_-i.txt")); got != want {
		t.Errorf("stdout (uptimes and ago= masked)\n got %q\nwant %q", got, want)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr %q, want nothing", stderr.String())
	}
	if want := "status\n,status\n,msgs\n,load\n,workers\n"; strings.Join(sent, ",") != want {
		t.Errorf("sent %q, want %q", strings.Join(sent, ","), want)
	}
}

// TestControllerHelp checks -h against the golden help.txt (stderr only).
func TestControllerHelp(t *testing.T) {
	var stdout, stderr strings.Builder
	c := &Controller{
		Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Exchange: func(sock, req string, limit int) (string, error) {
			if req != "help\n" || sock != "/x/mx.sock" || limit != MaxRawReply {
				t.Errorf("exchange(%q, %q, %d)", sock, req, limit)
			}
			return golden(t, "raw/priv.help.txt"), nil
		},
	}
	if rc := c.Main([]string{"md-mx-ctrl", "-s", "/x/mx.sock", "-h", "-s", "/y"}); rc != 0 {
		t.Errorf("exit status %d, want 0", rc)
	}
	if want := golden(t, "help.txt"); stderr.String() != want {
		t.Errorf("stderr\n got %q\nwant %q", stderr.String(), want)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q, want nothing", stdout.String())
	}
}

// TestControllerRuns checks exit statuses and where messages go.
func TestControllerRuns(t *testing.T) {
	refused := &TransportError{Op: "connect", Errno: 111}
	tests := []struct {
		name       string
		argv       []string
		stdin      string
		reply      string
		err        error
		wantRC     int
		wantOut    string
		wantErr    string // regexp
		wantSocket string
	}{
		{"no command", []string{"md-mx-ctrl"}, "", "", refused, 1, "",
			`^Usage: md-mx-ctrl \[options\] command\n(.|\n)*ERROR MXCommand: connect: Connection refused: Is multiplexor running\?\n$`, DefaultSocket},
		{"bad option", []string{"./mxc", "-q"}, "", "HELP\n", nil, 1, "",
			`^\./mxc: invalid option -- 'q'\nUsage: (.|\n)*\nPossible commands:\nHELP\n$`, DefaultSocket},
		{"connect error", []string{"x", "-s", "/s", "status"}, "", "", refused, 1, "",
			`^ERROR MXCommand: connect: Connection refused: Is multiplexor running\?\n$`, "/s"},
		{"connect error under -i goes to stdout", []string{"x", "-i", "--socket=/s"}, "msgs\n", "", refused, 0,
			"ERROR MXCommand: connect: Connection refused: Is multiplexor running?\n", `^$`, "/s"},
		{"usage error under -i", []string{"x", "-i", "-z"}, "", "", refused, 1,
			"ERROR MXCommand: connect: Connection refused: Is multiplexor running?\n", `^x: invalid option -- 'z'\nUsage: [^E]*$`, DefaultSocket},
		{"status error reply", []string{"x", "status"}, "", "error: No free workers\n", nil, 1, "",
			`^ERROR error: No free workers\n$`, DefaultSocket},
		{"load1 error reply goes to stdout", []string{"x", "load1", "5"}, "", "error: bad\n", nil, 1,
			"Could not interpret response: error: bad\n", `^$`, DefaultSocket},
		{"-i always exits 0", []string{"x", "-i"}, "status\nload1 5\n", "error: bad\n", nil, 0,
			"ERROR error: bad\nCould not interpret response: error: bad\n", `^$`, DefaultSocket},
		{"decoded", []string{"x", "--interactive"}, "workers\n", "0 I 1 ago=2 (a%20b)", nil, 0, "0 I 1 ago=2 (a b)\n", `^$`, DefaultSocket},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			c := &Controller{
				Stdin: strings.NewReader(tc.stdin), Stdout: &stdout, Stderr: &stderr,
				LookupEnv: func(string) (string, bool) { return "", false },
				Exchange: func(sock, req string, limit int) (string, error) {
					if sock != tc.wantSocket {
						t.Errorf("socket %q, want %q", sock, tc.wantSocket)
					}
					return tc.reply, tc.err
				},
			}
			if rc := c.Main(tc.argv); rc != tc.wantRC {
				t.Errorf("exit status %d, want %d", rc, tc.wantRC)
			}
			if stdout.String() != tc.wantOut {
				t.Errorf("stdout %q, want %q", stdout.String(), tc.wantOut)
			}
			if !regexp.MustCompile(tc.wantErr).MatchString(stderr.String()) {
				t.Errorf("stderr %q does not match %q", stderr.String(), tc.wantErr)
			}
		})
	}
}

// TestControllerJSONStamp checks that jsonstatus asks the injected clock and
// host name.
func TestControllerJSONStamp(t *testing.T) {
	var stdout strings.Builder
	c := &Controller{
		Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &strings.Builder{},
		Exchange: func(_, req string, _ int) (string, error) {
			if req != "status\n" {
				t.Errorf("sent %q, want status", req)
			}
			return "BI 1 2 3 4 5\n", nil
		},
		Now:      func() time.Time { return time.Date(2026, 1, 31, 23, 59, 58, 0, time.Local) },
		Hostname: func() (string, error) { return "h", nil },
	}
	if rc := c.Main([]string{"x", "jsonstatus"}); rc != 0 {
		t.Errorf("exit status %d", rc)
	}
	want := `{"timestamp": "Sat Jan 31 23:59:58 2026","hostname": "h","Worker0": "busy","Worker1": "idle"}`
	if stdout.String() != want {
		t.Errorf("got %q, want %q", stdout.String(), want)
	}
}
