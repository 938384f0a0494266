package main

import (
	"bytes"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdgo/md/multiplexor/internal/mxctrl"
)

// The original multiplexor and worker the real test runs.
const (
	realMultiplexor = "/usr/bin/mimedefang-multiplexor"
	realWorker      = "/usr/bin/mimedefang.pl"
)

// syncBuffer collects a process's output for the failure log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startRealMultiplexor runs the original mimedefang-multiplexor in the
// foreground with 2 to 4 workers of the original mimedefang.pl and a filter
// that does nothing, and returns its control socket once at least two
// workers are idle. It is stopped with SIGTERM when the test ends.
func startRealMultiplexor(t *testing.T) string {
	t.Helper()
	for _, p := range []string{realMultiplexor, realWorker} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is missing (%v): install it with `apt-get install -y mimedefang`", p, err)
		}
	}
	// The multiplexor refuses to run as root: as root, run it as the
	// user defang (the package creates it). Everything it reads must
	// then be reachable by that user, so open the test directory.
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	spool := filepath.Join(dir, "spool")
	if err := os.Mkdir(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	filter := filepath.Join(dir, "filter.pl")
	if err := os.WriteFile(filter, []byte("sub filter_begin {}\n1;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(spool, "mx.sock")
	args := []string{"-D", "-z", spool, "-s", sock, "-m", "2", "-x", "4", "-f", realWorker, "-F", filter}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("defang")
		if err != nil {
			t.Fatalf("user defang is missing (%v): install it with `apt-get install -y mimedefang`", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(spool, uid, gid); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"-U", "defang"}, args...)
	}

	var log syncBuffer
	cmd := exec.Command(realMultiplexor, args...)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", realMultiplexor, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			t.Errorf("multiplexor %d ignored SIGTERM; killing it", cmd.Process.Pid)
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("multiplexor output:\n%s", log.String())
		}
	})

	// Wait for the socket, then for two idle workers: the multiplexor
	// starts its minimum of workers one at a time.
	deadline := time.Now().Add(60 * time.Second)
	for {
		reply, err := mxctrl.Exchange(sock, "status\n", mxctrl.MaxFormattedReply)
		if err == nil && strings.Count(strings.Fields(reply + " x")[0], "I") >= 2 {
			return sock
		}
		select {
		case err := <-exited:
			t.Fatalf("multiplexor exited early: %v\n%s", err, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("multiplexor not ready after 60 s (last: %q, %v)\n%s", reply, err, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
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
