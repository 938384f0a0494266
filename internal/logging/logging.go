// Package logging writes the daemons' log lines as the original MIMEDefang
// programs do: to syslog with an ident and a facility, and to a stream
// (stderr in the foreground), unless that stream is systemd's journal,
// which reads syslog too. It is a log/slog handler, used by md-milterd and
// md-multiplexor (whose printf-style mux.Logger sits on top of it); its
// facility table also serves md-worker's md_syslog.
//
// A line about a message carries the message's queue ID as the attribute
// QID (slog.String(QID, id)); the handler renders it as the prefix
// "<id>: " of the line, where the original programs put it. Other
// attributes follow the message as " key=value".
package logging

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

// QID is the key of the attribute that holds the queue ID of the message a
// line is about. An empty value adds no prefix.
const QID = "qid"

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

// LookupFacility is ParseFacility without the error: ok is false for a
// name that is no facility.
func LookupFacility(name string) (fac syslog.Priority, ok bool) {
	fac, ok = facilities[strings.TrimPrefix(strings.ToLower(name), "log_")]
	return fac, ok
}

// ParseFacility accepts a syslog facility name as the original does
// (syslog-fac.c: find_syslog_facility): short or LOG_-prefixed, any case.
func ParseFacility(name string) (syslog.Priority, error) {
	if f, ok := LookupFacility(name); ok {
		return f, nil
	}
	return 0, fmt.Errorf("unknown syslog facility %q", name)
}

// Handler is a slog.Handler that writes each record's message to syslog
// (when reachable) and to a stream (stderr in the foreground), like the
// original's syslog lines.
type Handler struct {
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

// New opens syslog with ident and facility; out, when not nil, gets a copy
// of every line. If syslog cannot be reached (no /dev/log) lines still go
// to out, and a warning there says so. When out is systemd's journal
// stream (JournalStream) and syslog is reachable, out gets only the lines
// syslog did not take: journald reads both, and only the syslog copy
// carries the ident and priority. The error is ParseFacility's.
func New(ident, facility string, out io.Writer) (*Handler, error) {
	fac, err := ParseFacility(facility)
	if err != nil {
		return nil, err
	}
	h := &Handler{mu: &sync.Mutex{}, out: out, ident: ident, pid: os.Getpid(), failed: new(bool)}
	if w, err := openSyslog(fac|syslog.LOG_INFO, ident); err == nil {
		h.sys = w
		h.journal = out != nil && JournalStream(out)
	} else if out != nil {
		fmt.Fprintf(out, "%s[%d]: syslog unavailable (%v); logging to stderr only\n", ident, h.pid, err)
	}
	return h, nil
}

// NewLogger is New wrapped in a *slog.Logger.
func NewLogger(ident, facility string, out io.Writer) (*slog.Logger, error) {
	h, err := New(ident, facility, out)
	if err != nil {
		return nil, err
	}
	return slog.New(h), nil
}

// Enabled reports true for every level: the original logs everything it
// is asked to.
func (h *Handler) Enabled(context.Context, slog.Level) bool { return true }

// WithAttrs returns a handler that adds as to every line.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

// WithGroup returns h: groups are not rendered.
func (h *Handler) WithGroup(string) slog.Handler { return h }

// Handle writes one line: at LOG_ERR for slog.LevelError and above,
// LOG_WARNING for LevelWarn, LOG_DEBUG below LevelInfo, LOG_INFO
// otherwise.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	msg := h.format(r)
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

// format renders a record as the text of its line: "<qid>: " when a QID
// attribute is not empty (the record's wins over the handler's), the
// message, then " key=value" for every other attribute.
func (h *Handler) format(r slog.Record) string {
	var (
		b    strings.Builder
		qid  string
		rest []slog.Attr
	)
	add := func(a slog.Attr) bool {
		if a.Key == QID {
			qid = a.Value.String()
		} else {
			rest = append(rest, a)
		}
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	if qid != "" {
		b.WriteString(qid)
		b.WriteString(": ")
	}
	b.WriteString(r.Message)
	for _, a := range rest {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	return b.String()
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
