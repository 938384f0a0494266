package mux

import (
	"fmt"
	"io"
	"log/syslog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Logger writes the multiplexor's log lines to syslog, like the original, and
// to a stream (stderr in the foreground). A nil *Logger discards.
type Logger struct {
	mu     sync.Mutex
	sys    *syslog.Writer
	out    io.Writer
	ident  string
	pid    int
	failed bool
	// journal: out is the journal's stream (JOURNAL_STREAM) and syslog,
	// which journald reads too, is open: a line goes to out only when its
	// syslog write fails, so that the journal has each line once.
	journal bool
}

// openSyslog connects to the local syslog (/dev/log); a variable so that
// tests can use a socket of their own.
var openSyslog = syslog.New

var facilities = map[string]syslog.Priority{
	"auth": syslog.LOG_AUTH, "authpriv": syslog.LOG_AUTHPRIV, "cron": syslog.LOG_CRON,
	"daemon": syslog.LOG_DAEMON, "ftp": syslog.LOG_FTP, "kern": syslog.LOG_KERN,
	"lpr": syslog.LOG_LPR, "mail": syslog.LOG_MAIL, "news": syslog.LOG_NEWS,
	"security": syslog.LOG_AUTH, "syslog": syslog.LOG_SYSLOG, "user": syslog.LOG_USER,
	"uucp": syslog.LOG_UUCP, "local0": syslog.LOG_LOCAL0, "local1": syslog.LOG_LOCAL1,
	"local2": syslog.LOG_LOCAL2, "local3": syslog.LOG_LOCAL3, "local4": syslog.LOG_LOCAL4,
	"local5": syslog.LOG_LOCAL5, "local6": syslog.LOG_LOCAL6, "local7": syslog.LOG_LOCAL7,
}

// ParseFacility accepts a syslog facility name as the original does: short or
// LOG_-prefixed, any case.
func ParseFacility(name string) (syslog.Priority, error) {
	n := strings.TrimPrefix(strings.ToLower(name), "log_")
	if f, ok := facilities[n]; ok {
		return f, nil
	}
	return 0, fmt.Errorf("mux: unknown syslog facility %q", name)
}

// NewLogger opens syslog with ident and facility; out, when not nil, gets a
// copy of every line. If syslog cannot be reached (no /dev/log) lines still go
// to out, and a warning says so once. When out is systemd's journal stream
// (JOURNAL_STREAM) and syslog is reachable, out gets only the lines syslog
// did not take: journald reads both, and only the syslog copy carries the
// ident and priority.
func NewLogger(ident, facility string, out io.Writer) (*Logger, error) {
	fac, err := ParseFacility(facility)
	if err != nil {
		return nil, err
	}
	l := &Logger{out: out, ident: ident, pid: os.Getpid()}
	if w, err := openSyslog(fac|syslog.LOG_INFO, ident); err == nil {
		l.sys = w
		l.journal = out != nil && JournalStream(out)
	} else if out != nil {
		fmt.Fprintf(out, "%s[%d]: syslog unavailable (%v); logging to stderr only\n", ident, l.pid, err)
	}
	return l, nil
}

func (l *Logger) write(prio syslog.Priority, format string, args ...any) {
	if l == nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	sysOK := false
	if l.sys != nil {
		var err error
		switch prio {
		case syslog.LOG_ERR:
			err = l.sys.Err(msg)
		case syslog.LOG_WARNING:
			err = l.sys.Warning(msg)
		case syslog.LOG_DEBUG:
			err = l.sys.Debug(msg)
		default:
			err = l.sys.Info(msg)
		}
		if err != nil && !l.failed && l.out != nil {
			l.failed = true
			fmt.Fprintf(l.out, "%s[%d]: syslog write failed: %v\n", l.ident, l.pid, err)
		}
		sysOK = err == nil
	}
	if l.out != nil && !(l.journal && sysOK) {
		fmt.Fprintf(l.out, "%s %s[%d]: %s\n", time.Now().Format("Jan _2 15:04:05"), l.ident, l.pid, msg)
	}
}

// JournalStream reports whether out is the stream systemd's journal reads:
// systemd sets JOURNAL_STREAM=<device>:<inode> for a service whose stdout or
// stderr goes to the journal, and the descriptor matches when st_dev and
// st_ino of its fstat(2) do (sd_journal_stream_fd(3), systemd.exec(5)).
func JournalStream(out any) bool {
	js := os.Getenv("JOURNAL_STREAM")
	if js == "" {
		return false
	}
	f, ok := out.(interface{ Stat() (os.FileInfo, error) })
	if !ok {
		return false
	}
	d, i, ok := strings.Cut(js, ":")
	if !ok {
		return false
	}
	dev, err1 := strconv.ParseUint(d, 10, 64)
	ino, err2 := strconv.ParseUint(i, 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	fi, err := f.Stat() // fstat(2) for an *os.File
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint64(st.Dev) == dev && uint64(st.Ino) == ino
}

// Infof logs at LOG_INFO.
func (l *Logger) Infof(format string, args ...any) { l.write(syslog.LOG_INFO, format, args...) }

// Warnf logs at LOG_WARNING.
func (l *Logger) Warnf(format string, args ...any) { l.write(syslog.LOG_WARNING, format, args...) }

// Errorf logs at LOG_ERR.
func (l *Logger) Errorf(format string, args ...any) { l.write(syslog.LOG_ERR, format, args...) }

// qidPrefix returns "<qid>: " or "" when no queue ID is known.
func qidPrefix(qid string) string {
	if qid == "" {
		return ""
	}
	return qid + ": "
}
