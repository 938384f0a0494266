package mux

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/mdgo/md/internal/logging"
)

// Logger is the multiplexor's printf-style face of the shared log handler
// (internal/logging), which writes each line to syslog, like the original,
// and to a stream (stderr in the foreground). A nil *Logger discards.
type Logger struct {
	h   slog.Handler
	qid string
}

// NewLogger opens syslog with ident and facility; out, when not nil, gets a
// copy of every line (see logging.New: the "syslog unavailable" warning,
// and no copy on systemd's journal stream while syslog takes the lines).
func NewLogger(ident, facility string, out io.Writer) (*Logger, error) {
	h, err := logging.New(ident, facility, out)
	if err != nil {
		return nil, fmt.Errorf("mux: %w", err)
	}
	return &Logger{h: h}, nil
}

// WithQID returns a Logger whose lines are about the message with queue ID
// qid: they carry it as the logging.QID attribute, which the handler
// renders as the prefix "<qid>: " (nothing for an empty qid).
func (l *Logger) WithQID(qid string) *Logger {
	if l == nil {
		return nil
	}
	return &Logger{h: l.h, qid: qid}
}

func (l *Logger) write(level slog.Level, format string, args ...any) {
	if l == nil {
		return
	}
	r := slog.NewRecord(time.Now(), level, fmt.Sprintf(format, args...), 0)
	if l.qid != "" {
		r.AddAttrs(slog.String(logging.QID, l.qid))
	}
	l.h.Handle(context.Background(), r)
}

// Infof logs at LOG_INFO.
func (l *Logger) Infof(format string, args ...any) { l.write(slog.LevelInfo, format, args...) }

// Warnf logs at LOG_WARNING.
func (l *Logger) Warnf(format string, args ...any) { l.write(slog.LevelWarn, format, args...) }

// Errorf logs at LOG_ERR.
func (l *Logger) Errorf(format string, args ...any) { l.write(slog.LevelError, format, args...) }
