package daemon

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
	"github.com/spf13/cobra"

	"github.com/mdgo/md/internal/daemon/daemontest"
)

func TestReadIPKey(t *testing.T) {
	dir := t.TempDir()
	if k, err := readIPKey(filepath.Join(dir, "none")); k != "" || err != nil {
		t.Errorf("missing file: %q, %v", k, err)
	}
	p := filepath.Join(dir, "key")
	os.WriteFile(p, []byte("X-MIMEDefang-Relay-abc\nsecond\n"), 0o600)
	if k, err := readIPKey(p); k != "X-MIMEDefang-Relay-abc" || err != nil {
		t.Errorf("key: %q, %v", k, err)
	}
	os.WriteFile(p, []byte(strings.Repeat("x", 300)), 0o600)
	if k, _ := readIPKey(p); len(k) != 255 {
		t.Errorf("long key: %d bytes", len(k))
	}
}

// TestBacklogOption: -b below 5 becomes 5 (daemon.MinBacklog); without -b
// the backlog stays 0, the system's default (daemon.Listen).
func TestBacklogOption(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, 0}, // not given: the system default
		{[]string{"-b", "0"}, 5},
		{[]string{"-b", "-1"}, 5},
		{[]string{"-b", "4"}, 5},
		{[]string{"-b", "64"}, 64},
	} {
		o := &options{conn: "/x", mxSocket: "/y", facility: "mail"}
		c := &cobra.Command{}
		c.Flags().IntVarP(&o.backlog, "backlog", "b", 0, "")
		c.Flags().String("scanned-by", "", "")
		if err := c.Flags().Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if err := o.validate(c); err != nil {
			t.Fatal(err)
		}
		if o.backlog != tc.want {
			t.Errorf("%q: backlog %d, want %d", tc.args, o.backlog, tc.want)
		}
	}
}

func TestMainRefusesBadOptions(t *testing.T) {
	for _, args := range [][]string{
		{"-D", "-m", "/x"}, // no -p
		{"-D", "-p", "/x"}, // no -m
		{"-D", "-p", "/x", "-m", "/y", "-x", "a", "-X"}, // -x and -X
		{"-D", "-p", "tcp:1", "-m", "/y"},
		{"-D", "-p", "/x", "-m", "/y", "-S", "nope"},
		{"--no-such-flag"},
	} {
		var out, errb bytes.Buffer
		if code := Main(args, &out, &errb); code != 1 {
			t.Errorf("Main(%q) = %d, want 1 (stderr %q)", args, code, errb.String())
		}
	}
}

func TestMainRefusesRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := Main([]string{"-D", "-p", filepath.Join(dir, "m.sock"), "-m", filepath.Join(dir, "mx.sock"), "-z", dir}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "must not run md-milterd as root") {
		t.Errorf("code %d, stderr %q", code, errb.String())
	}
}

func TestMainVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"-v"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "mimedefang version ") {
		t.Errorf("-v: code %d, output %q", code, out.String())
	}
}

// fakeFree is a multiplexor that answers every request with "1\n" (enough
// for free) or, for a scan, "ok\n" after writing an F-only RESULTS.
func fakeFree(t *testing.T, path string) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				if w := strings.Fields(line); len(w) == 3 && w[0] == "scan" {
					os.WriteFile(filepath.Join(w[2], "RESULTS"), []byte("F\n"), 0o600)
					io.WriteString(c, "ok\n")
					return
				}
				io.WriteString(c, "1\n")
			}()
		}
	}()
}

func TestMainForeground(t *testing.T) {
	allowRootForTests = true
	defer func() { allowRootForTests = false }()
	dir, err := os.MkdirTemp("", "mdd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	mx := filepath.Join(dir, "mx.sock")
	fakeFree(t, mx)
	sock := filepath.Join(dir, "milter.sock")
	pid := filepath.Join(dir, "md.pid")
	var out, errb daemontest.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main([]string{"-D", "-p", "unix:" + sock, "-m", mx, "-z", dir, "-P", pid, "-S", "local3",
			"--metrics-listen", "127.0.0.1:0"}, &out, &errb)
	}()
	waitFor(t, func() bool {
		b, _ := os.ReadFile(pid)
		return strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid())
	})
	if _, err := os.Stat(pid + ".lock"); err != nil {
		t.Errorf("lock file: %v", err)
	}
	// a whole message through the socket
	c := gomilter.NewClient("unix", sock)
	s, err := c.Session(gomilter.NewMacroBag())
	if err != nil {
		t.Fatal(err)
	}
	if a, err := s.Conn("h", gomilter.FamilyInet, 25, "192.0.2.1"); err != nil || a.Type != gomilter.ActionContinue {
		t.Fatalf("connect: %v %v", a, err)
	}
	s.Helo("h")
	s.Mail("a@b", "")
	s.Rcpt("c@d", "")
	s.DataStart()
	s.HeaderField("Subject", "x", nil)
	s.HeaderEnd()
	s.BodyChunk([]byte("body\r\n"))
	_, act, err := s.End()
	if err != nil || act.Type != gomilter.ActionAccept {
		t.Fatalf("end: %v %v", act, err)
	}
	s.Close()
	// the metrics of that session, on the --metrics-listen address
	addr := regexp.MustCompile(`Serving metrics on (http://\S+/metrics)`).FindStringSubmatch(errb.String())
	if addr == nil {
		t.Fatalf("no metrics address in the log:\n%s", errb.String())
	}
	var metrics string
	waitFor(t, func() bool { // the close callback runs after the client has gone
		resp, err := http.Get(addr[1])
		if err != nil {
			t.Fatalf("GET %s: %v", addr[1], err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics = string(b)
		return strings.Contains(metrics, "mimedefang_milterd_sessions_active 0\n")
	})
	for _, want := range []string{
		"mimedefang_milterd_sessions_total 1\n",
		`mimedefang_milterd_messages_total{outcome="accept"} 1` + "\n",
		`mimedefang_milterd_multiplexor_request_duration_seconds_count{command="scan"} 1` + "\n",
		`mimedefang_milterd_multiplexor_request_duration_seconds_count{command="free"} 1` + "\n",
		`mimedefang_milterd_errors_total{kind="multiplexor"} 0` + "\n",
		"mimedefang_milterd_message_bytes_count 1\n",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d; stderr:\n%s", code, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Main did not return after SIGTERM")
	}
	for _, f := range []string{sock, pid, pid + ".lock"} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s not removed at exit: %v", f, err)
		}
	}
	if !strings.Contains(errb.String(), "Multiplexor alive - entering main loop") {
		t.Errorf("log lacks the start-up lines:\n%s", errb.String())
	}
}

func TestMainMultiplexorMissing(t *testing.T) {
	allowRootForTests = true
	defer func() { allowRootForTests = false }()
	probeCount, probeInterval = 3, 10*time.Millisecond
	defer func() { probeCount, probeInterval = 100, 200*time.Millisecond }()
	dir := t.TempDir()
	var out, errb daemontest.SyncBuffer
	pid := filepath.Join(dir, "md.pid")
	code := Main([]string{"-D", "-p", filepath.Join(dir, "m.sock"), "-m", filepath.Join(dir, "none.sock"), "-z", dir, "-P", pid}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "Multiplexor socket did not appear.  Exiting.") {
		t.Errorf("code %d, stderr:\n%s", code, errb.String())
	}
	if _, err := os.Stat(pid); !os.IsNotExist(err) {
		t.Errorf("pid file left behind: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 200 {
		if cond() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("timed out")
}
