package filter

import (
	"context"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/worker/filter/clamd"
	"github.com/mdgo/md/worker/filter/clamd/clamdtest"
	"github.com/mdgo/md/worker/message"
)

// The clamd client's own tests are in package clamd; the real clamd,
// clamdscan and clamscan are exercised by integration/clamd_test.go.
// These check what package filter adds: the message's parts reach the
// client, the results reach $VirusName and $VirusScannerMessages, the
// programs run without a shell, and the dispatcher orders and combines
// the scanners as the original does.

// marker stands for a virus: the fake daemon and the fake scanners find
// it in decoded bodies.
const marker = clamdtest.Marker

func virusMessage(payload string) string {
	return "Subject: hello\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XX\"\n\n--XX\nContent-Type: text/plain\n\nbody text\n" +
		"--XX\nContent-Type: application/octet-stream; name=\"x.bin\"\nContent-Transfer-Encoding: base64\n\n" +
		base64.StdEncoding.EncodeToString([]byte(payload)) + "\n--XX--\n"
}

// startFakeClamd is the stand-in clamd of package clamdtest, reporting
// Fake.Virus.UNOFFICIAL.
func startFakeClamd(t *testing.T) *clamdtest.Server {
	return clamdtest.Start(t, "Fake.Virus.UNOFFICIAL")
}

// fakeScanner writes a program that records its arguments in a file named
// after it and, like clamscan, prints "<file>: Fake.Virus FOUND" and exits
// 1 for a file (or a file under a directory) that holds the marker, else
// exits with status code. It returns the program's path and a function
// that reads the recorded calls.
func fakeScanner(t *testing.T, name string, code int) (string, func() []string) {
	t.Helper()
	dir := t.TempDir()
	prog := filepath.Join(dir, name)
	calls := filepath.Join(dir, "calls")
	script := "#!/bin/sh\necho \"$*\" >> " + calls + "\nfor last; do :; done\n" +
		"hit=$(grep -rl " + marker + " \"$last\" 2>/dev/null | head -1)\n" +
		"if [ -n \"$hit\" ]; then echo \"$hit: Fake.Virus FOUND\"; echo 'a line on stderr' >&2; exit 1; fi\n" +
		"exit " + string(rune('0'+code)) + "\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return prog, func() []string {
		b, _ := os.ReadFile(calls)
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
}

// scanWith runs one scan of msg whose filter_begin is begin, and returns
// the worker's log.
func scanWith(t *testing.T, cfgFn func(*Config), msg string, begin func(c *Context, top *message.Part)) string {
	t.Helper()
	noSyslog(t)
	w, log := testWorker(t, func(cfg *Config) *Callbacks {
		if cfgFn != nil {
			cfgFn(cfg)
		}
		return &Callbacks{Begin: func(c *Context, top *message.Part) error { begin(c, top); return nil }}
	})
	if r := scan(t, w, writeCase(t, simpleCommands, msg)); r != "ok\n" {
		t.Fatalf("scan: %q\n%s", r, log)
	}
	return log.String()
}

func wantVirus(t *testing.T, got VirusResult, code int, category, action string) {
	t.Helper()
	if got != (VirusResult{code, category, action}) {
		t.Errorf("got %v, want (%d, %s, %s)", got.Values(), code, category, action)
	}
}

// TestMessageContainsVirusClamd: every decoded leaf is streamed (and
// Work/INPUTMBOX when a filter copied it there); a virus sets VirusName
// and VirusScannerMessages; Config.Clamd's Sock and Dial are used; a
// failure is logged with the queue ID.
func TestMessageContainsVirusClamd(t *testing.T) {
	f := startFakeClamd(t)
	var dialled []string
	cfgFn := func(cfg *Config) {
		cfg.Clamd.Sock = "clamd.example:3310"
		cfg.Clamd.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialled = append(dialled, network+" "+addr)
			if addr == "clamd.example:3310" {
				network, addr = "unix", f.Sock
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
	}
	log := scanWith(t, cfgFn, virusMessage("payload with "+marker), func(c *Context, _ *message.Part) {
		c.VirusScannerMessages = "before\n"
		wantVirus(t, c.MessageContainsVirusClamd(""), 1, "virus", "quarantine")
		if c.VirusName != "Fake.Virus.UNOFFICIAL" || c.VirusScannerMessages != "before\nclamd found the Fake.Virus.UNOFFICIAL virus.\n" {
			t.Errorf("VirusName %q, VirusScannerMessages %q", c.VirusName, c.VirusScannerMessages)
		}
		wantVirus(t, c.MessageContainsVirusClamd(filepath.Join(c.CWD, "no.sock")), 999, "cannot-execute", "tempfail")
	})
	if len(dialled) != 4 || dialled[0] != "tcp clamd.example:3310" || !strings.HasSuffix(dialled[3], "/no.sock") || !strings.HasPrefix(dialled[3], "unix ") {
		t.Errorf("dialled %q", dialled)
	}
	cmds, streams := f.Got()
	if strings.Join(cmds, "|") != "zPING|zINSTREAM|zINSTREAM" || len(streams) != 2 || streams[0] != "body text" || streams[1] != "payload with "+marker {
		t.Errorf("commands %q, streams %q", cmds, streams)
	}
	if !strings.Contains(log, "QID1: Could not connect to clamd daemon at ") {
		t.Errorf("log:\n%s", log)
	}

	// Clean, with INPUTMBOX in Work: three streams.
	f2 := startFakeClamd(t)
	scanWith(t, func(cfg *Config) { cfg.Clamd.Sock = f2.Sock }, virusMessage("clean payload"), func(c *Context, _ *message.Part) {
		c.MdCopyOrigMsgToWorkDirAsMboxFile()
		wantVirus(t, c.MessageContainsVirusClamd(""), 0, "ok", "ok")
		if c.VirusName != "" || c.VirusScannerMessages != "" {
			t.Errorf("VirusName %q, VirusScannerMessages %q", c.VirusName, c.VirusScannerMessages)
		}
	})
	if _, streams := f2.Got(); len(streams) != 3 || !strings.HasPrefix(streams[2], "From ") {
		t.Errorf("streams %q", streams)
	}
}

// TestEntityContainsVirusClamd: one stream per leaf, no PING; a
// container is clean without asking clamd.
func TestEntityContainsVirusClamd(t *testing.T) {
	f := startFakeClamd(t)
	scanWith(t, nil, virusMessage(marker), func(c *Context, top *message.Part) {
		wantVirus(t, c.EntityContainsVirusClamd(top, f.Sock), 0, "ok", "ok")
		wantVirus(t, c.EntityContainsVirusClamd(top.Parts()[0], f.Sock), 0, "ok", "ok")
		// The multipart/mixed under the wrapper: ok without a connection.
		kids := top.Parts()
		for len(kids) == 1 && kids[0].IsMultipart() {
			kids = kids[0].Parts()
		}
		wantVirus(t, c.EntityContainsVirusClamd(kids[1], f.Sock), 1, "virus", "quarantine")
		if c.VirusName != "Fake.Virus.UNOFFICIAL" {
			t.Errorf("VirusName %q", c.VirusName)
		}
	})
	if cmds, _ := f.Got(); strings.Join(cmds, "|") != "zINSTREAM|zINSTREAM" {
		t.Errorf("commands %q", cmds)
	}
}

// TestClamdScanMode: SCAN writes every leaf to Work and sends Work's path;
// an entity's file is written once and named by its path.
func TestClamdScanMode(t *testing.T) {
	f := startFakeClamd(t)
	var work string
	scanWith(t, func(cfg *Config) { cfg.Clamd.Sock, cfg.Clamd.Mode = f.Sock, clamd.Scan }, virusMessage(marker), func(c *Context, top *message.Part) {
		work = filepath.Join(c.CWD, "Work")
		wantVirus(t, c.MessageContainsVirusClamd(""), 1, "virus", "quarantine")
		leaves := message.CollectParts(top, false)
		wantVirus(t, c.EntityContainsVirusClamd(leaves[0], ""), 0, "ok", "ok")
		ents, _ := os.ReadDir(work)
		if len(ents) != 2 {
			t.Errorf("Work holds %d files, want the 2 leaves", len(ents))
		}
		for _, e := range ents {
			if fi, _ := e.Info(); fi.Mode().Perm()&0o137 != 0 {
				t.Errorf("%s has mode %v", e.Name(), fi.Mode())
			}
		}
	})
	cmds, _ := f.Got()
	if len(cmds) != 3 || cmds[0] != "zPING" || cmds[1] != "zSCAN "+work || cmds[2] != "zSCAN "+work+"/part-1.bin" {
		t.Errorf("commands %q", cmds)
	}
}

// TestClamdOutsideMessage: no scan, no message: wrong-context, never ok.
func TestClamdOutsideMessage(t *testing.T) {
	noSyslog(t)
	w, log := testWorker(t, func(*Config) *Callbacks { return &Callbacks{} })
	c := w.NewContext(context.Background())
	wantVirus(t, c.MessageContainsVirusClamd(""), 999, "wrong-context", "tempfail")
	wantVirus(t, c.RunVirusScanner([]string{"/bin/true"}, ""), 999, "wrong-context", "tempfail")
	if !strings.Contains(log.String(), "message_contains_virus_clamd called outside of message context") {
		t.Errorf("log:\n%s", log)
	}
}

// TestClamdZipFallback: a zip failure in clamd falls back on clamscan when
// Virus:CLAMAV is set, as the original does.
func TestClamdZipFallback(t *testing.T) {
	f := startFakeClamd(t)
	f.SetAnswer("stream: Zip module failure ERROR\x00")
	clamscan, calls := fakeScanner(t, "clamscan", 0)
	log := scanWith(t, func(cfg *Config) {
		cfg.Clamd.Sock = f.Sock
		cfg.Features["Virus:CLAMAV"] = clamscan
	}, virusMessage(marker), func(c *Context, _ *message.Part) {
		wantVirus(t, c.MessageContainsVirusClamd(""), 1, "virus", "quarantine")
		if c.VirusName != "Fake.Virus" {
			t.Errorf("VirusName %q", c.VirusName)
		}
		if got := calls(); len(got) != 1 || got[0] != "-r --unzip --unrar --stdout --no-summary --infected "+filepath.Join(c.CWD, "Work") {
			t.Errorf("clamscan called with %q", got)
		}
	})
	for _, l := range []string{"QID1: Clamd returned error: Zip module failure", "QID1: Falling back on clamscan --unzip --unrar because of Zip module failure in clamd"} {
		if !strings.Contains(log, l) {
			t.Errorf("log lacks %q:\n%s", l, log)
		}
	}
}

// TestCommandLineScanners: clamdscan and clamscan get the original's
// arguments, without a shell, and their exit status is read by
// interpret_clamav_code.
func TestCommandLineScanners(t *testing.T) {
	clamdscan, dscalls := fakeScanner(t, "clamdscan", 0)
	clamscan, calls := fakeScanner(t, "clamscan", 2)
	log := scanWith(t, func(cfg *Config) {
		cfg.Features["Virus:CLAMDSCAN"] = clamdscan + " --multiscan"
		cfg.Features["Virus:CLAMAV"] = clamscan
		cfg.Features["Path:CLAMDCONF"] = "/etc/clamd-md.conf"
	}, virusMessage(marker), func(c *Context, top *message.Part) {
		wantVirus(t, c.MessageContainsVirusClamdscan(), 1, "virus", "quarantine")
		if !strings.HasSuffix(c.CurrentVirusScannerMessage, ": Fake.Virus FOUND\na line on stderr\n") || c.VirusName != "Fake.Virus" ||
			c.VirusScannerMessages != c.CurrentVirusScannerMessage {
			t.Errorf("CurrentVirusScannerMessage %q, VirusName %q", c.CurrentVirusScannerMessage, c.VirusName)
		}
		leaves := message.CollectParts(top, false)
		wantVirus(t, c.EntityContainsVirusClamdscan(leaves[0]), 0, "ok", "ok")
		wantVirus(t, c.EntityContainsVirusClamdscan(top), 0, "ok", "ok")
		wantVirus(t, c.MessageContainsVirusClamav(), 1, "virus", "quarantine")
		wantVirus(t, c.EntityContainsVirusClamav(leaves[0]), 2, "swerr", "tempfail")
		wantVirus(t, c.EntityContainsVirusClamav(leaves[1]), 1, "virus", "quarantine")
		if got := dscalls(); len(got) != 2 || got[0] != "--multiscan -c /etc/clamd-md.conf --no-summary --infected --fdpass --stream ./Work" ||
			got[1] != "--multiscan -c /etc/clamd-md.conf --no-summary --infected --fdpass --stream "+filepath.Join(c.CWD, "Work", "part-1.bin") {
			t.Errorf("clamdscan called with %q", got)
		}
		if got := calls(); len(got) != 3 || got[0] != "-r --stdout --no-summary --infected ./Work" ||
			got[1] != "--stdout --no-summary --infected "+filepath.Join(c.CWD, "Work", "part-1.bin") {
			t.Errorf("clamscan called with %q", got)
		}
		c.Config.Features["Virus:CLAMAV"] = "0"
		wantVirus(t, c.MessageContainsVirusClamav(), 1, "not-installed", "tempfail")
		wantVirus(t, c.EntityContainsVirusClamav(leaves[0]), 1, "not-installed", "tempfail")
		c.Config.Features["Virus:CLAMAV"] = "/nonexistent/clamscan"
		wantVirus(t, c.MessageContainsVirusClamav(), 999, "cannot-execute", "tempfail")
	})
	for _, l := range []string{"QID1: clamav not installed on this system", "QID1: run_virus_scanner: Unable to execute /nonexistent/clamscan -r --stdout --no-summary --infected ./Work: "} {
		if !strings.Contains(log, l) {
			t.Errorf("log lacks %q:\n%s", l, log)
		}
	}
}

func TestInterpretClamavCode(t *testing.T) {
	scanWith(t, nil, virusMessage("x"), func(c *Context, _ *message.Part) {
		c.CurrentVirusScannerMessage = "/w/Work/part-2.bin: Win.Test FOUND\n"
		wantVirus(t, c.InterpretClamavCode(1), 1, "virus", "quarantine")
		if c.VirusName != "Win.Test" {
			t.Errorf("VirusName %q", c.VirusName)
		}
		c.CurrentVirusScannerMessage, c.VirusName = "", ""
		wantVirus(t, c.InterpretClamavCode(1), 1, "virus", "quarantine")
		if c.VirusName != "unknown-Clamav-virus" {
			t.Errorf("VirusName %q", c.VirusName)
		}
		wantVirus(t, c.InterpretClamavCode(0), 0, "ok", "ok")
		wantVirus(t, c.InterpretClamavCode(2), 2, "swerr", "tempfail")
	})
}

// TestRunVirusScanner: no shell, output filtered by the pattern,
// DAEMON.RPT read and removed, the exit status returned; a command line
// that needs a shell is refused.
func TestRunVirusScanner(t *testing.T) {
	log := scanWith(t, nil, virusMessage("x"), func(c *Context, _ *message.Part) {
		os.WriteFile(c.path("DAEMON.RPT"), []byte("report: Found it\nreport: nothing\n"), 0o600)
		wantVirus(t, c.RunVirusScanner([]string{"/bin/sh", "-c", "echo 'a: Found x'; echo other >&2; echo '$HOME'; exit 3"}, "found|HOME"), 3, "ok", "proceed")
		if want := "a: Found x\n$HOME\nreport: Found it\n"; c.CurrentVirusScannerMessage != want || c.VirusScannerMessages != want {
			t.Errorf("CurrentVirusScannerMessage %q, VirusScannerMessages %q", c.CurrentVirusScannerMessage, c.VirusScannerMessages)
		}
		if fileExists(c.path("DAEMON.RPT")) {
			t.Error("DAEMON.RPT left")
		}
		wantVirus(t, c.RunVirusScannerCommand("/bin/echo a;b 2>&1", ""), 999, "cannot-execute", "tempfail")
		wantVirus(t, c.RunVirusScannerCommand("/bin/echo  hello   world 2>&1", ""), 0, "ok", "proceed")
		if c.CurrentVirusScannerMessage != "hello world\n" {
			t.Errorf("CurrentVirusScannerMessage %q", c.CurrentVirusScannerMessage)
		}
		wantVirus(t, c.RunVirusScanner([]string{"/bin/sh", "-c", "kill -9 $$"}, ""), -1, "ok", "proceed")
		wantVirus(t, c.RunVirusScanner(nil, ""), 999, "cannot-execute", "tempfail")
	})
	if !strings.Contains(log, "run_virus_scanner: Unable to execute /bin/echo a;b 2>&1: \"a;b\" needs a shell") {
		t.Errorf("log:\n%s", log)
	}
}

// TestRunVirusScannerDeadline: the request's deadline kills the program.
func TestRunVirusScannerDeadline(t *testing.T) {
	scanWith(t, nil, virusMessage("x"), func(c *Context, _ *message.Part) {
		ctx, cancel := context.WithTimeout(c.Context, 200*time.Millisecond)
		defer cancel()
		c2 := *c
		c2.Context = ctx
		start := time.Now()
		wantVirus(t, c2.RunVirusScanner([]string{"/bin/sleep", "30"}, ""), -1, "ok", "proceed")
		if time.Since(start) > 10*time.Second {
			t.Errorf("took %v", time.Since(start))
		}
		wantVirus(t, c2.InterpretClamavCode(-1), -1, "swerr", "tempfail")
	})
}

// TestMessageContainsVirus: the dispatcher runs the scanners %Features
// turns on, in the original's order, stops at the first virus, else
// returns the last result that was not ok; clamscan is skipped when clamd
// is on; a scanner md-worker does not have tempfails; the list is chosen
// once per worker.
func TestMessageContainsVirus(t *testing.T) {
	f := startFakeClamd(t)
	broken, brokenCalls := fakeScanner(t, "clamdscan", 2)
	clamscan, scanCalls := fakeScanner(t, "clamscan", 0)
	for _, tc := range []struct {
		name     string
		features map[string]string
		msg      string
		want     VirusResult
		calls    string // which fake programs ran, "clamdscan clamscan"
	}{
		{"none", nil, marker, VirusResult{0, "ok", "ok"}, ""},
		{"clamd finds", map[string]string{"Virus:CLAMD": "1", "Virus:CLAMDSCAN": broken}, marker, VirusResult{1, "virus", "quarantine"}, ""},
		{"last failure", map[string]string{"Virus:CLAMD": "1", "Virus:CLAMDSCAN": broken}, "clean", VirusResult{2, "swerr", "tempfail"}, "clamdscan"},
		{"clamscan skipped with clamd", map[string]string{"Virus:CLAMD": "1", "Virus:CLAMAV": clamscan}, "clean", VirusResult{0, "ok", "ok"}, ""},
		{"clamscan after clamdscan", map[string]string{"Virus:CLAMDSCAN": broken, "Virus:CLAMAV": clamscan}, "clean", VirusResult{2, "swerr", "tempfail"}, "clamdscan clamscan"},
		{"first virus stops", map[string]string{"Virus:CLAMDSCAN": broken, "Virus:CLAMAV": clamscan}, marker, VirusResult{1, "virus", "quarantine"}, "clamdscan"},
		{"not supported", map[string]string{"Virus:SOPHIE": "1", "Virus:CLAMAV": clamscan}, "clean", VirusResult{1, "not-installed", "tempfail"}, "clamscan"},
		{"sophos replaced by sophie", map[string]string{"Virus:SOPHIE": "0", "Virus:SOPHOS": "/usr/bin/sweep"}, "clean", VirusResult{1, "not-installed", "tempfail"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bc, sc := countCalls(brokenCalls), countCalls(scanCalls)
			log := scanWith(t, func(cfg *Config) {
				cfg.Clamd.Sock = f.Sock
				for k, v := range tc.features {
					cfg.Features[k] = v
				}
			}, virusMessage(tc.msg), func(c *Context, top *message.Part) {
				if got := c.MessageContainsVirus(); got != tc.want {
					t.Errorf("message: %v, want %v", got.Values(), tc.want.Values())
				}
				if got := c.EntityContainsVirus(message.CollectParts(top, false)[1]); got != tc.want {
					t.Errorf("entity: %v, want %v", got.Values(), tc.want.Values())
				}
			})
			var ran []string
			if countCalls(brokenCalls) > bc {
				ran = append(ran, "clamdscan")
			}
			if countCalls(scanCalls) > sc {
				ran = append(ran, "clamscan")
			}
			if strings.Join(ran, " ") != tc.calls {
				t.Errorf("ran %q, want %q", ran, tc.calls)
			}
			if tc.name == "not supported" && !strings.Contains(log, "$Features{'Virus:SOPHIE'} is set, but md-worker has no such virus scanner") {
				t.Errorf("log:\n%s", log)
			}
		})
	}

	// Chosen once per worker: a switch turned on later is not seen.
	noSyslog(t)
	w, _ := testWorker(t, func(*Config) *Callbacks { return &Callbacks{} })
	c := w.NewContext(context.Background())
	c.InitializeVirusScannerRoutines()
	w.Config().Features["Virus:SOPHIE"] = "1"
	if got := w.NewContext(context.Background()).MessageContainsVirus(); got != (VirusResult{0, "ok", "ok"}) {
		t.Errorf("after a later switch: %v", got.Values())
	}
}

func countCalls(calls func() []string) int {
	n := 0
	for _, c := range calls() {
		if c != "" {
			n++
		}
	}
	return n
}
