package harness

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// NewSpool creates dir/spool owned by the defang user, mode 0700, as
// deploy/install.sh makes it (-z). The daemons need to write in it; neither
// the originals nor ours check its mode (TestFileModes).
func NewSpool(t testing.TB, dir string) string {
	t.Helper()
	return MkdirOwned(t, filepath.Join(dir, "spool"), LookupUser(t, DefangUser, "mimedefang"), 0o700)
}

// requireBinary fails the test unless path is executable, with the fix for
// an original (apt-get install) or for one of ours (make build).
func requireBinary(t testing.TB, path string) {
	t.Helper()
	if strings.HasPrefix(path, "/usr/") {
		RequireProgram(t, path, "mimedefang")
		return
	}
	fi, err := os.Stat(path)
	if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		t.Fatalf("harness: %s is missing or not executable: run make build", path)
	}
}

// MultiplexorOptions says which multiplexor to start and how. Zero values
// take the documented defaults.
type MultiplexorOptions struct {
	// Path is the multiplexor binary: OriginalMultiplexor or
	// MDBinary(t, "md-multiplexor"). Both take the same flags. Required.
	Path string
	// Dir is the test's directory (from NewTestDir). Required.
	Dir string
	// Spool is the spool directory (-z). Default: NewSpool(t, Dir).
	Spool string
	// Filter is the Perl filter (-F). It is copied into Dir/etc so that the
	// defang user can read it. Required.
	Filter string
	// Worker is the worker program (-f). Default: OriginalWorker. Any other
	// program is first copied into Dir/wbin, where the defang user can run
	// it.
	Worker string
	// MinWorkers and MaxWorkers are -m and -x. Default 1 and 4.
	MinWorkers, MaxWorkers int
	// Args are extra flags, appended after the ones above.
	Args []string
}

// Multiplexor is a running multiplexor.
type Multiplexor struct {
	*Process
	Spool  string // -z
	Socket string // -s, where the milter connects (-m)
	Filter string // the installed copy of the filter
}

// StartMultiplexor starts a multiplexor in the foreground as
//
//	PATH -D -U defang -z SPOOL -s SPOOL/mx.sock -f WORKER -F FILTER -m 1 -x 4 -l [Args...]
//
// and waits until its socket accepts connections. Its output goes to
// Dir/logs/multiplexor.log.
func StartMultiplexor(t testing.TB, o MultiplexorOptions) *Multiplexor {
	t.Helper()
	if o.Path == "" || o.Dir == "" || o.Filter == "" {
		t.Fatalf("harness: StartMultiplexor needs Path, Dir and Filter")
	}
	requireBinary(t, o.Path)
	if o.Spool == "" {
		o.Spool = NewSpool(t, o.Dir)
	}
	if o.Worker == "" {
		RequireProgram(t, OriginalWorker, "mimedefang")
		o.Worker = OriginalWorker
	} else if o.Worker != OriginalWorker {
		// a build output may sit where the defang user cannot reach it
		requireBinary(t, o.Worker)
		wbin := filepath.Join(o.Dir, "wbin")
		MkdirOwned(t, wbin, Account{UID: 0, GID: 0}, 0o755)
		o.Worker = InstallExecutable(t, o.Worker, wbin)
	}
	if o.MinWorkers == 0 {
		o.MinWorkers = 1
	}
	if o.MaxWorkers == 0 {
		o.MaxWorkers = 4
	}
	etc := filepath.Join(o.Dir, "etc")
	MkdirOwned(t, etc, Account{UID: 0, GID: 0}, 0o755)
	m := &Multiplexor{
		Spool:  o.Spool,
		Socket: filepath.Join(o.Spool, "mx.sock"),
		Filter: InstallFile(t, o.Filter, etc),
	}
	args := []string{
		"-D", "-U", DefangUser,
		"-z", m.Spool,
		"-s", m.Socket,
		"-f", o.Worker,
		"-F", m.Filter,
		"-m", strconv.Itoa(o.MinWorkers),
		"-x", strconv.Itoa(o.MaxWorkers),
		"-l",
	}
	args = append(args, o.Args...)
	m.Process = StartProcess(t, "multiplexor", filepath.Join(o.Dir, "logs"), o.Path, args...)
	WaitForUnixSocket(t, m.Socket, m.Process)
	return m
}

// MilterOptions says how to start the milter. Zero values take the
// documented defaults.
type MilterOptions struct {
	// Path is the milter binary. Default: OriginalMilter.
	Path string
	// Dir is the test's directory (from NewTestDir). Required.
	Dir string
	// Spool (-z) and MultiplexorSocket (-m) are normally a Multiplexor's
	// Spool and Socket. Required.
	Spool, MultiplexorSocket string
	// Port is the TCP port on 127.0.0.1 the milter listens on. Default: a
	// free one.
	Port int
	// Args are extra flags, appended after the default ones.
	Args []string
}

// Milter is a running milter.
type Milter struct {
	*Process
	Port int
	// Addr is 127.0.0.1:PORT.
	Addr string
	// Postfix is the milter's address in Postfix syntax
	// (inet:127.0.0.1:PORT), for smtpd_milters.
	Postfix string
}

// StartMilter starts the milter in the foreground as
//
//	PATH -D -U defang -p inet:PORT@127.0.0.1 -m MXSOCKET -z SPOOL [Args...]
//
// and waits until its port accepts connections. Its output goes to
// Dir/logs/milter.log.
//
// The milter listens on TCP, not on a Unix socket: the original creates its
// socket as the defang user with mode 0700, which Postfix's smtpd (running
// as the postfix user) cannot connect to.
func StartMilter(t testing.TB, o MilterOptions) *Milter {
	t.Helper()
	if o.Dir == "" || o.Spool == "" || o.MultiplexorSocket == "" {
		t.Fatalf("harness: StartMilter needs Dir, Spool and MultiplexorSocket")
	}
	if o.Path == "" {
		o.Path = OriginalMilter
	}
	requireBinary(t, o.Path)
	if o.Port == 0 {
		o.Port = FreePort(t)
	}
	m := &Milter{
		Port:    o.Port,
		Addr:    hostPort(o.Port),
		Postfix: fmt.Sprintf("inet:127.0.0.1:%d", o.Port),
	}
	args := []string{
		"-D", "-U", DefangUser,
		"-p", fmt.Sprintf("inet:%d@127.0.0.1", o.Port),
		"-m", o.MultiplexorSocket,
		"-z", o.Spool,
	}
	args = append(args, o.Args...)
	m.Process = StartProcess(t, "milter", filepath.Join(o.Dir, "logs"), o.Path, args...)
	// libmilter looks at its stop flag only when select() on the listening
	// socket returns, which is every 5 seconds (MI_CHK_TIME) or on a new
	// connection: connecting after SIGTERM makes it exit at once.
	m.Process.Wake = func() {
		if c, err := net.DialTimeout("tcp", m.Addr, 100*time.Millisecond); err == nil {
			c.Close()
		}
	}
	WaitForTCP(t, m.Addr, m.Process)
	return m
}
