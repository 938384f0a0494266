package daemon

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdgo/md/internal/daemon/daemontest"
)

// runMain starts md-multiplexor in the foreground in this process.
func runMain(t *testing.T, dir string) (sock string, errb *daemontest.SyncBuffer, done chan int) {
	t.Helper()
	allowRootForTests = true
	t.Cleanup(func() { allowRootForTests = false })
	wd, _ := os.Getwd()
	t.Cleanup(func() { os.Chdir(wd) }) // Run chdirs to the spool
	sock = filepath.Join(dir, "mx.sock")
	errb = new(daemontest.SyncBuffer)
	done = make(chan int, 1)
	go func() {
		done <- Main([]string{"-D", "-z", dir, "-s", sock, "-f", "/bin/cat", "-m", "1", "-x", "2", "-l", "-S", "local3"},
			new(daemontest.SyncBuffer), errb)
	}()
	return sock, errb, done
}

func stopMain(t *testing.T, errb *daemontest.SyncBuffer, done chan int) {
	t.Helper()
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d; stderr:\n%s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Main did not return after SIGTERM")
	}
}

// TestMainNotify runs the multiplexor in the foreground as systemd's
// Type=notify unit does: READY=1 arrives once the control socket answers
// status (no retry), STOPPING=1 when SIGTERM arrives.
func TestMainNotify(t *testing.T) {
	ch := daemontest.NotifySocket(t)
	sock, errb, done := runMain(t, t.TempDir())
	if got := daemontest.Recv(t, ch); got != "READY=1" {
		t.Fatalf("first notification %q, want READY=1; stderr:\n%s", got, errb.String())
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("connecting right after READY=1: %v", err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("status\n"))
	line, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if err != nil || strings.TrimSpace(line) == "" {
		t.Errorf("status right after READY=1: %q, %v", line, err)
	}
	stopMain(t, errb, done)
	if got := daemontest.Recv(t, ch); got != "STOPPING=1" {
		t.Errorf("notification after SIGTERM %q, want STOPPING=1", got)
	}
	select {
	case m, ok := <-ch:
		if ok {
			t.Errorf("unexpected notification %q", m)
		}
	default:
	}
}

// TestMainNoNotifySocket: without NOTIFY_SOCKET the multiplexor starts and
// stops as before, without a word about notifications.
func TestMainNoNotifySocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	os.Unsetenv("NOTIFY_SOCKET")
	sock, errb, done := runMain(t, t.TempDir())
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no control socket: %v; stderr:\n%s", err, errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopMain(t, errb, done)
	if s := errb.String(); strings.Contains(s, "notify") {
		t.Errorf("stderr mentions notifications:\n%s", s)
	}
}
