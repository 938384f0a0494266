package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// receivedQueueID finds the queue ID in the Received header Postfix's smtpd
// adds ("by HOST (Postfix) with ESMTP id 4ZxY...").
var receivedQueueID = regexp.MustCompile(`\(Postfix\) with E?SMTPS?A? id ([0-9A-Za-z]+)`)

// TestSystemdUnits starts the product's units under a real systemd: Debian
// bookworm's systemd 252, booted as PID 1 of a container over a cached
// debootstrap root (harness.BootSystemd; the first run builds the root,
// about 36 s). Inside, deploy/install.sh installs as an administrator
// would, without --destdir: it creates the service account and tells
// systemd. systemctl enable md-milterd must enable both units (Also=);
// systemctl start md-milterd must pull md-multiplexor in (BindsTo=) and
// start it first (After=; Type=notify: md-multiplexor is active once it
// sent READY=1, its control socket answering); when systemctl start
// returns, md-milterd (Type=notify too) must already accept connections on
// the milter port, without a retry; all daemons must run as the service
// account. The host's private Postfix with deploy/postfix/main.cf.snippet
// sends a clean message and one with an .exe attachment through them, and
// journald must hold md-milterd's line with each message's queue ID exactly
// once, under the syslog identifier mimedefang (with -D, the daemons copy
// their lines to stderr only when stderr is not the journal, which they
// tell by JOURNAL_STREAM). systemctl reload md-multiplexor
// must reread the filter, and fail on a filter that does not load (the
// pool staying up); reload md-milterd must reach the multiplexor
// (PropagatesReloadTo=); restarting md-multiplexor must restart md-milterd;
// systemctl stop must stop both cleanly (Result=success, no working
// directory left in the spool).
func TestSystemdUnits(t *testing.T) {
	harness.RequireRoot(t)
	var bins []string
	for _, name := range []string{"md-multiplexor", "md-milterd", "md-mx-ctrl", "md-worker"} {
		bins = append(bins, harness.MDBinary(t, name))
	}
	repo := filepath.Dir(harness.ModuleRoot(t))
	deploy := filepath.Join(repo, "deploy")
	dir := harness.NewTestDir(t)
	sd := harness.BootSystemd(t, harness.SystemdOptions{Dir: dir})

	// The product goes into the container as a source tree would: deploy/
	// next to the built bin/.
	const src = "/root/md-src"
	if err := os.MkdirAll(sd.Path(src+"/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", deploy, sd.Path(src)+"/").CombinedOutput(); err != nil {
		t.Fatalf("copying deploy/ into the container: %v\n%s", err, out)
	}
	for _, b := range bins {
		if out, err := exec.Command("cp", "-a", b, sd.Path(src+"/bin")+"/").CombinedOutput(); err != nil {
			t.Fatalf("copying %s into the container: %v\n%s", b, err, out)
		}
	}

	// install.sh, as root on a systemd host without Debian's mimedefang:
	// it creates mdefang and runs systemctl daemon-reload.
	out := sd.Run(t, src+"/deploy/install.sh", "--bindir", src+"/bin")
	for _, want := range []string{"created the system account mdefang", "units in /etc/systemd/system", "systemd reloaded"} {
		if !strings.Contains(out, want) {
			t.Errorf("install.sh in the container: output lacks %q", want)
		}
	}
	const user = "mdefang"
	sd.Run(t, "id", user)
	for _, d := range []string{"/var/spool/MIMEDefang", "/var/spool/MD-Quarantine", "/var/log/md-mimedefang"} {
		if got := strings.TrimSpace(sd.Run(t, "stat", "-c", "%U:%G", d)); got != user+":"+user {
			t.Errorf("%s belongs to %s, want %s:%s", d, got, user, user)
		}
	}
	// install.sh never enables or starts a service (is-enabled exits 1).
	if out, _ := sd.Exec(time.Minute, "systemctl", "is-enabled", "md-milterd", "md-multiplexor"); strings.Join(strings.Fields(out), " ") != "disabled disabled" {
		t.Errorf("systemctl is-enabled after install.sh: %q, want disabled twice", out)
	}

	// The administrator's edits: private ports (the host's network is
	// shared), a small pool, and -T so that md-milterd logs a line with
	// the queue ID of every message.
	ports := harness.FreePorts(t, 3)
	milterPort, mxMetrics, mdMetrics := ports[0], ports[1], ports[2]
	envPath := sd.Path("/etc/default/md-mimedefang")
	f, err := os.OpenFile(envPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\n# test overrides\nMD_SOCKET=inet:%d@127.0.0.1\nMX_METRICS=127.0.0.1:%d\nMD_METRICS=127.0.0.1:%d\n"+
		"MX_OPTIONS=\"-m 1 -x 3 -b 600 -l -q 32\"\nMD_OPTIONS=\"-T\"\n", milterPort, mxMetrics, mdMetrics)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	sd.Systemctl(t, "daemon-reload")

	// systemctl enable md-milterd enables both (Also=).
	sd.Systemctl(t, "enable", "md-milterd")
	if out, _ := sd.Exec(time.Minute, "systemctl", "is-enabled", "md-milterd", "md-multiplexor"); strings.Join(strings.Fields(out), " ") != "enabled enabled" {
		t.Errorf("systemctl is-enabled after systemctl enable md-milterd: %q, want enabled twice", out)
	}

	// Starting the milter starts the pool first.
	start := time.Now()
	sd.Systemctl(t, "start", "md-milterd")
	t.Logf("systemctl start md-milterd took %v", time.Since(start).Round(time.Millisecond))
	// Type=notify: active once listening, so no retry.
	milterAddr := fmt.Sprintf("127.0.0.1:%d", milterPort)
	dialOnce(t, sd, milterAddr, "systemctl start md-milterd returned")
	checkActive(t, sd, "active")
	mxActive := sd.Property(t, "md-multiplexor.service", "ActiveEnterTimestampMonotonic")
	mdStarted := sd.Property(t, "md-milterd.service", "ExecMainStartTimestampMonotonic")
	if a, b := atoi(t, mxActive), atoi(t, mdStarted); a == 0 || b < a {
		t.Errorf("md-milterd started at %d µs, md-multiplexor became active at %d µs: want the milter after the pool", b, a)
	}
	ps := sd.Run(t, "ps", "-eo", "user:20,comm")
	for _, prog := range []string{"md-multiplexor", "md-worker", "md-milterd"} {
		re := regexp.MustCompile(`(?m)^(\S+)\s+` + regexp.QuoteMeta(prog) + `$`)
		ms := re.FindAllStringSubmatch(ps, -1)
		if len(ms) == 0 {
			t.Errorf("no %s process in the container", prog)
		}
		for _, m := range ms {
			if m[1] != user {
				t.Errorf("%s runs as %s, want %s", prog, m[1], user)
			}
		}
	}

	// The host's Postfix in front of the milter the units started.
	pf := harness.StartPostfix(t, harness.PostfixOptions{
		Dir:     dir,
		Milters: fmt.Sprintf("inet:127.0.0.1:%d", milterPort),
		Main:    postfixSnippet(t, filepath.Join(deploy, "postfix/main.cf.snippet")),
	})
	// sendTypical uses nothing of the layout: it only needs the MTA.
	new(installedLayout).sendTypical(t, pf)
	var qids []string
	for _, m := range pf.Messages(t) {
		if q := receivedQueueID.FindStringSubmatch(strings.Join(m.Header["Received"], "\n")); q != nil {
			qids = append(qids, q[1])
		}
	}
	if len(qids) != 2 {
		t.Errorf("found %d Postfix queue IDs (%q) in the delivered messages' Received headers, want 2", len(qids), qids)
	}
	// Each line once in the journal, through syslog: the stderr copy -D
	// makes on a terminal is left out when stderr is the journal.
	journal := sd.Run(t, "journalctl", "--no-pager", "-o", "cat", "-u", "md-milterd")
	syslogJournal := sd.Run(t, "journalctl", "--no-pager", "-o", "cat", "-u", "md-milterd", "-t", "mimedefang")
	for _, q := range qids {
		want := q + ": Filter time is "
		if n := strings.Count(journal, want); n != 1 {
			t.Errorf("journalctl -u md-milterd has %d %q lines, want 1", n, want)
		}
		if n := strings.Count(syslogJournal, want); n != 1 {
			t.Errorf("journalctl -u md-milterd -t mimedefang has %d %q lines, want 1 (the syslog line, with its identifier)", n, want)
		}
	}
	checkNoStderrCopies(t, "md-milterd", journal)

	// systemctl reload md-multiplexor rereads the filter; reload
	// md-milterd reaches the multiplexor.
	const reread = "Forcing reread of filter rules"
	mxJournal := func() string {
		return sd.Run(t, "journalctl", "--no-pager", "-o", "cat", "-u", "md-multiplexor")
	}
	rereads := func(j string) int {
		n := 0
		for _, l := range strings.Split(j, "\n") {
			if strings.Contains(l, reread) { // once per reread: no stderr copy
				n++
			}
		}
		return n
	}
	before := rereads(mxJournal())
	sd.Systemctl(t, "reload", "md-multiplexor")
	j := mxJournal()
	if got := rereads(j); got != before+1 {
		t.Errorf("systemctl reload md-multiplexor: %d %q lines in its journal, want %d", got, reread, before+1)
	}
	if !strings.Contains(j, "Forced reread of filter rules") {
		t.Errorf("the journal of md-multiplexor lacks md-mx-ctrl's reply to ExecReload")
	}
	sd.Systemctl(t, "reload", "md-milterd")
	if got := rereads(mxJournal()); got != before+2 {
		t.Errorf("systemctl reload md-milterd: %d %q lines in md-multiplexor's journal, want %d (PropagatesReloadTo=)", got, reread, before+2)
	}
	checkActive(t, sd, "active")

	// A filter that does not load: the pool keeps the old one, and
	// systemctl reload md-multiplexor fails, saying so in the journal.
	filter := sd.Path("/etc/mail/md-filter.lua")
	good := readFile(t, filter)
	if err := os.WriteFile(filter, []byte("this is not Lua ((\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := sd.Exec(time.Minute, "systemctl", "reload", "md-multiplexor"); err == nil {
		t.Errorf("systemctl reload md-multiplexor with a broken filter succeeded, want a failed reload:\n%s", out)
	} else {
		t.Logf("systemctl reload md-multiplexor with a broken filter: %v (as it should)\n%s", err, out)
	}
	j = mxJournal()
	for _, want := range []string{"error: Filter not reread, workers keep the old one:", "Reload failed for md-multiplexor.service"} {
		if !strings.Contains(j, want) {
			t.Errorf("the journal of md-multiplexor lacks %q after a reload with a broken filter", want)
		}
	}
	checkActive(t, sd, "active")
	if err := os.WriteFile(filter, good, 0o644); err != nil {
		t.Fatal(err)
	}
	sd.Systemctl(t, "reload", "md-multiplexor")

	// Restarting the pool restarts the milter (BindsTo=).
	mxPID, mdPID := sd.Property(t, "md-multiplexor.service", "MainPID"), sd.Property(t, "md-milterd.service", "MainPID")
	sd.Systemctl(t, "restart", "md-multiplexor")
	// systemctl waits for md-multiplexor's job only: md-milterd's restart,
	// queued in the same transaction, may still be running. Once it is
	// active (READY=1), it listens.
	waitActive(t, sd, 30*time.Second)
	dialOnce(t, sd, milterAddr, "md-milterd became active again")
	if got := sd.Property(t, "md-multiplexor.service", "MainPID"); got == mxPID {
		t.Errorf("md-multiplexor kept PID %s over systemctl restart", got)
	}
	if got := sd.Property(t, "md-milterd.service", "MainPID"); got == mdPID {
		t.Errorf("md-milterd kept PID %s when md-multiplexor restarted", got)
	}

	// Stop both: both inactive, both exited cleanly, no working directory
	// left.
	start = time.Now()
	sd.Systemctl(t, "stop", "md-multiplexor", "md-milterd")
	t.Logf("systemctl stop took %v", time.Since(start).Round(time.Millisecond))
	checkActive(t, sd, "inactive")
	for _, u := range []string{"md-multiplexor.service", "md-milterd.service"} {
		if got := sd.Property(t, u, "Result"); got != "success" {
			t.Errorf("%s: Result=%s after systemctl stop, want success", u, got)
		}
	}
	entries, err := os.ReadDir(sd.Path("/var/spool/MIMEDefang"))
	if err != nil {
		t.Errorf("the installed spool: %v", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "mdefang-") {
			t.Errorf("working directory %s left in the spool", e.Name())
		}
	}
	// No log line went to the journal twice over the whole run.
	for _, u := range []string{"md-multiplexor", "md-milterd"} {
		checkNoStderrCopies(t, u, sd.Run(t, "journalctl", "--no-pager", "-o", "cat", "-u", u))
	}
	sd.Run(t, "journalctl", "--no-pager", "-o", "short-monotonic", "-u", "md-multiplexor", "-u", "md-milterd")
}

// stderrCopy is the form of the daemons' stderr copy of a log line
// ("Nov 25 07:31:02 mimedefang[123]: ..."); the syslog line in the journal
// is the message alone.
var stderrCopy = regexp.MustCompile(`(?m)^[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d mimedefang(-multiplexor)?\[\d+\]: `)

// checkNoStderrCopies fails if journal (journalctl -o cat -u unit) holds a
// stderr copy of a log line: under systemd each line must reach the journal
// once, through syslog.
func checkNoStderrCopies(t *testing.T, unit, journal string) {
	t.Helper()
	if m := stderrCopy.FindAllString(journal, 3); m != nil {
		t.Errorf("journalctl -u %s holds stderr copies of log lines (each line would be there twice), e.g. %q", unit, m)
	}
}

// dialOnce connects to md-milterd on addr once, without a retry: with
// Type=notify the unit is active only once the socket listens.
func dialOnce(t *testing.T, sd *harness.Systemd, addr, when string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		st, _ := sd.Exec(time.Minute, "systemctl", "--no-pager", "status", "md-milterd")
		t.Fatalf("%s, but md-milterd does not accept connections on %s: %v\n%s", when, addr, err, st)
	}
	c.Close()
	t.Logf("md-milterd accepts connections on %s (%s)", addr, when)
}

// checkActive checks what systemctl is-active says of both units.
func checkActive(t *testing.T, sd *harness.Systemd, want string) {
	t.Helper()
	// is-active exits non-zero unless every unit is active.
	out, _ := sd.Exec(time.Minute, "systemctl", "is-active", "md-multiplexor", "md-milterd")
	if got := strings.Fields(out); len(got) != 2 || got[0] != want || got[1] != want {
		st, _ := sd.Exec(time.Minute, "systemctl", "--no-pager", "status", "md-multiplexor", "md-milterd")
		t.Fatalf("systemctl is-active md-multiplexor md-milterd: %q, want %s twice\n%s", out, want, st)
	}
}

// waitActive waits until both units are active, then checks it.
func waitActive(t *testing.T, sd *harness.Systemd, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		// Not --quiet: with several units, is-active exits 0 as soon as
		// one of them is active.
		out, _ := sd.Exec(time.Minute, "systemctl", "is-active", "md-multiplexor", "md-milterd")
		if strings.Join(strings.Fields(out), " ") == "active active" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	checkActive(t, sd, "active")
}

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}
