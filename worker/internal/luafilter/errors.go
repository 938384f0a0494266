package luafilter

import (
	"context"
	"errors"
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// ErrDeadline is wrapped by the error of a callback stopped because it ran
// past its deadline (an endless loop, a slow pattern). The request fails
// and, for a scan, the message is tempfailed by the milter.
var ErrDeadline = errors.New("luafilter: callback deadline exceeded")

// RuntimeError is a Lua error raised inside a callback or at file scope.
type RuntimeError struct {
	Callback string // "filter_begin", ..., or "file scope"
	// Where is "file:line" of the innermost Lua frame, empty if unknown.
	Where string
	Msg   string
	// Traceback is gopher-lua's stack traceback, for the log.
	Traceback string
	cause     error
}

func (e *RuntimeError) Error() string {
	return fmt.Sprintf("luafilter: %s: %s", e.Callback, e.Msg)
}

func (e *RuntimeError) Unwrap() error { return e.cause }

// runtimeError converts what PCall returned. ctx is the context the call
// ran under, to tell a deadline from an ordinary error.
func runtimeError(ctx context.Context, callback string, err error) error {
	re := &RuntimeError{Callback: callback, Msg: err.Error()}
	var ae *lua.ApiError
	if errors.As(err, &ae) {
		re.Msg = ae.Object.String()
		re.Traceback = ae.StackTrace
	}
	re.Where = where(re.Msg, re.Traceback)
	if ctx != nil && ctx.Err() != nil {
		re.cause = fmt.Errorf("%w: %w", ErrDeadline, ctx.Err())
		re.Msg = fmt.Sprintf("%s (stopped at %s)", ErrDeadline.Error()[len("luafilter: "):], re.Where)
	}
	return re
}

// where finds "file:line" in an error message ("f.lua:12: boom") or, for
// errors raised by Go functions without position, in the first Lua frame of
// the traceback.
func where(msg, traceback string) string {
	if w := leadingPosition(msg); w != "" {
		return w
	}
	for _, line := range strings.Split(traceback, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[G]") || line == "stack traceback:" {
			continue
		}
		if w := leadingPosition(line); w != "" {
			return w
		}
	}
	return ""
}

// leadingPosition returns the "name:123" prefix of s, or "".
func leadingPosition(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] != ':' {
			continue
		}
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j > i+1 && j < len(s) && s[j] == ':' {
			return s[:j]
		}
	}
	return ""
}
