package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mdgo/md/worker/filter"
	"github.com/mdgo/md/worker/internal/offline"
	"github.com/mdgo/md/worker/server"
)

// Version is the version md-worker reports (-features).
const Version = "3.3-go"

// defaultFilter is CONFDIR/mimedefang-filter with the Lua engine's
// extension.
const defaultFilter = "/etc/mail/mimedefang-filter.lua"

var stdout, stderr io.Writer = os.Stdout, os.Stderr

// legacyModes are the single-argument modes of mimedefang.pl's main.
var legacyModes = map[string]bool{
	"-server": true, "-serveru": true, "-embserver": true, "-embserveru": true,
	"-test": true, "-validate": true, "-features": true,
}

// run dispatches the original argv forms (docs/reference/protocol.md §6.4.1) and otherwise
// hands over to cobra.
func run(args []string) int {
	filterPath := defaultFilter
	rest := args
	if len(rest) >= 3 && rest[0] == "-f" {
		filterPath, rest = rest[1], rest[2:]
	}
	if len(rest) == 1 && (legacyModes[rest[0]] || strings.HasPrefix(rest[0], "/")) {
		return legacy(filterPath, rest[0])
	}
	if len(args) > 0 && strings.HasPrefix(args[0], "-") && !strings.HasPrefix(args[0], "--") && args[0] != "-h" {
		fmt.Fprintln(stderr, "Usage: md-worker [-f filter] -server|-serveru|-test|-validate|-features|<absolute dir>")
		return 1
	}
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		if e, ok := err.(exitError); ok {
			return int(e)
		}
		return 1
	}
	return 0
}

type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func load(path string) (*filter.Callbacks, *filter.Config, error) {
	cfg := filter.DefaultConfig()
	// As mimedefang.pl: the IP-validation header from the key file before
	// the filter loads (the filter may set its own), checked after.
	cfg.ValidateIPHeader = filter.ReadIPKey()
	cb, err := filter.LoadFilter(path, cfg)
	if err == nil {
		var kerr error
		if cfg.ValidateIPHeader, kerr = filter.CheckIPKey(cfg.ValidateIPHeader); kerr != nil {
			fmt.Fprintf(stderr, "md-worker: %v\n", kerr)
		}
	}
	return cb, cfg, err
}

// legacy runs one of mimedefang.pl's modes.
func legacy(filterPath, mode string) int {
	cb, cfg, err := load(filterPath)
	if err != nil {
		fmt.Fprintf(stderr, "md-worker: cannot load filter %s: %v\n", filterPath, err)
		return 1
	}
	switch mode {
	case "-test":
		// The multiplexor's reread runs -test: give it everything "check"
		// finds (calls to functions nothing defines, ...), not only the
		// load, so that a filter that would tempfail every message is
		// refused before the workers are replaced.
		if errs := filter.CheckFilter(filterPath); len(errs) > 0 {
			for _, e := range errs {
				fmt.Fprintf(stderr, "md-worker: %s: %v\n", filterPath, e)
			}
			return 1
		}
		fmt.Fprintf(stdout, "Filter %s seems syntactically correct.\n", filterPath)
		return 0
	case "-features":
		fmt.Fprintf(stdout, "md-worker version %s\n", Version)
		fmt.Fprintf(stdout, "Filter engines and built-in filters: %s\n", strings.Join(filter.Builtins(), " "))
		return 0
	case "-validate":
		return filter.NewWorker(cb, cfg, filter.WorkerOptions{Log: stderr}).Validate(context.Background())
	case "-server", "-serveru", "-embserver", "-embserveru":
		tuneServerRuntime()
		opts := server.Options{Config: cfg, Chdir: true, Timeout: requestTimeout(stderr), MaxHeap: maxHeap(stderr)}
		if strings.HasSuffix(mode, "u") {
			opts.StatusTags = os.NewFile(3, "status")
		}
		return server.Run(cb, opts)
	}
	// One-shot scan of an absolute directory; nothing is printed.
	w := filter.NewWorker(cb, cfg, filter.WorkerOptions{Log: stderr, Chdir: true})
	if err := w.Initialize(context.Background()); err != nil {
		fmt.Fprintln(stderr, err)
	}
	if err := w.Scan(context.Background(), mode); err != nil {
		return 1
	}
	return 0
}

// defaultRequestTimeout is the per-request deadline when MD_WORKER_TIMEOUT
// is unset: under the multiplexor's default busy timeout (-b 120), so that a
// filter that runs away is stopped by the worker itself, which answers an
// error (the milter tempfails the message) and keeps serving, before the
// multiplexor has to kill it.
const defaultRequestTimeout = 100 * time.Second

// requestTimeout reads MD_WORKER_TIMEOUT (a Go duration such as "30s"), the
// per-request deadline in server mode; "0" turns it off.
func requestTimeout(stderr io.Writer) time.Duration {
	v := os.Getenv("MD_WORKER_TIMEOUT")
	if v == "" {
		return defaultRequestTimeout
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		fmt.Fprintf(stderr, "md-worker: MD_WORKER_TIMEOUT=%q is not a duration such as 30s; using %v\n", v, defaultRequestTimeout)
		return defaultRequestTimeout
	}
	return d
}

// serverGCPercent is the garbage collector's target in server mode unless
// GOGC is set: 50 keeps a worker's peak RSS about 15% lower than Go's
// default 100 for a few per cent more CPU per scan (bench/worker.sh).
const serverGCPercent = 50

// tuneServerRuntime sets the garbage collector's target and GOMAXPROCS for
// server mode, each unless its environment variable is set.
func tuneServerRuntime() {
	if os.Getenv("GOGC") == "" {
		// A host runs many workers: trade a little CPU for a heap
		// that grows half as far between collections.
		debug.SetGCPercent(serverGCPercent)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		// A worker serves one request at a time; the pool's
		// parallelism is its number of workers. One runtime thread
		// keeps the garbage collector and the runtime's goroutines
		// on the thread that scans, instead of waking a second one.
		runtime.GOMAXPROCS(serverMaxProcs)
	}
}

// serverMaxProcs is GOMAXPROCS in server mode unless GOMAXPROCS is set: 1
// cut a worker's CPU per message by about a third in the end-to-end
// benchmark (bench/e2e.sh, typical policy, 5 KB: 0.42-0.45 against
// 0.61-0.71 ms), with the same peak RSS: with two threads, most of a
// worker's time went into switching between them (the garbage collector's
// background workers, the deadline and heap watchdogs).
const serverMaxProcs = 1

// defaultMaxHeapMiB bounds the heap a request may grow in server mode when
// MD_WORKER_MAX_HEAP_MB is unset. The multiplexor's -M is an address-space
// limit, which suits Perl but not Go (an idle Go process already reserves
// over a GiB of address space), so md-worker bounds its own heap.
const defaultMaxHeapMiB = 1024

// maxHeap reads MD_WORKER_MAX_HEAP_MB (MiB; "0" turns the bound off).
func maxHeap(stderr io.Writer) uint64 {
	v := os.Getenv("MD_WORKER_MAX_HEAP_MB")
	if v == "" {
		return defaultMaxHeapMiB << 20
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		fmt.Fprintf(stderr, "md-worker: MD_WORKER_MAX_HEAP_MB=%q is not a number of MiB; using %d\n", v, defaultMaxHeapMiB)
		n = defaultMaxHeapMiB
	}
	return n << 20
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "md-worker",
		Short:         "MIMEDefang filter worker (mimedefang.pl replacement)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newCheck(), newTest())
	return root
}

func newCheck() *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE",
		Short: "Load a filter and report every error with its line number",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			errs := filter.CheckFilter(args[0])
			for _, e := range errs {
				fmt.Fprintln(cmd.ErrOrStderr(), e)
			}
			if len(errs) > 0 {
				return exitError(1)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Filter %s seems syntactically correct.\n", args[0])
			return nil
		},
	}
}

func newTest() *cobra.Command {
	var (
		filterPath string
		env        offline.Envelope
		timeout    time.Duration
	)
	c := &cobra.Command{
		Use:   "test MESSAGE.eml --filter FILE",
		Short: "Run a filter on a message file and print what the milter would do",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			cb, cfg, err := load(filterPath)
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "md-worker: cannot load filter %s: %v\n", filterPath, err)
				return exitError(1)
			}
			// Each integration the filter asks (clamd, spamd, rspamd, the
			// SMTP call-out) is shown with its answer, as it returns.
			w := filter.NewWorker(cb, cfg, filter.WorkerOptions{Log: cmd.ErrOrStderr(), OnCall: func(ic filter.IntegrationCall) {
				fmt.Fprintf(cmd.OutOrStdout(), "%-10s %s\n", "call:", ic)
			}})
			ctx := context.Background()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			if err := w.Initialize(ctx); err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
			}
			_, err = offline.Run(ctx, w, raw, env, cmd.OutOrStdout())
			return err
		},
	}
	f := c.Flags()
	f.StringVarP(&filterPath, "filter", "f", defaultFilter, "filter file, or builtin:<name>")
	f.StringVar(&env.Sender, "sender", "", "envelope sender (MAIL FROM)")
	f.StringArrayVar(&env.Recipients, "recipient", nil, "envelope recipient (RCPT TO), repeatable")
	f.StringVar(&env.RelayAddr, "relay-addr", "", "client IP address (default 127.0.0.1)")
	f.StringVar(&env.RelayName, "relay-name", "", "client host name (default [relay-addr])")
	f.StringVar(&env.Helo, "helo", "", "HELO argument (default localhost)")
	f.StringVar(&env.QueueID, "queue-id", "", "queue ID (default NOQUEUE)")
	f.DurationVar(&timeout, "timeout", 0, "deadline for the whole run (0: none)")
	return c
}
