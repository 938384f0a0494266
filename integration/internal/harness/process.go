package harness

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Deadlines for daemons. They bound every wait so that a broken component
// fails the test instead of hanging it.
const (
	// StartTimeout bounds the wait for a daemon's socket or port.
	StartTimeout = 20 * time.Second
	// StopTimeout bounds the wait for a daemon to exit after SIGTERM
	// before it gets SIGKILL. The original milter (libmilter) takes a few
	// seconds to notice SIGTERM.
	StopTimeout = 10 * time.Second
)

// Process is a daemon started by the harness, kept in the foreground, in a
// process group of its own (so that the workers or children it forks can be
// found and, if they outlive it, killed by that group's ID). Its stdout and
// stderr go to LogPath.
type Process struct {
	Name    string // short name used in messages and for the log file
	Path    string // the program
	Args    []string
	LogPath string
	PID     int
	// Wake, if set, is called repeatedly while Stop waits for the process
	// to exit after SIGTERM, to nudge a daemon that only checks for
	// termination between events (see StartMilter).
	Wake func()

	done       chan struct{}
	waitErr    error // valid after done is closed
	reported   bool  // an early exit already failed the test
	terminated bool  // the test stopped it with Terminate or Kill: its exit is no error
	hung       bool  // Hang stopped its process group
	stopOnce   sync.Once
}

// StartProcess starts path with args in the foreground, its output in
// logDir/<name>.log, and registers a cleanup that stops it (see Stop) and,
// if the test failed, copies its output into the test log.
func StartProcess(t testing.TB, name, logDir, path string, args ...string) *Process {
	t.Helper()
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatalf("harness: %v", err)
	}
	p := &Process{
		Name:    name,
		Path:    path,
		Args:    args,
		LogPath: filepath.Join(logDir, name+".log"),
		done:    make(chan struct{}),
	}
	logf, err := os.OpenFile(p.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	defer logf.Close() // the child has its own copy
	cmd := exec.Command(path, args...)
	// An *os.File (not a pipe) so that Wait returns when the daemon exits,
	// even if a worker it forked still holds the descriptor.
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t.Logf("harness: starting %s: %s %s", name, path, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		t.Fatalf("harness: starting %s: %v", name, err)
	}
	p.PID = cmd.Process.Pid
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop(t)
		if t.Failed() {
			p.dumpLog(t)
		}
	})
	return p
}

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Running reports whether the process has not exited yet.
func (p *Process) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Log returns what the process has written to stdout and stderr so far.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

func (p *Process) dumpLog(t testing.TB) {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		t.Logf("harness: %s output: %v", p.Name, err)
		return
	}
	if len(bytes.TrimSpace(b)) == 0 {
		t.Logf("harness: %s (pid %d) wrote nothing to stdout/stderr", p.Name, p.PID)
		return
	}
	t.Logf("harness: %s (pid %d) stdout/stderr:\n%s", p.Name, p.PID, tail(b, 64<<10))
}

// Stop stops the process by its PID: SIGTERM, then SIGKILL if it has not
// exited after StopTimeout. It then waits for every other member of its
// process group (workers it forked) to go, killing the group by its ID if
// they linger. A process that had already exited before Stop was called is
// reported as a test error: daemons must stay up for the whole test. Stop
// is idempotent and also runs in the test's cleanup.
func (p *Process) Stop(t testing.TB) {
	t.Helper()
	p.stopOnce.Do(func() { p.stop(t) })
}

func (p *Process) stop(t testing.TB) {
	t.Helper()
	start := time.Now()
	if p.hung {
		p.cont() // a stopped process would not act on SIGTERM
	}
	defer func() {
		t.Logf("harness: %s (pid %d) stopped in %v", p.Name, p.PID, time.Since(start).Round(time.Millisecond))
	}()
	if !p.Running() {
		if !p.reported && !p.terminated {
			t.Errorf("harness: %s (pid %d) exited before the end of the test: %s", p.Name, p.PID, exitStatus(p.waitErr))
		}
	} else {
		_ = syscall.Kill(p.PID, syscall.SIGTERM)
		if !p.waitExit(Scale(StopTimeout)) {
			t.Errorf("harness: %s (pid %d) still running %v after SIGTERM; sending SIGKILL", p.Name, p.PID, Scale(StopTimeout))
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
			select {
			case <-p.done:
			case <-time.After(StopTimeout):
				t.Errorf("harness: %s (pid %d) survived SIGKILL", p.Name, p.PID)
			}
		}
	}
	if err := waitGroupGone(p.PID, Scale(StopTimeout)); err != nil {
		t.Errorf("harness: %s: %v; sending SIGKILL to process group %d", p.Name, err, p.PID)
		_ = syscall.Kill(-p.PID, syscall.SIGKILL)
		if err := waitGroupGone(p.PID, Scale(StopTimeout)); err != nil {
			t.Errorf("harness: %s: %v", p.Name, err)
		}
	}
}

// Terminate sends SIGTERM (unless the process has already exited) and waits
// up to timeout for it to exit, then sends SIGKILL and waits for that. It
// returns how long the exit took. A test uses it to stop a daemon itself,
// to time its shutdown or to look at what it left; Stop and the cleanup then
// take the exit as asked for.
func (p *Process) Terminate(timeout time.Duration) time.Duration {
	p.terminated = true
	if p.hung {
		p.cont()
	}
	start := time.Now()
	if !p.Running() {
		return 0
	}
	_ = syscall.Kill(p.PID, syscall.SIGTERM)
	if !p.waitExit(timeout) {
		_ = syscall.Kill(p.PID, syscall.SIGKILL)
		<-p.done
	}
	return time.Since(start)
}

// Err is the process's exit status once it has exited (see Exited).
func (p *Process) Err() error {
	<-p.done
	return p.waitErr
}

// waitExit waits up to timeout for the process to exit, calling Wake every
// 50ms meanwhile, and reports whether it exited.
func (p *Process) waitExit(timeout time.Duration) bool {
	deadline := time.After(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			return true
		case <-deadline:
			return false
		case <-tick.C:
			if p.Wake != nil {
				p.Wake()
			}
		}
	}
}

// waitGroupGone waits until no live (non-zombie) process is left in process
// group pgid. Zombies count as gone: PID 1 on a test machine does not always
// reap orphans.
func waitGroupGone(pgid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		left := liveGroupMembers(pgid)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v of group %d still alive after %v", left, pgid, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// liveGroupMembers lists the PIDs in process group pgid that are not
// zombies, from /proc.
func liveGroupMembers(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, pg, ok := procStat(pid)
		if ok && pg == pgid && state != 'Z' && state != 'X' {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procStat returns the state and process group of pid from /proc/PID/stat.
func procStat(pid int) (state byte, pgrp int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// "pid (comm) state ppid pgrp ...": comm may hold spaces and parens.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return 0, 0, false
	}
	pg, err := strconv.Atoi(f[2])
	if err != nil || len(f[0]) == 0 {
		return 0, 0, false
	}
	return f[0][0], pg, true
}

// WaitForTCP waits until addr accepts a TCP connection. If p is not nil and
// exits first, the test fails at once with its output.
func WaitForTCP(t testing.TB, addr string, p *Process) {
	t.Helper()
	waitFor(t, "TCP "+addr, p, func() error {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	})
}

// WaitForUnixSocket waits until the Unix socket at path accepts a
// connection. If p is not nil and exits first, the test fails at once.
func WaitForUnixSocket(t testing.TB, path string, p *Process) {
	t.Helper()
	waitFor(t, "socket "+path, p, func() error {
		c, err := net.DialTimeout("unix", path, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	})
}

func waitFor(t testing.TB, what string, p *Process, try func() error) {
	t.Helper()
	deadline := time.Now().Add(Scale(StartTimeout))
	for {
		err := try()
		if err == nil {
			return
		}
		if p != nil && !p.Running() {
			p.reported = true
			t.Fatalf("harness: %s exited (%s) before %s was ready; its output:\n%s", p.Name, exitStatus(p.waitErr), what, tail([]byte(p.Log()), 64<<10))
		}
		if time.Now().After(deadline) {
			name := "it"
			if p != nil {
				name = p.Name
			}
			t.Fatalf("harness: %s not ready after %v (last error: %v); %s may be hung", what, Scale(StartTimeout), err, name)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// exitStatus formats an exec error for messages.
func exitStatus(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String()
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// Kill sends SIGKILL to the process alone, as a crash would end it (the
// processes it forked are left to notice), and waits for it to exit. Its
// exit is then no error for Stop and the cleanup.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	p.terminated = true
	if p.hung {
		p.cont()
	}
	_ = syscall.Kill(p.PID, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(Scale(StopTimeout)):
		t.Fatalf("harness: %s (pid %d) survived SIGKILL for %v", p.Name, p.PID, Scale(StopTimeout))
	}
}

// Restart starts the program again with the same arguments, its output
// appended to the same log, as a supervisor (systemd's Restart=) does
// after the process died, and returns the new process. The old one must
// have exited (Kill, Terminate).
func (p *Process) Restart(t testing.TB) *Process {
	t.Helper()
	if p.Running() {
		t.Fatalf("harness: %s (pid %d) is still running: cannot restart it", p.Name, p.PID)
	}
	n := StartProcess(t, p.Name, filepath.Dir(p.LogPath), p.Path, p.Args...)
	n.Wake = p.Wake
	return n
}

// Hang stops every process of the process's group (SIGSTOP) and waits
// until the kernel reports them all stopped: from then on the daemon
// accepts connections (the kernel queues them and UDP datagrams) but
// answers nothing, like a daemon that hangs. Resume undoes it; Stop,
// Terminate, Kill and the cleanup do too.
func (p *Process) Hang(t testing.TB) {
	t.Helper()
	if !p.Running() {
		t.Fatalf("harness: %s (pid %d) is not running: cannot hang it", p.Name, p.PID)
	}
	p.hung = true
	if err := syscall.Kill(-p.PID, syscall.SIGSTOP); err != nil {
		t.Fatalf("harness: SIGSTOP to %s's process group %d: %v", p.Name, p.PID, err)
	}
	WaitFor(t, StopTimeout, fmt.Sprintf("every process of %s's group %d to stop", p.Name, p.PID), func() bool {
		return groupAllStopped(p.PID, true)
	})
}

// Resume continues the processes Hang stopped (SIGCONT to the process
// group) and waits until none is stopped.
func (p *Process) Resume(t testing.TB) {
	t.Helper()
	if !p.Running() {
		t.Fatalf("harness: %s (pid %d) is not running: cannot resume it", p.Name, p.PID)
	}
	if err := p.cont(); err != nil {
		t.Fatalf("harness: SIGCONT to %s's process group %d: %v", p.Name, p.PID, err)
	}
	WaitFor(t, StopTimeout, fmt.Sprintf("every process of %s's group %d to continue", p.Name, p.PID), func() bool {
		return groupAllStopped(p.PID, false)
	})
}

func (p *Process) cont() error {
	p.hung = false
	return syscall.Kill(-p.PID, syscall.SIGCONT)
}

// groupAllStopped reports whether every live process of group pgid is
// stopped (state T), when stopped is true, or none is, when it is false.
func groupAllStopped(pgid int, stopped bool) bool {
	members := liveGroupMembers(pgid)
	if len(members) == 0 {
		return false
	}
	for _, pid := range members {
		state, pg, ok := procStat(pid)
		if !ok || pg != pgid {
			continue // gone meanwhile
		}
		if (state == 'T') != stopped {
			return false
		}
	}
	return true
}
