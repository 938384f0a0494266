package harness

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Spamd is SpamAssassin's daemon from Debian's spamd package.
const Spamd = "/usr/sbin/spamd"

// SpamAssassinPackages is the apt-get argument that installs spamd, its
// rules and the spamc client.
const SpamAssassinPackages = "spamassassin spamd spamc"

// SpamdUser is the account Debian's spamd package creates, which StartSpamd
// runs spamd as.
const SpamdUser = "debian-spamd"

// gtubeHead and gtubeTail are the two halves of GTUBE, SpamAssassin's
// anti-spam test string, kept apart so that no file of the repository
// holds the whole string (a spam filter would flag the checkout).
const (
	gtubeHead = `XJS*C4JDBQADN1.NSBN3*2IDNEN*`
	gtubeTail = `GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X`
)

// GTUBE returns the GTUBE string, assembled at run time: SpamAssassin
// scores a message holding it 1000, rspamd rejects it.
func GTUBE() string { return gtubeHead + gtubeTail }

// SpamdOptions configures StartSpamd. Zero values take the documented
// defaults.
type SpamdOptions struct {
	// Dir is the test's directory (from NewTestDir); spamd gets
	// Dir/spamd. Default: a new test directory.
	Dir string
	// Network runs spamd without -L, so that its network tests (DNS
	// blocklists, Razor, DCC) run; they fail quietly offline. Default:
	// local tests only.
	Network bool
	// Config holds lines for the site configuration's local.cf
	// ("required_score 4.0"), where a MIMEDefang installation's
	// sa-mimedefang.cf settings go.
	Config []string
	// MaxChildren is --max-children, how many messages spamd scans at
	// once. Default 2.
	MaxChildren int
}

// SpamdDaemon is a running spamd.
type SpamdDaemon struct {
	*Process
	Dir    string // spamd's directory: site/, home/, spamd.sock
	Site   string // --siteconfigpath: Debian's .pre files and local.cf
	Host   string // 127.0.0.1
	Port   int    // the TCP port
	Addr   string // Host:Port
	Socket string // the Unix socket
}

// StartSpamd starts SpamAssassin's spamd in the foreground as
//
//	spamd -L -x --listen=127.0.0.1:PORT --listen=DIR/spamd/spamd.sock
//	  --allowed-ips=127.0.0.1 -u debian-spamd -g debian-spamd
//	  --helper-home-dir=DIR/spamd/home --siteconfigpath=DIR/spamd/site
//	  --min-children=1 --max-children=2 --syslog=stderr
//
// with the rules of Debian's package (compiled by its postinst, so no
// sa-update is needed) and a site configuration of its own: copies of
// /etc/spamassassin/*.pre, which load the plugins, and a local.cf of
// o.Config. -L keeps it offline unless o.Network; -x ignores per-user
// preferences. It listens on a free port of 127.0.0.1 and on a Unix
// socket (mode 0666), and is stopped by its PID (and its children with
// its process group) when the test ends. A missing spamd fails the test
// with the apt-get line that installs it.
func StartSpamd(t testing.TB, o SpamdOptions) *SpamdDaemon {
	t.Helper()
	RequireRoot(t)
	RequireProgram(t, Spamd, SpamAssassinPackages)
	if o.Dir == "" {
		o.Dir = NewTestDir(t)
	}
	owner := LookupUser(t, SpamdUser, "spamd")
	dir := MkdirOwned(t, filepath.Join(o.Dir, "spamd"), Account{Name: "root"}, 0o755)
	s := &SpamdDaemon{
		Dir:    dir,
		Site:   MkdirOwned(t, filepath.Join(dir, "site"), Account{Name: "root"}, 0o755),
		Host:   "127.0.0.1",
		Port:   FreePort(t),
		Socket: filepath.Join(dir, "spamd.sock"),
	}
	s.Addr = hostPort(s.Port)
	home := MkdirOwned(t, filepath.Join(dir, "home"), owner, 0o700)
	pres, _ := filepath.Glob("/etc/spamassassin/*.pre")
	for _, pre := range pres {
		b, err := os.ReadFile(pre)
		if err != nil {
			t.Fatalf("harness: %v", err)
		}
		writeFile(t, filepath.Join(s.Site, filepath.Base(pre)), string(b), 0o644)
	}
	writeFile(t, filepath.Join(s.Site, "local.cf"), strings.Join(o.Config, "\n")+"\n", 0o644)
	args := []string{"-x", "--listen=" + s.Addr, "--listen=" + s.Socket, "--socketmode=0666",
		"--allowed-ips=127.0.0.1", "-u", SpamdUser, "-g", SpamdUser,
		"--helper-home-dir=" + home, "--siteconfigpath=" + s.Site,
		"--min-children=1", "--max-children=" + strconv.Itoa(max(o.MaxChildren, 2)), "--syslog=stderr"}
	if !o.Network {
		args = append([]string{"-L"}, args...)
	}
	s.Process = StartProcess(t, "spamd", filepath.Join(o.Dir, "logs"), Spamd, args...)
	WaitForTCP(t, s.Addr, s.Process)
	WaitForUnixSocket(t, s.Socket, s.Process)
	return s
}

// PortString is the TCP port as text, for a Lua filter's md_spamc_init.
func (s *SpamdDaemon) PortString() string { return strconv.Itoa(s.Port) }
