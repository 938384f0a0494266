package mux

import (
	"fmt"
	"io"
	"log/syslog"
	"os"
	"strings"
	"sync"
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
}

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
// to out, and a warning says so once.
func NewLogger(ident, facility string, out io.Writer) (*Logger, error) {
	fac, err := ParseFacility(facility)
	if err != nil {
		return nil, err
	}
	l := &Logger{out: out, ident: ident, pid: os.Getpid()}
	if w, err := syslog.New(fac|syslog.LOG_INFO, ident); err == nil {
		l.sys = w
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
	}
	if l.out != nil {
		fmt.Fprintf(l.out, "%s %s[%d]: %s\n", time.Now().Format("Jan _2 15:04:05"), l.ident, l.pid, msg)
	}
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
