package faulttest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// Tests of the options of docs/reference/protocol.md §11.2 that change what the multiplexor
// does, each against the real binary: -y, -V, -W, -t with SIGHUP, SIGINT,
// -L, -a, -O, -k, -p with going into the background, and bad options.

const (
	replyRecipokOK       = "ok 1 ok 250 2.1.0 0\n"
	replyRecipokLimitHit = "ok -1 Per-domain%20recipok%20limit%20hit;%20please%20try%20again%20later\n"
	replyCannotActivate  = "error: Unable to activate worker\n"
	replyPrivileged      = "error: Attempt to use privileged command on unprivileged socket\n"
)

// statusRE is the reply to `status` (docs/reference/protocol.md §8.3.1).
var statusRE = regexp.MustCompile(`^[SIBK]+ \d+ \d+ \d+ \d+ \d+\n$`)

// recipok builds a recipok request as the milter sends it (docs/reference/protocol.md §3.2):
// recipient, sender, IP, host name, first recipient, HELO, directory, queue
// ID, mailer, host, address.
func recipok(rcpt, sender string) string {
	return fmt.Sprintf("recipok <%s> <%s> 192.0.2.1 client.example <%s> helo.example /tmp NOQUEUE esmtp mx.example %s",
		rcpt, sender, rcpt, rcpt)
}

// workerDir creates a directory that the multiplexor can write after it has
// dropped privileges to the worker user, and that everyone may search.
func workerDir(t *testing.T, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp(binDir, name+"-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if uid >= 0 {
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// dialDo sends one command to a control socket at network/addr and returns
// the whole reply.
func dialDo(network, addr, cmd string) (string, error) {
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(harness.Scale(harness.CommandTimeout)))
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

// -y: with two workers busy on recipok for one domain, a third recipok for
// that domain (compared case-insensitively) is refused at once with the
// per-domain reply, while a recipok for another domain is served; once the
// slow ones are done the domain is served again (docs/reference/protocol.md §7.10).
func TestRecipokPerDomainLimit(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "1", "-x", "4", "-y", "2", "-w", "1", "-l")
	m.waitIdle(1, 10*time.Second)

	slow := []<-chan string{
		m.async(recipok("slow3000@a.example", "s1@b.example")),
		m.async(recipok("slow3000@a.example", "s2@b.example")),
	}
	harness.WaitFor(t, 5*time.Second, "two workers busy on recipok", func() bool { return m.status().count('B') == 2 })

	m.expect(recipok("fast@A.Example", "s3@b.example"), replyRecipokLimitHit)
	// The sender is in the limited domain, but the limit counts the domain
	// after the first '@' of the line: the recipient's.
	m.expect(recipok("fast@other.example", "s4@a.example"), replyRecipokOK)
	for i, ch := range slow {
		select {
		case r := <-ch:
			t.Errorf("slow recipok %d answered %q before the limited ones were refused; the refusals did not come at once", i, r)
		default:
		}
	}
	if ws := m.must("busyworkers"); strings.Count(ws, " recipok") != 2 {
		t.Errorf("busyworkers while the limit is hit:\n%s", ws)
	}

	for i, ch := range slow {
		if r := await(t, ch, 15*time.Second, "slow recipok"); r != replyRecipokOK {
			t.Errorf("slow recipok %d: reply %q, want %q", i, r, replyRecipokOK)
		}
	}
	m.expect(recipok("fast@a.example", "s5@b.example"), replyRecipokOK)
	if !strings.Contains(m.log(), "Hit per-domain recipok limit (2) for domain a.example") {
		t.Errorf("the log does not record the per-domain limit hit")
	}
}

// -V: a worker is replaced once it is older than its lifetime, counted from
// its first request: after the request that ends past the lifetime, or, if
// it gets no more requests, by the idle timer (-i, here its minimum of 10 s).
func TestMaxLifetime(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "1", "-x", "1", "-w", "1", "-i", "10", "-V", "2", "-l")
	p1 := pidsIn(m.waitIdle(1, 10*time.Second), "I")[0]

	// Within its lifetime it keeps serving.
	m.expect("pid", "ok "+strconv.Itoa(p1)+"\n")
	m.expect("pid", "ok "+strconv.Itoa(p1)+"\n")
	// This request ends past the lifetime: the worker still answers it, and
	// is replaced after it.
	m.expect("sleep 2300", "ok slept\n")
	if err := m.waitGone(p1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	var p2 int
	harness.WaitFor(t, 10*time.Second, "a new worker", func() bool {
		ws := m.workers()
		p2 = ws[0].pid
		return ws[0].state == 'I' && p2 != p1
	})
	kill1 := regexp.MustCompile(`Killing idle worker 0 \(pid ` + strconv.Itoa(p1) + `\) req=3 age=\d+ req_age=\d+: Worker has exceeded maximum lifetime of 2 seconds`)
	if !kill1.MatchString(m.log()) {
		t.Errorf("the log does not say that worker %d was killed for its lifetime after its 3rd request", p1)
	}

	// One request, then none: the idle timer retires it.
	m.expect("pid", "ok "+strconv.Itoa(p2)+"\n")
	if err := m.waitGone(p2, 15*time.Second); err != nil {
		t.Fatalf("idle worker past its lifetime not retired by the idle timer: %v", err)
	}
	kill2 := regexp.MustCompile(`Killing idle worker 0 \(pid ` + strconv.Itoa(p2) + `\) req=1 age=\d+ req_age=\d+: Worker has exceeded maximum lifetime of 2 seconds`)
	if !kill2.MatchString(m.log()) {
		t.Errorf("the log does not say that worker %d was killed for its lifetime by the idle timer", p2)
	}
	ws := m.waitIdle(1, 10*time.Second)
	m.expect("pid", "ok "+strconv.Itoa(ws[0].pid)+"\n")
}

// -W: a worker start within -W seconds of the last one is refused; the
// request that needed it gets "Unable to activate worker" at once and is not
// queued, even with room in the queue (docs/reference/protocol.md §7.3). After the gap a
// start succeeds.
func TestMinStartGap(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	m := startMux(t, "-m", "1", "-x", "3", "-W", "5", "-q", "4", "-w", "1")
	m.waitIdle(1, 10*time.Second)

	slow := m.async("sleep 1500")
	harness.WaitFor(t, 5*time.Second, "the worker to be busy", func() bool { return m.status().count('B') == 1 })
	if d := time.Since(t0); d > 4*time.Second {
		t.Fatalf("the first worker took %v to come up; the test needs a start within the 5 s gap", d)
	}
	m.expect("echo x", replyCannotActivate)
	st := m.status()
	if st.queued != 0 || st.activations != 1 || st.count('B') != 1 || st.count('S') != 2 {
		t.Errorf("status after the refused start: %+v; want nothing queued and no second worker", st)
	}
	if r := await(t, slow, 10*time.Second, "sleep 1500"); r != "ok slept\n" {
		t.Errorf("sleep 1500: %q", r)
	}
	if !strings.Contains(m.log(), "Did not start worker 1: Not enough time elapsed since last worker activation") {
		t.Errorf("the log does not record the refused start")
	}

	// Five seconds after the first start, another may start.
	harness.WaitFor(t, 10*time.Second, "worker 0 to be 5 s old", func() bool {
		for _, l := range strings.Split(m.must("workerinfo 0"), "\n") {
			if v, ok := strings.CutPrefix(l, "Age "); ok {
				n, _ := strconv.Atoi(v)
				return n >= 5
			}
		}
		return false
	})
	slow = m.async("sleep 1000")
	harness.WaitFor(t, 5*time.Second, "the worker to be busy", func() bool { return m.status().count('B') == 1 })
	m.expect("echo y", "ok y\n")
	if st := m.status(); st.activations != 2 {
		t.Errorf("status after the gap: %+v; want a second activation", st)
	}
	if r := await(t, slow, 10*time.Second, "sleep 1000"); r != "ok slept\n" {
		t.Errorf("sleep 1000: %q", r)
	}
}

// statsLineRE is a -t line (docs/reference/protocol.md §12.3).
var statsLineRE = regexp.MustCompile(`^(\d\d/\d\d/\d{4}:\d\d:\d\d:\d\d) (\d+)\.\d{3} (StartWorker|StartFilter|EndFilter|KillWorker|ReapWorker) worker=\d+ nworkers=\d+ nbusy=\d+(?: (.*))?$`)

// readStats reads a stats file and checks every line's format: the date is
// DD/MM/YYYY in local time and agrees with the epoch seconds, and each event
// has its extra part. It returns the lines.
func readStats(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	extra := map[string]*regexp.Regexp{
		"StartWorker": regexp.MustCompile(`^reason="[^"]+"$`),
		"StartFilter": regexp.MustCompile(`^$`),
		"EndFilter":   regexp.MustCompile(`^numRequests=\d+$`),
		"KillWorker":  regexp.MustCompile(`^req=\d+ age=\d+ reason="[^"]+"$`),
		"ReapWorker":  regexp.MustCompile(`^$`),
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(b) == 0 {
		lines = nil
	}
	for _, l := range lines {
		mm := statsLineRE.FindStringSubmatch(l)
		if mm == nil {
			t.Errorf("%s: bad stats line %q", filepath.Base(path), l)
			continue
		}
		if !extra[mm[3]].MatchString(mm[4]) {
			t.Errorf("%s: %s line with extra part %q: %q", filepath.Base(path), mm[3], mm[4], l)
		}
		when, err := time.ParseInLocation("02/01/2006:15:04:05", mm[1], time.Local)
		if epoch, _ := strconv.ParseInt(mm[2], 10, 64); err != nil || when.Unix() != epoch {
			t.Errorf("%s: date %s (DD/MM/YYYY, local time) does not agree with epoch %s: %q", filepath.Base(path), mm[1], mm[2], l)
		}
	}
	return lines
}

// has reports whether some line matches re.
func has(lines []string, re string) bool {
	r := regexp.MustCompile(re)
	for _, l := range lines {
		if r.MatchString(l) {
			return true
		}
	}
	return false
}

// -t with -u: each event is in the stats file as soon as it happens, in the
// original's format; SIGHUP reopens the file, so that it can be rotated.
func TestStatsFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(workerDir(t, "stats"), "mx.stats")
	m := startMux(t, "-m", "1", "-x", "2", "-w", "1", "-t", path, "-u")
	m.waitIdle(1, 10*time.Second)
	m.expect("scan QID1 /tmp", "ok\n")
	m.expect("reread", "Forced reread of filter rules\n")

	var lines []string
	harness.WaitFor(t, 10*time.Second, "KillWorker and ReapWorker lines", func() bool {
		lines = readStats(t, path)
		return has(lines, ` KillWorker `) && has(lines, ` ReapWorker `)
	})
	for _, want := range []string{
		` StartWorker worker=0 nworkers=1 nbusy=0 reason="Bringing workers up to minWorkers \(1\)"$`,
		` StartFilter worker=0 nworkers=1 nbusy=1$`,
		` EndFilter worker=0 nworkers=1 nbusy=1 numRequests=1$`,
		` KillWorker worker=0 nworkers=1 nbusy=0 req=1 age=\d+ reason="New generation -- forcing reread of filter rules"$`,
		` ReapWorker worker=0 nworkers=0 nbusy=0$`,
	} {
		if !has(lines, want) {
			t.Errorf("the stats file has no line matching %q", want)
		}
	}
	if t.Failed() {
		t.Fatalf("stats file:\n%s", strings.Join(lines, "\n"))
	}

	// Rotate: rename, SIGHUP, and the next lines go to a new file.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(m.pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	harness.WaitFor(t, 5*time.Second, "a new stats file after SIGHUP", func() bool {
		_, err := os.Stat(path)
		return err == nil
	})
	m.waitIdle(1, 10*time.Second)
	before, _ := os.ReadFile(path + ".1")
	m.expect("scan QID2 /tmp", "ok\n")
	lines = readStats(t, path)
	if !has(lines, ` StartFilter worker=\d nworkers=1 nbusy=1$`) || !has(lines, ` EndFilter worker=\d nworkers=1 nbusy=1 numRequests=1$`) {
		t.Errorf("the new stats file lacks the second scan:\n%s", strings.Join(lines, "\n"))
	}
	if after, _ := os.ReadFile(path + ".1"); !bytes.Equal(before, after) {
		t.Errorf("the rotated stats file grew after SIGHUP:\n%s", after[len(before):])
	}
	m.expect("ping", "PONG\n")
}

// SIGINT rereads as the reread command does (docs/reference/protocol.md §7.12): idle workers
// are replaced at once, a busy one after its request, which is answered; the
// multiplexor keeps running.
func TestSIGINTRereads(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "2", "-x", "3", "-w", "1")
	old := pidsIn(m.waitIdle(2, 10*time.Second), "I")

	slow := m.async("sleep 1500")
	var busyPid, idlePid int
	harness.WaitFor(t, 5*time.Second, "one busy worker", func() bool {
		ws := m.workers()
		b, i := pidsIn(ws, "B"), pidsIn(ws, "I")
		if len(b) == 1 && len(i) == 1 {
			busyPid, idlePid = b[0], i[0]
			return true
		}
		return false
	})
	if err := syscall.Kill(m.pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := m.waitGone(idlePid, 5*time.Second); err != nil {
		t.Errorf("idle worker not replaced after SIGINT: %v", err)
	}
	if !m.isWorker(busyPid) {
		t.Errorf("the busy worker %d was stopped by SIGINT before its request was done", busyPid)
	}
	if r := await(t, slow, 10*time.Second, "sleep 1500"); r != "ok slept\n" {
		t.Errorf("request running across SIGINT: %q", r)
	}
	if err := m.waitGone(busyPid, 5*time.Second); err != nil {
		t.Errorf("busy worker not replaced after its request: %v", err)
	}
	harness.WaitFor(t, 10*time.Second, "two new idle workers", func() bool {
		ids := pidsIn(m.workers(), "I")
		if len(ids) < 2 {
			return false
		}
		for _, p := range ids {
			for _, o := range old {
				if p == o {
					return false
				}
			}
		}
		return true
	})
	select {
	case <-m.proc.Exited():
		t.Fatalf("md-multiplexor exited after SIGINT: %v", m.proc.Err())
	default:
	}
	m.expect("ping", "PONG\n")
	if st := m.status(); st.activations != 4 {
		t.Errorf("status after SIGINT: %+v; want 4 activations (2 + 2 replacements)", st)
	}
}

// -L: the pool status is logged periodically (at most every 5 s).
func TestStatusLog(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "1", "-x", "2", "-L", "5")
	m.waitIdle(1, 10*time.Second)
	m.expect("scan QID /tmp", "ok\n")
	re := regexp.MustCompile(`Worker status: Stopped=1 Idle=1 Busy=0 Killed=0 Queued=0 Msgs=1 Activations=1\n`)
	harness.WaitFor(t, 8*time.Second, "a Worker status line in the log", func() bool { return re.MatchString(m.log()) })
}

// -a inet:PORT: the unprivileged socket answers the read-only commands and
// refuses the others, including those a worker would serve.
func TestUnprivSocketTCP(t *testing.T) {
	t.Parallel()
	port := harness.FreePort(t)
	m := startMux(t, "-m", "1", "-x", "2", "-a", fmt.Sprintf("inet:%d", port))
	m.waitIdle(1, 10*time.Second)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	harness.WaitForTCP(t, addr, m.proc) // startMux waited for -s only
	ask := func(cmd string) string {
		t.Helper()
		r, err := dialDo("tcp", addr, cmd)
		if err != nil {
			t.Fatalf("%q on the unprivileged socket: %v", cmd, err)
		}
		return r
	}
	if r := ask("status"); !statusRE.MatchString(r) || !strings.HasPrefix(r, "IS ") {
		t.Errorf("status on the unprivileged socket: %q", r)
	}
	if r := ask("free"); r != "2\n" {
		t.Errorf("free on the unprivileged socket: %q", r)
	}
	for _, cmd := range []string{"ping", "reread", "autoscale", "scan QID /tmp", recipok("a@b.example", "c@d.example")} {
		if r := ask(cmd); r != replyPrivileged {
			t.Errorf("%q on the unprivileged socket: %q, want %q", cmd, r, replyPrivileged)
		}
	}
	if st := m.status(); st.activations != 1 || st.msgs != 0 {
		t.Errorf("refused commands reached a worker: %+v", st)
	}
}

// -a /path: a UNIX-domain unprivileged socket is created world-accessible
// (umask 000), unlike the privileged one.
func TestUnprivSocketUnix(t *testing.T) {
	t.Parallel()
	path := filepath.Join(workerDir(t, "unpriv"), "unpriv.sock")
	m := startMux(t, "-m", "1", "-x", "2", "-a", path)
	// startMux waited for -s only; the listeners are opened one by one.
	harness.WaitForUnixSocket(t, path, m.proc)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm()&0o006 != 0o006 {
		t.Errorf("unprivileged socket %s has mode %v, want a socket others may connect to (o+rw)", path, fi.Mode())
	}
	if fi, err := os.Stat(m.sock); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("privileged socket %s: mode %v, %v; want no group or other access", m.sock, fi.Mode(), err)
	}
	if r, err := dialDo("unix", path, "status"); err != nil || !statusRE.MatchString(r) {
		t.Errorf("status on the unprivileged socket: %q, %v", r, err)
	}
	if r, err := dialDo("unix", path, "ping"); err != nil || r != replyPrivileged {
		t.Errorf("ping on the unprivileged socket: %q, %v; want %q", r, err, replyPrivileged)
	}
}

// notifyConn is a -O listener whose lines are read into a channel.
type notifyConn struct {
	c     net.Conn
	lines chan string // closed at EOF
}

func dialNotify(t *testing.T, addr string) *notifyConn {
	t.Helper()
	var c net.Conn
	harness.WaitFor(t, 30*time.Second, "the notification socket", func() bool {
		var err error
		c, err = net.Dial("tcp", addr)
		return err == nil
	})
	n := &notifyConn{c: c, lines: make(chan string, 1000)}
	t.Cleanup(func() { c.Close() })
	go func() {
		defer close(n.lines)
		r := bufio.NewReader(c)
		for {
			l, err := r.ReadString('\n')
			if l != "" {
				n.lines <- l
			}
			if err != nil {
				return
			}
		}
	}()
	return n
}

// next returns the next line, or "" if none comes within d.
func (n *notifyConn) next(d time.Duration) string {
	select {
	case l := <-n.lines:
		return l
	case <-time.After(d):
		return ""
	}
}

// drain returns the lines that arrive until none has come for d.
func (n *notifyConn) drain(d time.Duration) []string {
	var out []string
	for {
		l := n.next(d)
		if l == "" {
			return out
		}
		out = append(out, l)
	}
}

// -O: a listener gets only the message types it subscribed to (and the
// untyped *OK); at most five listeners, a sixth is turned away
// (docs/reference/protocol.md §10.2).
func TestNotifySubscription(t *testing.T) {
	t.Parallel()
	port := harness.FreePort(t)
	m := startMux(t, "-m", "1", "-x", "2", "-w", "1", "-O", fmt.Sprintf("inet:%d", port))
	m.waitIdle(1, 10*time.Second)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	harness.WaitForTCP(t, addr, m.proc) // startMux waited for -s only

	f := dialNotify(t, addr)   // subscribes to F
	all := dialNotify(t, addr) // subscribes to everything
	for _, n := range []*notifyConn{f, all} {
		if l := n.next(5 * time.Second); l != "*OK\n" {
			t.Fatalf("first line on the notification socket: %q, want %q", l, "*OK\n")
		}
	}
	io.WriteString(f.c, "?F\n")
	io.WriteString(all.c, "?*\n")

	fOnly := regexp.MustCompile(`^F \d+\n$`)
	var fLines, allLines []string
	// The subscriptions take effect when the multiplexor has read them;
	// there is no acknowledgement, so send requests until both listeners
	// see their messages.
	harness.WaitFor(t, 5*time.Second, "the subscriptions to take effect", func() bool {
		m.expect("echo probe", "ok probe\n")
		fLines = append(fLines, f.drain(100*time.Millisecond)...)
		allLines = append(allLines, all.drain(100*time.Millisecond)...)
		return has(fLines, `^F `) && has(allLines, `^S `)
	})
	fLines = append(fLines, f.drain(300*time.Millisecond)...)
	allLines = append(allLines, all.drain(100*time.Millisecond)...)
	for i := 0; i < 3; i++ {
		m.expect("echo "+strconv.Itoa(i), "ok "+strconv.Itoa(i)+"\n")
	}
	got := f.drain(300 * time.Millisecond)
	allLines = append(allLines, all.drain(100*time.Millisecond)...)
	// One idle worker and one stopped slot: each request takes the free
	// count from 2 to 1 and back.
	if want := "F 1\nF 2\nF 1\nF 2\nF 1\nF 2\n"; strings.Join(got, "") != want {
		t.Errorf("?F listener got %q for three requests, want %q", strings.Join(got, ""), want)
	}
	for _, l := range append(fLines, got...) {
		if !fOnly.MatchString(l) {
			t.Errorf("?F listener got %q", l)
		}
	}
	for _, want := range []string{`^S 0 StateChange Idle -> Busy\n$`, `^S 0 echo 2\n$`, `^F 1\n$`} {
		if !has(allLines, want) {
			t.Errorf("?* listener got no line matching %q: %q", want, allLines)
		}
	}

	// Five listeners at most.
	var more []*notifyConn
	for i := 0; i < 3; i++ {
		n := dialNotify(t, addr)
		if l := n.next(5 * time.Second); l != "*OK\n" {
			t.Fatalf("listener %d: first line %q, want %q", i+3, l, "*OK\n")
		}
		more = append(more, n)
	}
	sixth := dialNotify(t, addr)
	if l := sixth.next(5 * time.Second); l != "*ERR No free listening slots\n" {
		t.Errorf("sixth listener: %q, want %q", l, "*ERR No free listening slots\n")
	}
	if l, open := <-sixth.lines; open {
		t.Errorf("sixth listener: connection not closed after the refusal; got %q", l)
	}
	// A slot frees up when a listener goes away.
	more[0].c.Close()
	harness.WaitFor(t, 5*time.Second, "a free listening slot", func() bool {
		n := dialNotify(t, addr)
		defer n.c.Close()
		return n.next(5*time.Second) == "*OK\n"
	})
}

// -k: the autoscaler samples the busy ratio every 15 s into a moving average
// that `autoscale` shows (docs/reference/protocol.md §7.13, §8.3.8).
func TestAutoscale(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "1", "-x", "3", "-w", "1", "-k", "-b", "30")
	m.waitIdle(1, 10*time.Second)
	const fixed = " scale_out=0.80 scale_in=0.30 out_cool=5 in_cool=30 ema_alpha=0.2500\n"
	m.expect("autoscale", "enabled=1 interval=15 ema_busy=0.0000"+fixed)

	var slow []<-chan string
	for i := 0; i < 3; i++ {
		slow = append(slow, m.async("sleep 17000"))
	}
	harness.WaitFor(t, 5*time.Second, "three busy workers", func() bool { return m.status().count('B') == 3 })
	var r string
	harness.WaitFor(t, 20*time.Second, "the first autoscale sample", func() bool {
		r = m.must("autoscale")
		return !strings.Contains(r, "ema_busy=0.0000 ")
	})
	// All three workers busy: ema = 0·0.75 + 1·0.25.
	if want := "enabled=1 interval=15 ema_busy=0.2500" + fixed; r != want {
		t.Errorf("autoscale after the first sample: %q, want %q", r, want)
	}
	for _, ch := range slow {
		if r := await(t, ch, 15*time.Second, "sleep 17000"); r != "ok slept\n" {
			t.Errorf("sleep 17000: %q", r)
		}
	}
	if !strings.Contains(m.log(), "Autoscale: scaled out to 3 workers (ema_busy=0.00 queued=0)") {
		t.Errorf("the log does not record the on-demand starts as scale-outs")
	}
}

// bgDirs is the layout for a multiplexor the test starts itself, outside
// the harness: a spool directory the worker user owns, a copy of the test
// worker, and a directory only root may write for the pid file.
type bgDirs struct {
	spool, sock, lock, pidFile string
	w                          *mux // only for its worker-process helpers
}

func newBgDirs(t *testing.T) *bgDirs {
	t.Helper()
	dir, err := os.MkdirTemp(binDir, "bg-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &bgDirs{spool: filepath.Join(dir, "spool"), w: &mux{t: t, worker: filepath.Join(dir, "testworker")}}
	b.sock = filepath.Join(b.spool, "mx.sock")
	b.lock = filepath.Join(b.spool, "mx.lock")
	b.pidFile = filepath.Join(dir, "run", "mx.pid")
	if err := copyFile(workerBin, b.w.worker); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(b.spool, 0o700); err != nil {
		t.Fatal(err)
	}
	if uid >= 0 {
		if err := os.Chown(b.spool, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Dir(b.pidFile), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, pid := range b.w.workerProcs() {
			t.Errorf("worker process %d left behind", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return b
}

func (b *bgDirs) args(extra ...string) []string {
	args := []string{"-z", b.spool, "-s", b.sock, "-f", b.w.worker, "-p", b.pidFile, "-o", b.lock}
	if asUser != "" {
		args = append(args, "-U", asUser)
	}
	return append(args, extra...)
}

// runMux runs md-multiplexor to completion (at most 15 s, scaled by
// MD_TEST_SLOWDOWN) and returns its exit code and output.
func runMux(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), harness.Scale(15*time.Second))
	defer cancel()
	var o, e bytes.Buffer
	cmd := exec.CommandContext(ctx, harness.MDBinary(t, "md-multiplexor"), args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		t.Fatalf("md-multiplexor %s did not exit in time; stderr:\n%s", strings.Join(args, " "), e.String())
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("md-multiplexor %s: %v", strings.Join(args, " "), err)
	}
	return code, o.String(), e.String()
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// Without -D the multiplexor goes into the background: the command returns
// 0 once the sockets are open, the pid file names the running multiplexor,
// and SIGTERM to that PID stops it and its workers (docs/reference/protocol.md §11.5, §7.12).
func TestBackground(t *testing.T) {
	t.Parallel()
	b := newBgDirs(t)
	code, stdout, stderr := runMux(t, b.args("-m", "2", "-x", "2", "-w", "1")...)
	if code != 0 {
		t.Fatalf("md-multiplexor in the background: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	pidText, err := os.ReadFile(b.pidFile)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSuffix(string(pidText), "\n"))
	if err != nil || !strings.HasSuffix(string(pidText), "\n") {
		t.Fatalf("pid file holds %q, want a PID and a newline", pidText)
	}
	t.Cleanup(func() {
		if alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	exe, err1 := os.Stat("/proc/" + strconv.Itoa(pid) + "/exe")
	bin, err2 := os.Stat(harness.MDBinary(t, "md-multiplexor"))
	if err1 != nil || err2 != nil || !os.SameFile(exe, bin) || !alive(pid) {
		t.Fatalf("pid file names %d, which is not a running md-multiplexor (%v, %v)", pid, err1, err2)
	}
	// The parent returned only once the socket was open: no retry here.
	r, err := dialDo("unix", b.sock, "status")
	if err != nil || !statusRE.MatchString(r) {
		t.Fatalf("status right after the start: %q, %v", r, err)
	}
	var workers []int
	harness.WaitFor(t, 10*time.Second, "two workers", func() bool {
		workers = b.w.workerProcs()
		return len(workers) == 2
	})
	for _, w := range workers {
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", w))
		if f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:])); len(f) < 2 || f[1] != strconv.Itoa(pid) {
			t.Errorf("worker %d is not a child of md-multiplexor %d (stat %q)", w, pid, st)
		}
	}
	if r, err := dialDo("unix", b.sock, "ping"); err != nil || r != "PONG\n" {
		t.Errorf("ping: %q, %v", r, err)
	}

	// A second copy with the same pid and lock files is refused by the
	// lock and leaves the running copy's pid file alone.
	code, _, stderr = runMux(t, b.args("-s", filepath.Join(b.spool, "second.sock"))...)
	if code != 1 || !strings.Contains(stderr, "Error from child: ") || !strings.Contains(stderr, "is another copy running?") {
		t.Errorf("second copy: exit %d, stderr %q; want 1 and the lock refusal", code, stderr)
	}
	if now, _ := os.ReadFile(b.pidFile); !bytes.Equal(now, pidText) {
		t.Errorf("the pid file holds %q after a second copy was refused, want %q", now, pidText)
	}

	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	harness.WaitFor(t, 15*time.Second, "md-multiplexor to exit after SIGTERM", func() bool { return !alive(pid) })
	for _, w := range workers {
		if err := b.w.waitGone(w, 3*time.Second); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(b.sock); err == nil {
		t.Errorf("the control socket is still there after SIGTERM")
	}
}

// Start-up failures without -D: a bad option is refused by the command
// itself, before it goes into the background; a failure only the background
// process meets is reported by the waiting command as "Error from child:".
// Either way the exit status is 1 and nothing keeps running.
func TestBackgroundFailure(t *testing.T) {
	t.Parallel()
	b := newBgDirs(t)
	code, _, stderr := runMux(t, b.args("-q", "200")...)
	if code != 1 || !strings.Contains(stderr, "queue size (-q) must be at most 128, not 200") {
		t.Errorf("-q 200 without -D: exit %d, stderr %q; want 1 and the bad -q named", code, stderr)
	}
	if _, err := os.Stat(b.pidFile); err == nil {
		t.Errorf("-q 200 left a pid file behind")
	}

	// The control socket in a directory only root may write: the process
	// has dropped privileges by the time it creates the socket.
	sock := filepath.Join(filepath.Dir(b.pidFile), "mx.sock")
	code, _, stderr = runMux(t, append(b.args(), "-s", sock)...)
	if code != 1 || !strings.Contains(stderr, "Error from child: ") || !strings.Contains(stderr, sock) {
		t.Errorf("unwritable socket directory without -D: exit %d, stderr %q; want 1 and \"Error from child:\" naming %s", code, stderr, sock)
	}
	if _, err := os.Stat(sock); err == nil {
		t.Errorf("the control socket was created")
	}
	if ws := b.w.workerProcs(); len(ws) > 0 {
		t.Errorf("workers started: %v", ws)
	}
}

// Bad options: exit 1 with a message that names the problem, and nothing is
// started.
func TestBadOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"queue", []string{"-q", "200"}, "queue size (-q) must be at most 128, not 200"},
		{"relative", []string{"-f", "relative/path"}, `the worker program (-f) must be an absolute path, not "relative/path"`},
		{"unknown", []string{"--bogus"}, "unknown flag: --bogus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBgDirs(t)
			code, stdout, stderr := runMux(t, append(b.args("-D"), tc.args...)...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if _, err := os.Stat(b.sock); err == nil {
				t.Errorf("the control socket was created")
			}
			if _, err := os.Stat(b.pidFile); err == nil {
				t.Errorf("a pid file was created")
			}
			if ws := b.w.workerProcs(); len(ws) > 0 {
				t.Errorf("workers started: %v", ws)
			}
		})
	}
}
