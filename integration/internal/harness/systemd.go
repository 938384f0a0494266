package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The systemd tests boot a real systemd (Debian bookworm's, 252) as PID 1
// of a container of their own, to start the product's units with it. No
// systemd runs on the test host, and the host's own must never be touched,
// so the container is a minimal Debian bookworm made with debootstrap
// (minbase plus systemd, systemd-sysv, dbus and procps), built once under
// SystemdRoot (about 30 s and 250 MB) and reused, read-only, by every later
// test and test run: each boot puts a writable overlay of its own (under
// the test's directory) over it, so a test that fails leaves the cached
// root as it was.
//
// BootSystemd starts /lib/systemd/systemd in new PID, mount, UTS, IPC and
// cgroup namespaces, chrooted into the overlay, in a cgroup v2 of its own
// (md-systemd.TESTDIR under the host's cgroup2 mount) that the cgroup
// namespace makes its root. The network namespace is the host's: a daemon
// a unit starts listens on the host's 127.0.0.1, where the test's Postfix
// reaches it. Commands run inside with nsenter (Systemd.Exec). The
// container ends at the test's cleanup: systemctl poweroff, SIGKILL of its
// PID 1 (which kills everything in its PID namespace) if that is not
// enough, then cgroup.kill; the test fails if any process is left in the
// container's cgroup.

// Environment variables of the systemd container.
const (
	// SystemdRootEnv names the cached root's directory. Default
	// DefaultSystemdRoot. debootstrap's mirror is the one of the Sendmail
	// chroot (SendmailMirrorEnv).
	SystemdRootEnv = "MD_SYSTEMD_ROOT"
)

// DefaultSystemdRoot is where the cached root lives when MD_SYSTEMD_ROOT is
// not set.
const DefaultSystemdRoot = "/var/tmp/md-systemd-root"

// systemdPackages are debootstrap --include'd into minbase: systemd as
// /sbin/init, the system bus, and ps for the tests' checks.
var systemdPackages = []string{"systemd", "systemd-sysv", "dbus", "procps"}

// systemdRoot is the root: debootstrap with systemdPackages.
var systemdRoot = &debootRoot{
	what:    "systemd root",
	env:     SystemdRootEnv,
	def:     DefaultSystemdRoot,
	marker:  ".md-systemd-root-complete",
	include: systemdPackages,
	timeout: SystemdBuildTimeout,
	about:   "about 30 s",
	files: []string{
		"lib/systemd/systemd", "bin/systemctl", "bin/journalctl", "bin/ps",
		"usr/sbin/useradd", "usr/bin/getent", "usr/bin/timeout", "bin/true",
	},
	recorded: systemdPackages,
	finish: func(t testing.TB, root string, run func(what, name string, args ...string)) {
		// The container has no terminal: its /dev/console is a plain
		// file, where agetty fails and is restarted forever (and the
		// system is "degraded").
		if err := os.Symlink("/dev/null", filepath.Join(root, "etc/systemd/system/console-getty.service")); err != nil {
			t.Fatalf("harness: %v", err)
		}
	},
}

// SystemdBuildTimeout bounds the root's build (debootstrap).
const SystemdBuildTimeout = 10 * time.Minute

// SystemdBootTimeout bounds the wait for the container's systemd to finish
// starting up, and its poweroff.
const SystemdBootTimeout = 60 * time.Second

// SystemdRoot returns the cached root, building it first if it is not
// complete (see debootRoot: one build at a time across processes). A
// missing debootstrap fails the test with the apt-get line that installs
// it.
func SystemdRoot(t testing.TB) string {
	t.Helper()
	return systemdRoot.get(t)
}

// SystemdOptions configures a container booted by BootSystemd.
type SystemdOptions struct {
	// Dir is the test's directory (from NewTestDir): the overlay's upper
	// and work directories and the boot log go to Dir/systemd. Required.
	Dir string
	// Hostname is the container's host name (its /etc/hostname, with a
	// line for it in /etc/hosts). Default "md-systemd-test".
	Hostname string
}

// Systemd is a booted container: systemd runs as PID 1 of its namespaces.
type Systemd struct {
	Lower string // the cached root (SystemdRoot), read-only
	Dir   string // Dir/systemd: upper/, work/, merged/, boot.log
	// PID is the host's PID of the container's PID 1, systemd.
	PID int
	// FS is the container's / as seen from the host (/proc/PID/root): the
	// overlay, mounted only in the container's mount namespace.
	FS     string
	cgroup string // the container's cgroup v2 (its cgroup namespace's root)

	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

// systemdCgroupPrefix starts the name of each container's cgroup, followed
// by the base name of its test directory.
const systemdCgroupPrefix = "md-systemd."

// bootScript runs as PID 1 of the new PID, mount, UTS and IPC namespaces.
// It moves itself into the container's cgroup, makes that the root of a new
// cgroup namespace, mounts the overlay and the API file systems systemd
// expects from a container manager, and becomes systemd.
const bootScript = `set -eu
echo 0 >"$MDSD_CGROUP/cgroup.procs"
mount --make-rprivate /
exec unshare --cgroup /bin/sh -eu -c '
R=$MDSD_MERGED
mount -t overlay overlay -o "lowerdir=$MDSD_LOWER,upperdir=$MDSD_UPPER,workdir=$MDSD_WORK" "$R"
mount -t proc proc "$R/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$R/sys/fs/cgroup"
mount -t tmpfs -o mode=755,nosuid tmpfs "$R/dev"
for d in null zero full random urandom tty; do
	touch "$R/dev/$d"
	mount --bind "/dev/$d" "$R/dev/$d"
done
mkdir "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/dev/shm"
touch "$R/dev/console"
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$R/run"
cd "$R"
exec env -i container=md-test "MD_TEST_DIR=$MDSD_TESTDIR" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	chroot "$R" /lib/systemd/systemd --system --unit=multi-user.target
'
`

// BootSystemd boots systemd in a container over the cached root
// (SystemdRoot) and waits until it has finished starting up (multi-user).
// The test's cleanup powers it off and checks that no process is left.
func BootSystemd(t testing.TB, o SystemdOptions) *Systemd {
	t.Helper()
	RequireRoot(t)
	if o.Dir == "" {
		t.Fatalf("harness: SystemdOptions.Dir is required")
	}
	if o.Hostname == "" {
		o.Hostname = "md-systemd-test"
	}
	for _, p := range []string{"unshare", "nsenter", "mount", "chroot"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("harness: %s is missing: apt-get install -y util-linux mount coreutils", p)
		}
	}
	lower := SystemdRoot(t)
	cgroot := cgroup2Mount(t)
	reapStaleSystemd(t, cgroot)

	s := &Systemd{Lower: lower, Dir: filepath.Join(o.Dir, "systemd"), done: make(chan struct{})}
	upper := filepath.Join(s.Dir, "upper")
	work := filepath.Join(s.Dir, "work")
	merged := filepath.Join(s.Dir, "merged")
	for _, d := range []string{upper, work, merged, filepath.Join(upper, "etc")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("harness: %v", err)
		}
	}
	// The host name, and a line for it in /etc/hosts (minbase has none),
	// as on an installed Debian: md-milterd looks up its own address.
	writeFile(t, filepath.Join(upper, "etc/hostname"), o.Hostname+"\n", 0o644)
	writeFile(t, filepath.Join(upper, "etc/hosts"), "127.0.0.1\tlocalhost\n127.0.1.1\t"+o.Hostname+"\n::1\tlocalhost ip6-localhost ip6-loopback\n", 0o644)

	s.cgroup = filepath.Join(cgroot, systemdCgroupPrefix+filepath.Base(o.Dir))
	if err := os.Mkdir(s.cgroup, 0o755); err != nil {
		t.Fatalf("harness: creating the container's cgroup: %v", err)
	}

	logPath := filepath.Join(s.Dir, "boot.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	cmd := exec.Command("/bin/sh", "-c", bootScript)
	cmd.Env = []string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C",
		"MDSD_CGROUP=" + s.cgroup, "MDSD_LOWER=" + lower, "MDSD_UPPER=" + upper,
		"MDSD_WORK=" + work, "MDSD_MERGED=" + merged, "MDSD_TESTDIR=" + o.Dir,
	}
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		os.Remove(s.cgroup)
		t.Fatalf("harness: starting the systemd container: %v", err)
	}
	logf.Close()
	s.cmd, s.PID = cmd, cmd.Process.Pid
	s.FS = fmt.Sprintf("/proc/%d/root", s.PID)
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() { s.shutdown(t) })

	// The boot script execs, down to systemd: PID stays systemd's. Wait
	// until systemctl can talk to it and startup is over.
	deadline := time.Now().Add(SystemdBootTimeout)
	var state string
	for {
		select {
		case <-s.done:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("harness: the systemd container exited during boot (%v):\n%s", s.waitErr, b)
		default:
		}
		out, _ := s.Exec(SystemdBootTimeout, "systemctl", "is-system-running", "--wait")
		state = strings.TrimSpace(out)
		if state == "running" || state == "degraded" {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("harness: the container's systemd is not up after %v: is-system-running says %q; boot log:\n%s", SystemdBootTimeout, state, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("harness: systemd booted in a container (PID %d on the host, root %s over %s) in %v: %s",
		s.PID, upper, lower, time.Since(start).Round(time.Millisecond), state)
	if state == "degraded" {
		out, _ := s.Exec(30*time.Second, "systemctl", "--failed", "--no-pager")
		t.Logf("harness: the container's failed units (not the product's):\n%s", out)
	}
	return s
}

// Path returns the host's path of the container's file p.
func (s *Systemd) Path(p string) string { return filepath.Join(s.FS, p) }

// Exec runs argv inside the container (its namespaces and root, as root,
// with a clean environment) and returns its output, stdout and stderr
// together.
func (s *Systemd) Exec(timeout time.Duration, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := append([]string{"--target", strconv.Itoa(s.PID),
		"--mount", "--uts", "--ipc", "--pid", "--cgroup", "--root", "--wd", "--"}, argv...)
	cmd := exec.CommandContext(ctx, "nsenter", args...)
	cmd.Env = []string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "HOME=/root", "TERM=dumb",
		"SYSTEMD_PAGER=", "SYSTEMD_COLORS=0",
	}
	// A command that leaves a process holding its output open (a daemon
	// started by hand) must not hang the test.
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%v (timed out after %v)", err, timeout)
	}
	return string(out), err
}

// Run is Exec that fails the test if argv fails; it logs the command and
// its output.
func (s *Systemd) Run(t testing.TB, argv ...string) string {
	t.Helper()
	out, err := s.Exec(2*time.Minute, argv...)
	t.Logf("container# %s\n%s", strings.Join(argv, " "), out)
	if err != nil {
		t.Fatalf("in the systemd container: %s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return out
}

// Systemctl runs systemctl in the container (Run).
func (s *Systemd) Systemctl(t testing.TB, args ...string) string {
	t.Helper()
	return s.Run(t, append([]string{"systemctl", "--no-pager"}, args...)...)
}

// Property returns one property of a unit (systemctl show -P).
func (s *Systemd) Property(t testing.TB, unit, name string) string {
	t.Helper()
	out, err := s.Exec(time.Minute, "systemctl", "show", "-P", name, unit)
	if err != nil {
		t.Fatalf("in the systemd container: systemctl show -P %s %s: %v\n%s", name, unit, err, out)
	}
	return strings.TrimSpace(out)
}

// shutdown powers the container off, kills what is left, checks that its
// cgroup is empty and removes it. On a failed test it first logs the
// journal's end.
func (s *Systemd) shutdown(t testing.TB) {
	t.Helper()
	select {
	case <-s.done:
	default:
		if t.Failed() {
			out, _ := s.Exec(30*time.Second, "journalctl", "--no-pager", "-n", "300")
			t.Logf("harness: the container's journal (last 300 lines):\n%s", out)
		}
		start := time.Now()
		if out, err := s.Exec(30*time.Second, "systemctl", "poweroff", "--no-block"); err != nil {
			t.Logf("harness: systemctl poweroff in the container: %v\n%s", err, out)
		}
		select {
		case <-s.done:
			t.Logf("harness: the container's systemd powered off in %v", time.Since(start).Round(time.Millisecond))
		case <-time.After(SystemdBootTimeout):
			t.Errorf("harness: the container's systemd (PID %d) still runs %v after poweroff: killing it", s.PID, SystemdBootTimeout)
			// SIGKILL to a PID namespace's init kills every process in it.
			_ = syscall.Kill(s.PID, syscall.SIGKILL)
			<-s.done
		}
	}
	if found, left := cleanupCgroup(s.cgroup, StopTimeout); len(found) > 0 {
		t.Errorf("harness: processes %v were left in the container's cgroup %s after its systemd exited (still there after SIGKILL: %v)", found, s.cgroup, left)
	}
	if err := removeCgroup(s.cgroup); err != nil {
		t.Errorf("harness: removing the container's cgroup: %v", err)
	}
}

// cgroup2Mount returns where the host mounts cgroup v2 (/sys/fs/cgroup, or
// /sys/fs/cgroup/unified on a hybrid host).
func cgroup2Mount(t testing.TB) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
		fields := strings.Fields(sc.Text())
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 {
				return fields[4]
			}
		}
	}
	t.Fatalf("harness: no cgroup2 file system is mounted on this host; the systemd container needs one (mount -t cgroup2 none /sys/fs/cgroup/unified)")
	return ""
}

// reapStaleSystemd removes the cgroups of containers whose test process
// died without its cleanups (NewTestDir has already reaped their test
// directories and killed the processes that name them, systemd among
// them).
func reapStaleSystemd(t testing.TB, cgroot string) {
	t.Helper()
	cgs, _ := filepath.Glob(filepath.Join(cgroot, systemdCgroupPrefix+"*"))
	for _, cg := range cgs {
		dir := filepath.Join(os.TempDir(), strings.TrimPrefix(filepath.Base(cg), systemdCgroupPrefix))
		if _, err := os.Stat(dir); err == nil && !ownerGone(dir) {
			continue
		}
		t.Logf("harness: reaping the cgroup %s, left behind by a test process that is gone", cg)
		if _, left := cleanupCgroup(cg, StopTimeout); len(left) > 0 {
			t.Logf("harness: stale cgroup %s: processes %v survived", cg, left)
			continue
		}
		if err := removeCgroup(cg); err != nil {
			t.Logf("harness: %v", err)
		}
	}
}

// cleanupCgroup kills every process left in the cgroup tree (cgroup.kill,
// else SIGKILL to each) and waits until it is empty; it returns the PIDs
// that were in it, and those still there at the timeout.
func cleanupCgroup(cg string, timeout time.Duration) (found, left []int) {
	found = cgroupPIDs(cg)
	if len(found) == 0 {
		return nil, nil
	}
	if err := os.WriteFile(filepath.Join(cg, "cgroup.kill"), []byte("1"), 0); err != nil {
		for _, pid := range found {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	deadline := time.Now().Add(timeout)
	for {
		left = cgroupPIDs(cg)
		if len(left) == 0 || time.Now().After(deadline) {
			return found, left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cgroupPIDs lists the processes of the cgroup and its descendants.
func cgroupPIDs(cg string) []int {
	var pids []int
	_ = filepath.WalkDir(cg, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, f := range bytes.Fields(b) {
			if pid, err := strconv.Atoi(string(f)); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

// removeCgroup removes the cgroup and its descendants, deepest first.
func removeCgroup(cg string) error {
	var dirs []string
	_ = filepath.WalkDir(cg, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("rmdir %s: %w", dirs[i], err)
		}
	}
	return nil
}
