package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
)

// buildBinary builds md-worker once for the real-process tests.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "md-worker")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

func workDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mdefang-proc")
	os.Mkdir(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "COMMANDS"), []byte("S<a@b>\nR<c@d> ? ? ?\nQQP1\nF\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "INPUTMSG"), []byte("Subject: t\n\nhello\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "HEADERS"), []byte("Subject: t\n"), 0o600)
	return dir
}

// TestServerProcess runs the built binary as the multiplexor does
// ("PROG -f FILTER -server") and talks to it over stdin and stdout.
func TestServerProcess(t *testing.T) {
	bin := buildBinary(t)
	dir := workDir(t)
	cmd := exec.Command(bin, "-f", "builtin:passthrough", "-server")
	cmd.Dir = t.TempDir()
	in, _ := cmd.StdinPipe()
	outPipe, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewReader(outPipe)
	for _, c := range []struct{ req, want string }{
		{"ping", "PONG\n"},
		{"relayok 192.0.2.1 host 25 127.0.0.1 25 NOQUEUE", "ok 1 ok 250 2.1.0 0\n"},
		{"scan QP1 " + dir, "ok\n"},
		{"tick 0", "error: tick 0: filter_tick undefined\n"},
		{"nonsense", "error: Unknown command\n"},
		{"scan QP1 /nonexistent/dir", "error: Cannot chdir(/nonexistent/dir): chdir /nonexistent/dir: no such file or directory\n"},
		{"ping", "PONG\n"},
	} {
		io.WriteString(in, c.req+"\n")
		got, err := out.ReadString('\n')
		if err != nil || got != c.want {
			t.Errorf("%q: got %q (%v), want %q", c.req, got, err, c.want)
		}
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v\nstderr: %s", err, stderr.String())
	}
	if res, _ := os.ReadFile(filepath.Join(dir, "RESULTS")); string(res) != "F\n" {
		t.Errorf("RESULTS %q", res)
	}
}

func runCLI(args ...string) (int, string, string) {
	var o, e bytes.Buffer
	stdout, stderr = &o, &e
	defer func() { stdout, stderr = os.Stdout, os.Stderr }()
	code := run(args)
	return code, o.String(), e.String()
}

func TestLegacyModes(t *testing.T) {
	if code, out, _ := runCLI("-f", "builtin:passthrough", "-test"); code != 0 || out != "Filter builtin:passthrough seems syntactically correct.\n" {
		t.Errorf("-test: %d %q", code, out)
	}
	if code, _, errOut := runCLI("-f", "builtin:passthrough", "-validate"); code != 1 || !strings.Contains(errOut, "filter_validate") {
		t.Errorf("-validate: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI("-f", "builtin:nosuch", "-test"); code != 1 || !strings.Contains(errOut, "nosuch") {
		t.Errorf("unknown builtin: %d %q", code, errOut)
	}
	if code, _, _ := runCLI("-f", "builtin:passthrough"); code != 1 {
		t.Errorf("missing mode accepted")
	}
	// -test (what the multiplexor's reread runs) refuses what check
	// refuses: a filter that loads but calls a function nothing defines.
	unknown := filepath.Join(t.TempDir(), "unknown.lua")
	os.WriteFile(unknown, []byte("function filter_end(e)\n  spam_assassin_check()\nend\n"), 0o644)
	if code, out, errOut := runCLI("-f", unknown, "-test"); code != 1 || out != "" || !strings.Contains(errOut, "unknown.lua:2: call to unknown function spam_assassin_check") {
		t.Errorf("-test of a filter calling an unknown function: %d %q %q", code, out, errOut)
	}
	// One-shot scan: no reply printed, RESULTS written.
	dir := workDir(t)
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	if code, out, errOut := runCLI("-f", "builtin:passthrough", dir); code != 0 || out != "" {
		t.Errorf("one-shot: %d %q %q", code, out, errOut)
	}
	if res, _ := os.ReadFile(filepath.Join(dir, "RESULTS")); string(res) != "F\n" {
		t.Errorf("one-shot RESULTS %q", res)
	}
}

func TestCheckAndTestSubcommands(t *testing.T) {
	if code, out, _ := runCLI("check", "builtin:passthrough"); code != 0 || !strings.Contains(out, "seems syntactically correct") {
		t.Errorf("check: %d %q", code, out)
	}
	if code, _, errOut := runCLI("check", "/tmp/filter.nosuchengine"); code != 1 || !strings.Contains(errOut, "no engine") {
		t.Errorf("check bad: %d %q", code, errOut)
	}
	eml := filepath.Join(t.TempDir(), "m.eml")
	os.WriteFile(eml, []byte("Subject: hi\r\nFrom: a@b\r\n\r\nhello\r\n"), 0o600)
	code, out, errOut := runCLI("test", eml, "--filter", "builtin:passthrough", "--sender", "a@b", "--recipient", "c@d", "--recipient", "<e@f>")
	if code != 0 || !strings.Contains(out, "scan:      ok\n") || !strings.Contains(out, "verdict: accept\n") || strings.Count(out, "recipient: ok 1") != 2 {
		t.Errorf("test: %d\n%s\n%s", code, out, errOut)
	}
}

// TestServeruStatusTagsAndSignal: -serveru writes status tags to fd 3, and
// SIGTERM ends the worker like mimedefang.pl (killed by the signal).
func TestServeruStatusTagsAndSignal(t *testing.T) {
	bin := buildBinary(t)
	dir := workDir(t)
	tagsR, tagsW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-f", "builtin:typical", "-serveru")
	cmd.ExtraFiles = []*os.File{tagsW}
	in, _ := cmd.StdinPipe()
	outPipe, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tagsW.Close()
	out := bufio.NewReader(outPipe)
	io.WriteString(in, "scan QP1 "+dir+"\n")
	if got, _ := out.ReadString('\n'); got != "ok\n" {
		t.Errorf("scan reply %q", got)
	}
	tags := bufio.NewReader(tagsR)
	first, _ := tags.ReadString('\n')
	if first != "1:%20>%20Reading%20COMMANDS%20QP1\n" {
		t.Errorf("first status tag %q", first)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("worker did not die of SIGTERM: %v", err)
	}
	if res, _ := os.ReadFile(filepath.Join(dir, "RESULTS")); !strings.HasSuffix(string(res), "HX-Scanned MIMEDefang%20lab%20typical%20filter\nMtext/plain\nC\nF\n") {
		t.Errorf("RESULTS %q", res)
	}
}

// MD_WORKER_LUA_UNSAFE_LIBS=1 opens the io library to Lua filters; without
// it the sandbox leaves io out.
func TestLuaUnsafeLibsEnvironment(t *testing.T) {
	bin := buildBinary(t)
	f := filepath.Join(t.TempDir(), "probe.lua")
	os.WriteFile(f, []byte("function filter_relay(ip, name)\n  if io then return 'CONTINUE', 'io' end\n  return 'CONTINUE', 'sandboxed'\nend\n"), 0o644)
	for _, c := range []struct{ env, want string }{
		{"", "ok 1 sandboxed 250 2.1.0 0\n"},
		{"MD_WORKER_LUA_UNSAFE_LIBS=1", "ok 1 io 250 2.1.0 0\n"},
	} {
		cmd := exec.Command(bin, "-f", f, "-server")
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), c.env)
		cmd.Stdin = strings.NewReader("relayok 192.0.2.1 host 25 127.0.0.1 25 NOQUEUE\n")
		out, err := cmd.Output()
		if err != nil || string(out) != c.want {
			t.Errorf("%q: reply %q (%v), want %q", c.env, out, err, c.want)
		}
	}
}

// TestTuneServerRuntime: server mode runs on one runtime thread with
// GOGC=50, unless GOMAXPROCS or GOGC say otherwise.
func TestTuneServerRuntime(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	gc := debug.SetGCPercent(100)
	t.Cleanup(func() { runtime.GOMAXPROCS(procs); debug.SetGCPercent(gc) })

	t.Setenv("GOMAXPROCS", "")
	t.Setenv("GOGC", "")
	runtime.GOMAXPROCS(4)
	tuneServerRuntime()
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("GOMAXPROCS unset: %d threads, want 1", got)
	}
	if got := debug.SetGCPercent(100); got != 50 {
		t.Errorf("GOGC unset: GC percent %d, want 50", got)
	}

	t.Setenv("GOMAXPROCS", "4")
	t.Setenv("GOGC", "100")
	runtime.GOMAXPROCS(4)
	tuneServerRuntime()
	if got := runtime.GOMAXPROCS(0); got != 4 {
		t.Errorf("GOMAXPROCS=4: %d threads, want 4 kept", got)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC=100: GC percent %d, want 100 kept", got)
	}
}
