package integration

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// Deadlines of the md-worker tests (scaled by MD_TEST_SLOWDOWN): a worker
// that stops answering fails the test instead of hanging it.
const (
	// mdWorkerReplyTimeout bounds the wait for one reply line or status
	// tag; a reply takes milliseconds.
	mdWorkerReplyTimeout = 30 * time.Second
	// mdWorkerExitTimeout bounds the wait for the worker to exit after
	// its stdin is closed or it got SIGTERM.
	mdWorkerExitTimeout = 30 * time.Second
)

// mdWorker is a running md-worker, driven over its stdin and stdout as the
// multiplexor drives it.
type mdWorker struct {
	t       *testing.T
	cmd     *exec.Cmd
	in      io.WriteCloser
	outFile *os.File // read end of the stdout pipe, for its deadline
	out     *bufio.Reader
	stderr  string // file that holds its stderr
	done    chan struct{}
	err     error // exit status, once done is closed
}

// startMDWorker starts $MD_BIN_DIR/md-worker with args in a temporary
// directory; extra become its file descriptors 3, 4 ... A cleanup kills it
// (by its PID) if the test ends while it runs.
func startMDWorker(t *testing.T, env []string, extra []*os.File, args ...string) *mdWorker {
	t.Helper()
	bin := harness.MDBinary(t, "md-worker")
	tmp := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), env...)
	cmd.ExtraFiles = extra
	w := &mdWorker{t: t, cmd: cmd, stderr: filepath.Join(tmp, "stderr"), done: make(chan struct{})}
	errFile, err := os.Create(w.stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close()
	cmd.Stderr = errFile
	// An os.Pipe (not StdoutPipe) for its read deadline.
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outW.Close()
	cmd.Stdout = outW
	if w.in, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		outR.Close()
		t.Fatalf("starting %s: %v", bin, err)
	}
	w.outFile, w.out = outR, bufio.NewReader(outR)
	go func() {
		w.err = cmd.Wait()
		close(w.done)
	}()
	t.Cleanup(func() {
		select {
		case <-w.done:
		default:
			cmd.Process.Kill()
			<-w.done
		}
		outR.Close()
	})
	return w
}

// stderrText returns what the worker wrote to stderr so far.
func (w *mdWorker) stderrText() string {
	b, _ := os.ReadFile(w.stderr)
	return string(b)
}

// ask sends one request line and returns the reply line. A worker that
// does not answer within mdWorkerReplyTimeout, or closes its stdout, fails
// the test.
func (w *mdWorker) ask(req string) string {
	w.t.Helper()
	if _, err := io.WriteString(w.in, req+"\n"); err != nil {
		w.t.Fatalf("writing %q to md-worker: %v\nstderr:\n%s", req, err, w.stderrText())
	}
	return readLineWithin(w.t, w.outFile, w.out, "the reply to "+req, w.stderrText)
}

// wait closes the worker's stdin unless closeStdin is false and waits for
// it to exit, failing the test if it does not within mdWorkerExitTimeout.
func (w *mdWorker) wait(closeStdin bool) error {
	w.t.Helper()
	if closeStdin {
		w.in.Close()
	}
	select {
	case <-w.done:
		return w.err
	case <-time.After(harness.Scale(mdWorkerExitTimeout)):
		w.cmd.Process.Kill()
		w.t.Fatalf("md-worker (pid %d) still running %v after it was told to stop; killed it\nstderr:\n%s", w.cmd.Process.Pid, harness.Scale(mdWorkerExitTimeout), w.stderrText())
		return nil
	}
}

// readLineWithin reads one line from r, which buffers f, failing the test
// if none comes within mdWorkerReplyTimeout.
func readLineWithin(t *testing.T, f *os.File, r *bufio.Reader, what string, stderr func() string) string {
	t.Helper()
	d := harness.Scale(mdWorkerReplyTimeout)
	if err := f.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatalf("setting a read deadline: %v", err)
	}
	line, err := r.ReadString('\n')
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatalf("%s: nothing within %v (read so far: %q): md-worker stopped answering\nstderr:\n%s", what, d, line, stderr())
	case err != nil:
		t.Fatalf("%s: %v (read so far: %q)\nstderr:\n%s", what, err, line, stderr())
	}
	return line
}

// mdWorkerDir creates a working directory as md-milterd writes it.
func mdWorkerDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mdefang-proc")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"COMMANDS": "S<a@b>\nR<c@d> ? ? ?\nQQP1\nF\n",
		"INPUTMSG": "Subject: t\n\nhello\n",
		"HEADERS":  "Subject: t\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestMDWorkerServerProcess runs md-worker as the multiplexor does ("PROG
// -f FILTER -server") and talks to it over stdin and stdout.
func TestMDWorkerServerProcess(t *testing.T) {
	dir := mdWorkerDir(t)
	w := startMDWorker(t, nil, nil, "-f", "builtin:passthrough", "-server")
	for _, c := range []struct{ req, want string }{
		{"ping", "PONG\n"},
		{"relayok 192.0.2.1 host 25 127.0.0.1 25 NOQUEUE", "ok 1 ok 250 2.1.0 0\n"},
		{"scan QP1 " + dir, "ok\n"},
		{"tick 0", "error: tick 0: filter_tick undefined\n"},
		{"nonsense", "error: Unknown command\n"},
		{"scan QP1 /nonexistent/dir", "error: Cannot chdir(/nonexistent/dir): chdir /nonexistent/dir: no such file or directory\n"},
		{"ping", "PONG\n"},
	} {
		if got := w.ask(c.req); got != c.want {
			t.Errorf("%q: got %q, want %q", c.req, got, c.want)
		}
	}
	if err := w.wait(true); err != nil {
		t.Errorf("exit: %v\nstderr: %s", err, w.stderrText())
	}
	if res, _ := os.ReadFile(filepath.Join(dir, "RESULTS")); string(res) != "F\n" {
		t.Errorf("RESULTS %q", res)
	}
}

// TestMDWorkerServeruStatusTagsAndSignal: -serveru writes status tags to
// fd 3, and SIGTERM ends the worker like mimedefang.pl (killed by the
// signal).
func TestMDWorkerServeruStatusTagsAndSignal(t *testing.T) {
	dir := mdWorkerDir(t)
	tagsR, tagsW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer tagsR.Close()
	w := startMDWorker(t, nil, []*os.File{tagsW}, "-f", "builtin:typical", "-serveru")
	tagsW.Close()
	if got := w.ask("scan QP1 " + dir); got != "ok\n" {
		t.Errorf("scan reply %q", got)
	}
	first := readLineWithin(t, tagsR, bufio.NewReader(tagsR), "the first status tag on fd 3", w.stderrText)
	if first != "1:%20>%20Reading%20COMMANDS%20QP1\n" {
		t.Errorf("first status tag %q", first)
	}
	w.cmd.Process.Signal(syscall.SIGTERM)
	err = w.wait(false)
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("worker did not die of SIGTERM: %v", err)
	}
	if res, _ := os.ReadFile(filepath.Join(dir, "RESULTS")); !strings.HasSuffix(string(res), "HX-Scanned MIMEDefang%20lab%20typical%20filter\nMtext/plain\nC\nF\n") {
		t.Errorf("RESULTS %q", res)
	}
}

// TestMDWorkerLuaUnsafeLibsEnvironment: MD_WORKER_LUA_UNSAFE_LIBS=1 opens
// the io library to Lua filters; without it the sandbox leaves io out.
func TestMDWorkerLuaUnsafeLibsEnvironment(t *testing.T) {
	bin := harness.MDBinary(t, "md-worker")
	f := filepath.Join(t.TempDir(), "probe.lua")
	if err := os.WriteFile(f, []byte("function filter_relay(ip, name)\n  if io then return 'CONTINUE', 'io' end\n  return 'CONTINUE', 'sandboxed'\nend\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ env, want string }{
		{"", "ok 1 sandboxed 250 2.1.0 0\n"},
		{"MD_WORKER_LUA_UNSAFE_LIBS=1", "ok 1 io 250 2.1.0 0\n"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), harness.Scale(mdWorkerReplyTimeout+mdWorkerExitTimeout))
		cmd := exec.CommandContext(ctx, bin, "-f", f, "-server")
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), c.env)
		cmd.Stdin = strings.NewReader("relayok 192.0.2.1 host 25 127.0.0.1 25 NOQUEUE\n")
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.Output()
		if ctx.Err() != nil {
			err = errors.Join(err, ctx.Err())
		}
		cancel()
		if err != nil || string(out) != c.want {
			t.Errorf("%q: reply %q (%v), want %q", c.env, out, err, c.want)
		}
	}
}
