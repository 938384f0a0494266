package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"strings"
	"sync"
	"time"
)

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
}

// newLogger opens syslog with ident and facility; out, when not nil, gets a
// copy of every line.
func newLogger(ident, facility string, out io.Writer) (*slog.Logger, error) {
	fac, err := ParseFacility(facility)
	if err != nil {
		return nil, err
	}
	h := &logHandler{mu: &sync.Mutex{}, out: out, ident: ident, pid: os.Getpid(), failed: new(bool)}
	if w, err := syslog.New(fac|syslog.LOG_INFO, ident); err == nil {
		h.sys = w
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
	}
	if h.out != nil {
		fmt.Fprintf(h.out, "%s %s[%d]: %s\n", time.Now().Format("Jan _2 15:04:05"), h.ident, h.pid, msg)
	}
	return nil
}
