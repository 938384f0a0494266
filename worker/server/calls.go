package server

import (
	"errors"
	"io"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mdgo/md/proto"
	"github.com/mdgo/md/worker/filter"
)

// CallsWriter sends call lines (proto.AppendCall) as datagrams on the
// socket md-multiplexor hands its workers, without ever waiting: a worker
// must not stall a message because the multiplexor is slow to read. A
// line that the socket cannot take right now is dropped and counted.
type CallsWriter struct {
	fd      int
	dropped atomic.Uint64
}

// CallsFromEnv returns the writer for the descriptor named by
// $MD_CALLS_FD (proto.CallsFDEnv), set by md-multiplexor when it serves
// metrics, or nil when the variable is unset or empty, or names no Unix
// datagram socket (the reason is logged through logf). The descriptor is
// made close-on-exec, so that programs the filter runs do not inherit it.
func CallsFromEnv(logf func(format string, args ...any)) *CallsWriter {
	v := os.Getenv(proto.CallsFDEnv)
	if v == "" {
		return nil
	}
	fd, err := strconv.Atoi(v)
	if err == nil && fd < 3 {
		err = errors.New("not above stderr")
	}
	if err == nil {
		var typ int
		typ, err = syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TYPE)
		if err == nil && typ != syscall.SOCK_DGRAM {
			err = errors.New("not a datagram socket")
		}
	}
	if err != nil {
		logf("%s=%q: %v; integration calls are not counted", proto.CallsFDEnv, v, err)
		return nil
	}
	syscall.CloseOnExec(fd)
	return &CallsWriter{fd: fd}
}

// Write sends p as one datagram; a full socket or any other error drops it.
func (w *CallsWriter) Write(p []byte) (int, error) {
	n, err := syscall.SendmsgN(w.fd, p, nil, nil, syscall.MSG_DONTWAIT)
	if err != nil {
		w.dropped.Add(1)
		return 0, err
	}
	return n, nil
}

// Dropped is how many lines Write has dropped.
func (w *CallsWriter) Dropped() uint64 { return w.dropped.Load() }

// callsHook returns the filter.WorkerOptions.OnCall that writes each
// integration call as a line to out (nil when out is nil).
func callsHook(out io.Writer) func(filter.IntegrationCall) {
	if out == nil {
		return nil
	}
	var buf []byte // OnCall's calls come one at a time
	return func(ic filter.IntegrationCall) {
		buf = proto.AppendCall(buf[:0], proto.Call{Integration: ic.Integration, Result: ic.Result, Seconds: ic.Took.Seconds()})
		if len(buf) > 0 {
			_, _ = out.Write(buf)
		}
	}
}

// dnsHook returns the filter.WorkerOptions.OnDNSQuery that writes each DNS
// query as a line to out (nil when out is nil). Queries may come from
// several goroutines: each line has its own buffer.
func dnsHook(out io.Writer) func(qtype, outcome string, took time.Duration) {
	if out == nil {
		return nil
	}
	return func(qtype, outcome string, took time.Duration) {
		if b := proto.AppendDNSQuery(nil, proto.DNSQuery{Type: qtype, Outcome: outcome, Seconds: took.Seconds()}); len(b) > 0 {
			_, _ = out.Write(b)
		}
	}
}
