package rawfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestOpenCreatesAppendsAndStaysOutOfThePoller(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "COMMANDS")
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	for _, chunk := range []string{"Sfrom\n", "Rto\n"} {
		f, err := Open(path, os.O_CREATE|os.O_APPEND|os.O_RDWR, 0o640)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
		// A file the poller does not know has no deadlines.
		if err := f.SetDeadline(time.Time{}); !errors.Is(err, os.ErrNoDeadline) {
			t.Errorf("SetDeadline = %v, want os.ErrNoDeadline (file not registered with the poller)", err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "Sfrom\nRto\n" {
		t.Errorf("content %q, %v; want both chunks appended", b, err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", st.Mode().Perm())
	}
	// The descriptor is close-on-exec.
	f, _ := Open(path, os.O_RDONLY, 0)
	defer f.Close()
	flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_GETFD, 0)
	if errno != 0 || flags&syscall.FD_CLOEXEC == 0 {
		t.Errorf("FD_CLOEXEC not set (flags %#x, %v)", flags, errno)
	}
}

func TestOpenErrorIsPathError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "RESULTS")
	_, err := Open(path, os.O_RDONLY, 0)
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Path != path || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of a missing file: %v, want an *os.PathError for %s matching fs.ErrNotExist", err, path)
	}
}

func TestRemoveAllTree(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	mustMkdir(t, outside)
	mustWrite(t, filepath.Join(outside, "keep"))

	wd := filepath.Join(base, "mdefang-ABC")
	mustMkdir(t, filepath.Join(wd, "Work", "deeper", "deepest"))
	for _, f := range []string{"COMMANDS", "HEADERS", "INPUTMSG", "RESULTS", "Work/PART1", "Work/deeper/x", "Work/deeper/deepest/y"} {
		mustWrite(t, filepath.Join(wd, f))
	}
	// Enough entries for several getdents calls.
	for i := range 600 {
		mustWrite(t, filepath.Join(wd, "Work", fmt.Sprintf("part-%04d-%s", i, strings.Repeat("n", 40))))
	}
	// Links are removed, never followed.
	if err := os.Symlink(outside, filepath.Join(wd, "link-to-dir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "keep"), filepath.Join(wd, "Work", "link-to-file")); err != nil {
		t.Fatal(err)
	}
	// A directory without permissions: root removes it anyway, as the
	// milter (which runs as the spool's owner) does with its own.
	mustMkdir(t, filepath.Join(wd, "locked"))
	mustWrite(t, filepath.Join(wd, "locked", "z"))
	os.Chmod(filepath.Join(wd, "locked"), 0o700)

	if err := RemoveAll(wd); err != nil {
		t.Fatalf("RemoveAll: %v", err)
	}
	if _, err := os.Lstat(wd); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s still there: %v", wd, err)
	}
	if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
		t.Errorf("a link's target was removed: %v", err)
	}
}

func TestRemoveAllEdgeCases(t *testing.T) {
	base := t.TempDir()
	if err := RemoveAll(filepath.Join(base, "missing")); err != nil {
		t.Errorf("missing path: %v, want nil", err)
	}
	file := filepath.Join(base, "file")
	mustWrite(t, file)
	if err := RemoveAll(file); err != nil {
		t.Errorf("a file: %v", err)
	}
	if _, err := os.Lstat(file); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file not removed: %v", err)
	}
	target := filepath.Join(base, "target")
	mustMkdir(t, target)
	mustWrite(t, filepath.Join(target, "keep"))
	link := filepath.Join(base, "link")
	os.Symlink(target, link)
	if err := RemoveAll(link); err != nil {
		t.Errorf("a link to a directory: %v", err)
	}
	if _, err := os.Lstat(link); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("link not removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(target, "keep")); err != nil {
		t.Errorf("the link's target lost its content: %v", err)
	}
	empty := filepath.Join(base, "empty")
	mustMkdir(t, empty)
	if err := RemoveAll(empty); err != nil {
		t.Errorf("an empty directory: %v", err)
	}
	for _, bad := range []string{"", ".", ".."} {
		if err := RemoveAll(bad); err == nil {
			t.Errorf("RemoveAll(%q) = nil, want an error", bad)
		}
	}
}

// TestRemoveAllReportsFailure: a directory whose parent is read-only for a
// user who is not root cannot be removed; the error names it.
func TestRemoveAllReportsFailure(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test needs root (it drops to nobody for the removal)")
	}
	// Its own directory, reachable by nobody (t.TempDir's parent is not).
	base, err := os.MkdirTemp("", "rawfile-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	wd := filepath.Join(base, "wd")
	mustMkdir(t, filepath.Join(wd, "sub"))
	mustWrite(t, filepath.Join(wd, "sub", "f"))
	os.Chmod(wd, 0o755)
	os.Chmod(filepath.Join(wd, "sub"), 0o755)
	// An unlink of a file owned by root in a root directory fails for
	// nobody; do it in a child process so as not to change this one's ids.
	if os.Getenv("RAWFILE_CHILD") == "" {
		// The test binary, where nobody can run it.
		self, _ := os.Executable()
		b, err := os.ReadFile(self)
		if err != nil {
			t.Fatal(err)
		}
		exe := filepath.Join(base, "rawfile.test")
		if err := os.WriteFile(exe, b, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(exe, "-test.run=^TestRemoveAllReportsFailure$")
		cmd.Env = append(os.Environ(), "RAWFILE_CHILD="+wd)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(wd, "sub", "f")); err != nil {
			t.Errorf("the child removed what it may not: %v", err)
		}
		return
	}
}

func TestMain(m *testing.M) {
	if wd := os.Getenv("RAWFILE_CHILD"); wd != "" {
		err := RemoveAll(wd)
		var pe *os.PathError
		if !errors.As(err, &pe) || !errors.Is(err, fs.ErrPermission) || !strings.HasPrefix(pe.Path, wd) {
			fmt.Fprintf(os.Stderr, "RemoveAll as nobody: %v, want a permission *os.PathError under %s\n", err, wd)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func mustMkdir(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}
