package mxctrl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// originalPath is the md-mx-ctrl of MIMEDefang 3.3 that ours must match.
const originalPath = "/usr/bin/md-mx-ctrl"

var (
	installOnce sync.Once
	installDir  string // removed by TestMain
	oursPath    string
	installErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if installDir != "" {
		os.RemoveAll(installDir)
	}
	os.Exit(code)
}

// ours returns our md-mx-ctrl (make build's, see harness.MDBinary), copied
// once into a temporary directory that other users can reach: the EACCES
// case runs it as an unprivileged user, and the checkout may sit in a
// private directory.
func ours(t *testing.T) string {
	t.Helper()
	built := harness.MDBinary(t, "md-mx-ctrl")
	installOnce.Do(func() {
		if installDir, installErr = os.MkdirTemp("", "md-mx-ctrl-bin-"); installErr != nil {
			return
		}
		if installErr = os.Chmod(installDir, 0o755); installErr != nil {
			return
		}
		var b []byte
		if b, installErr = os.ReadFile(built); installErr != nil {
			return
		}
		oursPath = filepath.Join(installDir, "md-mx-ctrl")
		installErr = os.WriteFile(oursPath, b, 0o755)
	})
	if installErr != nil {
		t.Fatalf("our md-mx-ctrl: %v", installErr)
	}
	return oursPath
}

// original returns the original md-mx-ctrl, or fails the test.
func original(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(originalPath); err != nil {
		t.Fatalf("the original md-mx-ctrl is missing (%v): install it with `apt-get install -y mimedefang`", err)
	}
	return originalPath
}

// fakeMux is a multiplexor control socket that answers from a table and
// records the exact bytes of every request, one connection per request.
type fakeMux struct {
	path string
	ln   *net.UnixListener

	mu       sync.Mutex
	replies  map[string][]string // successive replies; the last one repeats
	reset    bool                // read one byte and close: the client's read fails
	requests []string
	done     sync.WaitGroup
}

// defaultReply is what a worker answers to a command it does not know.
const defaultReply = "error: Unknown command\n"

// startFake listens on path and serves until the test ends.
func startFake(t *testing.T, path string, replies map[string][]string, reset bool) *fakeMux {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatalf("fake multiplexor: %v", err)
	}
	f := &fakeMux{path: path, ln: ln, replies: replies, reset: reset}
	f.done.Add(1)
	go f.serve()
	t.Cleanup(func() {
		ln.Close()
		f.done.Wait()
	})
	return f
}

func (f *fakeMux) serve() {
	defer f.done.Done()
	for {
		c, err := f.ln.AcceptUnix()
		if err != nil {
			return
		}
		f.handle(c)
	}
}

// handle reads one request as the multiplexor does (up to the first
// newline; a request without one ends when the client goes quiet), records
// it, and writes the reply.
func (f *fakeMux) handle(c *net.UnixConn) {
	defer c.Close()
	if f.reset {
		c.Read(make([]byte, 1))
		f.record("<reset>")
		return
	}
	var req []byte
	buf := make([]byte, 64<<10)
	for bytes.IndexByte(req, '\n') < 0 {
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c.Read(buf)
		req = append(req, buf[:n]...)
		if err != nil {
			break
		}
	}
	reply := f.record(string(req))
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte(reply))
}

// record stores a request and picks its reply.
func (f *fakeMux) record(req string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, req)
	seq, ok := f.replies[req]
	if !ok || len(seq) == 0 {
		return defaultReply
	}
	if len(seq) > 1 {
		f.replies[req] = seq[1:]
	}
	return seq[0]
}

// take returns the requests recorded so far and forgets them.
func (f *fakeMux) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.requests
	f.requests = nil
	return r
}

// outcome is everything observable about one run.
type outcome struct {
	Stdout, Stderr string
	Status         string // "exit status 0", "signal: broken pipe", ...
	Requests       []string
}

// invocation is how to run a binary.
type invocation struct {
	args  []string
	stdin string
	env   []string // added to the environment (POSIXLY_CORRECT is removed first)
	cred  *syscall.Credential
}

// run executes bin with argv[0] "md-mx-ctrl", so that getopt's messages do
// not depend on where the binary lives.
func run(t *testing.T, bin string, inv invocation) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Args = append([]string{"md-mx-ctrl"}, inv.args...)
	cmd.Dir = "/"
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "POSIXLY_CORRECT=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, inv.env...)
	cmd.Stdin = strings.NewReader(inv.stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if inv.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: inv.cred}
	}
	err := cmd.Run()
	status := "exit status 0"
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		status = ee.ProcessState.String()
	case err != nil:
		t.Fatalf("running %s: %v", bin, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %q did not finish", bin, inv.args)
	}
	return outcome{Stdout: stdout.String(), Stderr: stderr.String(), Status: status}
}

// clip shortens s for a failure message.
func clip(s string) string {
	if len(s) > 600 {
		return fmt.Sprintf("%q ... (%d bytes) ... %q", s[:300], len(s), s[len(s)-200:])
	}
	return fmt.Sprintf("%q", s)
}

// firstDiff describes where a and b first differ.
func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-120)
	return fmt.Sprintf("first difference at byte %d of %d/%d:\noriginal: ...%q\n    ours: ...%q",
		i, len(a), len(b), a[from:min(len(a), i+80)], b[from:min(len(b), i+80)])
}

// diffOutcomes reports every difference between the original's run and ours.
func diffOutcomes(t *testing.T, orig, got outcome) {
	t.Helper()
	if orig.Stdout != got.Stdout {
		t.Errorf("stdout differs, %s", firstDiff(orig.Stdout, got.Stdout))
	}
	if orig.Stderr != got.Stderr {
		t.Errorf("stderr differs, %s", firstDiff(orig.Stderr, got.Stderr))
	}
	if orig.Status != got.Status {
		t.Errorf("status differs: original %q, ours %q", orig.Status, got.Status)
	}
	if strings.Join(orig.Requests, "\x01") != strings.Join(got.Requests, "\x01") {
		t.Errorf("requests differ\noriginal: %s\n    ours: %s",
			clip(strings.Join(orig.Requests, " | ")), clip(strings.Join(got.Requests, " | ")))
	}
}
