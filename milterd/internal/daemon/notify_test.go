package daemon

import (
	"fmt"
	"log/syslog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// notifySocket listens on a unixgram socket in a temporary directory and
// points NOTIFY_SOCKET at it, as systemd does for a Type=notify unit. The
// messages arrive on the returned channel.
func notifySocket(t *testing.T) <-chan string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	ch := datagrams(t, path)
	t.Setenv("NOTIFY_SOCKET", path)
	return ch
}

// datagrams listens on a unixgram socket at path until the test ends and
// passes on every datagram that arrives; the channel closes with the socket.
func datagrams(t *testing.T, path string) <-chan string {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
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
	if err := notify(sddaemonReady); err != nil {
		t.Errorf("notify without NOTIFY_SOCKET: %v, want nil", err)
	}
	if err := notifyReadyFor(1234); err != nil {
		t.Errorf("notifyReadyFor without NOTIFY_SOCKET: %v, want nil", err)
	}
}

func TestNotifyErrors(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "none"))
	if err := notify(sddaemonReady); err == nil || !strings.Contains(err.Error(), "READY=1") {
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

// TestMainNotify runs the milter in the foreground as systemd's Type=notify
// unit does: READY=1 arrives once the milter socket listens and the
// multiplexor answered, STOPPING=1 when SIGTERM arrives.
func TestMainNotify(t *testing.T) {
	allowRootForTests = true
	defer func() { allowRootForTests = false }()
	ch := notifySocket(t)
	dir := t.TempDir()
	mx := filepath.Join(dir, "mx.sock")
	sock := filepath.Join(dir, "milter.sock")
	var out, errb syncBuffer
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
	if got := recvNotify(t, ch); got != "READY=1" {
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
	if got := recvNotify(t, ch); got != "STOPPING=1" {
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

// fakeSyslog makes openSyslog connect to a unixgram socket of the test's
// and returns what arrives there.
func fakeSyslog(t *testing.T) <-chan string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log")
	ch := datagrams(t, path)
	openSyslog = func(p syslog.Priority, tag string) (*syslog.Writer, error) {
		return syslog.Dial("unixgram", path, p, tag)
	}
	t.Cleanup(func() { openSyslog = syslog.New })
	return ch
}

// journalFile is a file standing for systemd's journal stream: its device
// and inode go into JOURNAL_STREAM.
func journalFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "stream"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	return f
}

func TestJournalStream(t *testing.T) {
	f := journalFile(t)
	if !journalStream(f) {
		t.Errorf("journalStream: false for the file JOURNAL_STREAM names")
	}
	other, err := os.Create(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if journalStream(other) {
		t.Errorf("journalStream: true for another file")
	}
	if journalStream(&strings.Builder{}) {
		t.Errorf("journalStream: true for a writer that is no file")
	}
	for _, bad := range []string{"", "12", "x:y", "1:2:3"} {
		t.Setenv("JOURNAL_STREAM", bad)
		if journalStream(f) {
			t.Errorf("JOURNAL_STREAM=%q: journalStream true", bad)
		}
	}
}

func readAll(t *testing.T, f *os.File) string {
	t.Helper()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLoggerJournal: with stderr going to the journal and syslog reachable,
// each line goes to syslog only (journald gets it once, with the ident and
// priority); without syslog, or when stderr is not the journal, the stderr
// copy stays.
func TestLoggerJournal(t *testing.T) {
	t.Run("journal and syslog", func(t *testing.T) {
		sys := fakeSyslog(t)
		f := journalFile(t)
		log, err := newLogger("mimedefang", "mail", f)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("Q1: Filter time is 1ms")
		if m := recvNotify(t, sys); !strings.Contains(m, "mimedefang[") || !strings.HasSuffix(strings.TrimSpace(m), "Q1: Filter time is 1ms") {
			t.Errorf("syslog got %q", m)
		}
		if got := readAll(t, f); got != "" {
			t.Errorf("the journal stream got a copy as well: %q", got)
		}
	})
	t.Run("journal without syslog", func(t *testing.T) {
		openSyslog = func(syslog.Priority, string) (*syslog.Writer, error) {
			return nil, fmt.Errorf("no /dev/log")
		}
		t.Cleanup(func() { openSyslog = syslog.New })
		f := journalFile(t)
		log, err := newLogger("mimedefang", "mail", f)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("Q2: Filter time is 1ms")
		if got := readAll(t, f); !strings.Contains(got, "syslog unavailable") || !strings.Contains(got, "mimedefang[") || !strings.HasSuffix(got, "Q2: Filter time is 1ms\n") {
			t.Errorf("the journal stream got %q, want the warning and the line", got)
		}
	})
	t.Run("terminal and syslog", func(t *testing.T) {
		sys := fakeSyslog(t)
		f := journalFile(t)
		t.Setenv("JOURNAL_STREAM", "") // stderr is not the journal's
		log, err := newLogger("mimedefang", "mail", f)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("Q3: Filter time is 1ms")
		recvNotify(t, sys)
		if got := readAll(t, f); !strings.HasSuffix(got, "Q3: Filter time is 1ms\n") {
			t.Errorf("stderr got %q, want the line", got)
		}
	})
}
