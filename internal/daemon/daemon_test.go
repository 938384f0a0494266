package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mdgo/md/internal/daemon/daemontest"
)

// The test binary is also the child of the tests below: Background's
// (childEnv set, childMode says what it reports) and LockFile's (lockEnv
// names the file it tries to lock, held by the test).
const (
	childEnv  = "MD_DAEMON_TEST_READY_FD"
	childMode = "MD_DAEMON_TEST_CHILD"
	lockEnv   = "MD_DAEMON_TEST_LOCK"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(lockEnv); path != "" {
		if _, err := LockFile(path); err != nil {
			fmt.Print(err)
		}
		os.Exit(0)
	}
	if os.Getenv(childEnv) != "" {
		p := OpenReadyPipe(childEnv)
		switch os.Getenv(childMode) {
		case "ready":
			p.Ready()
			p.Fail(errors.New("after Ready: not sent"))
		case "fail":
			fd, _ := unix.FcntlInt(3, unix.F_GETFD, 0)
			sid, _ := unix.Getsid(0)
			p.Fail(fmt.Errorf("boom (session leader %v, env unset %v, cloexec %v)",
				sid == os.Getpid(), os.Getenv(childEnv) == "", fd&unix.FD_CLOEXEC != 0))
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestBackground(t *testing.T) {
	for _, tc := range []struct{ mode, stderr string }{
		{"fail", "Error from child: boom (session leader true, env unset true, cloexec true)\n"},
		{"silent", "Error from child: it exited without reporting\n"},
	} {
		t.Setenv(childMode, tc.mode)
		var stderr bytes.Buffer
		if code := Background("md-test", childEnv, &stderr); code != 1 || stderr.String() != tc.stderr {
			t.Errorf("%s: exit %d, stderr %q; want 1, %q", tc.mode, code, stderr.String(), tc.stderr)
		}
	}
	// Ready: under a service manager, the child becomes the main process.
	ch := daemontest.NotifySocket(t)
	t.Setenv(childMode, "ready")
	var stderr bytes.Buffer
	if code := Background("md-test", childEnv, &stderr); code != 0 || stderr.Len() != 0 {
		t.Errorf("ready: exit %d, stderr %q; want 0 and nothing", code, stderr.String())
	}
	got := daemontest.Recv(t, ch)
	pid, ok := strings.CutPrefix(got, "READY=1\nMAINPID=")
	if n, err := strconv.Atoi(pid); !ok || err != nil || n == os.Getpid() {
		t.Errorf("ready: %q, want READY=1 and the child's MAINPID", got)
	}
	// A notification that fails is the parent's message; it still exits 0.
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "none"))
	stderr.Reset()
	if code := Background("md-test", childEnv, &stderr); code != 0 || !strings.HasPrefix(stderr.String(), "md-test: cannot notify the service manager (READY=1 MAINPID=") {
		t.Errorf("ready, notification failing: exit %d, stderr %q", code, stderr.String())
	}
}

func TestReadyPipe(t *testing.T) {
	var p *ReadyPipe
	p.Ready() // not a background child: nothing
	p.Fail(errors.New("x"))
	t.Setenv(childEnv, "")
	if OpenReadyPipe(childEnv) != nil {
		t.Error("OpenReadyPipe without the variable: not nil")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fd, err := syscall.Dup(int(w.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Setenv(childEnv, strconv.Itoa(fd))
	p = OpenReadyPipe(childEnv)
	if _, set := os.LookupEnv(childEnv); set || p == nil {
		t.Fatalf("OpenReadyPipe: %v; the variable set %v", p, set)
	}
	p.Fail(errors.New("cannot listen"))
	p.Ready()
	b, _ := io.ReadAll(r)
	if string(b) != "Ecannot listen" {
		t.Errorf("the parent read %q", b)
	}
}

func TestDropPrivileges(t *testing.T) {
	if err := DropPrivileges("md-test", "no-such-user-md", false); err == nil || !strings.HasPrefix(err.Error(), `unknown user "no-such-user-md": `) {
		t.Errorf("unknown user: %v", err)
	}
	if os.Geteuid() != 0 {
		me, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		if err := DropPrivileges("md-test", me.Username, false); err != nil {
			t.Errorf("the current user: %v", err)
		}
		if err := DropPrivileges("md-test", "", false); err != nil {
			t.Errorf("no user, not root: %v", err)
		}
		t.Skip("the rest needs root")
	}
	if err := DropPrivileges("md-test", "", false); err == nil || err.Error() != "you must not run md-test as root: use -U <user>" {
		t.Errorf("root without a user: %v", err)
	}
	if err := DropPrivileges("md-test", "", true); err != nil {
		t.Errorf("root without a user, allowed: %v", err)
	}
	if err := DropPrivileges("md-test", "root", true); err == nil || err.Error() != "you must not run md-test as root: -U names root" {
		t.Errorf("-U root: %v", err)
	}
}

func TestPidFile(t *testing.T) {
	if p, err := OpenPidFile(""); p != nil || err != nil {
		t.Errorf(`OpenPidFile(""): %v, %v`, p, err)
	}
	var none *PidFile
	none.Write()
	path := filepath.Join(t.TempDir(), "md.pid")
	os.WriteFile(path, []byte("123456789\n"), 0o600)
	p, err := OpenPidFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "123456789\n" {
		t.Errorf("opening emptied the pid file: %q", b)
	}
	p.Write()
	if b, _ := os.ReadFile(path); string(b) != fmt.Sprintf("%d\n", os.Getpid()) {
		t.Errorf("pid file %q", b)
	}
	// 0644 whatever the umask, as the originals' fchmod: the file that
	// existed with 0600 too.
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("existing pid file: %v, %v; want mode 0644", fi.Mode(), err)
	}
	for _, umask := range []int{0o022, 0o027, 0o077} {
		old := syscall.Umask(umask)
		path = filepath.Join(t.TempDir(), "new.pid")
		p, err = OpenPidFile(path)
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		p.Write()
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("new pid file under umask %03o: %v, %v; want mode 0644", umask, fi.Mode(), err)
		}
	}
	if _, err := OpenPidFile(filepath.Join(t.TempDir(), "none", "md.pid")); err == nil || !strings.HasPrefix(err.Error(), "cannot open pid file: ") {
		t.Errorf("pid file in a missing directory: %v", err)
	}
}

func TestLockPath(t *testing.T) {
	for _, tc := range []struct{ lock, pid, want string }{
		{"", "", ""},
		{"", "/run/md.pid", "/run/md.pid.lock"},
		{"/run/md.lock", "/run/md.pid", "/run/md.lock"},
		{"/run/md.lock", "", "/run/md.lock"},
	} {
		if got := LockPath(tc.lock, tc.pid); got != tc.want {
			t.Errorf("LockPath(%q, %q) = %q, want %q", tc.lock, tc.pid, got, tc.want)
		}
	}
}

func TestLockFile(t *testing.T) {
	// 0600 whatever the umask, as the originals' (0666 under their umask
	// 077); the systemd units' UMask=0027 and -G's 027 included.
	for _, umask := range []int{0o000, 0o022, 0o027} {
		old := syscall.Umask(umask)
		path := filepath.Join(t.TempDir(), "md.pid.lock")
		l, err := LockFile(path)
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("lock file under umask %03o: %v, %v; want mode 0600", umask, fi.Mode(), err)
		}
		l.Release()
	}
	path := filepath.Join(t.TempDir(), "md.pid.lock")
	l, err := LockFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// fcntl locks are per process: another process is refused.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockEnv+"="+path)
	out, err := cmd.Output()
	if want := "cannot lock " + path + " (is another copy running?): "; err != nil || !strings.HasPrefix(string(out), want) {
		t.Errorf("a second copy: %q, %v; want %q...", out, err, want)
	}
	l.Release()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("lock file not removed: %v", err)
	}
	if _, err := LockFile(filepath.Join(t.TempDir(), "none", "x.lock")); err == nil || !strings.HasPrefix(err.Error(), "cannot open lock file ") {
		t.Errorf("lock file in a missing directory: %v", err)
	}
}
