package compattest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
	"github.com/mdgo/md/internal/golden"
)

// The Debian originals ours must match.
const (
	origMultiplexor = "/usr/bin/mimedefang-multiplexor"
	origCtrl        = "/usr/bin/md-mx-ctrl"
	origWorker      = "/usr/bin/mimedefang.pl"
)

// workerUser is the user both multiplexors drop to (-U), as packaged.
const workerUser = "defang"

// Bounds on every wait, so that a broken multiplexor fails the test instead
// of hanging it.
const (
	readyTimeout   = 60 * time.Second // socket up and two idle workers
	leftoverWait   = 15 * time.Second // workers gone after the multiplexor
	notifyTimeout  = 10 * time.Second // a notification arrives
	ctrlRunTimeout = 60 * time.Second // one md-mx-ctrl run
)

// slowSeconds is how long filter_sender sleeps for a sender containing
// "slow" (the busy phase runs its commands while one worker is that busy);
// pauseSeconds, for a sender containing "pause".
const (
	slowSeconds  = 8
	pauseSeconds = 3
)

// filterText is the filter both multiplexors' workers load: every check
// continues; some senders keep their worker busy for a while.
var filterText = fmt.Sprintf(`# md-multiplexor compatibility test filter
sub filter_relay { return ('CONTINUE', 'ok'); }
sub filter_sender {
	my ($sender) = @_;
	sleep(%d) if $sender =~ /slow/;
	sleep(%d) if $sender =~ /pause/;
	return ('CONTINUE', 'ok');
}
1;
`, slowSeconds, pauseSeconds)

// pair is the original and our multiplexor, started side by side.
type pair struct {
	orig, ours *mux
	base       string // scratch directory
	filter     string // the filter both load; its path marks this test's workers
	work       string // a directory senderok and recipok can chdir to
}

// startPair starts the original multiplexor and ours with the same flags
// (flags, then -f mimedefang.pl -F <filterText>), each as the user defang
// with its own spool and sockets, and waits for both control sockets. They
// are stopped when the test ends, after which no worker of theirs may be
// left.
func startPair(t *testing.T, b bins, flags ...string) *pair {
	t.Helper()
	uid, gid := workerIDs(t)
	p := &pair{base: testDir(t)}
	p.filter = filepath.Join(p.base, "filter.pl")
	if err := os.WriteFile(p.filter, []byte(filterText), 0o644); err != nil {
		t.Fatal(err)
	}
	// senderok and recipok chdir to their directory argument; a failed
	// chdir makes mimedefang.pl answer twice. Both get the same one.
	p.work = filepath.Join(p.base, "work")
	if err := os.Mkdir(p.work, 0o755); err != nil {
		t.Fatal(err)
	}
	// Runs after both multiplexors have been stopped (cleanups run last
	// registered first).
	t.Cleanup(func() {
		mine := func(pr proc) bool {
			return strings.Contains(pr.cmdline, "mimedefang.pl") && strings.Contains(pr.cmdline, p.filter)
		}
		if left := waitGone(mine, leftoverWait); len(left) > 0 {
			t.Errorf("mimedefang.pl processes of this test still alive after both multiplexors stopped: %v; killing them", left)
			for _, pr := range left {
				syscall.Kill(pr.pid, syscall.SIGKILL)
			}
		}
	})
	flags = append(flags, "-f", origWorker, "-F", p.filter)
	p.orig = startMux(t, "original", origMultiplexor, p.base, uid, gid, flags...)
	p.ours = startMux(t, "ours", b.ourMux, p.base, uid, gid, flags...)
	return p
}

// bins are the programs under test.
type bins struct {
	ourMux, ourCtrl string
}

// needBins returns our binaries and checks that the originals are
// installed. It fails (never skips) with how to get what is missing.
func needBins(t *testing.T) bins {
	t.Helper()
	for _, p := range []string{origMultiplexor, origCtrl, origWorker} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is missing (%v): install it with `apt-get install -y mimedefang`", p, err)
		}
	}
	dir := os.Getenv("MD_BIN_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "bin")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	b := bins{ourMux: filepath.Join(dir, "md-multiplexor"), ourCtrl: filepath.Join(dir, "md-mx-ctrl")}
	for _, p := range []string{b.ourMux, b.ourCtrl} {
		if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
			t.Fatalf("%s is missing or not executable (%v): run `make build` at the top of the repository (or set MD_BIN_DIR)", p, err)
		}
	}
	return b
}

// goldenDir is where the original's recorded outputs live
// (testdata/golden at the top of the repository, or $MD_GOLDEN_DIR).
func goldenDir(t *testing.T) string {
	t.Helper()
	golden.Dir(t, "md-mx-ctrl", "index.tsv")
	return golden.Dir(t)
}

// workerIDs returns the uid and gid of workerUser.
func workerIDs(t *testing.T) (int, int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("the test must run as root: both multiplexors are started with -U %s", workerUser)
	}
	u, err := user.Lookup(workerUser)
	if err != nil {
		t.Fatalf("user %s is missing (%v): install it with `apt-get install -y mimedefang`", workerUser, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid
}

// testDir makes a short, world-readable scratch directory (UNIX socket paths
// are limited to 107 bytes) that is removed when the test ends, after the
// multiplexors have been stopped.
func testDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mdcompat-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if len(dir) > 60 {
		t.Fatalf("temporary directory %s is too long for UNIX socket paths; set TMPDIR to a shorter one", dir)
	}
	return dir
}

// mux is one running multiplexor, original or ours.
type mux struct {
	name                 string // "original" or "ours"
	bin                  string
	spool                string
	priv, unpriv, notify string
	proc                 *harness.Process
}

// startMux starts bin in the foreground as the user defang in its own spool
// base/name with the given flags plus -z, -s, -a and -O (see
// harness.StartProcess: its own process group, stopped by PID when the test
// ends, its output in base/NAME.log).
func startMux(t *testing.T, name, bin, base string, uid, gid int, flags ...string) *mux {
	t.Helper()
	m := &mux{name: name, bin: bin, spool: filepath.Join(base, name)}
	m.priv = filepath.Join(m.spool, "priv.sock")
	m.unpriv = filepath.Join(m.spool, "unpriv.sock")
	m.notify = filepath.Join(m.spool, "notify.sock")
	if err := os.Mkdir(m.spool, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(m.spool, uid, gid); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-D", "-U", workerUser, "-z", m.spool, "-s", m.priv, "-a", m.unpriv, "-O", m.notify}, flags...)
	m.proc = harness.StartProcess(t, name, base, bin, args...)
	return m
}

// log returns the end of what the multiplexor has written so far.
func (m *mux) log() string {
	l := m.proc.Log()
	if len(l) > 32<<10 {
		l = l[len(l)-32<<10:]
	}
	return l
}

// proc is a live process seen in /proc.
type proc struct {
	pid, pgid int
	cmdline   string
}

func (p proc) String() string { return fmt.Sprintf("%d(%s)", p.pid, p.cmdline) }

// liveProcs lists the non-zombie processes for which match is true. Zombies
// count as gone: PID 1 of a test machine does not always reap orphans.
func liveProcs(match func(proc) bool) []proc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		pgid, _ := strconv.Atoi(f[2])
		cl, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		p := proc{pid: pid, pgid: pgid, cmdline: strings.TrimSpace(strings.ReplaceAll(string(cl), "\x00", " "))}
		if match(p) {
			out = append(out, p)
		}
	}
	return out
}

// waitGone waits up to timeout (scaled) for no live process to match, and
// returns those still alive.
func waitGone(match func(proc) bool, timeout time.Duration) []proc {
	var left []proc
	harness.Await(timeout, func() bool {
		left = liveProcs(match)
		return len(left) == 0
	})
	return left
}

// exchange sends one command line to a control socket and reads the reply
// until the multiplexor closes the connection. An empty reply is "".
func exchange(sock, line string) (string, error) { return harness.Exchange(sock, line) }

// mustExchange is exchange that fails the test on a socket error.
func mustExchange(t *testing.T, sock, line string) string {
	t.Helper()
	r, err := exchange(sock, line)
	if err != nil {
		t.Fatalf("%s %q: %v", sock, line, err)
	}
	return r
}

// status returns the fields of the raw status reply.
func (m *mux) status() ([]string, error) {
	r, err := exchange(m.priv, "status\n")
	if err != nil {
		return nil, err
	}
	f := strings.Fields(r)
	if len(f) != 6 {
		return nil, fmt.Errorf("bad status reply %q", r)
	}
	return f, nil
}

// waitStatus polls status until ok accepts it (the fields of the reply).
func (m *mux) waitStatus(t *testing.T, what string, ok func(f []string) bool) []string {
	t.Helper()
	var f []string
	var err error
	if werr := harness.Await(readyTimeout, func() bool {
		if !m.proc.Running() {
			t.Fatalf("the %s multiplexor exited (%v) while waiting for %s; its output:\n%s", m.name, m.proc.Err(), what, m.log())
		}
		f, err = m.status()
		return err == nil && ok(f)
	}); werr != nil {
		t.Fatalf("the %s multiplexor: no %s (%v; last status %q, %v)", m.name, what, werr, f, err)
	}
	return f
}

// waitIdle waits until exactly n workers are idle, none busy or killed, and
// the activation count is activations (-1: any).
func (m *mux) waitIdle(t *testing.T, n, activations int) []string {
	t.Helper()
	return m.waitStatus(t, fmt.Sprintf("%d idle workers and %d activations", n, activations), func(f []string) bool {
		return strings.Count(f[0], "I") == n && strings.Count(f[0], "I")+strings.Count(f[0], "S") == len(f[0]) &&
			(activations < 0 || f[2] == strconv.Itoa(activations))
	})
}

// notifications is a subscription to a multiplexor's -O socket that
// collects every line received.
type notifications struct {
	conn  net.Conn
	mu    sync.Mutex
	lines []string
	err   error
}

// subscribe connects to the notification socket, checks the "*OK" greeting
// and subscribes to every message type.
func subscribe(t *testing.T, m *mux) *notifications {
	t.Helper()
	c, err := net.DialTimeout("unix", m.notify, 10*time.Second)
	if err != nil {
		t.Fatalf("%s notification socket: %v", m.name, err)
	}
	n := &notifications{conn: c}
	t.Cleanup(func() { c.Close() })
	go func() {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			n.mu.Lock()
			if line != "" {
				n.lines = append(n.lines, line)
			}
			if err != nil {
				n.err = err
				n.mu.Unlock()
				return
			}
			n.mu.Unlock()
		}
	}()
	if got := n.waitFor(1, notifyTimeout); len(got) != 1 || got[0] != "*OK\n" {
		t.Fatalf("%s notification socket: greeting %q, want \"*OK\\n\"", m.name, got)
	}
	if _, err := io.WriteString(c, "?*\n"); err != nil {
		t.Fatalf("%s notification socket: %v", m.name, err)
	}
	return n
}

// waitFor waits until at least n lines have arrived and returns them all.
func (n *notifications) waitFor(count int, timeout time.Duration) []string {
	deadline := time.Now().Add(harness.Scale(timeout))
	for {
		n.mu.Lock()
		got := append([]string(nil), n.lines...)
		failed := n.err != nil
		n.mu.Unlock()
		if len(got) >= count || failed || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// count returns how many lines have arrived so far.
func (n *notifications) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.lines)
}

// waitLine waits until a line equal to want arrives at index from or later,
// and returns the lines from index from up to and including it (or all
// that arrived, on timeout).
func (n *notifications) waitLine(from int, want string, timeout time.Duration) []string {
	deadline := time.Now().Add(harness.Scale(timeout))
	for {
		n.mu.Lock()
		var got []string
		if from < len(n.lines) {
			got = append(got, n.lines[from:]...)
		}
		failed := n.err != nil
		n.mu.Unlock()
		for i, l := range got {
			if l == want {
				return got[:i+1]
			}
		}
		if failed || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ctrlRun is everything observable about one md-mx-ctrl run.
type ctrlRun struct {
	Stdout, Stderr, Status string
}

// runCtrl runs an md-mx-ctrl binary with argv[0] "md-mx-ctrl" (so getopt's
// messages do not depend on where it lives) against socket sock.
func runCtrl(t *testing.T, bin, sock string, args []string, stdin string) ctrlRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), harness.Scale(ctrlRunTimeout))
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Args = append([]string{"md-mx-ctrl", "-s", sock}, args...)
	cmd.Dir = "/"
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "POSIXLY_CORRECT=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %q did not finish within %v", bin, args, ctrlRunTimeout)
	}
	status := "exit status 0"
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		status = ee.ProcessState.String()
	case err != nil:
		t.Fatalf("running %s: %v", bin, err)
	}
	return ctrlRun{Stdout: stdout.String(), Stderr: stderr.String(), Status: status}
}

// firstDiff describes where a and b first differ.
func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-100)
	return fmt.Sprintf("first difference at byte %d of %d/%d:\n  %q\n  %q",
		i, len(a), len(b), a[from:min(len(a), i+80)], b[from:min(len(b), i+80)])
}
