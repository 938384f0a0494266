package harness

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// ModulePath is the import path of the integration module; ModuleRoot looks
// for the go.mod that declares it.
const ModulePath = "github.com/mdgo/md/integration"

// Paths of the original MIMEDefang 3.3 programs (Debian package mimedefang).
const (
	OriginalMultiplexor = "/usr/bin/mimedefang-multiplexor"
	OriginalMilter      = "/usr/bin/mimedefang"
	OriginalWorker      = "/usr/bin/mimedefang.pl"
)

// DefangUser is the account the MIMEDefang daemons run as (-U). Debian's
// mimedefang package creates it.
const DefangUser = "defang"

// ModuleRoot returns the directory of the integration module, found by
// walking up from the working directory of the test binary (go test runs a
// test in its package directory).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("harness: working directory: %v", err)
	}
	for {
		if moduleLine(filepath.Join(dir, "go.mod")) == ModulePath {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("harness: no go.mod declaring %s above the working directory", ModulePath)
		}
		dir = parent
	}
}

func moduleLine(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// Testdata returns the absolute path of name under the module's testdata
// directory, failing the test if it does not exist.
func Testdata(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(ModuleRoot(t), "testdata", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("harness: testdata: %v", err)
	}
	return p
}

// BinDir returns the directory that holds our binaries: $MD_BIN_DIR if set
// (a relative value is taken relative to the integration module), otherwise
// ../bin next to the integration module, which is where `make build` puts
// them.
func BinDir(t testing.TB) string {
	t.Helper()
	root := ModuleRoot(t)
	dir := os.Getenv("MD_BIN_DIR")
	if dir == "" {
		dir = filepath.Join(root, "..", "bin")
	} else if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	return filepath.Clean(dir)
}

// MDBinary returns the absolute path of one of our binaries (md-multiplexor,
// md-worker, ...) in BinDir. It fails the test, saying to run make build,
// if the binary is missing or not executable.
func MDBinary(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(BinDir(t), name)
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		t.Fatalf("harness: %s not found at %s: run make build (or set MD_BIN_DIR to the directory that holds it)", name, p)
	case fi.IsDir() || fi.Mode()&0o111 == 0:
		t.Fatalf("harness: %s at %s is not an executable file: run make build", name, p)
	}
	return p
}

// RequireRoot fails the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("harness: the end-to-end tests must run as root: Postfix and the MIMEDefang daemons start as root and drop privileges (run as root, e.g. sudo make integration)")
	}
}

// RequireProgram fails the test unless path is an executable file, naming
// the Debian package that provides it.
func RequireProgram(t testing.TB, path, debianPackage string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		t.Fatalf("harness: %s is missing: apt-get install -y %s", path, debianPackage)
	}
}

// perlModules are the Perl modules mimedefang.pl needs at load time, with
// the Debian packages that provide them (Debian's mimedefang 3.3 does not
// declare the first two).
var perlModules = []struct{ module, pkg string }{
	{"Net::DNS", "libnet-dns-perl"},
	{"IO::Socket::SSL", "libio-socket-ssl-perl"},
	{"MIME::Parser", "libmime-tools-perl"},
}

var perlCheck struct {
	once    sync.Once
	missing []string // Debian packages to install
	err     error
}

// RequirePerlModules fails the test unless perl and the modules that
// mimedefang.pl loads are installed. Without them every worker dies at
// start-up and the symptom is a tempfail far from its cause.
func RequirePerlModules(t testing.TB) {
	t.Helper()
	perlCheck.once.Do(func() {
		if _, err := exec.LookPath("perl"); err != nil {
			perlCheck.err = err
			return
		}
		for _, m := range perlModules {
			if exec.Command("perl", "-M"+m.module, "-e", "1").Run() != nil {
				perlCheck.missing = append(perlCheck.missing, m.pkg)
			}
		}
	})
	if perlCheck.err != nil {
		t.Fatalf("harness: perl not found (%v): apt-get install -y perl", perlCheck.err)
	}
	if len(perlCheck.missing) > 0 {
		t.Fatalf("harness: Perl modules needed by mimedefang.pl are missing: apt-get install -y %s", strings.Join(perlCheck.missing, " "))
	}
}

// RequireMIMEDefang checks everything the original MIMEDefang daemons need:
// root, the three programs, the defang user and the Perl modules.
func RequireMIMEDefang(t testing.TB) {
	t.Helper()
	RequireRoot(t)
	RequireProgram(t, OriginalMultiplexor, "mimedefang")
	RequireProgram(t, OriginalMilter, "mimedefang")
	RequireProgram(t, OriginalWorker, "mimedefang")
	LookupUser(t, DefangUser, "mimedefang")
	RequirePerlModules(t)
}

// Account is a system user's numeric IDs.
type Account struct {
	Name     string
	UID, GID int
}

// LookupUser returns the IDs of a system account, failing the test with the
// Debian package that creates it if it does not exist.
func LookupUser(t testing.TB, name, debianPackage string) Account {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("harness: user %s does not exist (%v): apt-get install -y %s", name, err, debianPackage)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		t.Fatalf("harness: user %s has non-numeric IDs %q/%q", name, u.Uid, u.Gid)
	}
	return Account{Name: name, UID: uid, GID: gid}
}

// NewTestDir creates the test's private directory, mode 0755 so that the
// daemons' unprivileged users can reach what is inside, and removes it when
// the test ends (after every process the test started has been stopped,
// since cleanups run last-in first-out). With MD_KEEP_TMP=1 it is kept and
// its path logged.
//
// Before that, it reaps the directories and daemons of earlier test
// processes that died without cleaning up (see reap.go).
//
// The directory is short (/tmp/mdit-NNN) on purpose: Unix socket paths are
// limited to 107 bytes and Postfix puts its sockets under the queue
// directory.
func NewTestDir(t testing.TB) string {
	t.Helper()
	reapStale(t)
	return ownedTempDir(t, "", testDirPattern)
}

// ownedTempDir makes a directory with os.MkdirTemp(parent, pattern), mode
// 0755, with this process recorded as its owner (so that a later run can
// reap it if this one dies), and removes it at the test's end unless
// MD_KEEP_TMP=1.
func ownedTempDir(t testing.TB, parent, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp(parent, pattern)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	if err := writeOwner(dir); err != nil {
		os.RemoveAll(dir)
		t.Fatalf("harness: %v", err)
	}
	t.Cleanup(func() {
		if os.Getenv("MD_KEEP_TMP") == "1" {
			// Without an owner, the reapers leave it alone.
			os.Remove(filepath.Join(dir, ownerFile))
			t.Logf("harness: MD_KEEP_TMP=1: keeping %s", dir)
			return
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("harness: removing %s: %v", dir, err)
		}
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("harness: %v", err)
	}
	return dir
}

// MkdirOwned creates dir (and missing parents, mode 0755) and gives it to
// the account with the given mode.
func MkdirOwned(t testing.TB, dir string, owner Account, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("harness: %v", err)
	}
	if err := os.Chown(dir, owner.UID, owner.GID); err != nil {
		t.Fatalf("harness: %v", err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatalf("harness: %v", err)
	}
	return dir
}

// InstallFile copies src into dir with mode 0644 and returns the copy's
// path. Use it for filters and other files an unprivileged daemon must read:
// the source tree may sit under a directory it cannot enter.
func InstallFile(t testing.TB, src, dir string) string {
	t.Helper()
	return installFile(t, src, dir, 0o644)
}

// InstallExecutable is InstallFile for programs (mode 0755), such as a
// worker binary that the multiplexor runs as the defang user.
func InstallExecutable(t testing.TB, src, dir string) string {
	t.Helper()
	return installFile(t, src, dir, 0o755)
}

func installFile(t testing.TB, src, dir string, mode os.FileMode) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	defer in.Close()
	dst := filepath.Join(dir, filepath.Base(src))
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatalf("harness: copying %s: %v", src, err)
	}
	if err := out.Close(); err != nil {
		t.Fatalf("harness: %v", err)
	}
	if err := os.Chmod(dst, mode); err != nil {
		t.Fatalf("harness: %v", err)
	}
	return dst
}

// FreePorts returns n distinct TCP ports that were free on 127.0.0.1 a
// moment ago. All n listeners are held open until every port is chosen, so
// the ports differ from each other.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("harness: finding a free port: %v", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// FreePort returns one TCP port that was free on 127.0.0.1 a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	return FreePorts(t, 1)[0]
}

func hostPort(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

func tail(b []byte, max int) string {
	if len(b) <= max {
		return string(b)
	}
	return fmt.Sprintf("[... %d bytes cut ...]\n%s", len(b)-max, b[len(b)-max:])
}
