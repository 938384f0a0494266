package harness

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A test that dies without running its cleanups (go test -timeout panics,
// the binary is killed) leaves its daemons running and its directory
// behind. Each test directory therefore records its owner, and NewTestDir
// first reaps the directories whose owner is gone: it stops their Postfix
// with `postfix -c DIR stop`, kills by PID every process whose command line
// or environment names the directory (only the harness starts such
// processes: the path is unique), and removes the directory.

const (
	testDirPattern = "mdit-*"
	ownerFile      = ".harness-owner"
)

// writeOwner records the current process (PID and start time) as the owner
// of dir.
func writeOwner(dir string) error {
	start, ok := procStartTime(os.Getpid())
	if !ok {
		return fmt.Errorf("cannot read own start time")
	}
	return os.WriteFile(filepath.Join(dir, ownerFile), fmt.Appendf(nil, "%d %d\n", os.Getpid(), start), 0o644)
}

// ownerGone reports whether dir has an owner file naming a process that no
// longer runs. A directory without an owner file is left alone: it may be
// being created right now.
func ownerGone(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return false
	}
	var pid int
	var start uint64
	if _, err := fmt.Sscanf(string(b), "%d %d", &pid, &start); err != nil {
		return false
	}
	now, ok := procStartTime(pid)
	return !ok || now != start || !alive(pid)
}

// reapStale cleans up after test processes that died without cleaning up.
func reapStale(t testing.TB) {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), testDirPattern))
	for _, dir := range dirs {
		if !ownerGone(dir) {
			continue
		}
		t.Logf("harness: reaping %s, left behind by a test process that is gone", dir)
		etc := filepath.Join(dir, "postfix", "etc")
		if _, err := os.Stat(filepath.Join(etc, "main.cf")); err == nil {
			p := &Postfix{ConfigDir: etc, QueueDir: filepath.Join(dir, "postfix", "queue")}
			_, errs := p.shutdown()
			for _, err := range errs {
				t.Logf("harness: stale %s: %v", dir, err)
			}
		}
		for _, pid := range processesNaming(dir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if left := waitNoneNaming(dir, StopTimeout); len(left) > 0 {
			t.Logf("harness: stale %s: processes %v survived SIGKILL", dir, left)
		}
		unmountUnder(dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("harness: removing stale %s: %v", dir, err)
		}
	}
}

// unmountUnder detaches every filesystem mounted under dir (a test's
// tmpfs spool), so that the directory can be removed.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			_ = syscall.Unmount(f[1], syscall.MNT_DETACH)
		}
	}
}

// processesNaming lists live processes whose command line or environment
// contains dir followed by "/" or the end of a string.
func processesNaming(dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || !alive(pid) {
			continue
		}
		for _, f := range []string{"cmdline", "environ"} {
			b, _ := os.ReadFile("/proc/" + e.Name() + "/" + f)
			if names(b, dir) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// waitNoneNaming waits up to timeout until no process names dir, and
// returns those still left.
func waitNoneNaming(dir string, timeout time.Duration) []int {
	deadline := time.Now().Add(timeout)
	for {
		left := processesNaming(dir)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// names reports whether one of the NUL-separated strings contains dir as a
// whole path prefix: followed by "/" or by the end of the string.
func names(nulSeparated []byte, dir string) bool {
	for _, b := range bytes.Split(nulSeparated, []byte{0}) {
		s := string(b)
		for off := 0; ; {
			i := strings.Index(s[off:], dir)
			if i < 0 {
				break
			}
			end := off + i + len(dir)
			if end == len(s) || s[end] == '/' {
				return true
			}
			off += i + 1
		}
	}
	return false
}

// procStartTime returns field 22 of /proc/PID/stat, the start time in
// clock ticks since boot, which tells a process from a later one that
// reused its PID.
func procStartTime(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field 22 is f[19].
	if len(f) < 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(f[19], 10, 64)
	return v, err == nil
}
