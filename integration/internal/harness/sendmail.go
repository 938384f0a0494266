package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// Sendmail and Postfix conflict as Debian packages (both are the system
// MTA), so the Sendmail tests run Debian's Sendmail 8.17 from a chroot: a
// minimal Debian bookworm made with debootstrap, with sendmail-bin,
// sendmail-cf and m4 installed inside. It is built once, under
// SendmailRoot (about 40 s and 250 MB), and reused by every later test and
// test run. The chroot shares the host's network namespace: the Sendmail
// daemon of a test listens on a 127.0.0.1 port of its own, talks to the
// milter on inet:PORT@127.0.0.1 outside the chroot, and relays every
// accepted message to a small SMTP sink in the test process (SendmailSink),
// which plays the part of Postfix's virtual(8) delivery.

// Environment variables of the Sendmail chroot.
const (
	// SendmailRootEnv names the chroot's directory. Default
	// DefaultSendmailRoot.
	SendmailRootEnv = "MD_SENDMAIL_ROOT"
	// SendmailMirrorEnv overrides the Debian mirror debootstrap uses.
	// Default: the first bookworm mirror in the apt sources, else
	// http://deb.debian.org/debian.
	SendmailMirrorEnv = "MD_SENDMAIL_MIRROR"
)

// DefaultSendmailRoot is where the chroot lives when MD_SENDMAIL_ROOT is
// not set.
const DefaultSendmailRoot = "/var/tmp/md-sendmail-root"

// sendmailPackages are installed into the chroot: the daemon, the m4
// macros that build a sendmail.cf, and m4 itself.
var sendmailPackages = []string{"sendmail-bin", "sendmail-cf", "m4"}

// sendmailRoot is the chroot: debootstrap, then the packages installed
// with the system's services kept from starting.
var sendmailRoot = &debootRoot{
	what:    "Sendmail chroot",
	env:     SendmailRootEnv,
	def:     DefaultSendmailRoot,
	marker:  ".md-sendmail-root-complete",
	timeout: SendmailBuildTimeout,
	about:   "about 40 s",
	// /usr/sbin/sendmail is an absolute symbolic link (to
	// /etc/alternatives/sendmail) that resolves only inside the chroot:
	// check the program it ends at.
	files:    []string{"usr/libexec/sendmail/sendmail", "usr/bin/m4", "usr/share/sendmail/cf/m4/cf.m4"},
	recorded: sendmailPackages,
	finish: func(t testing.TB, root string, run func(what, name string, args ...string)) {
		// Debian's sendmail-bin postinst stops a running Sendmail with
		// start-stop-daemon, which fails without /proc, and would start
		// one: forbid starting services and make start-stop-daemon a
		// no-op during the installation.
		writeFile(t, filepath.Join(root, "usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 101\n", 0o755)
		run("dpkg-divert", "/usr/sbin/chroot", root, "dpkg-divert", "--local", "--rename", "--add", "/usr/sbin/start-stop-daemon")
		writeFile(t, filepath.Join(root, "usr/sbin/start-stop-daemon"), "#!/bin/sh\nexit 0\n", 0o755)
		run("apt-get install", "/usr/sbin/chroot", append([]string{root, "apt-get", "install", "-y", "--no-install-recommends"}, sendmailPackages...)...)
		if err := os.Remove(filepath.Join(root, "usr/sbin/start-stop-daemon")); err != nil {
			t.Fatalf("harness: %v", err)
		}
		run("dpkg-divert", "/usr/sbin/chroot", root, "dpkg-divert", "--local", "--rename", "--remove", "/usr/sbin/start-stop-daemon")
	},
}

// SendmailBuildTimeout bounds the chroot build (debootstrap and apt-get).
const SendmailBuildTimeout = 10 * time.Minute

// SendmailRoot returns the Sendmail chroot, building it first if it is not
// complete (see debootRoot: one build at a time across processes). A
// missing debootstrap fails the test with the apt-get line that installs
// it.
func SendmailRoot(t testing.TB) string {
	t.Helper()
	return sendmailRoot.get(t)
}

func chrootEnv() []string {
	return []string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"DEBIAN_FRONTEND=noninteractive",
		"LANG=C", "LC_ALL=C",
		"HOME=/root",
	}
}

func writeFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatalf("harness: %v", err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatalf("harness: %v", err)
	}
}

// debianMirror returns $MD_SENDMAIL_MIRROR, else the first mirror of the
// apt sources (deb822 .sources files and sources.list) that serves
// bookworm, else http://deb.debian.org/debian.
func debianMirror() string {
	if m := os.Getenv(SendmailMirrorEnv); m != "" {
		return m
	}
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, stanza := range strings.Split(string(b), "\n\n") {
			fields := map[string]string{}
			for _, l := range strings.Split(stanza, "\n") {
				if k, v, ok := strings.Cut(l, ":"); ok && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, " ") {
					fields[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
				}
			}
			if slicesContains(strings.Fields(fields["types"]), "deb") && slicesContains(strings.Fields(fields["suites"]), "bookworm") {
				if uris := strings.Fields(fields["uris"]); len(uris) > 0 {
					return uris[0]
				}
			}
		}
	}
	lists, _ := filepath.Glob("/etc/apt/sources.list.d/*.list")
	for _, f := range append([]string{"/etc/apt/sources.list"}, lists...) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			w := strings.Fields(l)
			if len(w) < 3 || w[0] != "deb" {
				continue
			}
			w = w[1:]
			if strings.HasPrefix(w[0], "[") { // [arch=amd64 signed-by=...]
				for len(w) > 0 && !strings.HasSuffix(w[0], "]") {
					w = w[1:]
				}
				if len(w) > 0 {
					w = w[1:]
				}
			}
			if len(w) >= 2 && w[1] == "bookworm" {
				return w[0]
			}
		}
	}
	return "http://deb.debian.org/debian"
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// SendmailOptions configures a private Sendmail daemon.
type SendmailOptions struct {
	// Dir is the test's directory (from NewTestDir): the daemon's output
	// goes to Dir/logs/sendmail.log and the sink's copies to
	// Dir/sendmail-mail. Required.
	Dir string
	// Milter is the milter's address in Sendmail syntax
	// (inet:PORT@127.0.0.1), for INPUT_MAIL_FILTER. Empty: no milter.
	Milter string
	// Port is the SMTP listener's port on 127.0.0.1. Default: a free one.
	Port int
	// MC holds extra sendmail.mc lines, inserted before the MAILER lines.
	MC []string
}

// Sendmail is a running private Sendmail daemon (Debian's 8.17, in the
// chroot of SendmailRoot), run in the foreground (-bD) with its own
// sendmail.cf and queue under Root/tmp/mdsm-NNN (InDir inside the chroot).
// It listens on 127.0.0.1:Port only, does no DNS lookups, has no
// connection rate limits, relays mail for Domain to Sink and refuses to
// relay anything else.
type Sendmail struct {
	*Process
	Root   string // the chroot
	Dir    string // the instance's directory, as seen from the host
	InDir  string // the same, inside the chroot
	Config string // sendmail.cf, inside the chroot (-C)
	Port   int
	Addr   string // 127.0.0.1:Port
	Sink   *SendmailSink
}

var sendmailMC = template.Must(template.New("sendmail.mc").Parse(`divert(-1)
# Private test instance written by the integration harness.
divert(0)dnl
include(` + "`" + `/usr/share/sendmail/cf/m4/cf.m4')dnl
VERSIONID(` + "`" + `md integration test')dnl
OSTYPE(` + "`" + `linux')dnl
define(` + "`" + `confDOMAIN_NAME', ` + "`" + `mx.{{.Domain}}')dnl
define(` + "`" + `confDONT_PROBE_INTERFACES', ` + "`" + `True')dnl
define(` + "`" + `QUEUE_DIR', ` + "`" + `{{.In}}/queue')dnl
define(` + "`" + `confPID_FILE', ` + "`" + `{{.In}}/sendmail.pid')dnl
define(` + "`" + `STATUS_FILE', ` + "`" + `{{.In}}/statistics')dnl
define(` + "`" + `ALIAS_FILE', ` + "`" + `')dnl
define(` + "`" + `confSERVICE_SWITCH_FILE', ` + "`" + `{{.In}}/service.switch')dnl
define(` + "`" + `confHOSTS_FILE', ` + "`" + `/etc/hosts')dnl
define(` + "`" + `confBIND_OPTS', ` + "`" + `-DNSRCH -DEFNAMES')dnl
define(` + "`" + `confDELIVERY_MODE', ` + "`" + `background')dnl
define(` + "`" + `confCONNECTION_RATE_THROTTLE', ` + "`" + `0')dnl
define(` + "`" + `confMAX_DAEMON_CHILDREN', ` + "`" + `0')dnl
define(` + "`" + `confQUEUE_LA', ` + "`" + `1000')dnl
define(` + "`" + `confREFUSE_LA', ` + "`" + `1000')dnl
define(` + "`" + `confDELAY_LA', ` + "`" + `0')dnl
define(` + "`" + `confMIN_FREE_BLOCKS', ` + "`" + `0')dnl
define(` + "`" + `confSMTP_LOGIN_MSG', ` + "`" + `$j Sendmail')dnl
define(` + "`" + `confPRIVACY_FLAGS', ` + "`" + `noexpn,novrfy')dnl
define(` + "`" + `confTO_IDENT', ` + "`" + `0s')dnl
define(` + "`" + `SMART_HOST', ` + "`" + `esmtp:[127.0.0.1]')dnl
define(` + "`" + `ESMTP_MAILER_ARGS', ` + "`" + `TCP $h {{.SinkPort}}')dnl
define(` + "`" + `RELAY_MAILER_ARGS', ` + "`" + `TCP $h {{.SinkPort}}')dnl
FEATURE(` + "`" + `nocanonify')dnl
FEATURE(` + "`" + `accept_unresolvable_domains')dnl
FEATURE(` + "`" + `no_default_msa')dnl
RELAY_DOMAIN(` + "`" + `{{.Domain}}')dnl
DAEMON_OPTIONS(` + "`" + `Port={{.Port}}, Addr=127.0.0.1, Name=MTA')dnl
{{- if .Milter}}
INPUT_MAIL_FILTER(` + "`" + `mdtest', ` + "`" + `S={{.Milter}}, F=T, T=C:30s;S:2m;R:2m;E:5m')dnl
{{- end}}
{{- range .MC}}
{{.}}
{{- end}}
MAILER(` + "`" + `smtp')dnl
`))

// StartSendmail starts an SMTP sink and a Sendmail daemon in the chroot
// (building the chroot first if needed), writes the instance's
// sendmail.mc, builds its sendmail.cf with m4 inside the chroot, runs
//
//	chroot ROOT /usr/libexec/sendmail/sendmail -bD -C IN/sendmail.cf -q1m
//
// and waits for its 220 greeting. The cleanup stops the daemon by its PID
// (and its process group: the per-connection and delivery children), then
// the sink, then removes the instance's directory.
func StartSendmail(t testing.TB, o SendmailOptions) *Sendmail {
	t.Helper()
	if o.Dir == "" {
		t.Fatalf("harness: StartSendmail needs Dir")
	}
	root := SendmailRoot(t)
	reapStaleSendmail(t, root)
	if o.Port == 0 {
		o.Port = FreePort(t)
	}
	dir := ownedTempDir(t, filepath.Join(root, "tmp"), "mdsm-")
	in := "/" + strings.TrimPrefix(strings.TrimPrefix(dir, root), "/")
	s := &Sendmail{
		Root:   root,
		Dir:    dir,
		InDir:  in,
		Config: in + "/sendmail.cf",
		Port:   o.Port,
		Addr:   hostPort(o.Port),
	}
	MkdirOwned(t, filepath.Join(dir, "queue"), Account{UID: 0, GID: 0}, 0o700)
	s.Sink = StartSendmailSink(t, filepath.Join(o.Dir, "sendmail-mail"))
	writeFile(t, filepath.Join(dir, "service.switch"), "hosts files\naliases files\n", 0o644)
	var mc bytes.Buffer
	data := struct {
		In, Domain, Milter string
		Port, SinkPort     int
		MC                 []string
	}{in, Domain, o.Milter, o.Port, s.Sink.Port, o.MC}
	if err := sendmailMC.Execute(&mc, data); err != nil {
		t.Fatalf("harness: sendmail.mc: %v", err)
	}
	writeFile(t, filepath.Join(dir, "sendmail.mc"), mc.String(), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/sbin/chroot", root, "m4", in+"/sendmail.mc")
	cmd.Env = chrootEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cf, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("harness: m4 %s/sendmail.mc in %s: %v\n%s", in, root, err, stderr.String())
	}
	writeFile(t, filepath.Join(dir, "sendmail.cf"), string(cf), 0o644)

	// Sendmail's delivery and queue-run children detach (setsid) from the
	// daemon's process group, so Process.Stop does not see them; they work
	// in the instance's queue directory, which tells them apart from other
	// instances' children. This cleanup runs after Process.Stop.
	t.Cleanup(func() {
		if left := stopProcessesIn(dir, StopTimeout); len(left) > 0 {
			t.Errorf("harness: Sendmail processes %v working in %s survived SIGKILL", left, dir)
		}
	})
	s.Process = StartProcess(t, "sendmail", filepath.Join(o.Dir, "logs"), "/usr/sbin/chroot",
		root, "/usr/libexec/sendmail/sendmail", "-bD", "-C", s.Config, "-q1m")
	waitFor(t, "Sendmail SMTP "+s.Addr, s.Process, func() error {
		c, err := dialSMTPBanner(s.Addr)
		if err == nil {
			c.Close()
		}
		return err
	})
	return s
}

// reapStaleSendmail stops the daemons and removes the directories of
// Sendmail instances whose test process died without cleaning up: the
// daemon is found by its pid file, and killed with its process group only
// if it runs in the chroot and leads its own group (as StartProcess makes
// it).
func reapStaleSendmail(t testing.TB, root string) {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(root, "tmp", "mdsm-*"))
	for _, dir := range dirs {
		if !ownerGone(dir) {
			continue
		}
		t.Logf("harness: reaping %s, left behind by a test process that is gone", dir)
		if b, err := os.ReadFile(filepath.Join(dir, "sendmail.pid")); err == nil {
			line, _, _ := strings.Cut(string(b), "\n")
			pid, err := strconv.Atoi(strings.TrimSpace(line))
			if err == nil && pid > 1 {
				if r, err := os.Readlink(fmt.Sprintf("/proc/%d/root", pid)); err == nil && r == root {
					if _, pg, ok := procStat(pid); ok && pg == pid {
						_ = syscall.Kill(-pid, syscall.SIGKILL)
						if err := waitGroupGone(pid, StopTimeout); err != nil {
							t.Logf("harness: stale %s: %v", dir, err)
						}
					}
				}
			}
		}
		if left := stopProcessesIn(dir, StopTimeout); len(left) > 0 {
			t.Logf("harness: stale %s: processes %v survived SIGKILL", dir, left)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("harness: removing stale %s: %v", dir, err)
		}
	}
}

// processesIn lists the live processes whose working directory is dir or
// under it (seen from the host, a chrooted process's working directory
// includes the chroot's path).
func processesIn(dir string) []int {
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
		if cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd"); err == nil && (cwd == dir || strings.HasPrefix(cwd, dir+"/")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// stopProcessesIn waits up to timeout for the processes working in dir
// to exit, then SIGKILLs them by PID, and returns those still alive.
func stopProcessesIn(dir string, timeout time.Duration) []int {
	deadline := time.Now().Add(timeout)
	for len(processesIn(dir)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	left := processesIn(dir)
	for _, pid := range left {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for len(left) > 0 && time.Now().Before(deadline.Add(timeout)) {
		time.Sleep(20 * time.Millisecond)
		left = processesIn(dir)
	}
	return left
}

// SMTPAddr returns the address of the daemon's SMTP listener.
func (s *Sendmail) SMTPAddr() string { return s.Addr }

// Messages returns every message the sink has received so far, one copy
// per recipient, oldest first.
func (s *Sendmail) Messages(t testing.TB) []*Delivered { return s.Sink.Messages(t) }

// WaitForMessage waits up to DeliveryTimeout for the message whose
// Message-Id header is messageID to reach the sink, and returns it.
func (s *Sendmail) WaitForMessage(t testing.TB, messageID string) *Delivered {
	t.Helper()
	deadline := time.Now().Add(DeliveryTimeout)
	for {
		for _, m := range s.Sink.Messages(t) {
			if strings.TrimSpace(m.Header.Get("Message-Id")) == messageID {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("harness: message %s did not reach the sink after %v; Sendmail queue %s: %v", messageID, DeliveryTimeout, s.Dir+"/queue", s.queueFiles())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (s *Sendmail) queueFiles() []string {
	entries, _ := os.ReadDir(filepath.Join(s.Dir, "queue"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// SendmailSink is the SMTP server Sendmail relays to: it accepts every
// message and keeps one copy per recipient, with "Return-Path: <SENDER>"
// and "Delivered-To: RECIPIENT" in front as Postfix's virtual(8) writes
// them, line ends turned into LF. Each copy is also written to Dir.
type SendmailSink struct {
	Port int
	Dir  string

	l    net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	msgs []*Delivered
	seq  int
	errs []error
}

// StartSendmailSink listens on a free 127.0.0.1 port; the cleanup closes it
// and waits for its sessions to end.
func StartSendmailSink(t testing.TB, dir string) *SendmailSink {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("harness: %v", err)
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("harness: SMTP sink: %v", err)
	}
	k := &SendmailSink{Port: l.Addr().(*net.TCPAddr).Port, Dir: dir, l: l}
	k.wg.Add(1)
	go k.serve()
	t.Cleanup(func() {
		l.Close()
		k.wg.Wait()
		k.mu.Lock()
		defer k.mu.Unlock()
		for _, err := range k.errs {
			t.Errorf("harness: SMTP sink: %v", err)
		}
	})
	return k
}

func (k *SendmailSink) serve() {
	defer k.wg.Done()
	for {
		c, err := k.l.Accept()
		if err != nil {
			return
		}
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			defer c.Close()
			if err := k.session(c); err != nil && !errors.Is(err, net.ErrClosed) {
				k.mu.Lock()
				k.errs = append(k.errs, err)
				k.mu.Unlock()
			}
		}()
	}
}

func (k *SendmailSink) session(c net.Conn) error {
	_ = c.SetDeadline(time.Now().Add(SMTPTimeout))
	r := bufio.NewReader(c)
	reply := func(lines ...string) error {
		_, err := c.Write([]byte(strings.Join(lines, "\r\n") + "\r\n"))
		return err
	}
	if err := reply("220 sink." + Domain + " ESMTP test sink"); err != nil {
		return err
	}
	var from string
	var rcpts []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil // the client hung up
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			err = reply("250-sink."+Domain, "250-8BITMIME", "250 ENHANCEDSTATUSCODES")
		case "HELO":
			err = reply("250 sink." + Domain)
		case "MAIL":
			from, rcpts = angle(arg), nil
			err = reply("250 2.1.0 Ok")
		case "RCPT":
			rcpts = append(rcpts, angle(arg))
			err = reply("250 2.1.5 Ok")
		case "DATA":
			if len(rcpts) == 0 {
				err = reply("503 5.5.1 No recipients")
				break
			}
			if err = reply("354 End data with <CR><LF>.<CR><LF>"); err != nil {
				return err
			}
			var body strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return fmt.Errorf("DATA: %w", err)
				}
				l = strings.TrimRight(l, "\r\n")
				if l == "." {
					break
				}
				body.WriteString(strings.TrimPrefix(l, "."))
				body.WriteString("\n")
			}
			if err := k.store(from, rcpts, body.String()); err != nil {
				_ = reply("451 4.3.0 " + err.Error())
				return err
			}
			err = reply("250 2.0.0 Ok: stored")
			from, rcpts = "", nil
		case "RSET":
			from, rcpts = "", nil
			err = reply("250 2.0.0 Ok")
		case "NOOP":
			err = reply("250 2.0.0 Ok")
		case "QUIT":
			_ = reply("221 2.0.0 Bye")
			return nil
		default:
			err = reply("502 5.5.2 Command not recognized")
		}
		if err != nil {
			return err
		}
	}
}

// angle returns the address inside the first <...> of an SMTP argument
// ("FROM:<a@b> SIZE=12" gives "a@b").
func angle(arg string) string {
	i := strings.IndexByte(arg, '<')
	j := strings.IndexByte(arg, '>')
	if i < 0 || j < i {
		return strings.TrimSpace(arg)
	}
	return arg[i+1 : j]
}

func (k *SendmailSink) store(from string, rcpts []string, data string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, rcpt := range rcpts {
		raw := []byte("Return-Path: <" + from + ">\nDelivered-To: " + rcpt + "\n" + data)
		m, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			return fmt.Errorf("message from <%s> does not parse: %v", from, err)
		}
		k.seq++
		path := filepath.Join(k.Dir, fmt.Sprintf("%04d-%s.eml", k.seq, strings.ReplaceAll(rcpt, "/", "_")))
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			return err
		}
		body := raw[len(raw)-bodyLen(m):]
		k.msgs = append(k.msgs, &Delivered{Path: path, Raw: raw, Header: m.Header, Body: body})
	}
	return nil
}

// Messages returns every copy received so far, oldest first.
func (k *SendmailSink) Messages(t testing.TB) []*Delivered {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]*Delivered(nil), k.msgs...)
}
