package harness

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// Domain is the mail domain the test Postfix accepts mail for; every
// recipient @Domain is delivered to the one Maildir of the instance.
const Domain = "mdtest.localdomain"

// DeliveryTimeout bounds the wait for a message accepted by Postfix to
// appear in the Maildir.
const DeliveryTimeout = 20 * time.Second

// Programs of the postfix package.
const (
	postfixCmd = "/usr/sbin/postfix"
	postconf   = "/usr/sbin/postconf"
)

// PostfixOptions configures a private Postfix instance. Zero values take
// the documented defaults.
type PostfixOptions struct {
	// Dir is the test's directory (from NewTestDir). Required.
	Dir string
	// Milters is the smtpd_milters value of the test listener, for example
	// a Milter's Postfix field. Empty: no milter.
	Milters string
	// Port is the SMTP listener's port on 127.0.0.1. Default: a free one.
	Port int
	// Main holds extra main.cf lines ("name = value"), appended last so
	// they override the defaults. A parameter Postfix does not know fails
	// the test (postconf warns "unused parameter").
	Main []string
	// SMTPDOptions holds extra "name=value" overrides for the test
	// listener (each becomes "-o name=value" in master.cf).
	SMTPDOptions []string
}

// Postfix is a running private Postfix instance: its own config_directory,
// queue_directory and data_directory under Dir/postfix, one smtpd listener
// on 127.0.0.1:Port, nothing listening elsewhere, all mail for Domain
// delivered by virtual(8) to one Maildir, and every other destination sent
// to the error transport. It logs to MaillogPath (maillog_file), since there
// is no syslog daemon.
type Postfix struct {
	ConfigDir   string // main.cf and master.cf; pass to postfix/postconf -c
	QueueDir    string
	Maildir     string // where delivered mail lands (new/ and cur/)
	MaillogPath string
	Port        int
	Addr        string // 127.0.0.1:Port
	MasterPID   int
}

var mainCF = template.Must(template.New("main.cf").Parse(`# Private test instance written by the integration harness.
compatibility_level = 3.6
queue_directory = {{.Root}}/queue
data_directory = {{.Root}}/data
maillog_file = {{.Root}}/maillog
maillog_file_prefixes = {{.Root}}
myhostname = mx.{{.Domain}}
mydomain = {{.Domain}}
myorigin = {{.Domain}}
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = $myhostname ESMTP $mail_name
biff = no
alias_maps =
alias_database =
local_transport = error:local delivery is disabled in the test instance
default_transport = error:outbound mail is disabled in the test instance
relay_transport = error:outbound mail is disabled in the test instance
virtual_mailbox_domains = {{.Domain}}
virtual_mailbox_base = {{.Root}}/mail
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:{{.UID}}
virtual_gid_maps = static:{{.GID}}
virtual_minimum_uid = 1
milter_default_action = tempfail
{{range .Main}}{{.}}
{{end}}`))

// masterServices are the instance's services (master-services.cf, shared
// with bench/e2e.sh).
//
//go:embed master-services.cf
var masterServices string

// masterCF is master.cf: the smtpd listener, then masterServices.
var masterCF = template.Must(template.New("master.cf").Parse(`# Private test instance written by the integration harness.
127.0.0.1:{{.Port}} inet n - n - - smtpd
{{- if .Milters}}
  -o smtpd_milters={{.Milters}}{{end}}
{{- range .SMTPDOptions}}
  -o {{.}}{{end}}
{{.Services}}`))

// StartPostfix writes a private configuration under Dir/postfix, starts it
// with `postfix -c DIR start` and waits until its SMTP port accepts
// connections (a 220 greeting). The configuration is checked first with
// postconf (see validate). The cleanup stops it with `postfix -c DIR stop`,
// waits until no process of the instance is left (SIGKILL to each after
// StopTimeout), and, if the test failed, copies the maillog into the test
// log.
func StartPostfix(t testing.TB, o PostfixOptions) *Postfix {
	t.Helper()
	RequireRoot(t)
	RequireProgram(t, postfixCmd, "postfix")
	RequireProgram(t, postconf, "postfix")
	owner := LookupUser(t, "postfix", "postfix")
	if o.Dir == "" {
		t.Fatalf("harness: StartPostfix needs Dir")
	}
	if o.Port == 0 {
		o.Port = FreePort(t)
	}
	root := filepath.Join(o.Dir, "postfix")
	p := &Postfix{
		ConfigDir:   filepath.Join(root, "etc"),
		QueueDir:    filepath.Join(root, "queue"),
		Maildir:     filepath.Join(root, "mail", "inbox"),
		MaillogPath: filepath.Join(root, "maillog"),
		Port:        o.Port,
		Addr:        hostPort(o.Port),
	}
	root0 := Account{UID: 0, GID: 0}
	MkdirOwned(t, root, root0, 0o755)
	MkdirOwned(t, p.ConfigDir, root0, 0o755)
	MkdirOwned(t, p.QueueDir, root0, 0o755)
	MkdirOwned(t, filepath.Join(root, "data"), owner, 0o700)
	MkdirOwned(t, filepath.Join(root, "mail"), owner, 0o755)

	data := struct {
		Root, Domain, Milters, Services string
		UID, GID, Port                  int
		Main, SMTPDOptions              []string
	}{root, Domain, o.Milters, masterServices, owner.UID, owner.GID, o.Port, o.Main, o.SMTPDOptions}
	writeTemplate(t, filepath.Join(p.ConfigDir, "main.cf"), mainCF, data)
	writeTemplate(t, filepath.Join(p.ConfigDir, "master.cf"), masterCF, data)

	p.validate(t)
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			p.dumpLog(t)
		}
	})
	out, err := p.command(60*time.Second, postfixCmd, "start")
	if err != nil {
		p.dumpConfig(t)
		t.Fatalf("harness: postfix -c %s start: %v\n%s\nmaillog:\n%s", p.ConfigDir, err, out, p.Maillog())
	}
	pid, err := p.masterPID()
	if err != nil {
		t.Fatalf("harness: postfix started but %v\nmaillog:\n%s", err, p.Maillog())
	}
	p.MasterPID = pid
	waitFor(t, "Postfix SMTP "+p.Addr, nil, func() error {
		if !alive(pid) {
			return fmt.Errorf("postfix master (pid %d) exited", pid)
		}
		c, err := dialSMTPBanner(p.Addr)
		if err == nil {
			c.Close()
		}
		return err
	})
	return p
}

func writeTemplate(t testing.TB, path string, tmpl *template.Template, data any) {
	t.Helper()
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		t.Fatalf("harness: %s: %v", path, err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatalf("harness: %v", err)
	}
	// Postfix programs re-read a main.cf modified less than a second ago
	// until it is a second old (in case an editor is still writing it),
	// which adds about 1.5 s to every start. Backdate the files.
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatalf("harness: %v", err)
	}
}

// command runs a Postfix program (postfix, postconf, ...) with -c ConfigDir.
// Their diagnostics go to the maillog, not to stderr, unless stderr is a
// terminal.
func (p *Postfix) command(timeout time.Duration, prog string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, prog, append([]string{"-c", p.ConfigDir}, args...)...).CombinedOutput()
	return string(out), err
}

// validate runs `postconf -n` and `postconf -M` on the configuration and
// fails the test on any warning, such as an unknown (misspelt) parameter in
// PostfixOptions.Main or a malformed master.cf line, which Postfix would
// otherwise ignore.
func (p *Postfix) validate(t testing.TB) {
	t.Helper()
	for _, flag := range []string{"-n", "-M"} {
		var stderr bytes.Buffer
		cmd := exec.Command(postconf, "-c", p.ConfigDir, flag)
		cmd.Stderr = &stderr
		err := cmd.Run()
		if err != nil || strings.Contains(stderr.String(), "warning:") {
			t.Fatalf("harness: postconf -c %s %s: %v\n%s", p.ConfigDir, flag, err, stderr.String())
		}
	}
}

// Postconf runs `postconf -c ConfigDir args...` and returns its output.
func (p *Postfix) Postconf(t testing.TB, args ...string) string {
	t.Helper()
	out, err := p.command(30*time.Second, postconf, args...)
	if err != nil {
		t.Fatalf("harness: postconf -c %s %s: %v\n%s", p.ConfigDir, strings.Join(args, " "), err, out)
	}
	return out
}

// SMTPAddr returns the address of the instance's SMTP listener.
func (p *Postfix) SMTPAddr() string { return p.Addr }

// Maillog returns the instance's log so far.
func (p *Postfix) Maillog() string {
	b, _ := os.ReadFile(p.MaillogPath)
	return string(b)
}

func (p *Postfix) dumpLog(t testing.TB) {
	t.Logf("harness: postfix maillog %s:\n%s", p.MaillogPath, tail([]byte(p.Maillog()), 64<<10))
}

func (p *Postfix) dumpConfig(t testing.TB) {
	out, _ := p.command(30*time.Second, postconf, "-n")
	t.Logf("harness: postconf -c %s -n:\n%s", p.ConfigDir, out)
	out, _ = p.command(30*time.Second, postconf, "-M")
	t.Logf("harness: postconf -c %s -M:\n%s", p.ConfigDir, out)
}

// masterPID reads queue/pid/master.pid (right-aligned in a fixed width).
func (p *Postfix) masterPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(p.QueueDir, "pid", "master.pid"))
	if err != nil {
		return 0, fmt.Errorf("no master pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("bad master pid file %q", b)
	}
	return pid, nil
}

// stop stops the instance (see shutdown), reporting problems as test
// errors.
func (p *Postfix) stop(t testing.TB) {
	t.Helper()
	start := time.Now()
	ran, errs := p.shutdown()
	for _, err := range errs {
		t.Errorf("harness: %v", err)
	}
	if ran {
		t.Logf("harness: postfix (master pid %d) stopped in %v", p.MasterPID, time.Since(start).Round(time.Millisecond))
	}
}

// shutdown runs `postfix -c DIR stop` if the instance's master runs, then
// waits until no process of the instance is left, SIGKILLing each by PID
// after StopTimeout. The processes of the instance are those whose
// environment holds MAIL_CONFIG=ConfigDir (the master passes it to every
// child), which no other instance shares. It reports whether a master was
// running, and what went wrong.
func (p *Postfix) shutdown() (ran bool, errs []error) {
	if p.MasterPID == 0 {
		// Start failed or did not get as far as reading the pid file: a
		// master may still be running.
		p.MasterPID, _ = p.masterPID()
	}
	if p.MasterPID != 0 && alive(p.MasterPID) && slices.Contains(processesNaming(p.ConfigDir), p.MasterPID) {
		ran = true
		if out, err := p.command(30*time.Second, postfixCmd, "stop"); err != nil {
			errs = append(errs, fmt.Errorf("postfix -c %s stop: %v\n%s", p.ConfigDir, err, out))
		}
	}
	if left := waitNoneNaming(p.ConfigDir, StopTimeout); len(left) > 0 {
		errs = append(errs, fmt.Errorf("postfix processes %v of %s still alive %v after stop; sending SIGKILL", left, p.ConfigDir, StopTimeout))
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if left := waitNoneNaming(p.ConfigDir, StopTimeout); len(left) > 0 {
			errs = append(errs, fmt.Errorf("postfix processes %v of %s survived SIGKILL", left, p.ConfigDir))
		}
	}
	return ran, errs
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	state, _, ok := procStat(pid)
	return ok && state != 'Z' && state != 'X'
}

// Delivered is a message found in the instance's Maildir.
type Delivered struct {
	Path   string
	Raw    []byte
	Header mail.Header
	Body   []byte
}

// Messages returns every message delivered so far, oldest first.
func (p *Postfix) Messages(t testing.TB) []*Delivered {
	t.Helper()
	var files []string
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(p.Maildir, sub))
		if err != nil {
			continue // not created before the first delivery
		}
		for _, e := range entries {
			if e.Type().IsRegular() {
				files = append(files, filepath.Join(p.Maildir, sub, e.Name()))
			}
		}
	}
	sort.Strings(files) // Maildir names start with the delivery time
	var msgs []*Delivered
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue // moved from new/ to cur/ meanwhile
		}
		m, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("harness: delivered message %s does not parse: %v", f, err)
		}
		body := raw[len(raw)-bodyLen(m):]
		msgs = append(msgs, &Delivered{Path: f, Raw: raw, Header: m.Header, Body: body})
	}
	return msgs
}

func bodyLen(m *mail.Message) int {
	var b bytes.Buffer
	_, _ = b.ReadFrom(m.Body)
	return b.Len()
}

// WaitForMessage waits up to DeliveryTimeout for the message whose
// Message-Id header is messageID to be delivered, and returns it. On
// timeout it fails the test with the maillog.
func (p *Postfix) WaitForMessage(t testing.TB, messageID string) *Delivered {
	t.Helper()
	deadline := time.Now().Add(DeliveryTimeout)
	for {
		for _, m := range p.Messages(t) {
			if strings.TrimSpace(m.Header.Get("Message-Id")) == messageID {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("harness: message %s not delivered to %s after %v; maillog:\n%s", messageID, p.Maildir, DeliveryTimeout, tail([]byte(p.Maillog()), 16<<10))
		}
		time.Sleep(25 * time.Millisecond)
	}
}
