package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// lockedBuffer collects the output of the script and its daemons.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// demoResult mirrors milterd/internal/demo.Result's JSON.
type demoResult struct {
	Name          string   `json:"name"`
	Verdict       string   `json:"verdict"`
	Stage         string   `json:"stage"`
	Reply         string   `json:"reply"`
	HeaderChanges []string `json:"header_changes"`
	BodyReplaced  bool     `json:"body_replaced"`
	Parts         []struct {
		Type     string `json:"type"`
		Filename string `json:"filename"`
	} `json:"parts"`
	Warnings []string `json:"warnings"`
}

// processesUnder returns the IDs of the running processes whose executable
// lies under dir.
func processesUnder(dir string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && strings.HasPrefix(exe, dir+string(filepath.Separator)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// processUID returns the effective user ID of a running process.
func processUID(pid int) (uint32, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "Uid:" {
			u, err := strconv.Atoi(f[2])
			return uint32(u), err == nil
		}
	}
	return 0, false
}

// TestMakeRunAndDemo is `make run` and `make demo`: deploy/run-demo.sh
// starts md-multiplexor (md-worker, the shipped filter) and md-milterd under
// a run directory; the demo program sends its three messages through the
// milter socket; Ctrl-C (SIGINT to the script) stops both daemons and
// leaves nothing running and nothing in the spool. It runs twice: as root
// (the daemons then run as defang) and, as the issue asks, as an ordinary
// user (nobody), with no privilege at all.
func TestMakeRunAndDemo(t *testing.T) {
	harness.RequireRoot(t) // to run the script as root, then as nobody
	if _, err := exec.Command("id", "defang").Output(); err != nil {
		t.Fatalf("as root, make run needs the user defang (apt-get install -y mimedefang creates it)")
	}
	t.Run("root", func(t *testing.T) { testMakeRunAndDemo(t, nil) })
	t.Run("ordinary user", func(t *testing.T) {
		testMakeRunAndDemo(t, &syscall.Credential{Uid: 65534, Gid: 65534}) // nobody, nogroup
	})
}

// testMakeRunAndDemo runs deploy/run-demo.sh as cred (nil: as this
// process, root) and the demo against it.
func testMakeRunAndDemo(t *testing.T, cred *syscall.Credential) {
	root := filepath.Join(harness.ModuleRoot(t), "..")
	bin := harness.BinDir(t)
	for _, b := range []string{"md-multiplexor", "md-mx-ctrl", "md-milterd", "md-worker"} {
		harness.MDBinary(t, b)
	}

	// Not t.TempDir(): as root the daemons run as defang, who must be able
	// to reach the run directory, and t.TempDir's parent is private.
	run, err := os.MkdirTemp("", "md-makerun-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(run, 0o755); err != nil {
		t.Fatal(err)
	}
	if cred != nil {
		if err := os.Chown(run, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	binDir := filepath.Join(run, "bin")

	// The demo program, built from the milterd module.
	demoBin := filepath.Join(t.TempDir(), "md-demo")
	build := exec.Command("go", "build", "-o", demoBin, "./internal/demo/cmd")
	build.Dir = filepath.Join(root, "milterd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the demo program: %v\n%s", err, out)
	}

	ports := harness.FreePorts(t, 2)
	mxMetrics := fmt.Sprintf("127.0.0.1:%d", ports[0])
	milterMetrics := fmt.Sprintf("127.0.0.1:%d", ports[1])
	var logs lockedBuffer
	script := exec.Command("bash", filepath.Join(root, "deploy", "run-demo.sh"), bin, run)
	// No scanner, whatever this machine runs: TestMakeRunWithScanners
	// has them.
	script.Env = append(os.Environ(), "MX_METRICS="+mxMetrics, "MILTER_METRICS="+milterMetrics,
		"MD_RUN_CLAMD="+filepath.Join(run, "no-clamd.sock"), "MD_RUN_SPAMD="+filepath.Join(run, "no-spamd.sock"))
	script.Stdout = &logs
	script.Stderr = &logs
	if cred != nil {
		script.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		script.Env = append(script.Env, "HOME="+run)
	}
	if err := script.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- script.Wait() }()

	// Whatever happens, nothing of ours is left running and the run
	// directory goes.
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			script.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				script.Process.Kill()
				<-exited
			}
		}
		for _, pid := range processesUnder(binDir) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		deadline := time.Now().Add(5 * time.Second)
		for len(processesUnder(binDir)) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if t.Failed() {
			t.Logf("make run output:\n%s", logs.String())
		}
		os.RemoveAll(run)
	})

	sock := filepath.Join(run, "sock", "milter.sock")
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(logs.String(), "milter socket for an MTA: unix:"+sock) {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("run-demo.sh exited before the milter was ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no milter socket after 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("milter socket %s: %v", sock, err)
	}
	daemonPID := map[string]int{}
	for _, name := range []string{"md-multiplexor", "md-milterd"} {
		b, err := os.ReadFile(filepath.Join(run, name+".pid"))
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			t.Fatalf("%s.pid: %v %q", name, err, b)
		}
		daemonPID[name] = pid
	}
	// Whom the daemons run as: defang when started as root, else the user.
	wantUID := uint32(0)
	if cred != nil {
		wantUID = cred.Uid
	} else if out, err := exec.Command("id", "-u", "defang").Output(); err == nil {
		u, _ := strconv.Atoi(strings.TrimSpace(string(out)))
		wantUID = uint32(u)
	}
	for name, pid := range daemonPID {
		if uid, ok := processUID(pid); !ok || uid != wantUID {
			t.Errorf("%s (pid %d) runs as uid %d (found: %v), want %d", name, pid, uid, ok, wantUID)
		}
	}

	// Both metrics endpoints answer on loopback.
	for _, addr := range []string{mxMetrics, milterMetrics} {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatalf("metrics on %s: %v", addr, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("metrics on %s: %s", addr, resp.Status)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, demoBin, "-json", "-socket", "unix:"+sock).Output()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	var results []demoResult
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatalf("demo output: %v\n%s", err, out)
	}
	if len(results) != 3 {
		t.Fatalf("demo: %d results, want 3:\n%s", len(results), out)
	}
	for _, r := range results {
		if r.Verdict != "accept" || r.Stage != "end of message" {
			t.Errorf("%s: %s at %s (%s), want accept at the end of the message", r.Name, r.Verdict, r.Stage, r.Reply)
		}
	}

	clean := results[0]
	if clean.BodyReplaced || len(clean.Warnings) != 0 {
		t.Errorf("clean message: body replaced=%v, warnings %q; want it unchanged", clean.BodyReplaced, clean.Warnings)
	}
	for _, h := range clean.HeaderChanges {
		if !strings.HasPrefix(h, "add X-Scanned-By:") {
			t.Errorf("clean message: header change %q; only X-Scanned-By is expected", h)
		}
	}

	dropped := func(r demoResult, name string) {
		t.Helper()
		if !r.BodyReplaced {
			t.Errorf("%s: body not replaced; %s should have been removed", r.Name, name)
			return
		}
		for _, p := range r.Parts {
			if strings.EqualFold(p.Filename, name) || strings.HasSuffix(strings.ToLower(p.Filename), ".exe") {
				t.Errorf("%s: part %s (%s) is still there", r.Name, p.Filename, p.Type)
			}
		}
		kept := false
		for _, p := range r.Parts {
			if p.Type == "text/plain" && p.Filename == "" {
				kept = true
			}
		}
		if !kept {
			t.Errorf("%s: the text part is gone: %+v", r.Name, r.Parts)
		}
		want := "An attachment named " + name + " was removed"
		if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], want) {
			t.Errorf("%s: warnings %q, want one containing %q", r.Name, r.Warnings, want)
		}
	}
	dropped(results[1], "invoice.exe")
	dropped(results[2], "photos.zip")

	// Ctrl-C with a message in flight: the demo sends a message up to the
	// end of its body and holds it there; Ctrl-C; once md-milterd has
	// been told to stop, the end of the message goes out, and the message
	// must still be answered in full (scanned, X-Scanned-By added), not
	// dropped: md-milterd stops accepting but finishes its sessions.
	held := exec.CommandContext(ctx, demoBin, "-json", "-pause", "-count", "1", "-socket", "unix:"+sock)
	heldIn, err := held.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var heldOut, heldErr lockedBuffer
	held.Stdout, held.Stderr = &heldOut, &heldErr
	if err := held.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor := func(b *lockedBuffer, what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(b.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q after 30 s; demo stderr:\n%s", what, heldErr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor(&heldErr, "end of message held")
	if err := script.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitFor(&logs, "Received signal terminated")
	heldIn.Write([]byte("\n"))
	if err := held.Wait(); err != nil {
		t.Fatalf("demo with a message in flight at Ctrl-C: %v\n%s", err, heldErr.String())
	}
	var inFlight []demoResult
	if err := json.Unmarshal([]byte(heldOut.String()), &inFlight); err != nil || len(inFlight) != 1 {
		t.Fatalf("demo output for the message in flight: %v\n%s", err, heldOut.String())
	}
	if r := inFlight[0]; r.Verdict != "accept" || r.Stage != "end of message" || len(r.HeaderChanges) == 0 {
		t.Errorf("message in flight at Ctrl-C: %s at %s (%s), header changes %q; want it accepted at the end of the message with X-Scanned-By", r.Verdict, r.Stage, r.Reply, r.HeaderChanges)
	}

	// The rest of Ctrl-C.
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Errorf("run-demo.sh after SIGINT: %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("run-demo.sh still running 40 s after SIGINT")
	}
	for name, pid := range daemonPID {
		if err := syscall.Kill(pid, 0); err == nil {
			if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); strings.HasPrefix(exe, binDir) {
				t.Errorf("%s (pid %d) still running after the script exited", name, pid)
			}
		}
	}
	if left := processesUnder(binDir); len(left) > 0 {
		t.Errorf("processes still running from %s: %v", binDir, left)
	}
	log := logs.String()
	for _, want := range []string{"make run: stopping md-milterd, then md-multiplexor", "make run: stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if _, err := os.Stat(sock); err == nil {
		t.Errorf("milter socket %s left behind", sock)
	}
	entries, _ := os.ReadDir(filepath.Join(run, "spool"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "mdefang-") {
			t.Errorf("spool: %s left behind", e.Name())
		}
	}
}

// TestMakeRunInPrivateClone is `make run` as a newcomer runs it: as root, in
// a fresh clone inside a private (0700) directory such as root's home, which
// the user defang cannot reach. make run must pick a run directory defang
// can reach, say where it is, and bring the stack up; Ctrl-C stops it.
func TestMakeRunInPrivateClone(t *testing.T) {
	harness.RequireRoot(t)
	harness.RequireProgram(t, "/usr/bin/git", "git")
	harness.LookupUser(t, harness.DefangUser, "mimedefang")
	private := t.TempDir()
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(private, "md")
	root := filepath.Join(harness.ModuleRoot(t), "..")
	if out, err := exec.Command("git", "clone", "-q", root, clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}

	ports := harness.FreePorts(t, 2)
	var logs lockedBuffer
	cmd := exec.Command("make", "run")
	cmd.Dir = clone
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("MX_METRICS=127.0.0.1:%d", ports[0]), fmt.Sprintf("MILTER_METRICS=127.0.0.1:%d", ports[1]))
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Ctrl-C goes to the whole group, as from a terminal
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var run string
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
			select {
			case <-exited:
			case <-time.After(harness.Scale(60 * time.Second)):
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			}
		}
		if run != "" {
			for _, pid := range processesUnder(filepath.Join(run, "bin")) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			os.RemoveAll(run)
		}
		if t.Failed() {
			t.Logf("make run output:\n%s", logs.String())
		}
	})
	line := func(prefix string) string {
		t.Helper()
		var rest string
		// make run builds first: give it minutes.
		harness.WaitFor(t, 5*time.Minute, "make run to print "+prefix, func() bool {
			select {
			case err := <-exited:
				exited <- err
				t.Fatalf("make run exited (%v) before printing %q", err, prefix)
			default:
			}
			for _, l := range strings.Split(logs.String(), "\n") {
				if r, ok := strings.CutPrefix(strings.TrimSpace(l), prefix); ok {
					rest = strings.TrimSpace(r)
					return true
				}
			}
			return false
		})
		return rest
	}
	run = line("make run: running under ")
	if strings.HasPrefix(run, private) || !strings.HasPrefix(run, "/var/tmp/md-run-") {
		t.Errorf("make run chose %s; want a directory under /var/tmp that defang can reach, outside the private %s", run, private)
	}
	sock := line("milter socket for an MTA: unix:")
	if !strings.HasPrefix(sock, run+"/") {
		t.Errorf("milter socket %s is not under the run directory %s", sock, run)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("milter socket: %v", err)
	}
	c.Close()
	mxSock := filepath.Join(run, "spool", "mimedefang-multiplexor.sock")
	harness.WaitFor(t, 60*time.Second, "an idle md-worker", func() bool {
		r, err := harness.Exchange(mxSock, "status\n")
		return err == nil && strings.Contains(strings.Fields(r + " x")[0], "I")
	})

	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-exited:
		exited <- nil
	case <-time.After(harness.Scale(60 * time.Second)):
		t.Fatalf("make run still running 60 s after Ctrl-C")
	}
	if err := harness.Await(10*time.Second, func() bool { return len(processesUnder(filepath.Join(run, "bin"))) == 0 }); err != nil {
		t.Errorf("processes of make run left after Ctrl-C: %v (%v)", processesUnder(filepath.Join(run, "bin")), err)
	}
	if !strings.Contains(logs.String(), "make run: stopped") {
		t.Errorf("make run did not report a clean stop")
	}
}

// TestMakeRunWithScanners is `make run` on a machine where clamd and spamd
// answer (here the harness's, named by MD_RUN_CLAMD and MD_RUN_SPAMD): it
// says it uses them, its filter copy turns the shipped filter's virus and
// spam blocks on, and that filter discards EICAR and tags GTUBE. Where
// nothing answers (TestMakeRunAndDemo) it says the scanning is off.
func TestMakeRunWithScanners(t *testing.T) {
	harness.RequireRoot(t)
	dir := harness.NewTestDir(t)
	clamd := harness.StartClamd(t, harness.ClamdOptions{Dir: dir})
	spamd := harness.StartSpamd(t, harness.SpamdOptions{Dir: dir})
	root := filepath.Join(harness.ModuleRoot(t), "..")
	run := harness.MkdirOwned(t, filepath.Join(dir, "run"), harness.Account{}, 0o755)

	ports := harness.FreePorts(t, 2)
	var logs lockedBuffer
	script := exec.Command("bash", filepath.Join(root, "deploy", "run-demo.sh"), harness.BinDir(t), run)
	script.Env = append(os.Environ(), fmt.Sprintf("MX_METRICS=127.0.0.1:%d", ports[0]), fmt.Sprintf("MILTER_METRICS=127.0.0.1:%d", ports[1]),
		"MD_RUN_CLAMD="+clamd.Socket, "MD_RUN_SPAMD="+spamd.Addr)
	script.Stdout, script.Stderr = &logs, &logs
	if err := script.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- script.Wait() }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			script.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(harness.Scale(60 * time.Second)):
				script.Process.Kill()
				<-exited
			}
		}
		for _, pid := range processesUnder(filepath.Join(run, "bin")) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if t.Failed() {
			t.Logf("make run output:\n%s", logs.String())
		}
	})
	harness.WaitFor(t, 2*time.Minute, "make run to be up", func() bool {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("run-demo.sh exited (%v) before the milter was ready", err)
		default:
		}
		return strings.Contains(logs.String(), "milter socket for an MTA: unix:")
	})
	for _, want := range []string{"make run: virus scanning with clamd at " + clamd.Socket, "make run: spam scoring with spamd at " + spamd.Addr} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("make run does not say %q", want)
		}
	}

	// The filter it runs: EICAR discarded, GTUBE tagged.
	worker := filepath.Join(run, "bin", "md-worker")
	try := func(name, body string) string {
		t.Helper()
		eml := filepath.Join(dir, name+".eml")
		if err := os.WriteFile(eml, []byte("From: a@example.org\nTo: b@example.com\nSubject: "+name+"\n\n"+body+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(worker, "test", eml, "--filter", filepath.Join(run, "filter.lua"),
			"--sender", "a@example.org", "--recipient", "b@example.com").Output()
		if err != nil {
			t.Fatalf("md-worker test %s: %v\n%s", name, err, out)
		}
		return string(out)
	}
	if out := try("eicar", string(harness.EICAR())); !strings.Contains(out, "verdict: discard") {
		t.Errorf("EICAR through make run's filter:\n%s", out)
	}
	if out := try("gtube", harness.GTUBE()); !strings.Contains(out, "X-Spam-Score") {
		t.Errorf("GTUBE through make run's filter: no X-Spam-Score\n%s", out)
	}

	syscall.Kill(script.Process.Pid, syscall.SIGINT)
	select {
	case <-exited:
		exited <- nil
	case <-time.After(harness.Scale(60 * time.Second)):
		t.Fatalf("make run still running 60 s after Ctrl-C")
	}
}
