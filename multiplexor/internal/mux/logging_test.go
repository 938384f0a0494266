package mux

import (
	"errors"
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

// fakeSyslog makes openSyslog connect to a unixgram socket of the test's
// and returns what arrives there.
func fakeSyslog(t *testing.T) <-chan string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	openSyslog = func(p syslog.Priority, tag string) (*syslog.Writer, error) {
		return syslog.Dial("unixgram", path, p, tag)
	}
	t.Cleanup(func() { openSyslog = syslog.New })
	ch := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			ch <- string(buf[:n])
		}
	}()
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

func contents(t *testing.T, f *os.File) string {
	t.Helper()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestJournalStream(t *testing.T) {
	f := journalFile(t)
	if !JournalStream(f) {
		t.Errorf("JournalStream: false for the file JOURNAL_STREAM names")
	}
	other, err := os.Create(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if JournalStream(other) {
		t.Errorf("JournalStream: true for another file")
	}
	if JournalStream(&strings.Builder{}) {
		t.Errorf("JournalStream: true for a writer that is no file")
	}
	for _, bad := range []string{"", "12", "x:y", "1:2:3"} {
		t.Setenv("JOURNAL_STREAM", bad)
		if JournalStream(f) {
			t.Errorf("JOURNAL_STREAM=%q: JournalStream true", bad)
		}
	}
}

// TestLoggerJournal: with stderr going to the journal and syslog reachable,
// each line goes to syslog only (journald gets it once, with the ident and
// priority); without syslog, or when stderr is not the journal, the stderr
// copy stays.
func TestLoggerJournal(t *testing.T) {
	recv := func(t *testing.T, ch <-chan string) string {
		t.Helper()
		select {
		case m := <-ch:
			return m
		case <-time.After(5 * time.Second):
			t.Fatal("nothing reached syslog")
			return ""
		}
	}
	t.Run("journal and syslog", func(t *testing.T) {
		sys := fakeSyslog(t)
		f := journalFile(t)
		l, err := NewLogger("mimedefang-multiplexor", "mail", f)
		if err != nil {
			t.Fatal(err)
		}
		l.Infof("Forcing reread of filter rules")
		if m := recv(t, sys); !strings.Contains(m, "mimedefang-multiplexor[") || !strings.HasSuffix(strings.TrimSpace(m), "Forcing reread of filter rules") {
			t.Errorf("syslog got %q", m)
		}
		if got := contents(t, f); got != "" {
			t.Errorf("the journal stream got a copy as well: %q", got)
		}
	})
	t.Run("journal without syslog", func(t *testing.T) {
		openSyslog = func(syslog.Priority, string) (*syslog.Writer, error) {
			return nil, errors.New("no /dev/log")
		}
		t.Cleanup(func() { openSyslog = syslog.New })
		f := journalFile(t)
		l, err := NewLogger("mimedefang-multiplexor", "mail", f)
		if err != nil {
			t.Fatal(err)
		}
		l.Infof("Forcing reread of filter rules")
		if got := contents(t, f); !strings.Contains(got, "syslog unavailable") || !strings.HasSuffix(got, "mimedefang-multiplexor["+fmt.Sprint(os.Getpid())+"]: Forcing reread of filter rules\n") {
			t.Errorf("the journal stream got %q, want the warning and the line", got)
		}
	})
	t.Run("terminal and syslog", func(t *testing.T) {
		sys := fakeSyslog(t)
		f := journalFile(t)
		t.Setenv("JOURNAL_STREAM", "") // stderr is not the journal's
		l, err := NewLogger("mimedefang-multiplexor", "mail", f)
		if err != nil {
			t.Fatal(err)
		}
		l.Infof("Forcing reread of filter rules")
		recv(t, sys)
		if got := contents(t, f); !strings.HasSuffix(got, "Forcing reread of filter rules\n") {
			t.Errorf("stderr got %q, want the line", got)
		}
	})
}
