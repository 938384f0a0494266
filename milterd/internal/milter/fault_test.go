package milter

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mdgo/md/milterd/internal/mxclient"
)

// The fault tests run every failure against one server, whose Config each
// subtest points at its own multiplexor and spool, and check after each that
// the MTA saw the right answer and that no goroutine, descriptor or
// working directory was left behind. The last subtest checks that the same
// server still accepts a clean message.

// recordingDialer keeps the connections it opens, so that a test can drop
// one as an MTA that goes away would.
type recordingDialer struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (d *recordingDialer) Dial(network, addr string) (net.Conn, error) {
	c, err := net.Dial(network, addr)
	if err == nil {
		d.mu.Lock()
		d.conns = append(d.conns, c)
		d.mu.Unlock()
	}
	return c, err
}

func (d *recordingDialer) last() net.Conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.conns[len(d.conns)-1]
}

// hangingMX accepts connections and never answers.
type hangingMX struct {
	path  string
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startHangingMX(t *testing.T) *hangingMX {
	t.Helper()
	h := &hangingMX{path: filepath.Join(t.TempDir(), "mx.sock")}
	var err error
	if h.ln, err = net.Listen("unix", h.path); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := h.ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		h.ln.Close()
		<-done
		h.mu.Lock()
		for _, c := range h.conns {
			c.Close()
		}
		h.mu.Unlock()
	})
	return h
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("counting descriptors: %v", err)
	}
	return len(ents)
}

// checkNoLeak records the goroutine and descriptor counts now and compares
// them when the test's cleanups have run (it must be the first Cleanup
// registered, so that it runs last).
func checkNoLeak(t *testing.T) {
	t.Helper()
	g0, fd0 := runtime.NumGoroutine(), countFDs(t)
	t.Cleanup(func() {
		var g, fd int
		for range 100 {
			g, fd = runtime.NumGoroutine(), countFDs(t)
			if g <= g0 && fd <= fd0 {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		if g > g0 {
			buf := make([]byte, 1<<20)
			t.Errorf("goroutines: %d before, %d after\n%s", g0, g, buf[:runtime.Stack(buf, true)])
		}
		if fd > fd0 {
			t.Errorf("descriptors: %d before, %d after", fd0, fd)
		}
	})
}

// faultServer is one milter server shared by the fault subtests.
type faultServer struct {
	cfg    *Config
	sock   string
	dialer *recordingDialer
	client *gomilter.Client
}

func startFaultServer(t *testing.T) *faultServer {
	t.Helper()
	dir, err := os.MkdirTemp("", "mdfault")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	fs := &faultServer{cfg: testConfig(t, ""), sock: filepath.Join(dir, "milter.sock"), dialer: &recordingDialer{}}
	fs.cfg.NoFreeCheck = true // every fault below is at the scan or the spool
	// MAIL FROM answers, so that a hook after it runs once the working
	// directory exists (a no-reply stage would race with the hook).
	fs.cfg.SenderCheck = true
	fs.cfg.Metrics = NewMetrics()
	ln, err := net.Listen("unix", fs.sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(fs.cfg, time.Minute, 10*time.Second)
	go srv.Serve(Listener(ln))
	t.Cleanup(func() { srv.Close() })
	fs.client = gomilter.NewClient("unix", fs.sock, gomilter.WithDialer(fs.dialer))
	return fs
}

// use points the server at a multiplexor and a fresh spool directory.
func (fs *faultServer) use(t *testing.T, mxPath string, timeout time.Duration) string {
	t.Helper()
	spoolDir := t.TempDir()
	fs.cfg.Spool.SpoolDir = spoolDir
	fs.cfg.MX = &mxclient.Client{Path: mxPath, Timeout: timeout}
	return spoolDir
}

// send sends a message stage by stage, body in 8 KB chunks; hook runs after
// the stage it names ("mail", "data", and "body" after each chunk).
func (fs *faultServer) send(t *testing.T, body []byte, hook func(stage string)) outcome {
	t.Helper()
	if hook == nil {
		hook = func(string) {}
	}
	macros := gomilter.NewMacroBag()
	qidCounter++
	macros.Set(gomilter.MacroQueueId, fmt.Sprintf("FAULT%d", qidCounter))
	s, err := fs.client.Session(macros)
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	defer s.Close()
	var o outcome
	if o.connect, o.err = s.Conn("client.example", gomilter.FamilyInet, 4321, "192.0.2.7"); o.err != nil || o.connect.StopProcessing() {
		return o
	}
	if o.helo, o.err = s.Helo("client.example"); o.err != nil || o.helo.StopProcessing() {
		return o
	}
	if o.mail, o.err = s.Mail("sender@example.org", ""); o.err != nil || o.mail.StopProcessing() {
		return o
	}
	hook("mail")
	if o.rcpt, o.err = s.Rcpt("rcpt@example.com", ""); o.err != nil || o.rcpt.StopProcessing() {
		return o
	}
	if _, o.err = s.DataStart(); o.err != nil {
		return o
	}
	hook("data")
	for _, h := range [][2]string{{"From", "sender@example.org"}, {"To", "rcpt@example.com"}, {"Subject", "fault"}} {
		if _, o.err = s.HeaderField(h[0], h[1], nil); o.err != nil {
			return o
		}
	}
	if _, o.err = s.HeaderEnd(); o.err != nil {
		return o
	}
	for len(body) > 0 {
		n := min(len(body), 8192)
		if _, o.err = s.BodyChunk(body[:n]); o.err != nil {
			return o
		}
		body = body[n:]
		hook("body")
	}
	o.mods, o.end, o.err = s.End()
	return o
}

// wantTempfail checks that the MTA got a tempfail: at end of message, or
// at MAIL FROM when the working directory cannot be made.
func wantTempfail(t *testing.T, o outcome) {
	t.Helper()
	if o.err != nil {
		t.Fatalf("session error: %v", o.err)
	}
	if o.mail != nil && o.mail.Type == gomilter.ActionTempFail && o.end == nil {
		return
	}
	if o.end == nil || o.end.Type != gomilter.ActionTempFail {
		t.Fatalf("mail = %+v, end of message = %+v, want tempfail", o.mail, o.end)
	}
	if len(o.mods) != 0 {
		t.Errorf("tempfailed message had modifications %v", o.mods)
	}
}

var hello = []byte("Hello\r\nWorld\r\n")

func TestFaults(t *testing.T) {
	fs := startFaultServer(t)
	// The server's own goroutines and descriptors are the baseline.

	t.Run("MultiplexorKilledMidMessage", func(t *testing.T) {
		checkNoLeak(t)
		mx := startFakeMX(t)
		spoolDir := fs.use(t, mx.path, 5*time.Second)
		o := fs.send(t, hello, func(stage string) {
			if stage == "mail" {
				mx.ln.Close()
				os.Remove(mx.path)
			}
		})
		wantTempfail(t, o)
		spoolEmpty(t, spoolDir)
	})

	t.Run("MultiplexorNeverAnswers", func(t *testing.T) {
		checkNoLeak(t)
		h := startHangingMX(t)
		const timeout = 300 * time.Millisecond
		spoolDir := fs.use(t, h.path, timeout)
		fs.cfg.SenderCheck = false // the first request is the scan
		defer func() { fs.cfg.SenderCheck = true }()
		start := time.Now()
		o := fs.send(t, hello, nil)
		took := time.Since(start)
		wantTempfail(t, o)
		h.mu.Lock()
		if len(h.conns) != 1 {
			t.Errorf("the multiplexor got %d connections, want the scan's", len(h.conns))
		}
		h.mu.Unlock()
		// The scan must give up at its deadline, not at go-milter's or
		// the MTA's: a generous bound, not a timing measurement.
		if took > 20*timeout {
			t.Errorf("tempfail after %v with a %v multiplexor timeout", took, timeout)
		}
		spoolEmpty(t, spoolDir)
	})

	for _, reply := range []string{"error: worker died\n", "ERR busy\n", "", "garbage\n"} {
		name := strings.TrimSpace(reply)
		if name == "" {
			name = "none"
		}
		t.Run("ScanReply/"+name, func(t *testing.T) {
			checkNoLeak(t)
			mx := startFakeMX(t)
			mx.scanReply = reply
			spoolDir := fs.use(t, mx.path, 5*time.Second)
			wantTempfail(t, fs.send(t, hello, nil))
			spoolEmpty(t, spoolDir)
		})
	}

	for _, tc := range []struct {
		name, results string
		code          uint16 // 0: plain tempfail
	}{
		{"NoFLine", "HX-A b\nHX-B c\n", 0},
		{"Truncated", "HX-A b\nHX-B", 0},
		{"Empty", "", 0},
		{"BinaryJunk", "\x00\xff\xfe\x01\x02junk\x7f\n\x00\x00F", 0},
		// A file over MaxSize (64 KB) is a tempfail.
		{"70KB", strings.Repeat("HX-Filler "+strings.Repeat("x", 100)+"\n", 700) + "F\n", 0},
		// A line over MaxLine bytes is rejected with 554 5.4.0, as the
		// original does.
		{"OverlongLine", "HX-A " + strings.Repeat("A", 20*1024) + "\nF\n", 554},
	} {
		t.Run("Results/"+tc.name, func(t *testing.T) {
			checkNoLeak(t)
			mx := startFakeMX(t)
			mx.results = tc.results
			spoolDir := fs.use(t, mx.path, 5*time.Second)
			o := fs.send(t, hello, nil)
			if tc.code == 0 {
				// The modifications before the missing F line are sent
				// as the original sends them; the MTA drops them with
				// the tempfail.
				o.mods = nil
				wantTempfail(t, o)
			} else {
				if o.err != nil {
					t.Fatal(o.err)
				}
				if o.end == nil || o.end.Type != gomilter.ActionRejectWithCode || o.end.SMTPCode != tc.code ||
					!strings.Contains(o.end.SMTPReply, "5.4.0") {
					t.Fatalf("end of message = %+v, want %d 5.4.0", o.end, tc.code)
				}
			}
			spoolEmpty(t, spoolDir)
		})
	}

	t.Run("SpoolRemovedBetweenMailAndData", func(t *testing.T) {
		checkNoLeak(t)
		mx := startFakeMX(t)
		spoolDir := fs.use(t, mx.path, 5*time.Second)
		o := fs.send(t, hello, func(stage string) {
			if stage == "mail" {
				if err := os.RemoveAll(spoolDir); err != nil {
					t.Fatal(err)
				}
			}
		})
		wantTempfail(t, o)
		if _, err := os.Stat(spoolDir); err == nil {
			spoolEmpty(t, spoolDir)
		}
	})

	t.Run("SpoolNotWritable", func(t *testing.T) {
		checkNoLeak(t)
		mx := startFakeMX(t)
		spoolDir := fs.use(t, mx.path, 5*time.Second)
		// root ignores permission bits, so a directory that cannot be
		// created is the portable equivalent: the spool is a file.
		file := filepath.Join(spoolDir, "not-a-dir")
		if err := os.WriteFile(file, nil, 0o400); err != nil {
			t.Fatal(err)
		}
		fs.cfg.Spool.SpoolDir = file
		wantTempfail(t, fs.send(t, hello, nil))
		if os.Geteuid() != 0 {
			fs.cfg.Spool.SpoolDir = spoolDir
			if err := os.Chmod(spoolDir, 0o500); err != nil {
				t.Fatal(err)
			}
			defer os.Chmod(spoolDir, 0o700)
			wantTempfail(t, fs.send(t, hello, nil))
		}
		for _, c := range mx.commands() {
			if c == "scan" {
				t.Errorf("a message without working directory was scanned")
			}
		}
	})

	t.Run("DiskFull", func(t *testing.T) {
		checkNoLeak(t)
		mx := startFakeMX(t)
		spoolDir := fs.use(t, mx.path, 5*time.Second)
		out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", spoolDir).CombinedOutput()
		if err != nil {
			t.Fatalf("cannot mount a 64 KB tmpfs on %s (the test needs root and mount(8)): %v: %s", spoolDir, err, out)
		}
		t.Cleanup(func() {
			if out, err := exec.Command("umount", spoolDir).CombinedOutput(); err != nil {
				t.Errorf("umount %s: %v: %s", spoolDir, err, out)
			}
		})
		big := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"), 4096) // 256 KB
		wantTempfail(t, fs.send(t, big, nil))
		for _, c := range mx.commands() {
			if c == "scan" {
				t.Errorf("a message that did not fit on disk was scanned")
			}
		}
		spoolEmpty(t, spoolDir)
	})

	t.Run("MTADisconnectsMidData", func(t *testing.T) {
		checkNoLeak(t)
		mx := startFakeMX(t)
		spoolDir := fs.use(t, mx.path, 5*time.Second)
		body := bytes.Repeat([]byte("line of body text\r\n"), 2000) // 38 KB, 5 chunks
		chunks := 0
		var sawDir bool
		o := fs.send(t, body, func(stage string) {
			if stage != "body" {
				return
			}
			chunks++
			if chunks == 2 {
				ents, _ := os.ReadDir(spoolDir)
				sawDir = len(ents) == 1
				fs.dialer.last().Close()
			}
		})
		if o.err == nil {
			t.Fatalf("session went on after the connection was closed: end = %+v", o.end)
		}
		if !sawDir {
			t.Errorf("no working directory while the body was streaming")
		}
		spoolEmpty(t, spoolDir)
		for _, c := range mx.commands() {
			if c == "scan" {
				t.Errorf("an aborted message was scanned")
			}
		}
	})

	t.Run("StillServes", func(t *testing.T) {
		checkNoLeak(t)
		mx := startFakeMX(t)
		spoolDir := fs.use(t, mx.path, 5*time.Second)
		o := fs.send(t, hello, nil)
		if o.err != nil {
			t.Fatal(o.err)
		}
		if o.end == nil || o.end.Type != gomilter.ActionAccept {
			t.Fatalf("end of message = %+v, want accept", o.end)
		}
		if c := strings.Join(mx.commands(), ","); c != "senderok,scan" {
			t.Errorf("multiplexor requests = %s, want senderok,scan", c)
		}
		spoolEmpty(t, spoolDir)
		// Every session has ended, and every fault was counted.
		m := fs.cfg.Metrics
		for range 100 {
			if testutil.ToFloat64(m.active) == 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if n := testutil.ToFloat64(m.active); n != 0 {
			t.Errorf("sessions_active = %v after the last session", n)
		}
		if n := testutil.ToFloat64(m.messages.WithLabelValues(outcomeAccept)); n != 1 {
			t.Errorf("accepted messages = %v, want 1", n)
		}
		for _, k := range []string{errMultiplexor, errSpool, errResults} {
			if testutil.ToFloat64(m.errors.WithLabelValues(k)) == 0 {
				t.Errorf("no %s error counted", k)
			}
		}
	})
}
