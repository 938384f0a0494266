package logging

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"log/syslog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mdgo/md/internal/daemon/daemontest"
)

func TestParseFacility(t *testing.T) {
	for _, ok := range []string{"mail", "LOG_MAIL", "Local7", "security"} {
		if _, err := ParseFacility(ok); err != nil {
			t.Errorf("ParseFacility(%q): %v", ok, err)
		}
	}
	if f, _ := ParseFacility("LOG_Local3"); f != syslog.LOG_LOCAL3 {
		t.Errorf("ParseFacility(LOG_Local3) = %v, want LOG_LOCAL3", f)
	}
	if f, _ := ParseFacility("security"); f != syslog.LOG_AUTH {
		t.Errorf("ParseFacility(security) = %v, want LOG_AUTH", f)
	}
	_, err := ParseFacility("nope")
	if err == nil || err.Error() != `unknown syslog facility "nope"` {
		t.Errorf("ParseFacility(nope): %v", err)
	}
	for _, bad := range []string{"", "log_", "LOG_LOG_MAIL", " mail"} {
		if _, ok := LookupFacility(bad); ok {
			t.Errorf("LookupFacility(%q) accepted", bad)
		}
	}
}

// fakeSyslog makes openSyslog connect to a unixgram socket of the test's
// and returns what arrives there.
func fakeSyslog(t *testing.T) <-chan string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log")
	ch := daemontest.Datagrams(t, path)
	openSyslog = func(p syslog.Priority, tag string) (*syslog.Writer, error) {
		return syslog.Dial("unixgram", path, p, tag)
	}
	t.Cleanup(func() { openSyslog = syslog.New })
	return ch
}

// noSyslog makes openSyslog fail, as it does without /dev/log.
func noSyslog(t *testing.T) {
	t.Helper()
	openSyslog = func(syslog.Priority, string) (*syslog.Writer, error) {
		return nil, errors.New("no /dev/log")
	}
	t.Cleanup(func() { openSyslog = syslog.New })
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

func readAll(t *testing.T, f *os.File) string {
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
// copy stays. (md-milterd's ident and line, then md-multiplexor's.)
func TestLoggerJournal(t *testing.T) {
	for _, c := range []struct{ ident, line string }{
		{"mimedefang", "Q1: Filter time is 1ms"},
		{"mimedefang-multiplexor", "Forcing reread of filter rules"},
	} {
		t.Run(c.ident, func(t *testing.T) {
			t.Run("journal and syslog", func(t *testing.T) {
				sys := fakeSyslog(t)
				f := journalFile(t)
				log, err := NewLogger(c.ident, "mail", f)
				if err != nil {
					t.Fatal(err)
				}
				log.Info(c.line)
				if m := daemontest.Recv(t, sys); !strings.Contains(m, c.ident+"[") || !strings.HasSuffix(strings.TrimSpace(m), c.line) {
					t.Errorf("syslog got %q", m)
				}
				if got := readAll(t, f); got != "" {
					t.Errorf("the journal stream got a copy as well: %q", got)
				}
			})
			t.Run("journal without syslog", func(t *testing.T) {
				noSyslog(t)
				f := journalFile(t)
				log, err := NewLogger(c.ident, "mail", f)
				if err != nil {
					t.Fatal(err)
				}
				log.Info(c.line)
				if got := readAll(t, f); !strings.Contains(got, "syslog unavailable") || !strings.HasSuffix(got, c.ident+"["+fmt.Sprint(os.Getpid())+"]: "+c.line+"\n") {
					t.Errorf("the journal stream got %q, want the warning and the line", got)
				}
			})
			t.Run("terminal and syslog", func(t *testing.T) {
				sys := fakeSyslog(t)
				f := journalFile(t)
				t.Setenv("JOURNAL_STREAM", "") // stderr is not the journal's
				log, err := NewLogger(c.ident, "mail", f)
				if err != nil {
					t.Fatal(err)
				}
				log.Info(c.line)
				daemontest.Recv(t, sys)
				if got := readAll(t, f); !strings.HasSuffix(got, c.line+"\n") {
					t.Errorf("stderr got %q, want the line", got)
				}
			})
		})
	}
}

// TestLines: the text of a line on stderr and in syslog, with the queue ID
// attribute rendered as the prefix the original's lines have, and the
// priority each level maps to.
func TestLines(t *testing.T) {
	sys := fakeSyslog(t)
	t.Setenv("JOURNAL_STREAM", "")
	var out bytes.Buffer
	log, err := NewLogger("md", "local3", &out)
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("md[%d]: ", os.Getpid())
	for _, c := range []struct {
		log  func()
		pri  syslog.Priority
		want string
	}{
		{func() { log.Info("No free workers", slog.String(QID, "4XyZ1")) }, syslog.LOG_INFO, "4XyZ1: No free workers"},
		{func() { log.Info("No free workers", slog.String(QID, "")) }, syslog.LOG_INFO, "No free workers"},
		{func() { log.With(QID, "Q9").Warn("Filter failed", "k", 1) }, syslog.LOG_WARNING, "Q9: Filter failed k=1"},
		{func() { log.With(QID, "Q9").Error("x", QID, "Q10") }, syslog.LOG_ERR, "Q10: x"},
		{func() { log.Warn("truncated", "command", "free", "discarded", 3) }, syslog.LOG_WARNING, "truncated command=free discarded=3"},
		{func() { log.Debug("d") }, syslog.LOG_DEBUG, "d"},
	} {
		out.Reset()
		c.log()
		if got := out.String(); !strings.HasSuffix(got, prefix+c.want+"\n") || len(got) != len("Jan _2 15:04:05 ")+len(prefix+c.want+"\n") {
			t.Errorf("stderr got %q, want the time, then %q", got, prefix+c.want)
		}
		want := fmt.Sprintf("<%d>", syslog.LOG_LOCAL3|c.pri)
		if m := daemontest.Recv(t, sys); !strings.HasPrefix(m, want) || !strings.HasSuffix(strings.TrimSpace(m), prefix+c.want) {
			t.Errorf("syslog got %q, want %s...%s", m, want, prefix+c.want)
		}
	}
	if _, err := New("md", "nope", &out); err == nil || err.Error() != `unknown syslog facility "nope"` {
		t.Errorf("New with facility nope: %v", err)
	}
}
