package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

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

// ParseFacility accepts a syslog facility name as the original does
// (syslog-fac.c: find_syslog_facility): short or LOG_-prefixed, any case.
func ParseFacility(name string) (syslog.Priority, error) {
	n := strings.TrimPrefix(strings.ToLower(name), "log_")
	if f, ok := facilities[n]; ok {
		return f, nil
	}
	return 0, fmt.Errorf("unknown syslog facility %q", name)
}

// logHandler is a slog.Handler that writes each record's message to syslog
// (when reachable) and to out (stderr in the foreground), like the
// original's syslog lines. Attributes are appended as key=value.
type logHandler struct {
	mu     *sync.Mutex
	sys    *syslog.Writer
	out    io.Writer
	ident  string
	pid    int
	attrs  []slog.Attr
	failed *bool
	// journal: out is the journal's stream (JOURNAL_STREAM) and syslog,
	// which journald reads too, is open: a line goes to out only when its
	// syslog write fails, so that the journal has each line once.
	journal bool
}

// newLogger opens syslog with ident and facility; out, when not nil, gets a
// copy of every line, unless out is systemd's journal stream and syslog is
// reachable (the journal would have every line twice, and only the syslog
// copy carries the ident and priority).
func newLogger(ident, facility string, out io.Writer) (*slog.Logger, error) {
	fac, err := ParseFacility(facility)
	if err != nil {
		return nil, err
	}
	h := &logHandler{mu: &sync.Mutex{}, out: out, ident: ident, pid: os.Getpid(), failed: new(bool)}
	if w, err := openSyslog(fac|syslog.LOG_INFO, ident); err == nil {
		h.sys = w
		h.journal = out != nil && journalStream(out)
	} else if out != nil {
		fmt.Fprintf(out, "%s[%d]: syslog unavailable (%v); logging to stderr only\n", ident, h.pid, err)
	}
	return slog.New(h), nil
}

func (h *logHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

func (h *logHandler) WithGroup(string) slog.Handler { return h }

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	msg := b.String()
	h.mu.Lock()
	defer h.mu.Unlock()
	sysOK := false
	if h.sys != nil {
		var err error
		switch {
		case r.Level >= slog.LevelError:
			err = h.sys.Err(msg)
		case r.Level >= slog.LevelWarn:
			err = h.sys.Warning(msg)
		case r.Level < slog.LevelInfo:
			err = h.sys.Debug(msg)
		default:
			err = h.sys.Info(msg)
		}
		if err != nil && !*h.failed && h.out != nil {
			*h.failed = true
			fmt.Fprintf(h.out, "%s[%d]: syslog write failed: %v\n", h.ident, h.pid, err)
		}
		sysOK = err == nil
	}
	if h.out != nil && !(h.journal && sysOK) {
		fmt.Fprintf(h.out, "%s %s[%d]: %s\n", time.Now().Format("Jan _2 15:04:05"), h.ident, h.pid, msg)
	}
	return nil
}

// journalStream reports whether out is the stream systemd's journal reads:
// systemd sets JOURNAL_STREAM=<device>:<inode> for a service whose stdout or
// stderr goes to the journal, and the descriptor matches when st_dev and
// st_ino do (sd_journal_stream_fd(3), systemd.exec(5)).
func journalStream(out any) bool {
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
