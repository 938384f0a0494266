package mux

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/internal/golden"
)

// newTestServer builds a server without starting it: enough for the
// control-command formats, which read only the pool's bookkeeping.
func newTestServer(t *testing.T, mutate func(*Config)) *Server {
	t.Helper()
	cfg := DefaultConfig()
	cfg.SpoolDir = t.TempDir()
	cfg.WorkerProgram = "/bin/true"
	cfg.MaxWorkers = 4
	cfg.QueueSize = 64
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1_800_000_000+1800, 0) // mid-hour, so hload sees every sample
	now := start
	s.Now = func() time.Time { return now }
	s.started = start.Add(-5 * time.Second)
	for _, w := range s.workers {
		w.lastChange = s.started
	}
	return s
}

func TestStatusAndWorkers(t *testing.T) {
	s := newTestServer(t, nil)
	s.workers[0].state, s.workers[0].pid, s.workers[0].lastCmd = stateIdle, 16726, cmdScan
	s.workers[1].state, s.workers[1].pid, s.workers[1].curCmd, s.workers[1].lastCmd, s.workers[1].tag = stateBusy, 16847, cmdScan, cmdScan, "scan 78C6BB8232"
	s.workers[2].state, s.workers[2].pid, s.workers[2].curCmd = stateBusy, 17000, cmdOther
	s.msgs, s.activations = 46, 4
	if got, want := s.Command("status", false), "IBBS 46 4 64 0 5\n"; got != want {
		t.Errorf("status = %q, want %q", got, want)
	}
	want := "0 I 16726 last=scan ago=5\n1 B 16847 scan last=scan ago=5 (scan 78C6BB8232)\n2 B 17000 ago=5\n3 S ago=5\n"
	if got := s.Command("workers", false); got != want {
		t.Errorf("workers =\n%s\nwant\n%s", got, want)
	}
	if got := s.Command("busyslaves", false); got != "1 B 16847 scan last=scan ago=5 (scan 78C6BB8232)\n2 B 17000 ago=5\n" {
		t.Errorf("busyslaves = %q", got)
	}
	if got := s.Command("free", true); got != "2\n" {
		t.Errorf("free = %q, want 2 (idle + stopped)", got)
	}
}

func TestEmptyBusyWorkersIsEmptyReply(t *testing.T) {
	s := newTestServer(t, nil)
	if got := s.Command("busyworkers", true); got != "" {
		t.Errorf("busyworkers with nothing busy = %q, want no reply at all", got)
	}
}

func TestLoadFormats(t *testing.T) {
	s := newTestServer(t, nil)
	now := s.now().Unix()
	// The golden rawload: 46 scans, 136 busy-worker samples, 1635 ms.
	for i := 0; i < 46; i++ {
		busy, ms := int64(3), int64(35)
		if i < 2 {
			busy = 2
		}
		if i < 25 {
			ms = 36
		}
		if i == 0 {
			ms = 25
		}
		s.hist.record(cmdScan, now-2, busy, ms)
	}
	for i := 0; i < 4; i++ {
		s.hist.activated(now - 3)
	}
	s.msgs, s.activations = 46, 4
	s.workers[0].state, s.workers[1].state, s.workers[2].state, s.workers[3].state = stateIdle, stateIdle, stateIdle, stateIdle
	got := s.Command("load", false)
	fields := strings.Fields(got)
	if len(fields) != 29 || !strings.HasSuffix(got, "\n") {
		t.Fatalf("load has %d fields: %q", len(fields), got)
	}
	if strings.Join(fields[:4], " ") != "46 46 46 46" || fields[4] != "2.956522" || fields[12] != "4" || fields[16] != "0" {
		t.Errorf("load = %q", got)
	}
	if want := "0 4 0 0 46 4 64 0 5"; strings.Join(fields[20:], " ") != want {
		t.Errorf("load tail = %q, want %q", strings.Join(fields[20:], " "), want)
	}
	empty := s.Command("load-recipok", false)
	if want := "0 0 0 0 1.000000 1.000000 1.000000 1.000000 0.000000 0.000000 0.000000 0.000000 0 0 0 0 0 0 0 0 0 4 0 0 46 4 64 0 5\n"; empty != want {
		t.Errorf("load-recipok = %q, want %q", empty, want)
	}
	l1 := s.Command("load1 30", false)
	if f := strings.Fields(l1); len(f) != 26 || f[0] != "46" || f[3] != "0" || f[4] != "0.000000" || f[21] != "30" {
		t.Errorf("load1 30 = %q", l1)
	}
	for _, bad := range []string{"load1 5", "load1 601", "load1 x"} {
		if got := s.Command(bad, false); got != "error: Invalid 'back' amount (must be 10-600)\n" {
			t.Errorf("%s = %q", bad, got)
		}
	}
	h := strings.Fields(s.Command("hload", false))
	if len(h) != 16 || h[0] != "46" || h[15] != "0" {
		t.Errorf("hload = %v", h)
	}
}

func TestCommandTable(t *testing.T) {
	s := newTestServer(t, nil)
	golden := func(name string) string {
		b, err := os.ReadFile(golden.Dir(t, "md-mx-ctrl", "raw", name))
		if err != nil {
			t.Fatalf("golden file: %v", err)
		}
		return string(b)
	}
	for _, tc := range []struct {
		cmd  string
		priv bool
		want string
	}{
		{"help", true, golden("priv.help.txt")},
		{"help", false, golden("unpriv.help.txt")},
		{"version", true, golden("priv.version.txt")},
		{"tick", true, golden("priv.tick.txt")},
		{"foo_no_such_command", true, golden("priv.foo_no_such_command.txt")},
		{"workerinfo x", true, golden("priv.workerinfo_x.txt")},
		{"workerinfo 99", false, "error: Worker number out of range\n"},
		{"slaveinfo 1", false, "Worker 1\nState Stopped\nPID -1\nNumRequests 0\nNumScans 0\nAge -1\nFirstReqAge -1\nLastStateChangeAge 5\nStatusTag \n"},
		{"ping", false, golden("unpriv.ping.txt")},
		{"reread", false, golden("unpriv.reread.txt")},
		{"scan /tmp", false, golden("unpriv.scan__tmp.txt")},
		{"autoscale", true, "enabled=0 interval=15 ema_busy=0.0000 scale_out=0.80 scale_in=0.30 out_cool=5 in_cool=30 ema_alpha=0.2500\n"},
		{"autoscale", false, "error: Attempt to use privileged command on unprivileged socket\n"},
		{"histo", false, "   1 0\n   2 0\n   3 0\n   4 0\n"},
		{"msgs", false, "0\n"},
		{strings.Repeat("x", 4095), true, "error: Command too long\n"},
	} {
		if got := s.Command(tc.cmd, tc.priv); got != tc.want {
			t.Errorf("%.30q (priv=%v) = %q, want %q", tc.cmd, tc.priv, got, tc.want)
		}
	}
}

func TestTagFromCommand(t *testing.T) {
	for in, want := range map[string]string{
		"scan 75593B8203 /var/spool/MIMEDefang/mdefang-x\n": "scan 75593B8203",
		"relayok 192.0.2.1 host 25\n":                       "relayok 192.0.2.1",
		"ping\n":                                            "ping",
		"map a%20b key\n":                                   "map a b",
		"tick 0\n":                                          "tick 0",
		"x %01%7F\n":                                        "x   ",
	} {
		if got := tagFromCommand(in); got != want {
			t.Errorf("tagFromCommand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRecipokDomain(t *testing.T) {
	for in, want := range map[string]string{
		"recipok <a@Example.COM> <s@x.org> ...":  "example.com",
		"recipok <postmaster> <s@x.org> 1.2.3.4": "x.org", // first @ of the line (§14 item 25)
		"recipok nobody":                         "",
	} {
		if got := recipokDomain(in); got != want {
			t.Errorf("recipokDomain(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalize(t *testing.T) {
	cfg := DefaultConfig()
	cfg.WorkerProgram = "/bin/true"
	cfg.MaxWorkers, cfg.MinWorkers, cfg.BusyTimeout, cfg.QueueTimeout, cfg.TickTypes = 0, 5, time.Second, time.Hour, 99
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	if cfg.MaxWorkers != 1 || cfg.MinWorkers != 1 || cfg.BusyTimeout != 10*time.Second || cfg.QueueTimeout != 600*time.Second || cfg.TickTypes != 30 {
		t.Errorf("normalized = %+v", cfg)
	}
	if cfg.Socket != DefaultSpoolDir+"/mimedefang-multiplexor.sock" {
		t.Errorf("default socket = %q", cfg.Socket)
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.QueueSize = 129 },
		func(c *Config) { c.Socket = "inet:1234" },
		func(c *Config) { c.WorkerProgram = "mimedefang.pl" },
		func(c *Config) { c.WorkerProgram = "/nonexistent/worker" },
	} {
		c := DefaultConfig()
		c.WorkerProgram = "/bin/true"
		bad(&c)
		if err := c.Normalize(); err == nil || !strings.HasPrefix(err.Error(), "mux: ") {
			t.Errorf("Normalize(%+v) = %v, want a mux: error", c, err)
		}
	}
}

func TestParseSocketSpec(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b": "unix /a/b", "unix:/a/b": "unix /a/b", "local:/a": "unix /a",
		"inet:1234": "tcp4 127.0.0.1:1234", "inet_any:25": "tcp4 0.0.0.0:25",
		"inet6:1": "tcp6 [::1]:1", "inet6_any:65535": "tcp6 [::]:65535",
	} {
		n, a, err := parseSocketSpec(in)
		if err != nil || n+" "+a != want {
			t.Errorf("parseSocketSpec(%q) = %q %q %v, want %q", in, n, a, err, want)
		}
	}
	for _, bad := range []string{"inet:0", "inet:70000", "tcp:1", "relative/path", "inet:x"} {
		if _, _, err := parseSocketSpec(bad); err == nil {
			t.Errorf("parseSocketSpec(%q) accepted", bad)
		}
	}
}
