package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// installedPrefixes are the absolute paths of the installed layout (see
// deploy/README.md) that the test moves under its DESTDIR when it runs a
// unit's command line: the programs, the configuration, the spool,
// quarantine and log directories.
var installedPrefixes = []string{
	"/usr/local/sbin/", "/etc/mail/", "/etc/default/",
	"/var/spool/MIMEDefang", "/var/spool/MD-Quarantine", "/var/log/md-mimedefang",
}

// installedLayout is an installation by deploy/install.sh into a staging
// root, and the daemons its units start (see start).
type installedLayout struct {
	repo, deploy, bindir string
	dir, root, logs      string
	envPath              string

	mxUnit, mdUnit *unit
	// defaults is the installed options file as install.sh wrote it,
	// before the test's overrides; mxEnv and mdEnv are what each unit's
	// commands get, overrides included.
	defaults, mxEnv, mdEnv           map[string]string
	milterPort, mxMetrics, mdMetrics int
	mx, md                           *harness.Process
	// mxNotify and mdNotify are the NOTIFY_SOCKETs start gave each
	// daemon, as systemd does for a Type=notify unit.
	mxNotify, mdNotify *notifySocket
}

// newInstalledLayout runs deploy/install.sh --destdir into a new test
// directory and returns the layout and what install.sh printed.
func newInstalledLayout(t *testing.T) (*installedLayout, string) {
	t.Helper()
	harness.RequireRoot(t)
	var bindir string
	for _, name := range []string{"md-multiplexor", "md-milterd", "md-mx-ctrl", "md-worker"} {
		bindir = filepath.Dir(harness.MDBinary(t, name))
	}
	in := &installedLayout{repo: filepath.Dir(harness.ModuleRoot(t)), bindir: bindir}
	in.deploy = filepath.Join(in.repo, "deploy")
	in.dir = harness.NewTestDir(t)
	in.root = filepath.Join(in.dir, "root")
	in.logs = filepath.Join(in.dir, "logs")
	in.envPath = filepath.Join(in.root, "etc/default/md-mimedefang")
	return in, in.install(t)
}

// install runs deploy/install.sh --destdir again.
func (in *installedLayout) install(t *testing.T) string {
	t.Helper()
	return runInstall(t, in.deploy, in.bindir, in.root)
}

// parseUnits reads the two installed units.
func (in *installedLayout) parseUnits(t *testing.T) {
	t.Helper()
	unitDir := filepath.Join(in.root, "etc/systemd/system")
	in.mxUnit = parseUnit(t, filepath.Join(unitDir, "md-multiplexor.service"))
	in.mdUnit = parseUnit(t, filepath.Join(unitDir, "md-milterd.service"))
}

// start makes the administrator's edits to the installed options file
// (lines appended to it: private ports instead of 7890, 9130 and 9131, and
// a smaller pool) and starts what the units start, as systemd would: their
// Environment= and EnvironmentFile=, ExecStart= with systemd's variable
// expansion, the staging root in front of every installed path. Type=notify
// as systemd does it: each daemon gets a NOTIFY_SOCKET of its own (a
// unixgram socket in the test directory), and a unit counts as started
// once READY=1 arrives there from its main process (NotifyAccess=main:
// the sender's PID, from SCM_CREDENTIALS, must be the daemon's);
// md-milterd, ordered after md-multiplexor, is started only then. Right
// after READY=1, md-mx-ctrl status must answer and md-milterd must accept
// a connection on inet:milterPort@127.0.0.1, without a retry. The harness
// stops both by PID when the test ends.
func (in *installedLayout) start(t *testing.T) {
	t.Helper()
	if in.mxUnit == nil {
		in.parseUnits(t)
	}
	if len(readFile(t, in.envPath)) == 0 {
		t.Fatalf("empty %s", in.envPath)
	}
	in.defaults = unitEnvironment(t, in.root, in.mxUnit)
	ports := harness.FreePorts(t, 3)
	in.milterPort, in.mxMetrics, in.mdMetrics = ports[0], ports[1], ports[2]
	f, err := os.OpenFile(in.envPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\n# test overrides\nMD_SOCKET=inet:%d@127.0.0.1\nMX_METRICS=127.0.0.1:%d\nMD_METRICS=127.0.0.1:%d\n"+
		"MX_OPTIONS=\"-m 1 -x 3 -b 600 -l -q 32\"\n", in.milterPort, in.mxMetrics, in.mdMetrics)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	for _, u := range []*unit{in.mxUnit, in.mdUnit} {
		if u.one(t, "Service.Type") != "notify" || len(u.get("Service.ExecStartPost")) != 0 {
			t.Fatalf("%s: start simulates Type=notify without ExecStartPost=", filepath.Base(u.path))
		}
	}

	// md-multiplexor.service: ExecStart; started once it sends READY=1.
	in.mxEnv = unitEnvironment(t, in.root, in.mxUnit)
	if in.mxEnv["MD_USER"] != harness.DefangUser {
		t.Errorf("MD_USER=%q in the installed options, want %q (the existing account)", in.mxEnv["MD_USER"], harness.DefangUser)
	}
	for k, v := range in.mxEnv {
		t.Setenv(k, v)
	}
	in.mxNotify = newNotifySocket(t, in.dir, "md-multiplexor")
	t.Setenv("NOTIFY_SOCKET", in.mxNotify.path)
	mxArgv := unitCommand(t, in.root, in.mxUnit, in.mxEnv, "ExecStart")
	in.mx = harness.StartProcess(t, "md-multiplexor", in.logs, mxArgv[0], mxArgv[1:]...)
	in.mxNotify.wait(t, in.mx, "READY=1", harness.StartTimeout)
	// Ready means the control socket answers: one md-mx-ctrl status.
	ctl := exec.Command(underRoot(in.root, "/usr/local/sbin/md-mx-ctrl"), "-s", underRoot(in.root, in.mxEnv["MX_SOCKET"]), "status")
	if out, err := ctl.CombinedOutput(); err != nil || len(out) == 0 {
		t.Fatalf("md-mx-ctrl status right after md-multiplexor's READY=1: %v %q", err, out)
	}

	// md-milterd.service, ordered after md-multiplexor.service.
	in.mdEnv = unitEnvironment(t, in.root, in.mdUnit)
	in.mdNotify = newNotifySocket(t, in.dir, "md-milterd")
	t.Setenv("NOTIFY_SOCKET", in.mdNotify.path)
	mdArgv := unitCommand(t, in.root, in.mdUnit, in.mdEnv, "ExecStart")
	in.md = harness.StartProcess(t, "md-milterd", in.logs, mdArgv[0], mdArgv[1:]...)
	in.mdNotify.wait(t, in.md, "READY=1", harness.StartTimeout)
	os.Unsetenv("NOTIFY_SOCKET") // t.Setenv restores it at the end
	// Ready means listening: one connection, no retry.
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", in.milterPort), 5*time.Second)
	if err != nil {
		t.Fatalf("md-milterd does not accept connections right after READY=1: %v", err)
	}
	c.Close()
}

// notifySocket is the NOTIFY_SOCKET systemd gives a Type=notify service:
// a unixgram socket, here in the test directory, that receives the
// daemon's sd_notify(3) messages with the sender's credentials.
type notifySocket struct {
	path string
	conn *net.UnixConn
	msgs chan notifyMsg
}

type notifyMsg struct {
	pid   int // from SCM_CREDENTIALS; 0 if none came
	state string
}

// newNotifySocket creates dir/notify-<name>, writable by the service
// account the daemons switch to, and reads it until the test ends.
func newNotifySocket(t *testing.T, dir, name string) *notifySocket {
	t.Helper()
	n := &notifySocket{path: filepath.Join(dir, "notify-"+name), msgs: make(chan notifyMsg, 16)}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n.conn = conn
	t.Cleanup(func() { conn.Close(); os.Remove(n.path) })
	if err := os.Chmod(n.path, 0o666); err != nil {
		t.Fatal(err)
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1)
	}); err != nil || serr != nil {
		t.Fatalf("SO_PASSCRED on %s: %v %v", n.path, err, serr)
	}
	go func() {
		defer close(n.msgs)
		buf, oob := make([]byte, 4096), make([]byte, 1024)
		for {
			nb, noob, _, _, err := conn.ReadMsgUnix(buf, oob)
			if err != nil {
				return
			}
			m := notifyMsg{state: string(buf[:nb])}
			if cms, err := syscall.ParseSocketControlMessage(oob[:noob]); err == nil {
				for _, cm := range cms {
					if cred, err := syscall.ParseUnixCredentials(&cm); err == nil {
						m.pid = int(cred.Pid)
					}
				}
			}
			n.msgs <- m
		}
	}()
	return n
}

// wait waits for a message with state (one of its lines) from p, the
// unit's main process. A message from another process fails the test:
// with NotifyAccess=main systemd would ignore it and never see the unit
// ready.
func (n *notifySocket) wait(t *testing.T, p *harness.Process, state string, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	deadline := time.After(timeout)
	exited := p.Exited()
	for {
		select {
		case m, ok := <-n.msgs:
			if !ok {
				t.Fatalf("%s: NOTIFY_SOCKET closed before %s", p.Name, state)
			}
			t.Logf("%s: NOTIFY_SOCKET got %q from PID %d after %v", p.Name, m.state, m.pid, time.Since(start).Round(time.Millisecond))
			if m.pid != p.PID {
				t.Fatalf("%s: %q came from PID %d, not from the main process %d (NotifyAccess=main)", p.Name, m.state, m.pid, p.PID)
			}
			if slices.Contains(strings.Split(m.state, "\n"), state) {
				return
			}
		case <-exited:
			// What it sent before it exited is queued on the socket:
			// a moment to read it.
			exited = nil
			deadline = time.After(time.Second)
			timeout = 0
		case <-deadline:
			if timeout == 0 {
				t.Fatalf("%s exited before sending %s:\n%s", p.Name, state, p.Log())
			}
			t.Fatalf("%s: no %s on NOTIFY_SOCKET after %v:\n%s", p.Name, state, timeout, p.Log())
		}
	}
}

// sendTypical sends a clean message and one with an .exe attachment
// (typicalCases) through mta, in front of the installed milter, and checks
// what the installed default filter did to each.
func (in *installedLayout) sendTypical(t *testing.T, mta harness.MTA) {
	t.Helper()
	clean := &harness.Message{From: "alice@" + harness.Domain, To: "bob@" + harness.Domain,
		Subject: "installed clean", Body: "Hello from the installed layout.\n"}
	if res := harness.Send(t, mta.SMTPAddr(), clean); !res.Accepted() {
		t.Fatalf("clean message: %s %s", res.Stage, res.Reply)
	}
	got := mta.WaitForMessage(t, clean.MessageID)
	if got.Header.Get("X-Scanned-By") == "" {
		t.Errorf("clean message delivered without X-Scanned-By:\n%s", got.Raw)
	}
	if !strings.Contains(string(got.Body), "Hello from the installed layout.") {
		t.Errorf("clean message body changed:\n%s", got.Raw)
	}

	exe := &harness.Message{From: "alice@" + harness.Domain, To: "bob@" + harness.Domain,
		Subject: "installed exe", Headers: typicalCases[1].headers, Body: typicalCases[1].body}
	if res := harness.Send(t, mta.SMTPAddr(), exe); !res.Accepted() {
		t.Fatalf("exe message: %s %s", res.Stage, res.Reply)
	}
	got = mta.WaitForMessage(t, exe.MessageID)
	raw := string(got.Raw)
	if !strings.Contains(strings.ReplaceAll(raw, "\r\n", "\n"), "An attachment named invoice.exe was removed from this document as it\nconstituted a security hazard.") {
		t.Errorf("exe message: no drop warning from the default filter:\n%s", raw)
	}
	for _, bad := range []string{`filename="invoice.exe"`, "TVqQ"} {
		if strings.Contains(raw, bad) {
			t.Errorf("exe message still carries the .exe part (%q):\n%s", bad, raw)
		}
	}
	if !strings.Contains(raw, "notes.txt") {
		t.Errorf("exe message lost notes.txt:\n%s", raw)
	}
}

// stop is systemctl stop md-milterd md-multiplexor, by PID, milter first;
// then no working directory may be left in the installed spool.
func (in *installedLayout) stop(t *testing.T) {
	t.Helper()
	in.md.Stop(t)
	in.mx.Stop(t)
	// Each told systemd it was stopping (STOPPING=1) on SIGTERM.
	in.mdNotify.wait(t, in.md, "STOPPING=1", 5*time.Second)
	in.mxNotify.wait(t, in.mx, "STOPPING=1", 5*time.Second)
	spool := filepath.Join(in.root, "var/spool/MIMEDefang")
	entries, err := os.ReadDir(spool)
	if err != nil {
		t.Errorf("installed spool: %v", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "mdefang-") {
			t.Errorf("working directory %s left in the spool", e.Name())
		}
	}
}

// TestInstalledLayout installs with deploy/install.sh into a staging root
// (--destdir), has systemd-analyze verify the installed units, starts what
// they start, as systemd would (installedLayout.start), puts the private
// Postfix with deploy/postfix/main.cf.snippet in front of the installed
// milter, and sends a clean message and one with an .exe attachment
// through the installed default filter. It also runs the reload command
// and checks the Grafana dashboard against the metrics the daemons define
// and serve. TestSendmailInstalledLayout does the same behind Sendmail.
func TestInstalledLayout(t *testing.T) {
	// Install twice: the second run must keep the configuration and
	// filter and change nothing else.
	in, out := newInstalledLayout(t)
	for _, want := range []string{"default filter in", "options in", "units in"} {
		if !strings.Contains(out, want) {
			t.Errorf("install.sh output lacks %q:\n%s", want, out)
		}
	}
	filterPath := filepath.Join(in.root, "etc/mail/md-filter.lua")
	os.WriteFile(filterPath, append(readFile(t, filterPath), "\n-- local change\n"...), 0o644)
	out = in.install(t)
	for _, want := range []string{"keeping the existing filter", "keeping the existing " + in.envPath} {
		if !strings.Contains(out, want) {
			t.Errorf("second install.sh run: output lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasSuffix(string(readFile(t, filterPath)), "-- local change\n") {
		t.Errorf("second install.sh run overwrote the filter")
	}
	checkInstalledTree(t, in.root)

	in.parseUnits(t)
	checkUnits(t, in.mxUnit, in.mdUnit)
	verifyUnits(t, in.dir, in.root, filepath.Join(in.deploy, "systemd"))

	in.start(t)
	pf := harness.StartPostfix(t, harness.PostfixOptions{
		Dir:     in.dir,
		Milters: fmt.Sprintf("inet:127.0.0.1:%d", in.milterPort),
		Main:    postfixSnippet(t, filepath.Join(in.deploy, "postfix/main.cf.snippet")),
	})
	if got := pf.Postconf(t, "-h", "milter_default_action"); strings.TrimSpace(got) != "tempfail" {
		t.Errorf("milter_default_action = %q, want tempfail from the snippet", got)
	}
	in.sendTypical(t, pf)

	// systemctl reload md-multiplexor (and md-milterd, PropagatesReloadTo).
	if out := runUnitCommand(t, in.root, in.mxUnit, in.mxEnv, "ExecReload", 40*time.Second); !strings.Contains(out, "Forced reread of filter rules") {
		t.Errorf("ExecReload of md-multiplexor.service printed %q, want the reread reply", out)
	}
	runUnitCommand(t, in.root, in.mdUnit, in.mdEnv, "ExecReload", 10*time.Second)

	// The dashboard: valid JSON, every expression over metrics that exist.
	defined := definedMetrics(t, in.repo)
	served := scrapeMetricNames(t, fmt.Sprintf("127.0.0.1:%d", in.mxMetrics))
	for n := range scrapeMetricNames(t, fmt.Sprintf("127.0.0.1:%d", in.mdMetrics)) {
		served[n] = true
	}
	for n := range served {
		if !defined[n] {
			t.Errorf("the daemons serve %s, which the metric sources do not define (extraction broken?)", n)
		}
	}
	for _, n := range []string{"mimedefang_multiplexor_requests_total", "mimedefang_milterd_messages_total"} {
		if !served[n] {
			t.Errorf("%s not served after two messages", n)
		}
	}
	checkDashboard(t, filepath.Join(in.deploy, "grafana/md-mimedefang.json"), defined)

	in.stop(t)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func runInstall(t *testing.T, deploy, bindir, root string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(deploy, "install.sh"), "--bindir", bindir, "--destdir", root)
	out, err := cmd.CombinedOutput()
	t.Logf("deploy/install.sh --bindir %s --destdir %s:\n%s", bindir, root, out)
	if err != nil {
		t.Fatalf("install.sh: %v", err)
	}
	return string(out)
}

// checkInstalledTree checks what install.sh put where, with which owner and
// mode.
func checkInstalledTree(t *testing.T, root string) {
	t.Helper()
	defang := harness.LookupUser(t, harness.DefangUser, "mimedefang")
	for _, c := range []struct {
		path  string
		mode  os.FileMode
		owner int
	}{
		{"usr/local/sbin/md-multiplexor", 0o755, 0},
		{"usr/local/sbin/md-milterd", 0o755, 0},
		{"usr/local/sbin/md-mx-ctrl", 0o755, 0},
		{"usr/local/sbin/md-worker", 0o755, 0},
		{"etc/mail/md-filter.lua", 0o644, 0},
		{"etc/default/md-mimedefang", 0o644, 0},
		{"etc/systemd/system/md-multiplexor.service", 0o644, 0},
		{"etc/systemd/system/md-milterd.service", 0o644, 0},
		{"usr/local/share/doc/md-mimedefang/README.md", 0o644, 0},
		{"var/spool/MIMEDefang", os.ModeDir | 0o700, defang.UID},
		{"var/spool/MD-Quarantine", os.ModeDir | 0o750, defang.UID},
		{"var/log/md-mimedefang", os.ModeDir | 0o750, defang.UID},
	} {
		fi, err := os.Stat(filepath.Join(root, c.path))
		if err != nil {
			t.Errorf("installed layout: %v", err)
			continue
		}
		if fi.Mode() != c.mode {
			t.Errorf("%s: mode %v, want %v", c.path, fi.Mode(), c.mode)
		}
		if uid := int(fileUID(fi)); uid != c.owner {
			t.Errorf("%s: owner uid %d, want %d", c.path, uid, c.owner)
		}
	}
}

// unit is a parsed unit file: "Section.Key" to its values in order.
type unit struct {
	path string
	keys map[string][]string
}

// parseUnit reads a unit file as systemd does for what the test needs:
// sections, Key=Value lines, comments, and lines continued with a
// backslash.
func parseUnit(t *testing.T, path string) *unit {
	t.Helper()
	u := &unit{path: path, keys: map[string][]string{}}
	section := ""
	var cont string
	for i, line := range strings.Split(string(readFile(t, path)), "\n") {
		line = strings.TrimSpace(line)
		if cont != "" {
			line = cont + " " + line
			cont = ""
		}
		if strings.HasSuffix(line, "\\") {
			cont = strings.TrimSuffix(line, "\\")
			continue
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				t.Fatalf("%s:%d: bad section line %q", path, i+1, line)
			}
			section = line[1 : len(line)-1]
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.TrimSpace(k) == "" {
				t.Fatalf("%s:%d: not a Key=Value line in a section: %q", path, i+1, line)
			}
			key := section + "." + strings.TrimSpace(k)
			u.keys[key] = append(u.keys[key], strings.TrimSpace(v))
		}
	}
	return u
}

func (u *unit) get(key string) []string { return u.keys[key] }

func (u *unit) one(t *testing.T, key string) string {
	t.Helper()
	v := u.keys[key]
	if len(v) != 1 {
		t.Fatalf("%s: want exactly one %s, have %q", u.path, key, v)
	}
	return v[0]
}

// checkUnits checks the dependencies and settings the deployment relies
// on.
func checkUnits(t *testing.T, mx, md *unit) {
	t.Helper()
	for _, c := range []struct {
		u         *unit
		key, want string
	}{
		{mx, "Service.Type", "notify"},
		{md, "Service.Type", "notify"},
		{mx, "Service.NotifyAccess", "main"},
		{md, "Service.NotifyAccess", "main"},
		{mx, "Service.EnvironmentFile", "/etc/default/md-mimedefang"},
		{md, "Service.EnvironmentFile", "/etc/default/md-mimedefang"},
		{md, "Unit.BindsTo", "md-multiplexor.service"},
		{md, "Unit.PropagatesReloadTo", "md-multiplexor.service"},
		{mx, "Service.KillMode", "mixed"},
		{mx, "Service.NoNewPrivileges", "yes"},
		{md, "Service.NoNewPrivileges", "yes"},
		{mx, "Install.WantedBy", "multi-user.target"},
		{md, "Install.WantedBy", "multi-user.target"},
	} {
		if got := c.u.get(c.key); !slices.Contains(got, c.want) {
			t.Errorf("%s: %s = %q, want %q", filepath.Base(c.u.path), c.key, got, c.want)
		}
	}
	if after := strings.Join(md.get("Unit.After"), " "); !strings.Contains(after, "md-multiplexor.service") {
		t.Errorf("md-milterd.service: After=%q lacks md-multiplexor.service", after)
	}
	for _, u := range []*unit{mx, md} {
		// Type=notify: the daemon itself says when it is ready; no
		// polling loop after ExecStart.
		if post := u.get("Service.ExecStartPost"); len(post) != 0 {
			t.Errorf("%s: ExecStartPost=%q: with Type=notify, READY=1 is the readiness", filepath.Base(u.path), post)
		}
		exec := u.one(t, "Service.ExecStart")
		if !strings.Contains(exec, " -D ") || !strings.Contains(exec, " -U ${MD_USER} ") {
			t.Errorf("%s: ExecStart %q must run in the foreground (-D) with -U ${MD_USER}", filepath.Base(u.path), exec)
		}
		if strings.Contains(exec, "@") && strings.Contains(exec, "@SBINDIR@") {
			t.Errorf("%s: install.sh left @SBINDIR@ in %q", filepath.Base(u.path), exec)
		}
	}
}

// verifyUnits has systemd-analyze verify (systemd's own unit loader, run
// offline: no systemd needs to run) check the two units install.sh
// installed under root, and, as a control, fail on the repository's
// templates in templateDir, whose @SBINDIR@ placeholders are not paths.
//
// The installed units name their programs by their installed paths,
// /usr/local/sbin/..., which exist only under the staging root.
// --root=STAGING is no way out: it also looks for everything else there,
// the targets the units are ordered against (multi-user.target, ...) and
// /bin/sh and /bin/true, which install.sh does not install. So
// verify checks copies of the installed units, in a directory of their
// own under dir, identical but for the directory of our programs: every
// /usr/local/sbin/ is root/usr/local/sbin/ in the copies (the test checks
// that only Exec*= lines, and comments, differ). Everything else is
// verified as installed, against the host's systemd: every key and value,
// the dependencies on the host's units (After=network.target, WantedBy=
// multi-user.target, BindsTo= between the two, ...), and that each Exec*=
// program exists and is executable: our programs in the staging root,
// /bin/sh and /bin/true on the host. The other settings
// (EnvironmentFile=, ReadWritePaths=) are read when the unit starts, not
// by verify; start runs the units' commands with them.
//
// Any line verify prints about our units fails the test, and so does a
// non-zero exit status. Verify also loads the host units ours depend on; a
// line it prints about one of those (it starts with that unit's name or
// file, never ours) is logged, not counted: it is the host's, not the
// installation's. A dependency that does not exist on the host is reported
// on our unit ("md-milterd.service: Failed to create
// md-milterd.service/start: Unit X not found."), and counted.
// --recursive-errors=one: our units and their immediate dependencies
// decide the exit status (=no would not report a missing Requires= unit).
// --generators=no: no unit generators (they describe the running host, not
// the installation); --man=no: the units link file: documentation only,
// no man: pages.
func verifyUnits(t *testing.T, dir, root, templateDir string) {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze is missing, so the units cannot be verified: apt-get install -y systemd")
	}
	names := []string{"md-multiplexor.service", "md-milterd.service"}
	verify := func(paths []string) (string, error) {
		args := append([]string{"verify", "--man=no", "--generators=no", "--recursive-errors=one"}, paths...)
		cmd := exec.Command(analyze, args...)
		cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0", "SYSTEMD_PAGER=", "LC_ALL=C")
		out, err := cmd.CombinedOutput()
		t.Logf("systemd-analyze %s (exit %v):\n%s", strings.Join(args, " "), err, out)
		return string(out), err
	}

	vdir := filepath.Join(dir, "verify")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		t.Fatal(err)
	}
	var copies []string
	const sbin = "/usr/local/sbin/"
	for _, name := range names {
		installed := string(readFile(t, filepath.Join(root, "etc/systemd/system", name)))
		if !strings.Contains(installed, sbin) {
			t.Fatalf("installed %s names no program in %s", name, sbin)
		}
		copied := strings.ReplaceAll(installed, sbin, filepath.Join(root, sbin)+"/")
		a, b := strings.Split(installed, "\n"), strings.Split(copied, "\n")
		for i := range a {
			if l := strings.TrimSpace(a[i]); a[i] != b[i] && !strings.HasPrefix(l, "Exec") && !strings.HasPrefix(l, "#") {
				t.Fatalf("%s: the copy for systemd-analyze differs from the installed unit on a line that is not Exec*=: %q", name, a[i])
			}
		}
		path := filepath.Join(vdir, name)
		if err := os.WriteFile(path, []byte(copied), 0o644); err != nil {
			t.Fatal(err)
		}
		copies = append(copies, path)
	}
	out, err := verify(copies)
	if err != nil {
		t.Errorf("systemd-analyze verify of the installed units: %v", err)
	}
	unitRef := regexp.MustCompile(`^(\S+\.(?:service|socket|target|mount|automount|swap|path|timer|slice|scope|device))(?::\d+)?: `)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		if m := unitRef.FindStringSubmatch(line); m != nil && !slices.Contains(names, filepath.Base(m[1])) {
			t.Logf("systemd-analyze verify: about a host unit, not counted: %s", line)
			continue
		}
		t.Errorf("systemd-analyze verify: %s", line)
	}

	// The control: the templates must not pass.
	var templates []string
	for _, name := range names {
		templates = append(templates, filepath.Join(templateDir, name))
	}
	out, err = verify(templates)
	if err == nil || !strings.Contains(out, "SBINDIR@/md-multiplexor") || !strings.Contains(out, "SBINDIR@/md-milterd") {
		t.Errorf("systemd-analyze verify of the templates in %s: exit %v, want a failure on each @SBINDIR@ program (is verify checking anything?):\n%s", templateDir, err, out)
	}
}

// unitEnvironment is the environment systemd gives the unit's commands:
// Environment= lines, then the EnvironmentFile= (under root).
func unitEnvironment(t *testing.T, root string, u *unit) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, line := range u.get("Service.Environment") {
		for _, w := range splitWords(t, line) {
			if k, v, ok := strings.Cut(w, "="); ok {
				env[k] = v
			}
		}
	}
	for _, path := range u.get("Service.EnvironmentFile") {
		optional := strings.HasPrefix(path, "-")
		path = filepath.Join(root, strings.TrimPrefix(path, "-"))
		f, err := os.Open(path)
		if err != nil {
			if optional {
				continue
			}
			t.Fatalf("%s: EnvironmentFile: %v", u.path, err)
		}
		s := bufio.NewScanner(f)
		for s.Scan() {
			line := strings.TrimSpace(s.Text())
			if line == "" || line[0] == '#' || line[0] == ';' {
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				f.Close()
				t.Fatalf("%s: not NAME=value: %q", path, line)
			}
			v = strings.TrimSpace(v)
			if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
				v = v[1 : len(v)-1]
			}
			env[strings.TrimSpace(k)] = v
		}
		f.Close()
	}
	return env
}

// splitWords splits a unit command line into words as systemd does:
// whitespace separates, double and single quotes group and are removed.
func splitWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			w.WriteByte(c)
		case c == '"' || c == '\'':
			quote, in = c, true
		case c == ' ' || c == '\t':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quote in %q", s)
	}
	if in {
		words = append(words, w.String())
	}
	return words
}

var (
	varWhole = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)$`)
	varBrace = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)
)

// unitCommand expands the unit's one command line key (ExecStart, ...) as
// systemd does, a leading "-" or "@" prefix aside (none is used): a word
// $NAME becomes the value split at whitespace, ${NAME} anywhere the value as
// is, "$$" a "$". Then every installed path gets the staging root in front.
func unitCommand(t *testing.T, root string, u *unit, env map[string]string, key string) []string {
	t.Helper()
	line := u.one(t, "Service."+key)
	var argv []string
	for _, w := range splitWords(t, line) {
		if m := varWhole.FindStringSubmatch(w); m != nil {
			argv = append(argv, strings.Fields(env[m[1]])...)
			continue
		}
		w = strings.ReplaceAll(w, "$$", "\x00")
		w = varBrace.ReplaceAllStringFunc(w, func(v string) string { return env[v[2:len(v)-1]] })
		argv = append(argv, strings.ReplaceAll(w, "\x00", "$"))
	}
	for i, a := range argv {
		argv[i] = underRoot(root, a)
	}
	if len(argv) == 0 || !filepath.IsAbs(argv[0]) {
		t.Fatalf("%s: %s=%q: the program must be an absolute path", u.path, key, line)
	}
	return argv
}

// underRoot puts root in front of every installed path in arg, also
// inside a shell command ("sh -c '... /usr/local/sbin/md-mx-ctrl ...'").
func underRoot(root, arg string) string {
	for _, p := range installedPrefixes {
		re := regexp.MustCompile(`(^|[\s:=])` + regexp.QuoteMeta(p))
		arg = re.ReplaceAllString(arg, "${1}"+root+p)
	}
	return arg
}

// runUnitCommand runs a one-shot command of the unit (ExecReload) to
// completion and returns its output.
func runUnitCommand(t *testing.T, root string, u *unit, env map[string]string, key string, timeout time.Duration) string {
	t.Helper()
	argv := unitCommand(t, root, u, env, key)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	out, err := cmd.CombinedOutput()
	t.Logf("%s %s: %q\n%s", filepath.Base(u.path), key, argv, out)
	if err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(u.path), key, err)
	}
	return string(out)
}

// postfixSnippet returns the main.cf lines of the snippet, without
// smtpd_milters (the harness points its listener at the test's milter).
// StartPostfix rejects any parameter Postfix does not know.
func postfixSnippet(t *testing.T, path string) []string {
	t.Helper()
	var lines []string
	seen := map[string]bool{}
	for _, line := range strings.Split(string(readFile(t, path)), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not a main.cf line: %q", path, line)
		}
		seen[strings.TrimSpace(name)] = true
		if strings.TrimSpace(name) == "smtpd_milters" {
			continue
		}
		lines = append(lines, line)
	}
	for _, want := range []string{"smtpd_milters", "milter_default_action", "milter_protocol"} {
		if !seen[want] {
			t.Errorf("%s does not set %s", path, want)
		}
	}
	return lines
}

// definedMetrics returns the metric names both daemons define: the
// metricsPrefix constant plus each name added to it in the metrics files.
func definedMetrics(t *testing.T, repo string) map[string]bool {
	t.Helper()
	prefixRe := regexp.MustCompile(`const metricsPrefix = "([a-z_]+)"`)
	nameRe := regexp.MustCompile(`metricsPrefix\s*\+\s*"([a-z_]+)"`)
	histRe := regexp.MustCompile(`(?s)prometheus\.NewHistogram(?:Vec)?\(prometheus\.HistogramOpts\{\s*Name:\s*metricsPrefix\s*\+\s*"([a-z_]+)"`)
	names := map[string]bool{}
	for _, f := range []string{"multiplexor/internal/mux/metrics.go", "milterd/internal/milter/metrics.go"} {
		src := string(readFile(t, filepath.Join(repo, f)))
		pm := prefixRe.FindStringSubmatch(src)
		if pm == nil {
			t.Fatalf("%s: no metricsPrefix constant", f)
		}
		found := 0
		for _, m := range nameRe.FindAllStringSubmatch(src, -1) {
			names[pm[1]+m[1]] = true
			found++
		}
		for _, m := range histRe.FindAllStringSubmatch(src, -1) {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[pm[1]+m[1]+s] = true
			}
		}
		if found < 5 {
			t.Fatalf("%s: only %d metric names found", f, found)
		}
	}
	return names
}

// scrapeMetricNames returns the metric families /metrics serves (from the
// "# TYPE" lines).
func scrapeMetricNames(t *testing.T, addr string) map[string]bool {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scraping %s: %v", addr, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	names := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && strings.HasPrefix(f[0], "mimedefang_") {
				names[f[0]] = true
			}
		}
	}
	if len(names) == 0 {
		t.Fatalf("%s/metrics serves no mimedefang_ metric:\n%s", addr, b)
	}
	return names
}

// checkDashboard parses the Grafana dashboard and checks every "expr":
// each names at least one metric, and only metrics the daemons define.
func checkDashboard(t *testing.T, path string, defined map[string]bool) {
	t.Helper()
	var dash map[string]any
	if err := json.Unmarshal(readFile(t, path), &dash); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, k := range []string{"title", "panels", "uid", "schemaVersion"} {
		if _, ok := dash[k]; !ok {
			t.Errorf("%s: no %q", path, k)
		}
	}
	metricRe := regexp.MustCompile(`\bmimedefang_[a-z_]+`)
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "expr" {
					exprs = append(exprs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(dash)
	if len(exprs) < 8 {
		t.Errorf("%s: only %d expressions", path, len(exprs))
	}
	used := map[string]bool{}
	for _, e := range exprs {
		ms := metricRe.FindAllString(e, -1)
		if len(ms) == 0 {
			t.Errorf("%s: expression names no mimedefang_ metric: %s", path, e)
		}
		for _, m := range ms {
			used[m] = true
			if !defined[m] {
				t.Errorf("%s: %s is not a metric of md-multiplexor or md-milterd (in %s)", path, m, e)
			}
		}
	}
	t.Logf("%s: %d expressions over %d metrics", path, len(exprs), len(used))
	for _, must := range []string{
		"mimedefang_multiplexor_requests_total", "mimedefang_multiplexor_request_duration_seconds_bucket",
		"mimedefang_multiplexor_workers", "mimedefang_multiplexor_queue_depth",
		"mimedefang_milterd_sessions_active", "mimedefang_milterd_messages_total", "mimedefang_milterd_errors_total",
	} {
		if !used[must] {
			t.Errorf("%s: no panel over %s", path, must)
		}
	}
}

func fileUID(fi os.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid
	}
	return ^uint32(0)
}
