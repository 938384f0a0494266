package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdgo/md/internal/daemon/daemontest"
)

func TestNotifyUnset(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	os.Unsetenv("NOTIFY_SOCKET")
	if err := Notify(Ready); err != nil {
		t.Errorf("Notify without NOTIFY_SOCKET: %v, want nil", err)
	}
	if err := NotifyReadyFor(1234); err != nil {
		t.Errorf("NotifyReadyFor without NOTIFY_SOCKET: %v, want nil", err)
	}
	NotifyStopping(func(m string) { t.Errorf("warning %q", m) })()
}

func TestNotifyErrors(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "none"))
	if err := Notify(Ready); err == nil || !strings.Contains(err.Error(), "READY=1") {
		t.Errorf("Notify to a missing socket: %v, want an error naming READY=1", err)
	}
	if err := NotifyReadyFor(4321); err == nil || !strings.Contains(err.Error(), "(READY=1 MAINPID=4321 on ") {
		t.Errorf("NotifyReadyFor to a missing socket: %v, want an error naming READY=1 MAINPID=4321", err)
	}
}

func TestNotifyReadyFor(t *testing.T) {
	ch := daemontest.NotifySocket(t)
	if err := NotifyReadyFor(4321); err != nil {
		t.Fatal(err)
	}
	if got := daemontest.Recv(t, ch); got != "READY=1\nMAINPID=4321" {
		t.Errorf("got %q", got)
	}
}

// TestNotifyStopping: STOPPING=1 goes out when SIGTERM arrives, and
// nothing when the watch ends without it.
func TestNotifyStopping(t *testing.T) {
	ch := daemontest.NotifySocket(t)
	NotifyStopping(func(m string) { t.Errorf("warning %q", m) })()
	select {
	case m := <-ch:
		t.Fatalf("%q without SIGTERM", m)
	case <-time.After(100 * time.Millisecond):
	}
	stop := NotifyStopping(func(m string) { t.Errorf("warning %q", m) })
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	if got := daemontest.Recv(t, ch); got != "STOPPING=1" {
		t.Errorf("notification after SIGTERM %q, want STOPPING=1", got)
	}
	stop()
}
