package faulttest

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// workerUser is the unprivileged user the multiplexor drops to when the tests
// run as root, as the packaged mimedefang does.
const workerUser = "defang"

// Bounds on every wait, so that a broken multiplexor fails a test instead of
// hanging the suite.
const (
	stopTimeout = 40 * time.Second // SIGTERM until exit: EOF, 10 s, TERM, 10 s, KILL
)

var (
	binDir    string // built binaries; world-readable so that the worker user can run them
	workerBin string // testworker; each test runs its own copy
	asUser    string // -U argument, "" when not running as root
	uid, gid  = -1, -1
)

func TestMain(m *testing.M) {
	flag.Parse()
	// The tests spend most of their time waiting on timeouts (-b, the kill
	// sequence, -Q), not on the CPU: run them all at once unless told
	// otherwise.
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		flag.Set("test.parallel", "32")
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mdft-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "faulttest: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "faulttest: %v\n", err)
		return 1
	}
	binDir = dir
	if err := setup(); err != nil {
		fmt.Fprintf(os.Stderr, "faulttest: %v\n", err)
		return 1
	}
	return m.Run()
}

func setup() error {
	if os.Geteuid() == 0 {
		u, err := user.Lookup(workerUser)
		if err != nil {
			return fmt.Errorf("running as root, the tests need the unprivileged user %q to start md-multiplexor with -U; create it with `useradd --system %s`: %w", workerUser, workerUser, err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		asUser = workerUser
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := func(out, pkg string) error {
		cmd := exec.Command(goTool, "build", "-o", out, pkg)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
		}
		return os.Chmod(out, 0o755)
	}
	workerBin = filepath.Join(binDir, "testworker")
	return build(workerBin, "github.com/mdgo/md/integration/internal/testworker")
}

// mux is one md-multiplexor started for one test, with its own spool
// directory, control socket and copy of the test worker.
type mux struct {
	t      *testing.T
	dir    string // per-test directory
	spool  string
	sock   string
	worker string           // this test's copy of testworker: its processes are this test's workers
	proc   *harness.Process // the multiplexor, in the foreground (-D), logging to its stderr
	pid    int
}

var nonName = regexp.MustCompile(`[^A-Za-z0-9]+`)

// startMux starts md-multiplexor in the foreground with the tests' defaults
// (-b 10 -c 10, the minimum values) and extra flags, and waits for its
// control socket. The multiplexor is stopped, and the absence of leftover
// worker processes checked, when the test ends.
func startMux(t *testing.T, extra ...string) *mux {
	t.Helper()
	name := nonName.ReplaceAllString(strings.TrimPrefix(t.Name(), "Test"), "")
	if len(name) > 16 {
		name = name[:16]
	}
	dir, err := os.MkdirTemp(binDir, name+"-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m := &mux{t: t, dir: dir, spool: filepath.Join(dir, "spool"), worker: filepath.Join(dir, "testworker")}
	m.sock = filepath.Join(m.spool, "mx.sock")
	if err := copyFile(workerBin, m.worker); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(m.spool, 0o700); err != nil {
		t.Fatal(err)
	}
	if uid >= 0 {
		if err := os.Chown(m.spool, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"-D", "-z", m.spool, "-s", m.sock, "-f", m.worker, "-b", "10", "-c", "10"}
	if asUser != "" {
		args = append(args, "-U", asUser)
	}
	args = append(args, extra...)
	m.proc = harness.StartProcess(t, "md-multiplexor", dir, harness.MDBinary(t, "md-multiplexor"), args...)
	m.pid = m.proc.PID
	t.Cleanup(m.stop) // runs before the harness's own stop: a 40 s shutdown is no error here
	harness.WaitForUnixSocket(t, m.sock, m.proc)
	return m
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o755)
}

// log returns what the multiplexor has logged so far.
func (m *mux) log() string { return m.proc.Log() }

// waitLog waits until the multiplexor's log holds text.
func (m *mux) waitLog(text string) {
	m.t.Helper()
	harness.WaitFor(m.t, 10*time.Second, fmt.Sprintf("%q in the log", text), func() bool {
		return strings.Contains(m.log(), text)
	})
}

// stop sends SIGTERM, waits for the multiplexor to shut its workers down and
// exit (SIGKILL at the deadline), then fails the test if any of its worker
// processes is still alive, killing those by PID.
func (m *mux) stop() {
	t := m.t
	if d := m.terminate(); d > harness.Scale(stopTimeout) {
		t.Errorf("md-multiplexor (pid %d) did not exit within %v of SIGTERM; killed it", m.pid, harness.Scale(stopTimeout))
	}
	var left []int
	harness.Await(3*time.Second, func() bool {
		left = m.workerProcs()
		return len(left) == 0
	})
	if len(left) > 0 {
		t.Errorf("worker processes left behind after md-multiplexor exited: %v", left)
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// terminate sends SIGTERM (unless the multiplexor has already exited) and
// waits for it to exit, sending SIGKILL after stopTimeout. It returns how
// long the exit took.
func (m *mux) terminate() time.Duration {
	return m.proc.Terminate(harness.Scale(stopTimeout))
}

// workerProcs lists the live (not zombie) processes running this test's copy
// of the worker program.
func (m *mux) workerProcs() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if m.isWorker(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// isWorker reports whether pid is a live process running this test's worker
// program. A zombie has no exe link, so it does not count.
func (m *mux) isWorker(pid int) bool {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		return false
	}
	return strings.TrimSuffix(exe, " (deleted)") == m.worker
}

// do sends one command on the privileged control socket and returns the
// whole reply (the socket answers one command per connection).
func (m *mux) do(cmd string) (string, error) { return harness.Exchange(m.sock, cmd+"\n") }

// must is do for the test goroutine: a transport error fails the test.
func (m *mux) must(cmd string) string {
	m.t.Helper()
	r, err := m.do(cmd)
	if err != nil {
		m.t.Fatalf("%q: %v", cmd, err)
	}
	return r
}

// expect sends cmd and fails the test unless the reply is want.
func (m *mux) expect(cmd, want string) {
	m.t.Helper()
	if got := m.must(cmd); got != want {
		m.t.Errorf("%q: reply %q, want %q", cmd, got, want)
	}
}

// async sends cmd from a goroutine; the channel yields the reply, or
// "transport error: ..." when there was none.
func (m *mux) async(cmd string) <-chan string {
	ch := make(chan string, 1)
	go func() {
		r, err := m.do(cmd)
		if err != nil {
			r = "transport error: " + err.Error()
		}
		ch <- r
	}()
	return ch
}

// gate returns a testworker argument that holds a command until open is
// called (see testworker's sleepMS): a test that needs a worker busy while it
// queues requests behind it opens the gate when the queue is in place,
// instead of guessing how long that takes on a loaded machine.
func (m *mux) gate(name string) (arg string, open func()) {
	path := filepath.Join(m.spool, "gate-"+name)
	return "gate:" + path, func() {
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			m.t.Fatalf("opening the gate: %v", err)
		}
	}
}

// await receives an async reply, failing the test if none comes within d.
func await(t *testing.T, ch <-chan string, d time.Duration, what string) string {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(harness.Scale(d)):
		t.Fatalf("no reply to %s within %v", what, harness.Scale(d))
		return ""
	}
}

// status is the parsed reply to `status` (docs/reference/protocol.md §8.3.1).
type status struct {
	states                                   string // one of S I B K per slot
	msgs, activations, queueSize, queued, up int
}

func (s status) count(state byte) int { return strings.Count(s.states, string(state)) }

func (m *mux) status() status {
	m.t.Helper()
	r := m.must("status")
	var s status
	if _, err := fmt.Sscanf(r, "%s %d %d %d %d %d\n", &s.states, &s.msgs, &s.activations, &s.queueSize, &s.queued, &s.up); err != nil {
		m.t.Fatalf("bad status reply %q: %v", r, err)
	}
	return s
}

// slot is one line of the `workers` reply (docs/reference/protocol.md §8.3.2).
type slot struct {
	n     int
	state byte
	pid   int // 0 when stopped
	line  string
}

func (m *mux) workers() []slot {
	m.t.Helper()
	r := m.must("workers")
	var out []slot
	sc := bufio.NewScanner(strings.NewReader(r))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || len(f[1]) != 1 {
			m.t.Fatalf("bad workers line %q", sc.Text())
		}
		s := slot{state: f[1][0], line: sc.Text()}
		s.n, _ = strconv.Atoi(f[0])
		if s.state != 'S' {
			s.pid, _ = strconv.Atoi(f[2])
		}
		out = append(out, s)
	}
	return out
}

// pidsIn returns the PIDs of the slots in one of the given states.
func pidsIn(ws []slot, states string) []int {
	var pids []int
	for _, w := range ws {
		if strings.IndexByte(states, w.state) >= 0 {
			pids = append(pids, w.pid)
		}
	}
	return pids
}

// waitIdle waits until at least n workers are idle and returns the slots.
func (m *mux) waitIdle(n int, d time.Duration) []slot {
	m.t.Helper()
	var ws []slot
	harness.WaitFor(m.t, d, fmt.Sprintf("%d idle workers", n), func() bool {
		ws = m.workers()
		return len(pidsIn(ws, "I")) >= n
	})
	return ws
}

// waitGone waits until pid no longer runs this test's worker program.
func (m *mux) waitGone(pid int, d time.Duration) error {
	if err := harness.Await(d, func() bool { return !m.isWorker(pid) }); err != nil {
		return fmt.Errorf("worker pid %d still running: %w", pid, err)
	}
	return nil
}

// vmSizeKB starts the worker program directly, lets it answer one request,
// and returns its virtual size: the base on which an RLIMIT_AS for it must be
// set (a Go program reserves about a gigabyte of address space at start).
func vmSizeKB(t *testing.T) int64 {
	t.Helper()
	cmd := exec.Command(workerBin, "-server")
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer in.Close()
	io.WriteString(in, "ping\n")
	if l, err := bufio.NewReader(out).ReadString('\n'); err != nil || l != "PONG\n" {
		t.Fatalf("testworker: ping gave %q, %v", l, err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	mm := regexp.MustCompile(`(?m)^VmSize:\s+(\d+) kB`).FindSubmatch(b)
	if mm == nil {
		t.Fatalf("no VmSize in /proc/%d/status", cmd.Process.Pid)
	}
	kb, _ := strconv.ParseInt(string(mm[1]), 10, 64)
	return kb
}
