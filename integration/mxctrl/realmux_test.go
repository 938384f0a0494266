package mxctrl

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// The original multiplexor and worker the real test runs.
const (
	realMultiplexor = "/usr/bin/mimedefang-multiplexor"
	realWorker      = "/usr/bin/mimedefang.pl"
)

// startRealMultiplexor runs the original mimedefang-multiplexor with 2 to 4
// workers of the original mimedefang.pl and a filter that does nothing (see
// harness.StartMultiplexor), and returns its control socket once at least
// two workers are idle: the multiplexor starts its minimum of workers one at
// a time.
func startRealMultiplexor(t *testing.T) string {
	t.Helper()
	dir := harness.NewTestDir(t)
	filter := filepath.Join(dir, "filter.pl")
	if err := os.WriteFile(filter, []byte("sub filter_begin {}\n1;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := harness.StartMultiplexor(t, harness.MultiplexorOptions{
		Path: harness.OriginalMultiplexor, Dir: dir, Filter: filter, MinWorkers: 2, MaxWorkers: 4,
	})
	harness.WaitFor(t, 60*time.Second, "two idle workers", func() bool {
		reply, err := harness.Exchange(m.Socket, "status\n")
		return err == nil && strings.Count(strings.Fields(reply + " x")[0], "I") >= 2
	})
	return m.Socket
}

// volatile matches what changes from one moment to the next in replies:
// seconds since a state change, process ids, ages and uptimes.
var volatile = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`ago=\d+`), "ago=N"},
	{regexp.MustCompile(`(?m)^(\d+ [SIBK?]) \d+`), "$1 PID"},
	{regexp.MustCompile(`(?m)^(PID|Age|FirstReqAge|LastStateChangeAge) -?\d+$`), "$1 N"},
	{regexp.MustCompile(`(?m)^([SIBK?]+(?: -?\d+){4}) \d+$`), "$1 UPTIME"},       // status
	{regexp.MustCompile(`(?m)^((?:\S+ ){28})\d+$`), "${1}UPTIME"},                // load: 29 fields
	{regexp.MustCompile(`(?m)^((?:\S+ ){20})\d+((?: \S+){5})$`), "${1}UPTIME$2"}, // load1: 26 fields
}

func mask(s string) string {
	for _, v := range volatile {
		s = v.re.ReplaceAllString(s, v.repl)
	}
	return s
}

// TestRealMultiplexor runs the read-only commands with both md-mx-ctrl
// binaries against the original multiplexor, and compares their output with
// the volatile numbers masked. A command whose outputs differ is retried a
// few times, since the pool may change state between the two runs; a real
// difference persists.
func TestRealMultiplexor(t *testing.T) {
	orig, mine := original(t), ours(t)
	sock := startRealMultiplexor(t)

	tests := []struct {
		name  string
		args  []string
		stdin string
	}{
		{"status", []string{"status"}, ""},
		{"rawstatus", []string{"rawstatus"}, ""},
		{"barstatus", []string{"barstatus"}, ""},
		{"msgs", []string{"msgs"}, ""},
		{"free", []string{"free"}, ""},
		{"version", []string{"version"}, ""},
		{"load", []string{"load"}, ""},
		{"rawload", []string{"rawload"}, ""},
		{"load-relayok", []string{"load-relayok"}, ""},
		{"rawload-recipok", []string{"rawload-recipok"}, ""},
		{"hload", []string{"hload"}, ""},
		{"rawhload-senderok", []string{"rawhload-senderok"}, ""},
		{"load1 60", []string{"load1", "60"}, ""},
		{"rawload1 60", []string{"rawload1", "60"}, ""},
		{"load1 5", []string{"load1", "5"}, ""},
		{"histo", []string{"histo"}, ""},
		{"workers", []string{"workers"}, ""},
		{"slaves", []string{"slaves"}, ""},
		{"busyworkers", []string{"busyworkers"}, ""},
		{"workerinfo 0", []string{"workerinfo", "0"}, ""},
		{"slaveinfo 1", []string{"slaveinfo", "1"}, ""},
		{"workerinfo 99", []string{"workerinfo", "99"}, ""},
		{"workerinfo x", []string{"workerinfo", "x"}, ""},
		{"help", []string{"-h"}, ""},
		{"tick", []string{"tick"}, ""},
		{"foo_no_such_command", []string{"foo_no_such_command"}, ""},
		{"interactive", []string{"-i"}, "status\nrawstatus\nmsgs\nrawload\nworkers\nfree\n"},
		{"ping", []string{"ping"}, ""},
		{"unknown command", []string{"NoSuchCommand", "arg1", "arg with space"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := invocation{args: append([]string{"-s", sock}, tc.args...), stdin: tc.stdin}
			var a, b outcome
			for try := 1; try <= 3; try++ {
				a, b = run(t, orig, inv), run(t, mine, inv)
				a.Stdout, a.Stderr = mask(a.Stdout), mask(a.Stderr)
				b.Stdout, b.Stderr = mask(b.Stdout), mask(b.Stderr)
				if a.Stdout == b.Stdout && a.Stderr == b.Stderr && a.Status == b.Status {
					break
				}
				t.Logf("try %d: outputs differ, retrying", try)
			}
			diffOutcomes(t, a, b)
			if a.Stdout+a.Stderr == "" && tc.name != "busyworkers" {
				t.Errorf("no output at all")
			}
			t.Logf("%s; %s", b.Status, clip(firstLine(b.Stdout+b.Stderr)))
		})
	}
}
