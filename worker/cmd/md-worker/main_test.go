package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// The tests that run the md-worker binary (server mode over pipes, -serveru
// status tags and SIGTERM, the Lua sandbox's environment variable) are in
// integration/mdworker_test.go; these call the CLI in-process.

func workDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mdefang-proc")
	os.Mkdir(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "COMMANDS"), []byte("S<a@b>\nR<c@d> ? ? ?\nQQP1\nF\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "INPUTMSG"), []byte("Subject: t\n\nhello\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "HEADERS"), []byte("Subject: t\n"), 0o600)
	return dir
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
	os.WriteFile(unknown, []byte("function filter_end(e)\n  no_such_function_anywhere()\nend\n"), 0o644)
	if code, out, errOut := runCLI("-f", unknown, "-test"); code != 1 || out != "" || !strings.Contains(errOut, "unknown.lua:2: call to unknown function no_such_function_anywhere") {
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
