package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// debootRoot is a minimal Debian bookworm made with debootstrap, built
// once under a directory of its own (env, else def) and reused by every
// later test and test run: the Sendmail chroot, the systemd root. A marker
// file written last says the build finished; a root without it, or without
// one of its files, is half-built and is built again from scratch. Builds
// are serialized between processes by a lock file next to the root
// (ROOT.lock), so parallel test processes wait for one build; the build's
// output goes to ROOT.build.log.
type debootRoot struct {
	what    string        // for messages: "Sendmail chroot", "systemd root"
	env     string        // the variable that moves it
	def     string        // where it lives by default
	marker  string        // written into it once complete
	include []string      // debootstrap --include (may be empty)
	files   []string      // paths, relative to the root, that must exist once built
	timeout time.Duration // bounds the build
	about   string        // how long a build takes, for the log line
	// finish runs after debootstrap, before apt-get clean; run runs a
	// command of the build, failing the test with the log's tail.
	finish func(t testing.TB, root string, run func(what, name string, args ...string))
	// recorded names what the marker says the root holds.
	recorded []string

	mu   sync.Mutex
	done string // built and checked by this process
}

// get returns the root, building it first if it is not complete. A missing
// debootstrap fails the test with the apt-get line that installs it.
func (r *debootRoot) get(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	root := os.Getenv(r.env)
	if root == "" {
		root = r.def
	}
	root = filepath.Clean(root)
	if !filepath.IsAbs(root) {
		t.Fatalf("harness: %s=%q must be an absolute path", r.env, root)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done == root && r.complete(root) {
		return root
	}
	if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
		t.Fatalf("harness: %v", err)
	}
	lock, err := os.OpenFile(root+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("harness: %s lock: %v", r.what, err)
	}
	defer lock.Close()
	deadline := time.Now().Add(r.timeout + time.Minute)
	for {
		err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			t.Fatalf("harness: locking %s.lock: %v", root, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("harness: %s.lock still held after %v: another process is building the %s, or is hung", root, r.timeout, r.what)
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	if !r.complete(root) {
		r.build(t, root)
	}
	r.done = root
	return root
}

func (r *debootRoot) complete(root string) bool {
	if _, err := os.Stat(filepath.Join(root, r.marker)); err != nil {
		return false
	}
	return r.missing(root) == nil
}

// missing returns an error naming the first of r.files not in root.
func (r *debootRoot) missing(root string) error {
	for _, p := range r.files {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			return err
		}
	}
	return nil
}

// build (re)builds the root from scratch. The caller holds the lock.
func (r *debootRoot) build(t testing.TB, root string) {
	t.Helper()
	debootstrap, err := exec.LookPath("debootstrap")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/debootstrap"); serr == nil {
			debootstrap = "/usr/sbin/debootstrap"
		} else {
			t.Fatalf("harness: debootstrap is missing; the tests build the %s with it: apt-get install -y debootstrap", r.what)
		}
	}
	mirror := debianMirror()
	start := time.Now()
	t.Logf("harness: building the %s in %s from %s (once; %s)", r.what, root, mirror, r.about)
	if err := os.RemoveAll(root); err != nil {
		t.Fatalf("harness: removing the half-built %s %s: %v", r.what, root, err)
	}
	logPath := root + ".build.log"
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	defer logf.Close()
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	run := func(what string, name string, args ...string) {
		t.Helper()
		fmt.Fprintf(logf, "+ %s %s\n", name, strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = chrootEnv()
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Run(); err != nil {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("harness: building the %s: %s: %v (log %s):\n%s", r.what, what, err, logPath, tail(b, 8<<10))
		}
	}
	args := []string{"--variant=minbase"}
	if len(r.include) > 0 {
		args = append(args, "--include="+strings.Join(r.include, ","))
	}
	run("debootstrap", debootstrap, append(args, "bookworm", root, mirror)...)
	if r.finish != nil {
		r.finish(t, root, run)
	}
	run("apt-get clean", "/usr/sbin/chroot", root, "apt-get", "clean")
	if err := r.missing(root); err != nil {
		t.Fatalf("harness: the %s %s is incomplete after its build: %v (log %s)", r.what, root, err, logPath)
	}
	writeFile(t, filepath.Join(root, r.marker), fmt.Sprintf("built %s from %s with %s\n", time.Now().UTC().Format(time.RFC3339), mirror, strings.Join(r.recorded, " ")), 0o644)
	t.Logf("harness: %s %s built in %v", r.what, root, time.Since(start).Round(time.Second))
}
