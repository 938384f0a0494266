package daemon

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdgo/md/internal/daemon/daemontest"
)

// TestMainNotify runs the milter in the foreground as systemd's Type=notify
// unit does: READY=1 arrives once the milter socket listens and the
// multiplexor answered, STOPPING=1 when SIGTERM arrives.
func TestMainNotify(t *testing.T) {
	allowRootForTests = true
	defer func() { allowRootForTests = false }()
	ch := daemontest.NotifySocket(t)
	dir := t.TempDir()
	mx := filepath.Join(dir, "mx.sock")
	sock := filepath.Join(dir, "milter.sock")
	var out, errb daemontest.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main([]string{"-D", "-p", "unix:" + sock, "-m", mx, "-z", dir, "-S", "local3"}, &out, &errb)
	}()
	// No multiplexor yet: the milter listens, but it is not ready.
	waitFor(t, func() bool { _, err := os.Stat(sock); return err == nil })
	select {
	case m := <-ch:
		t.Fatalf("%q before the multiplexor answered", m)
	case <-time.After(300 * time.Millisecond):
	}
	fakeFree(t, mx)
	if got := daemontest.Recv(t, ch); got != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", got)
	}
	if !strings.Contains(errb.String(), "Multiplexor alive - entering main loop") {
		t.Errorf("READY=1 before \"Multiplexor alive\":\n%s", errb.String())
	}
	c, err := net.Dial("unix", sock) // no retry: ready means listening
	if err != nil {
		t.Fatalf("connecting right after READY=1: %v", err)
	}
	c.Close()
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	if got := daemontest.Recv(t, ch); got != "STOPPING=1" {
		t.Errorf("notification after SIGTERM %q, want STOPPING=1", got)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d; stderr:\n%s", code, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Main did not return after SIGTERM")
	}
	select {
	case m, ok := <-ch:
		if ok {
			t.Errorf("unexpected notification %q", m)
		}
	default:
	}
}
