// Package bench holds the dispatch benchmark of md-multiplexor against the
// original mimedefang-multiplexor: the trivial worker (trivialworker), the
// load generator (mxload) and a `go test -bench` benchmark. The harness that
// prints the comparison table is bench/run.sh at the repository root.
//
// Nothing here runs under a plain `go test`: there are only benchmarks.
//
//	go test -run '^$' -bench Dispatch ./multiplexor/internal/bench/
//
// Each sub-benchmark (original, md-multiplexor) starts its multiplexor once,
// with four trivial workers (-m 4 -x 4 -r 100000 -b 60 -q 64 -Q 30), waits
// until all four are idle, and measures one relay check round trip (new
// connection, request, reply to EOF) with b.RunParallel. md-multiplexor is
// built from this tree unless MD_BIN_DIR names a directory holding it; the
// original is used when /usr/bin/mimedefang-multiplexor exists (else that
// sub-benchmark is skipped). Both are stopped by PID when the benchmark ends.
package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mdgo/md/internal/loadstat"
)

const originalPath = "/usr/bin/mimedefang-multiplexor"

var (
	relayRequest = []byte("relayok 127.0.0.1 localhost 33178 127.0.0.1 0 NOQUEUE\n")
	relayReply   = []byte("ok 1 ok 250 2.1.0 0\n")
	poolFlags    = []string{"-m", "4", "-x", "4", "-r", "100000", "-b", "60", "-q", "64", "-Q", "30"}
)

// BenchmarkDispatch measures one request round trip through a multiplexor to
// a trivial worker and back, for the original and for md-multiplexor.
func BenchmarkDispatch(b *testing.B) {
	env := newBenchEnv(b)
	targets := []struct{ name, prog string }{
		{"original", originalPath},
		{"md-multiplexor", ""}, // built on first use
	}
	for _, tc := range targets {
		b.Run(tc.name, func(b *testing.B) {
			if tc.name == "original" {
				if _, err := os.Stat(originalPath); err != nil {
					b.Skipf("the original multiplexor %s is missing (apt-get install -y mimedefang)", originalPath)
				}
			}
			sock := env.multiplexor(b, tc.name, tc.prog)
			benchRoundTrips(b, sock)
		})
	}
}

// benchRoundTrips runs b.N round trips in parallel (4 clients per CPU) and
// reports the p50 and p99 latencies beside ns/op.
func benchRoundTrips(b *testing.B, sock string) {
	addr := &syscall.SockaddrUnix{Name: sock}
	var (
		mu     sync.Mutex
		lat    []time.Duration
		errs   atomic.Int64
		first  atomic.Pointer[string]
		budget = b.N
	)
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 512)
		mine := make([]time.Duration, 0, budget)
		for pb.Next() {
			t0 := time.Now()
			if err := roundTrip(addr, buf); err != nil {
				errs.Add(1)
				s := err.Error()
				first.CompareAndSwap(nil, &s)
				continue
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	if n := errs.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed; first: %s", n, b.N, *first.Load())
	}
	slices.Sort(lat)
	b.ReportMetric(loadstat.Millis(loadstat.Percentile(lat, 50)), "p50-ms")
	b.ReportMetric(loadstat.Millis(loadstat.Percentile(lat, 99)), "p99-ms")
}

// roundTrip is one request as the milter's MXCommand makes it: a blocking
// socket, connect, write, read to EOF, close. (mxload has the same loop; a
// _test file cannot share code with a main package.)
func roundTrip(addr *syscall.SockaddrUnix, buf []byte) error {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	if err := retryEINTR(func() error { return syscall.Connect(fd, addr) }); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if n, err := syscall.Write(fd, relayRequest); err != nil || n != len(relayRequest) {
		return fmt.Errorf("write: %d bytes, %v", n, err)
	}
	got := 0
	for got < len(buf) {
		n, err := syscall.Read(fd, buf[got:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if n == 0 {
			break
		}
		got += n
	}
	if !bytes.Equal(buf[:got], relayReply) {
		return fmt.Errorf("unexpected reply %q", buf[:got])
	}
	return nil
}

func retryEINTR(f func() error) error {
	for {
		if err := f(); err != syscall.EINTR {
			return err
		}
	}
}

// benchEnv is what the sub-benchmarks share: a world-readable scratch
// directory with the trivial worker, and the multiplexors started so far,
// which stay up across the repeated calls testing makes with growing b.N.
type benchEnv struct {
	dir      string
	worker   string
	userArgs []string
	owner    int // uid that must own the spool directories; -1 = ourselves
	muxes    map[string]*muxProc
}

type muxProc struct {
	sock string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	env := &benchEnv{owner: -1, muxes: map[string]*muxProc{}}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("defang")
		if err != nil {
			b.Fatalf("bench: as root the multiplexors need the unprivileged user 'defang' (apt-get install -y mimedefang creates it): %v", err)
		}
		env.owner, _ = strconv.Atoi(u.Uid)
		env.userArgs = []string{"-U", "defang"}
	}
	// Not b.TempDir: the workers run as another user and must be able to
	// reach the worker program, so the directory is made 0755.
	dir, err := os.MkdirTemp("", "md-bench-")
	if err != nil {
		b.Fatal(err)
	}
	env.dir = dir
	b.Cleanup(env.close)
	if err := os.Chmod(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	env.worker = filepath.Join(dir, "trivialworker")
	goBuild(b, env.worker, "github.com/mdgo/md/multiplexor/internal/bench/trivialworker")
	return env
}

func goBuild(b *testing.B, out, pkg string) {
	b.Helper()
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("bench: go build %s: %v\n%s", pkg, err, msg)
	}
	if err := os.Chmod(out, 0o755); err != nil {
		b.Fatal(err)
	}
}

// multiplexor returns the control socket of the named multiplexor, starting
// it on first use and waiting until its four workers are idle.
func (env *benchEnv) multiplexor(b *testing.B, name, prog string) string {
	b.Helper()
	if m := env.muxes[name]; m != nil {
		return m.sock
	}
	if prog == "" {
		if bin := os.Getenv("MD_BIN_DIR"); bin != "" {
			prog = filepath.Join(bin, "md-multiplexor")
		} else {
			prog = filepath.Join(env.dir, "md-multiplexor")
			goBuild(b, prog, "github.com/mdgo/md/multiplexor/cmd/md-multiplexor")
		}
	}
	spool := filepath.Join(env.dir, "spool-"+name)
	if err := os.Mkdir(spool, 0o700); err != nil {
		b.Fatal(err)
	}
	if env.owner >= 0 {
		if err := os.Chown(spool, env.owner, -1); err != nil {
			b.Fatal(err)
		}
	}
	m := &muxProc{sock: filepath.Join(spool, "mx.sock"), done: make(chan struct{}), log: filepath.Join(env.dir, name+".log")}
	logf, err := os.Create(m.log)
	if err != nil {
		b.Fatal(err)
	}
	defer logf.Close()
	args := append([]string{"-D"}, env.userArgs...)
	args = append(args, "-z", spool, "-s", m.sock, "-f", env.worker)
	args = append(args, poolFlags...)
	m.cmd = exec.Command(prog, args...)
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	// A process group of its own, so that workers outliving it can be
	// found by that group's ID and stopped.
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := m.cmd.Start(); err != nil {
		b.Fatalf("bench: starting %s: %v", prog, err)
	}
	env.muxes[name] = m
	go func() { m.cmd.Wait(); close(m.done) }()
	if err := m.waitReady(30 * time.Second); err != nil {
		log, _ := os.ReadFile(m.log)
		b.Fatalf("bench: %s: %v\n%s", name, err, log)
	}
	return m.sock
}

// waitReady polls the status command until all four workers are idle; the
// pool starts one every 3 s (-w), so this takes about 10 s.
func (m *muxProc) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	addr := &syscall.SockaddrUnix{Name: m.sock}
	last := ""
	for time.Now().Before(deadline) {
		select {
		case <-m.done:
			return fmt.Errorf("exited during start-up")
		default:
		}
		if st, err := control(addr, "status\n"); err == nil {
			last = st
			if bytes.HasPrefix([]byte(st), []byte("IIII ")) {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the pool did not come up within %v (last status %q)", limit, last)
}

// control sends one control command and returns the reply.
func control(addr *syscall.SockaddrUnix, cmd string) (string, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer syscall.Close(fd)
	if err := syscall.Connect(fd, addr); err != nil {
		return "", err
	}
	if _, err := syscall.Write(fd, []byte(cmd)); err != nil {
		return "", err
	}
	var out []byte
	buf := make([]byte, 1024)
	for {
		n, err := syscall.Read(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return "", err
		}
		if n == 0 {
			return string(out), nil
		}
		out = append(out, buf[:n]...)
	}
}

// close stops every multiplexor by PID (SIGTERM; SIGKILL after 15 s), then
// any worker left in its process group, and removes the scratch directory.
func (env *benchEnv) close() {
	for _, m := range env.muxes {
		pid := m.cmd.Process.Pid
		syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-m.done:
		case <-time.After(15 * time.Second):
			syscall.Kill(pid, syscall.SIGKILL)
			<-m.done
		}
		// Workers get EOF and exit with their multiplexor; this only
		// catches one that did not. The group ID is the multiplexor's PID.
		syscall.Kill(-pid, syscall.SIGKILL)
	}
	os.RemoveAll(env.dir)
}
