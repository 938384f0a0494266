// Package server runs a filter as an md-worker in server mode: the
// request/reply loop of mimedefang.pl's do_main_loop on stdin and stdout
// (docs/reference/protocol.md §6.4.2). A compiled Go filter's main calls Run:
//
//	func main() {
//		os.Exit(server.Run(&filter.Callbacks{Filter: myFilter}, server.Options{}))
//	}
//
// It is not a multiplexor: it serves one request at a time for whoever
// holds the other end of the pipes.
package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/metrics"
	"syscall"
	"time"

	"github.com/mdgo/md/proto"
	"github.com/mdgo/md/worker/filter"
)

// Options configure Serve and Run. Zero values are documented per field.
type Options struct {
	// Config is the worker's configuration. Nil: filter.DefaultConfig().
	Config *filter.Config
	// Stdin, Stdout, Stderr are the request stream, the reply stream and
	// the log. Nil: the process's.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// StatusTags receives status tags (-serveru writes them to fd 3).
	// Nil: none.
	StatusTags io.Writer
	// Timeout is the per-request deadline; 0 means none (the
	// multiplexor's busy timeout then is the only limit).
	Timeout time.Duration
	// Grace is how long a request may run past its deadline to stop on
	// its own (a Lua filter sees the cancelled context and aborts)
	// before the worker gives up on it, answers the error and exits.
	// 0 means one second.
	Grace time.Duration
	// MaxHeap bounds the Go heap while a request runs, in bytes; 0 means
	// no bound. A request that makes the heap grow past it (a filter that
	// allocates without end) is stopped like one past its deadline and
	// answered "error: ..." (the message tempfails). The worker then
	// collects the garbage and gives the memory back to the system; if
	// the heap is back under half the bound it goes on serving, otherwise
	// (the filter keeps what it allocated, or the request did not stop) it
	// exits and the multiplexor starts a fresh worker. Going on matters:
	// the multiplexor may hand a worker that answered the next request
	// before it has exited, and that request would fail too.
	MaxHeap uint64
	// Chdir makes the worker chdir into working directories as
	// mimedefang.pl does (and into the spool directory at start).
	Chdir bool
	// LookupAddr resolves the address of a COMMANDS J line. Nil: the
	// system resolver.
	LookupAddr func(ip string) (string, bool)
	// Calls receives a line (proto.AppendCall) for each question the
	// filter puts to a network integration, each in one Write. Nil: none;
	// Run then uses CallsFromEnv, the descriptor md-multiplexor names
	// when it serves metrics.
	Calls io.Writer
}

// ErrHeapLimit is returned by Serve after a request that outgrew
// Options.MaxHeap was answered and the heap stayed above half the bound
// after a collection: the worker must exit.
var ErrHeapLimit = errors.New("server: a request outgrew the heap limit")

// ErrStuck is returned by Serve when a request outlived its deadline and
// the grace period: its goroutine may still be running, so the worker must
// exit (the multiplexor starts a new one).
var ErrStuck = errors.New("server: request did not stop after its deadline")

// Serve reads requests from opts.Stdin until EOF or ctx ends and answers
// each with exactly one reply line, written with one write:
//
//   - once, before the first request, filter_initialize runs (an error
//     is logged and the worker goes on serving, as a Perl die in it would
//     have ended the worker, the multiplexor would only start another);
//   - every request gets a fresh filter.Context with the deadline
//     opts.Timeout; a callback's error, panic or deadline answers
//     "error: <msg>" and the loop continues; a request still running
//     after deadline and grace is answered with an error and Serve
//     returns ErrStuck;
//   - at EOF filter_cleanup runs and its value is the returned exit
//     status.
func Serve(ctx context.Context, w *filter.Worker, opts Options) (int, error) {
	in, out := opts.Stdin, opts.Stdout
	if in == nil {
		in = os.Stdin
	}
	if out == nil {
		out = os.Stdout
	}
	grace := opts.Grace
	if grace <= 0 {
		grace = time.Second
	}
	if opts.Chdir {
		if err := os.Chdir(w.Config().SpoolDir); err != nil {
			logf(opts, "cannot chdir(%s): %v", w.Config().SpoolDir, err)
		}
	}
	if err := w.Initialize(ctx); err != nil {
		logf(opts, "%v", err)
	}
	r := bufio.NewReaderSize(in, 64<<10)
	for {
		line, rerr := r.ReadString('\n')
		if line != "" {
			reply, err := handle(ctx, w, line, opts.Timeout, grace, opts.MaxHeap)
			if _, werr := io.WriteString(out, reply); werr != nil {
				return 1, fmt.Errorf("server: writing reply: %w", werr)
			}
			if errors.Is(err, ErrHeapLimit) {
				if live := collect(); live <= opts.MaxHeap/2 {
					// Written after the reply, so the multiplexor relays it
					// as the next request's: it names its own message.
					logf(opts, "%sserver: %s; the memory is back (heap %d MiB), going on", qidPrefix(line), heapMessage(opts.MaxHeap), live>>20)
					err = nil
				}
			}
			if err != nil {
				return 1, err
			}
		}
		if rerr != nil {
			if rerr != io.EOF {
				logf(opts, "server: reading request: %v", rerr)
			}
			break
		}
		if ctx.Err() != nil {
			return 1, ctx.Err()
		}
	}
	status, err := w.Cleanup(context.Background())
	if err != nil {
		logf(opts, "%v", err)
		if status == 0 {
			status = 1
		}
	}
	return status, nil
}

// handle runs one request with its deadline and heap bound.
func handle(ctx context.Context, w *filter.Worker, line string, timeout, grace time.Duration, maxHeap uint64) (string, error) {
	rctx, cancelCause := context.WithCancelCause(ctx)
	defer cancelCause(nil)
	if timeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(rctx, timeout)
		defer cancel()
	}
	if maxHeap > 0 {
		stop := watchHeap(maxHeap, cancelCause)
		defer stop()
	}
	done := make(chan string, 1)
	go func() { done <- w.Handle(rctx, line) }()
	var reply string
	select {
	case reply = <-done:
	case <-rctx.Done():
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case reply = <-done:
		case <-t.C:
			if errors.Is(context.Cause(rctx), ErrHeapLimit) {
				// Still running: its memory cannot come back.
				return proto.ErrorReply(heapMessage(maxHeap)), fmt.Errorf("%w (%s)", ErrStuck, heapMessage(maxHeap))
			}
			return proto.ErrorReply("request timed out"), ErrStuck
		}
	}
	if errors.Is(context.Cause(rctx), ErrHeapLimit) {
		return proto.ErrorReply(heapMessage(maxHeap)), ErrHeapLimit
	}
	return reply, nil
}

// collect runs the garbage collector, gives free memory back to the
// system and returns the live heap in bytes.
func collect() uint64 {
	debug.FreeOSMemory() // a full collection first
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

func heapMessage(maxHeap uint64) string {
	return fmt.Sprintf("filter used more than %d MiB of memory", maxHeap>>20)
}

// heapCheckInterval is how often a running request's heap is looked at.
const heapCheckInterval = 50 * time.Millisecond

// watchHeap cancels the request with ErrHeapLimit when the live heap
// grows past max, and returns the function that stops watching.
func watchHeap(max uint64, cancel context.CancelCauseFunc) (stop func()) {
	quit := make(chan struct{})
	go func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(heapCheckInterval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				metrics.Read(sample)
				if sample[0].Value.Kind() == metrics.KindUint64 && sample[0].Value.Uint64() > max {
					cancel(ErrHeapLimit)
					return
				}
			}
		}
	}()
	return func() { close(quit) }
}

// qidPrefix is "QID: " for a request that names a queue ID, else "".
func qidPrefix(line string) string {
	req, err := proto.ParseRequest(line)
	if err != nil {
		return ""
	}
	var qid string
	switch r := req.(type) {
	case proto.Scan:
		qid = r.QueueID
	case proto.RelayOK:
		qid = r.QueueID
	case proto.HeloOK:
		qid = r.QueueID
	case proto.SenderOK:
		qid = r.QueueID
	case proto.RecipOK:
		qid = r.QueueID
	}
	if qid == "" || qid == proto.NoQueue {
		return ""
	}
	return qid + ": "
}

func logf(opts Options, format string, args ...any) {
	log := opts.Stderr
	if log == nil {
		log = os.Stderr
	}
	fmt.Fprintf(log, format+"\n", args...)
}

// NewWorker returns the filter.Worker Serve and Run use for cb.
func NewWorker(cb *filter.Callbacks, opts Options) *filter.Worker {
	return filter.NewWorker(cb, opts.Config, filter.WorkerOptions{
		Log:        opts.Stderr,
		StatusTags: opts.StatusTags,
		Chdir:      opts.Chdir,
		LookupAddr: opts.LookupAddr,
		OnCall:     callsHook(opts.Calls),
		OnDNSQuery: dnsHook(opts.Calls),
	})
}

// Run serves cb on the process's stdin and stdout until EOF and returns the
// exit status (filter_cleanup's value, or 1 after a failure). SIGINT and
// SIGTERM end the process at once with the signal's default action, as
// they do mimedefang.pl. When opts.Stdout is nil, replies go to the
// original stdout and fd 1 is pointed at stderr, so that a filter writing
// to stdout cannot corrupt the reply stream.
func Run(cb *filter.Callbacks, opts Options) int {
	if opts.Stdout == nil {
		opts.Stdout = guardStdout()
	}
	if opts.Calls == nil {
		if cw := CallsFromEnv(func(format string, args ...any) { logf(opts, format, args...) }); cw != nil {
			opts.Calls = cw
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		signal.Reset(s)
		_ = syscall.Kill(os.Getpid(), s.(syscall.Signal))
	}()
	status, err := Serve(context.Background(), NewWorker(cb, opts), opts)
	if err != nil {
		logf(opts, "%v", err)
	}
	return status
}
