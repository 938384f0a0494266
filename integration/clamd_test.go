package integration

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// The ClamAV integration (worker/filter/clamd, docs/integrations.md)
// against the real clamd of Debian's clamav-daemon, started by
// harness.StartClamd with a signature database that knows only EICAR.
// Each case runs testdata/clamd.lua, a filter that rejects (and
// quarantines) a virus and tempfails when the scanner fails, through
// `md-worker test`, and TestClamdStack runs it behind Postfix.

// clamdTestTimeout bounds one md-worker test run (scaled by
// MD_TEST_SLOWDOWN); a run takes well under a second.
const clamdTestTimeout = 60 * time.Second

// virusMail is a message with a text part and an attachment holding
// attachment, base64-encoded as mail clients send it.
func virusMail(subject string, attachment []byte) *harness.Message {
	return &harness.Message{
		From: "tester@" + harness.Domain, To: "alice@" + harness.Domain, Subject: subject,
		Headers: []string{"MIME-Version: 1.0", `Content-Type: multipart/mixed; boundary="=-clamd"`},
		Body: "--=-clamd\nContent-Type: text/plain\n\nSee the attachment.\n\n" +
			"--=-clamd\nContent-Type: application/octet-stream; name=\"sample.com\"\n" +
			"Content-Disposition: attachment; filename=\"sample.com\"\nContent-Transfer-Encoding: base64\n\n" +
			base64.StdEncoding.EncodeToString(attachment) + "\n--=-clamd--\n",
	}
}

// clamdFilter writes settings (Lua lines) followed by testdata/clamd.lua
// to dir/name and returns its path.
func clamdFilter(t *testing.T, dir, name string, settings ...string) string {
	t.Helper()
	src, err := os.ReadFile(harness.Testdata(t, "clamd.lua"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	body := strings.Join(settings, "\n") + "\n" + string(src)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// lua quotes s as a Lua string.
func lua(s string) string { return fmt.Sprintf("%q", s) }

// clamdRun is what `md-worker test` printed.
type clamdRun struct {
	out, log string
	verdict  string // the "verdict: " line, without that prefix
	elapsed  time.Duration
}

// runMDWorkerTest runs `md-worker test MESSAGE --filter FILTER` on msg, its
// temporary files under dir, and returns what it printed. args are more
// flags.
func runMDWorkerTest(t *testing.T, dir, filter string, msg *harness.Message, args ...string) clamdRun {
	t.Helper()
	return runMDWorkerTestRaw(t, dir, filter, msg.Bytes(), append([]string{"--sender", "<" + msg.From + ">", "--recipient", "<" + msg.To + ">"}, args...)...)
}

// runMDWorkerTestRaw is runMDWorkerTest on the bytes of a message, its
// envelope md-worker test's defaults unless args say otherwise.
func runMDWorkerTestRaw(t *testing.T, dir, filter string, raw []byte, args ...string) clamdRun {
	t.Helper()
	eml := filepath.Join(dir, "message.eml")
	if err := os.WriteFile(eml, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), harness.Scale(clamdTestTimeout))
	defer cancel()
	argv := append([]string{"test", eml, "--filter", filter, "--queue-id", "CLAMDQ1"}, args...)
	cmd := exec.CommandContext(ctx, harness.MDBinary(t, "md-worker"), argv...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var out, log strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &log
	start := time.Now()
	err := cmd.Run()
	r := clamdRun{out: out.String(), log: log.String(), elapsed: time.Since(start)}
	if err != nil {
		t.Fatalf("md-worker test: %v (after %v)\nstdout:\n%s\nstderr:\n%s", err, r.elapsed, r.out, r.log)
	}
	for _, l := range strings.Split(r.out, "\n") {
		if v, ok := strings.CutPrefix(l, "verdict: "); ok {
			r.verdict = v
		}
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("md-worker test left %d entries in its TMPDIR", len(ents))
	}
	return r
}

// expect checks the verdict and that the log holds every line of logs.
func (r clamdRun) expect(t *testing.T, verdict string, logs ...string) {
	t.Helper()
	if r.verdict != verdict {
		t.Errorf("verdict %q, want %q\nstdout:\n%s\nstderr:\n%s", r.verdict, verdict, r.out, r.log)
	}
	for _, l := range logs {
		if !strings.Contains(r.log, l) {
			t.Errorf("log lacks %q:\n%s", l, r.log)
		}
	}
}

const (
	virusVerdict    = "reject 554 5.7.1 Virus found: " + harness.EICARVirusName
	tempfailVerdict = "tempfail 451 4.3.0 Problem running virus scanner"
)

// quarantined returns the messages quarantined under q.
func quarantined(t *testing.T, q string) []string {
	t.Helper()
	got, _ := filepath.Glob(filepath.Join(q, "*", "qdir-*", "ENTIRE_MESSAGE"))
	return got
}

// TestClamdInstream: the default mode, INSTREAM, over clamd's Unix socket
// and over TCP (ClamdSock "127.0.0.1:PORT"), for the whole message and part
// by part: EICAR in an attachment is found, named and quarantined; a clean
// message passes; message_contains_virus() runs clamd when
// Features["Virus:CLAMD"] is on.
func TestClamdInstream(t *testing.T) {
	dir := harness.NewTestDir(t)
	c := harness.StartClamd(t, harness.ClamdOptions{Dir: dir})
	for _, tc := range []struct{ name, sock, scan string }{
		{"unix message", c.Socket, "message"},
		{"unix entity", c.Socket, "entity"},
		{"tcp message", c.Addr, "message"},
		{"tcp entity", c.Addr, "entity"},
		{"dispatcher", c.Socket, "any"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := harness.MkdirOwned(t, filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")), harness.Account{}, 0o755)
			q := harness.MkdirOwned(t, filepath.Join(work, "quarantine"), harness.Account{}, 0o700)
			filter := clamdFilter(t, work, "filter.lua", "ClamdSock = "+lua(tc.sock), "Scan = "+lua(tc.scan),
				`Features["Virus:CLAMD"] = true`, `Features["Path:QUARANTINEDIR"] = `+lua(q))
			r := runMDWorkerTest(t, work, filter, virusMail("eicar", harness.EICAR()))
			r.expect(t, virusVerdict, "CLAMDQ1: Rejecting because of virus "+harness.EICARVirusName,
				"Virus scanner messages: clamd found the "+harness.EICARVirusName+" virus.")
			// md-worker test shows the question and clamd's answer.
			r.has(t, "): virus "+harness.EICARVirusName+" [")
			r.has(t, "call:      clamd (")
			if got := quarantined(t, q); len(got) != 1 {
				t.Errorf("quarantined %q, want the message", got)
			}
			r = runMDWorkerTest(t, work, filter, virusMail("clean", []byte("just some bytes\n")))
			r.expect(t, "accept")
			if strings.Contains(r.log, "virus") {
				t.Errorf("log of a clean message:\n%s", r.log)
			}
		})
	}
}

// TestClamdScanMode: ClamdMode "SCAN" and "MULTISCAN" make clamd open the
// decoded parts md-worker writes under Work, as the original does. clamd
// then needs to read md-worker's working directory: run as root it can;
// run as clamav it cannot read `md-worker test`'s private directory, and
// its "Permission denied" error tempfails the message (swerr).
func TestClamdScanMode(t *testing.T) {
	dir := harness.NewTestDir(t)
	root := harness.StartClamd(t, harness.ClamdOptions{Dir: dir, User: "root"})
	for _, tc := range []struct{ mode, scan string }{{"SCAN", "message"}, {"SCAN", "entity"}, {"MULTISCAN", "message"}} {
		t.Run(tc.mode+" "+tc.scan, func(t *testing.T) {
			work := harness.MkdirOwned(t, filepath.Join(dir, tc.mode+"-"+tc.scan), harness.Account{}, 0o755)
			filter := clamdFilter(t, work, "filter.lua", "ClamdSock = "+lua(root.Socket), "ClamdMode = "+lua(tc.mode),
				"Scan = "+lua(tc.scan), `Features["Path:QUARANTINEDIR"] = `+lua(filepath.Join(work, "q")))
			runMDWorkerTest(t, work, filter, virusMail("eicar", harness.EICAR())).expect(t, virusVerdict,
				"Virus scanner messages: clamd found the "+harness.EICARVirusName+" virus.")
			runMDWorkerTest(t, work, filter, virusMail("clean", []byte("just some bytes\n"))).expect(t, "accept")
		})
	}
	t.Run("clamav cannot read", func(t *testing.T) {
		other := harness.StartClamd(t, harness.ClamdOptions{})
		work := harness.MkdirOwned(t, filepath.Join(dir, "denied"), harness.Account{}, 0o755)
		filter := clamdFilter(t, work, "filter.lua", "ClamdSock = "+lua(other.Socket), `ClamdMode = "SCAN"`, `Scan = "message"`)
		runMDWorkerTest(t, work, filter, virusMail("eicar", harness.EICAR())).expect(t, tempfailVerdict,
			"CLAMDQ1: Clamd returned error: ", "Permission denied", "code=999, category=swerr, action=tempfail")
	})
}

// TestClamdDown: nothing listens on the socket or the port: the message is
// tempfailed (999, cannot-execute), logged as the original logs it.
func TestClamdDown(t *testing.T) {
	dir := harness.NewTestDir(t)
	sock := filepath.Join(dir, "no-clamd.sock")
	addr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	for _, tc := range []struct{ name, sock, scan, log string }{
		{"unix message", sock, "message", "Could not connect to clamd daemon at " + sock},
		{"unix entity", sock, "entity", "Could not connect to clamd Daemon at " + sock},
		{"tcp message", addr, "message", "Could not connect to clamd daemon at " + addr},
		{"dispatcher", sock, "any", "Could not connect to clamd daemon at " + sock},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := harness.MkdirOwned(t, filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")), harness.Account{}, 0o755)
			filter := clamdFilter(t, work, "filter.lua", "ClamdSock = "+lua(tc.sock), "Scan = "+lua(tc.scan), `Features["Virus:CLAMD"] = 1`)
			runMDWorkerTest(t, work, filter, virusMail("eicar", harness.EICAR())).expect(t, tempfailVerdict,
				"CLAMDQ1: "+tc.log, "code=999, category=cannot-execute, action=tempfail")
		})
	}
}

// hungClamd listens on network ("unix" or "tcp") and accepts connections
// that it never answers, until the test ends. It returns the address.
func hungClamd(t *testing.T, dir, network string) string {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(dir, "hung.sock")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestClamdHung: a clamd that accepts and never answers tempfails the
// message when ClamdReadTimeout passes (cannot-execute, "Timeout reading
// from clamd daemon"), or at the latest at the request's deadline.
func TestClamdHung(t *testing.T) {
	dir := harness.NewTestDir(t)
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			sock := hungClamd(t, dir, network)
			work := harness.MkdirOwned(t, filepath.Join(dir, network), harness.Account{}, 0o755)
			filter := clamdFilter(t, work, "filter.lua", "ClamdSock = "+lua(sock), "ClamdReadTimeout = 1", `Scan = "message"`)
			r := runMDWorkerTest(t, work, filter, virusMail("eicar", harness.EICAR()))
			r.expect(t, tempfailVerdict, "CLAMDQ1: Timeout reading from clamd daemon at "+sock, "code=999, category=cannot-execute, action=tempfail")
			if r.elapsed < time.Second || r.elapsed > harness.Scale(20*time.Second) {
				t.Errorf("took %v with a read timeout of 1 s", r.elapsed)
			}

			// No per-step timeout shorter than the request: its deadline
			// (md-worker test --timeout) ends the call, and the callback
			// with it: the scan fails, which tempfails the message too.
			filter = clamdFilter(t, work, "deadline.lua", "ClamdSock = "+lua(sock), `Scan = "entity"`)
			r = runMDWorkerTest(t, work, filter, virusMail("eicar", harness.EICAR()), "--timeout", "2s")
			if !strings.HasPrefix(r.verdict, "tempfail") || r.elapsed > harness.Scale(20*time.Second) {
				t.Errorf("verdict %q after %v, want a tempfail at the 2 s deadline\n%s\n%s", r.verdict, r.elapsed, r.out, r.log)
			}
			if !strings.Contains(r.log, "Timeout reading from clamd daemon at "+sock) {
				t.Errorf("log:\n%s", r.log)
			}
		})
	}
}

// TestClamdCommandLineScanners: clamdscan (given clamd's socket in the
// configuration of $Features{'Path:CLAMDCONF'}) and clamscan (through a
// wrapper that names the test's database) run with the original's
// arguments, without a shell, and their exit status decides.
func TestClamdCommandLineScanners(t *testing.T) {
	harness.RequireProgram(t, "/usr/bin/clamdscan", harness.ClamAVPackages)
	harness.RequireProgram(t, "/usr/bin/clamscan", harness.ClamAVPackages)
	dir := harness.NewTestDir(t)
	c := harness.StartClamd(t, harness.ClamdOptions{Dir: dir})
	clamscan := filepath.Join(dir, "clamscan-with-test-db")
	if err := os.WriteFile(clamscan, []byte("#!/bin/sh\nexec /usr/bin/clamscan -d "+c.DB+" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		settings []string
	}{
		{"clamdscan unix", []string{`Scan = "clamdscan"`, `Features["Virus:CLAMDSCAN"] = "/usr/bin/clamdscan"`, `Features["Path:CLAMDCONF"] = ` + lua(c.ClamdscanConf(t, false))}},
		{"clamdscan tcp", []string{`Scan = "clamdscan"`, `Features["Virus:CLAMDSCAN"] = "/usr/bin/clamdscan"`, `Features["Path:CLAMDCONF"] = ` + lua(c.ClamdscanConf(t, true))}},
		{"clamscan", []string{`Scan = "clamav"`, `Features["Virus:CLAMAV"] = ` + lua(clamscan)}},
		{"dispatcher", []string{`Scan = "any"`, `Features["Virus:CLAMAV"] = ` + lua(clamscan)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := harness.MkdirOwned(t, filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")), harness.Account{}, 0o755)
			filter := clamdFilter(t, work, "filter.lua", tc.settings...)
			runMDWorkerTest(t, work, filter, virusMail("eicar", harness.EICAR())).expect(t, virusVerdict,
				": "+harness.EICARVirusName+" FOUND")
			runMDWorkerTest(t, work, filter, virusMail("clean", []byte("just some bytes\n"))).expect(t, "accept")
		})
	}
	t.Run("clamdscan without clamd", func(t *testing.T) {
		work := harness.MkdirOwned(t, filepath.Join(dir, "no-clamd"), harness.Account{}, 0o755)
		conf := filepath.Join(work, "clamdscan.conf")
		if err := os.WriteFile(conf, []byte("LocalSocket "+filepath.Join(work, "none.sock")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		filter := clamdFilter(t, work, "filter.lua", `Scan = "clamdscan"`, `Features["Virus:CLAMDSCAN"] = "/usr/bin/clamdscan"`, `Features["Path:CLAMDCONF"] = `+lua(conf))
		runMDWorkerTest(t, work, filter, virusMail("eicar", harness.EICAR())).expect(t, tempfailVerdict, "category=swerr, action=tempfail")
	})
}

// TestClamdStack: the whole stack, Postfix → md-milterd → md-multiplexor →
// md-worker running testdata/clamd.lua with clamd over its Unix socket:
// EICAR is rejected at the end of DATA with the filter's reply and
// quarantined, clean mail is delivered, and once clamd is stopped mail is
// tempfailed (451): the sending MTA keeps it and retries. md-multiplexor's
// /metrics counts the three clamd calls: a hit, a clean one, an error.
func TestClamdStack(t *testing.T) {
	dir := harness.NewTestDir(t)
	c := harness.StartClamd(t, harness.ClamdOptions{Dir: dir})
	q := harness.MkdirOwned(t, filepath.Join(dir, "quarantine"), harness.LookupUser(t, harness.DefangUser, "mimedefang"), 0o700)
	filter := clamdFilter(t, dir, "clamd.lua", "ClamdSock = "+lua(c.Socket), `Scan = "message"`, `Features["Path:QUARANTINEDIR"] = `+lua(q))
	stack, metrics := startStackWithMetrics(t, filter)

	res := stack.Send(t, virusMail("eicar through the stack", harness.EICAR()))
	if res.Stage != harness.StageMessage || res.Reply.Code != 554 || !strings.Contains(res.Reply.String(), "Virus found: "+harness.EICARVirusName) {
		t.Errorf("EICAR: %s reply %q, want 554 ... Virus found: %s", res.Stage, res.Reply, harness.EICARVirusName)
	}
	if got := quarantined(t, q); len(got) != 1 {
		t.Errorf("quarantined %q, want the EICAR message", got)
	}

	clean := virusMail("clean through the stack", []byte("just some bytes\n"))
	if res := stack.Send(t, clean); !res.Accepted() {
		t.Fatalf("clean message: %s reply %q", res.Stage, res.Reply)
	}
	stack.MTA.WaitForMessage(t, clean.MessageID)

	c.Terminate(harness.Scale(harness.StopTimeout))
	down := virusMail("clean, clamd down", []byte("just some bytes\n"))
	res = stack.Send(t, down)
	if res.Stage != harness.StageMessage || res.Reply.Code != 451 || !strings.Contains(res.Reply.String(), "Problem running virus scanner") {
		t.Errorf("clamd down: %s reply %q, want 451 ... Problem running virus scanner", res.Stage, res.Reply)
	}
	for _, m := range stack.MTA.Messages(t) {
		if m.Header.Get("Subject") != "clean through the stack" {
			t.Errorf("delivered %q", m.Header.Get("Subject"))
		}
	}
	expectIntegrationCalls(t, metrics, "clamd", map[string]float64{"hit": 1, "clean": 1, "error": 1})
}
