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
)

// syncBuffer is a bytes.Buffer safe for the daemon's goroutines.
type syncBuffer struct {
	mu chan struct{}
	b  strings.Builder
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{mu: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.String()
}

// notifySocket listens on a unixgram socket in a temporary directory and
// points NOTIFY_SOCKET at it, as systemd does for a Type=notify unit. The
// messages arrive on the returned channel.
func notifySocket(t *testing.T) <-chan string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	ch := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return ch
}

func recvNotify(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message on NOTIFY_SOCKET")
		return ""
	}
}

func TestNotifyUnset(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	os.Unsetenv("NOTIFY_SOCKET")
	if err := notify("READY=1"); err != nil {
		t.Errorf("notify without NOTIFY_SOCKET: %v, want nil", err)
	}
	if err := notifyReadyFor(1234); err != nil {
		t.Errorf("notifyReadyFor without NOTIFY_SOCKET: %v, want nil", err)
	}
	notifyStopping(func(m string) { t.Errorf("warning %q", m) })()
}

func TestNotifyErrors(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "none"))
	if err := notify("READY=1"); err == nil || !strings.Contains(err.Error(), "READY=1") {
		t.Errorf("notify to a missing socket: %v, want an error naming READY=1", err)
	}
}

func TestNotifyReadyFor(t *testing.T) {
	ch := notifySocket(t)
	if err := notifyReadyFor(4321); err != nil {
		t.Fatal(err)
	}
	if got := recvNotify(t, ch); got != "READY=1\nMAINPID=4321" {
		t.Errorf("got %q", got)
	}
}

// runMain starts md-multiplexor in the foreground in this process.
func runMain(t *testing.T, dir string) (sock string, errb *syncBuffer, done chan int) {
	t.Helper()
	allowRootForTests = true
	t.Cleanup(func() { allowRootForTests = false })
	wd, _ := os.Getwd()
	t.Cleanup(func() { os.Chdir(wd) }) // Run chdirs to the spool
	sock = filepath.Join(dir, "mx.sock")
	errb = newSyncBuffer()
	done = make(chan int, 1)
	go func() {
		done <- Main([]string{"-D", "-z", dir, "-s", sock, "-f", "/bin/cat", "-m", "1", "-x", "2", "-l", "-S", "local3"},
			newSyncBuffer(), errb)
	}()
	return sock, errb, done
}

func stopMain(t *testing.T, errb *syncBuffer, done chan int) {
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
	ch := notifySocket(t)
	sock, errb, done := runMain(t, t.TempDir())
	if got := recvNotify(t, ch); got != "READY=1" {
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
	if got := recvNotify(t, ch); got != "STOPPING=1" {
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
