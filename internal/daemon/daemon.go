// Package daemon is the plumbing md-milterd and md-multiplexor share to
// run as the original MIMEDefang daemons do (docs/reference/protocol.md §11.5): going into
// the background with a ready pipe, dropping privileges, the pid and lock
// files, telling systemd about start-up and shut-down (sd_notify), and the
// milter socket. Each daemon keeps its own options and run loop, and
// decides the order of these steps; the messages here are the ones both
// print, with the program's name where they name it.
package daemon

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Background re-executes the program (os.Args) in a new session, with
// stdin, stdout and stderr on /dev/null and the write end of a pipe as
// descriptor 3, named by the environment variable env (see OpenReadyPipe);
// then it waits for the child to report on that pipe and returns the
// parent's exit code: 0 once the child is ready ("X"), after telling the
// service manager, if any, that the child is the main process now
// (NotifyReadyFor); 1 when it failed ("E<message>", printed as "Error from
// child: <message>") or exited without reporting. prog ("md-milterd")
// begins the parent's own messages on stderr.
func Background(prog, env string, stderr io.Writer) int {
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 1
	}
	devnull, _ := os.Open(os.DevNull)
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Env = append(os.Environ(), env+"=3")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "%s: cannot go into the background: %v\n", prog, err)
		return 1
	}
	w.Close()
	msg, _ := io.ReadAll(r)
	switch {
	case len(msg) > 0 && msg[0] == 'X':
		// Under a service manager that gave us NOTIFY_SOCKET, the child
		// serves now: it becomes the main process, and the unit is ready.
		if err := NotifyReadyFor(cmd.Process.Pid); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		}
		return 0
	case len(msg) > 0 && msg[0] == 'E':
		fmt.Fprintf(stderr, "Error from child: %s\n", msg[1:])
	default:
		fmt.Fprintln(stderr, "Error from child: it exited without reporting")
	}
	return 1
}

// ReadyPipe is the background child's end of the pipe to its waiting
// parent (Background). A nil *ReadyPipe, in a process that was not started
// by Background, does nothing.
type ReadyPipe struct {
	f *os.File
}

// OpenReadyPipe returns the pipe whose descriptor the environment variable
// env names, or nil when env is not set. The descriptor becomes
// close-on-exec (the daemon's own children must not hold the parent's pipe
// open) and env leaves the environment.
func OpenReadyPipe(env string) *ReadyPipe {
	fdStr := os.Getenv(env)
	if fdStr == "" {
		return nil
	}
	fd, _ := strconv.Atoi(fdStr)
	syscall.CloseOnExec(fd)
	p := &ReadyPipe{f: os.NewFile(uintptr(fd), "ready")}
	os.Unsetenv(env)
	return p
}

// Ready tells the parent that the daemon serves ("X"); the parent exits
// with 0. The pipe is closed: later reports are not sent.
func (p *ReadyPipe) Ready() { p.send("X") }

// Fail tells the parent that the daemon could not start ("E<message>");
// the parent prints the message and exits with 1.
func (p *ReadyPipe) Fail(err error) { p.send("E" + err.Error()) }

func (p *ReadyPipe) send(m string) {
	if p == nil || p.f == nil {
		return
	}
	p.f.WriteString(m)
	p.f.Close()
	p.f = nil
}

// DropPrivileges switches to user, with its group and supplementary
// groups. Like the originals, it refuses to run as root: as root without
// a user, or with a user whose UID is 0. A user who is already the
// effective user needs no switch; any other needs root. allowRoot lets a
// test, which may run as root, go on as root without a user (dropping
// privileges would change the test process for good). prog names the
// program in the refusals.
func DropPrivileges(prog, name string, allowRoot bool) error {
	if name == "" {
		if os.Geteuid() == 0 && !allowRoot {
			return fmt.Errorf("you must not run %s as root: use -U <user>", prog)
		}
		return nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("unknown user %q: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if uid == 0 {
		return fmt.Errorf("you must not run %s as root: -U names root", prog)
	}
	if os.Geteuid() != 0 {
		if os.Geteuid() == uid {
			return nil
		}
		return fmt.Errorf("cannot switch to user %s: not running as root", name)
	}
	gids := []int{gid}
	if groups, err := u.GroupIds(); err == nil {
		for _, g := range groups {
			if n, err := strconv.Atoi(g); err == nil && n != gid {
				gids = append(gids, n)
			}
		}
	}
	if err := syscall.Setgroups(gids); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid: %w", err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid: %w", err)
	}
	return nil
}

// PidFile is a pid file, opened (created if need be, not truncated, and
// given mode 0644 whatever the umask, as the originals' fchmod does: "It
// needs to be world-readable") while the daemon may still write where its
// user may not, and written once the daemon serves: a second copy that
// its lock file stops must not empty the running copy's pid file. A nil
// *PidFile does nothing.
type PidFile struct {
	f    *os.File
	path string
}

// OpenPidFile opens path for Write; with path "" it returns nil.
func OpenPidFile(path string) (*PidFile, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot open pid file: %w", err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot open pid file: %w", err)
	}
	return &PidFile{f: f, path: path}, nil
}

// Write replaces the file's contents with the process ID and a newline,
// and closes it.
func (p *PidFile) Write() {
	if p == nil {
		return
	}
	p.f.Truncate(0)
	fmt.Fprintf(p.f, "%d\n", os.Getpid())
	p.f.Close()
}

// Remove removes the file, as the originals do when they exit. Call it
// only once this process holds the lock file: the pid file of a copy the
// lock refused is the running copy's.
func (p *PidFile) Remove() {
	if p != nil {
		os.Remove(p.path)
	}
}

// LockPath is the lock file of the options: lockFile (-o) when given, else
// <pidFile>.lock when there is a pid file (-P, -p), else "" (none).
func LockPath(lockFile, pidFile string) string {
	if lockFile == "" && pidFile != "" {
		return pidFile + ".lock"
	}
	return lockFile
}

// Lock is a lock file this process holds.
type Lock struct {
	f    *os.File
	path string
}

// LockFile creates path, mode 0600, and takes a write lock on it (fcntl
// F_SETLK, as the original's), so that two copies of a daemon cannot
// share it. The originals create it with 0666 under the umask 077 they set
// first thing, before -G or any other umask takes effect: 0600, with -G
// too; an inherited umask (systemd's UMask=) does not change that.
func LockFile(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open lock file %s: %w", path, err)
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0}
	if err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot lock %s (is another copy running?): %w", path, err)
	}
	return &Lock{f: f, path: path}, nil
}

// Release gives the lock up and removes the file.
func (l *Lock) Release() {
	l.f.Close()
	os.Remove(l.path)
}
