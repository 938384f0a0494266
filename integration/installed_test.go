package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
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

// TestInstalledLayout installs with deploy/install.sh into a staging root
// (--destdir), starts what the installed units start, as systemd would
// (their Environment= and EnvironmentFile=, ExecStart= and ExecStartPost=
// with systemd's variable expansion, DESTDIR in front of every installed
// path), puts the private Postfix with deploy/postfix/main.cf.snippet in
// front of the installed milter, and sends a clean message and one with an
// .exe attachment through the installed default filter. It also runs the
// reload command and checks the Grafana dashboard against the metrics the
// daemons define and serve.
func TestInstalledLayout(t *testing.T) {
	harness.RequireRoot(t)
	bins := map[string]string{}
	for _, name := range []string{"md-multiplexor", "md-milterd", "md-mx-ctrl", "md-worker"} {
		bins[name] = harness.MDBinary(t, name)
	}
	repo := filepath.Dir(harness.ModuleRoot(t))
	deploy := filepath.Join(repo, "deploy")
	dir := harness.NewTestDir(t)
	root := filepath.Join(dir, "root")
	logs := filepath.Join(dir, "logs")

	// Install twice: the second run must keep the configuration and
	// filter and change nothing else.
	out := runInstall(t, deploy, filepath.Dir(bins["md-worker"]), root)
	for _, want := range []string{"default filter in", "options in", "units in"} {
		if !strings.Contains(out, want) {
			t.Errorf("install.sh output lacks %q:\n%s", want, out)
		}
	}
	envPath := filepath.Join(root, "etc/default/md-mimedefang")
	filterPath := filepath.Join(root, "etc/mail/md-filter.lua")
	os.WriteFile(filterPath, append(readFile(t, filterPath), "\n-- local change\n"...), 0o644)
	envBefore := readFile(t, envPath)
	out = runInstall(t, deploy, filepath.Dir(bins["md-worker"]), root)
	for _, want := range []string{"keeping the existing filter", "keeping the existing " + envPath} {
		if !strings.Contains(out, want) {
			t.Errorf("second install.sh run: output lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasSuffix(string(readFile(t, filterPath)), "-- local change\n") {
		t.Errorf("second install.sh run overwrote the filter")
	}
	checkInstalledTree(t, root)

	unitDir := filepath.Join(root, "etc/systemd/system")
	mxUnit := parseUnit(t, filepath.Join(unitDir, "md-multiplexor.service"))
	mdUnit := parseUnit(t, filepath.Join(unitDir, "md-milterd.service"))
	checkUnits(t, root, unitDir, mxUnit, mdUnit)

	// The administrator's edits, as lines appended to the installed
	// options file: private ports instead of 7890, 9130 and 9131, and a
	// smaller pool.
	ports := harness.FreePorts(t, 3)
	milterPort, mxMetrics, mdMetrics := ports[0], ports[1], ports[2]
	f, err := os.OpenFile(envPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\n# test overrides\nMD_SOCKET=inet:%d@127.0.0.1\nMX_METRICS=127.0.0.1:%d\nMD_METRICS=127.0.0.1:%d\n"+
		"MX_OPTIONS=\"-m 1 -x 3 -b 600 -l -q 32\"\n", milterPort, mxMetrics, mdMetrics)
	f.Close()
	if string(envBefore) == "" {
		t.Fatalf("empty %s", envPath)
	}

	// md-multiplexor.service: ExecStart, then ExecStartPost (which returns
	// once the control socket answers).
	mxEnv := unitEnvironment(t, root, mxUnit)
	if mxEnv["MD_USER"] != harness.DefangUser {
		t.Errorf("MD_USER=%q in the installed options, want %q (the existing account)", mxEnv["MD_USER"], harness.DefangUser)
	}
	for k, v := range mxEnv {
		t.Setenv(k, v)
	}
	mxArgv := unitCommand(t, root, mxUnit, mxEnv, "ExecStart")
	mx := harness.StartProcess(t, "md-multiplexor", logs, mxArgv[0], mxArgv[1:]...)
	runUnitCommand(t, root, mxUnit, mxEnv, "ExecStartPost", 40*time.Second)
	if !mx.Running() {
		t.Fatalf("md-multiplexor exited:\n%s", mx.Log())
	}

	// md-milterd.service, ordered after md-multiplexor.service.
	mdEnv := unitEnvironment(t, root, mdUnit)
	mdArgv := unitCommand(t, root, mdUnit, mdEnv, "ExecStart")
	md := harness.StartProcess(t, "md-milterd", logs, mdArgv[0], mdArgv[1:]...)
	harness.WaitForTCP(t, fmt.Sprintf("127.0.0.1:%d", milterPort), md)

	pf := harness.StartPostfix(t, harness.PostfixOptions{
		Dir:     dir,
		Milters: fmt.Sprintf("inet:127.0.0.1:%d", milterPort),
		Main:    postfixSnippet(t, filepath.Join(deploy, "postfix/main.cf.snippet")),
	})
	if got := pf.Postconf(t, "-h", "milter_default_action"); strings.TrimSpace(got) != "tempfail" {
		t.Errorf("milter_default_action = %q, want tempfail from the snippet", got)
	}

	clean := &harness.Message{From: "alice@" + harness.Domain, To: "bob@" + harness.Domain,
		Subject: "installed clean", Body: "Hello from the installed layout.\n"}
	if res := harness.Send(t, pf.Addr, clean); !res.Accepted() {
		t.Fatalf("clean message: %s %s", res.Stage, res.Reply)
	}
	got := pf.WaitForMessage(t, clean.MessageID)
	if got.Header.Get("X-Scanned-By") == "" {
		t.Errorf("clean message delivered without X-Scanned-By:\n%s", got.Raw)
	}
	if !strings.Contains(string(got.Body), "Hello from the installed layout.") {
		t.Errorf("clean message body changed:\n%s", got.Raw)
	}

	exe := &harness.Message{From: "alice@" + harness.Domain, To: "bob@" + harness.Domain,
		Subject: "installed exe", Headers: typicalCases[1].headers, Body: typicalCases[1].body}
	if res := harness.Send(t, pf.Addr, exe); !res.Accepted() {
		t.Fatalf("exe message: %s %s", res.Stage, res.Reply)
	}
	got = pf.WaitForMessage(t, exe.MessageID)
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

	// systemctl reload md-multiplexor (and md-milterd, PropagatesReloadTo).
	if out := runUnitCommand(t, root, mxUnit, mxEnv, "ExecReload", 40*time.Second); !strings.Contains(out, "Forced reread of filter rules") {
		t.Errorf("ExecReload of md-multiplexor.service printed %q, want the reread reply", out)
	}
	runUnitCommand(t, root, mdUnit, mdEnv, "ExecReload", 10*time.Second)

	// The dashboard: valid JSON, every expression over metrics that exist.
	defined := definedMetrics(t, repo)
	served := scrapeMetricNames(t, fmt.Sprintf("127.0.0.1:%d", mxMetrics))
	for n := range scrapeMetricNames(t, fmt.Sprintf("127.0.0.1:%d", mdMetrics)) {
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
	checkDashboard(t, filepath.Join(deploy, "grafana/md-mimedefang.json"), defined)

	// systemctl stop md-milterd md-multiplexor: by PID, milter first.
	md.Stop(t)
	mx.Stop(t)
	spool := filepath.Join(root, "var/spool/MIMEDefang")
	entries, _ := os.ReadDir(spool)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "mdefang-") {
			t.Errorf("working directory %s left in the spool", e.Name())
		}
	}
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
// on, and has systemd-analyze verify the units.
func checkUnits(t *testing.T, root, unitDir string, mx, md *unit) {
	t.Helper()
	for _, c := range []struct {
		u         *unit
		key, want string
	}{
		{mx, "Service.Type", "simple"},
		{md, "Service.Type", "simple"},
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
		exec := u.one(t, "Service.ExecStart")
		if !strings.Contains(exec, " -D ") || !strings.Contains(exec, " -U ${MD_USER} ") {
			t.Errorf("%s: ExecStart %q must run in the foreground (-D) with -U ${MD_USER}", filepath.Base(u.path), exec)
		}
		if strings.Contains(exec, "@") && strings.Contains(exec, "@SBINDIR@") {
			t.Errorf("%s: install.sh left @SBINDIR@ in %q", filepath.Base(u.path), exec)
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze is missing, so the units cannot be verified: apt-get install -y systemd")
	}
	// Without --root, so that the host's targets resolve; the programs
	// are then missing from /usr/local/sbin, which is all verify may
	// report, for programs that the staging root holds.
	cmd := exec.Command(analyze, "verify", filepath.Join(unitDir, "md-multiplexor.service"), filepath.Join(unitDir, "md-milterd.service"))
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0")
	outb, err := cmd.CombinedOutput()
	t.Logf("systemd-analyze verify (exit %v):\n%s", err, outb)
	notExec := regexp.MustCompile(`^md-[a-z]+\.service: Command (/\S+) is not executable: No such file or directory$`)
	for _, line := range strings.Split(strings.TrimSpace(string(outb)), "\n") {
		if line == "" {
			continue
		}
		if m := notExec.FindStringSubmatch(line); m != nil {
			if _, err := os.Stat(m[1]); err == nil {
				continue // a real program missing? it exists here after all
			}
			if fi, err := os.Stat(filepath.Join(root, m[1])); err == nil && fi.Mode()&0o111 != 0 {
				continue
			}
		}
		t.Errorf("systemd-analyze verify: %s", line)
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

// runUnitCommand runs a one-shot command of the unit (ExecStartPost,
// ExecReload) to completion and returns its output.
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
