// Package daemon turns md-multiplexor's command line into a running
// multiplexor: option parsing with the original's letters and the run
// loop. Going into the background, privilege dropping, pid and lock files
// and sd_notify are the shared github.com/mdgo/md/internal/daemon.
package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mdgo/md/internal/daemon"
	"github.com/mdgo/md/multiplexor/internal/mux"
)

// progName begins md-multiplexor's messages on stderr.
const progName = "md-multiplexor"

// readyFDEnv names the descriptor on which a background child reports to its
// waiting parent: "X" for success, "E<message>" for failure (docs/reference/protocol.md §11.5).
const readyFDEnv = "MD_MULTIPLEXOR_READY_FD"

type options struct {
	cfg                                                                       mux.Config
	minW, maxW, maxReq, lifetime, idle, busy, client, wait, gap, qsize, qtime int
	recipok, statusLog, tick, tickTypes, backlog                              int
	rssKB, asKB                                                               int64
	threads                                                                   int
}

// Main runs md-multiplexor with args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	o := &options{cfg: mux.DefaultConfig()}
	d := mux.DefaultConfig()
	cli := daemon.CLI{
		Name:  "md-multiplexor",
		Use:   "md-multiplexor [options]",
		Short: "Worker pool manager for the MIMEDefang milter (replaces mimedefang-multiplexor)",
		Long: `md-multiplexor keeps a pool of worker processes (mimedefang.pl or md-worker)
and hands them the requests of the MIMEDefang milter: scans, relay, HELO,
sender and recipient checks. A worker that crashes, hangs, leaks or prints
garbage is killed and replaced; the request it held gets an error reply, which
the milter turns into a temporary failure, so no mail is lost.

Every option of mimedefang-multiplexor is accepted with the same letter,
meaning and default; times are in seconds. Control it with md-mx-ctrl.`,
		Example: `  md-multiplexor -D -U defang -m 2 -x 10 -b 600 -l
  md-multiplexor -U defang -s /var/spool/MIMEDefang/mimedefang-multiplexor.sock -a inet:1234 --metrics-listen 127.0.0.1:9130`,
		Version: fmt.Sprintf("mimedefang-multiplexor version %s (md-multiplexor)", mux.Version),
		Run:     func(c *cobra.Command) int { return run(c, o, stderr) },
	}
	return cli.Main(args, stdout, stderr, func(f *pflag.FlagSet) {
		f.StringVarP(&o.cfg.User, "user", "U", "", "run as this user (required when started as root)")
		f.StringVarP(&o.cfg.SpoolDir, "spool-dir", "z", d.SpoolDir, "spool directory: the working directory of the multiplexor and its workers")
		f.StringVarP(&o.cfg.Socket, "socket", "s", "", "privileged control socket, UNIX-domain only (default <spool-dir>/mimedefang-multiplexor.sock)")
		f.StringVarP(&o.cfg.UnprivSocket, "unpriv-socket", "a", "", "unprivileged control socket: /path, unix:/path, inet:port, inet_any:port, inet6:port or inet6_any:port (created world-accessible)")
		f.StringVarP(&o.cfg.WorkerProgram, "worker-program", "f", d.WorkerProgram, "worker program, an absolute path (mimedefang.pl or md-worker)")
		f.StringVarP(&o.cfg.SubFilter, "filter", "F", "", "filter file, passed to each worker as -f <path>")
		f.IntVarP(&o.minW, "min-workers", "m", 0, "minimum number of running workers (at least 1)")
		f.IntVarP(&o.maxW, "max-workers", "x", d.MaxWorkers, "maximum number of workers")
		f.IntVarP(&o.maxReq, "max-requests", "r", d.MaxRequests, "requests a worker handles before it is replaced")
		f.IntVarP(&o.lifetime, "max-lifetime", "V", 0, "seconds after its first request a worker is replaced (0 = never)")
		f.IntVarP(&o.idle, "idle-timeout", "i", 300, "seconds an idle worker above the minimum lives; also the idle check period (min 10)")
		f.IntVarP(&o.busy, "busy-timeout", "b", 120, "seconds a worker may take to answer before it is killed (min 10)")
		f.IntVarP(&o.client, "client-timeout", "c", 10, "seconds allowed for socket and worker pipe I/O (min 10)")
		f.IntVarP(&o.wait, "start-interval", "w", 3, "seconds between worker starts while bringing the pool up to the minimum (min 1)")
		f.IntVarP(&o.gap, "min-start-gap", "W", 0, "seconds that must pass between any two worker starts (0 = no limit)")
		f.IntVarP(&o.qsize, "queue-size", "q", 0, "requests that may wait for a free worker (0-128; 0 = no queue)")
		f.IntVarP(&o.qtime, "queue-timeout", "Q", 30, "seconds a queued request may wait (1-600)")
		f.IntVarP(&o.recipok, "recipok-per-domain", "y", 0, "busy workers allowed on recipok for one domain (effective when 0 < n < max-workers)")
		f.Int64VarP(&o.rssKB, "max-rss", "R", 0, "RLIMIT_RSS of each worker, in kB (0 = none)")
		f.Int64VarP(&o.asKB, "max-mem", "M", 0, "RLIMIT_AS and RLIMIT_DATA of each worker, in kB (0 = none)")
		f.BoolVarP(&o.cfg.StatusFD, "status-fd", "Z", false, "read worker status tags on fd 3 (workers run with -serveru)")
		f.BoolVarP(&o.cfg.Embedded, "embedded-perl", "E", false, "accepted for compatibility and ignored: there is no embedded Perl; workers are always started with fork/exec")
		f.BoolVarP(&o.cfg.LogEvents, "log-events", "l", false, "log worker starts, kills, reaps and worker stderr")
		f.StringVarP(&o.cfg.StatsFile, "stats-file", "t", "", "write statistics lines to this file")
		f.BoolVarP(&o.cfg.StatsSyslog, "stats-syslog", "T", false, "write statistics lines to syslog")
		f.BoolVarP(&o.cfg.StatsFlush, "stats-flush", "u", false, "flush the statistics file after every line")
		f.IntVarP(&o.statusLog, "status-log-interval", "L", 0, "log the pool status every this many seconds (0 = off; at least 5)")
		f.IntVarP(&o.tick, "tick-interval", "X", 0, "run filter_tick every this many seconds (0 = off)")
		f.IntVarP(&o.tickTypes, "tick-types", "P", 1, "number of parallel tick types (1-30)")
		f.StringVarP(&o.cfg.MapSocket, "map-socket", "N", "", "Sendmail SOCKETMAP listener (socket specification as for -a)")
		f.StringVarP(&o.cfg.NotifySocket, "notify-socket", "O", "", "notification listener (socket specification as for -a)")
		f.IntVarP(&o.backlog, "listen-backlog", "I", 0, "accepted for compatibility; Go listeners use the kernel's somaxconn")
		f.BoolVarP(&o.cfg.GroupUmask, "group-umask", "G", false, "umask 007 for sockets and 027 for files instead of 077")
		f.StringVarP(&o.cfg.PidFile, "pidfile", "p", "", "write the process ID to this file")
		f.StringVarP(&o.cfg.LockFile, "lockfile", "o", "", "lock file (default <pidfile>.lock)")
		f.StringVarP(&o.cfg.SyslogFacility, "syslog-facility", "S", d.SyslogFacility, "syslog facility")
		f.StringVarP(&o.cfg.SyslogIdent, "syslog-label", "Y", d.SyslogIdent, "syslog ident")
		f.BoolVarP(&o.cfg.Foreground, "foreground", "D", false, "stay in the foreground and also log to stderr (not when stderr is the journal)")
		f.BoolVarP(&o.cfg.EventDebug, "event-debug", "d", false, "accepted for compatibility; there is no event-loop debug log")
		f.BoolVarP(&o.cfg.LogScheduling, "log-scheduling", "A", false, "log every worker-scheduling decision")
		f.BoolVarP(&o.cfg.Autoscale, "autoscale", "k", false, "autoscale between min and max workers on a moving average of the busy ratio")
		f.BoolVar(&o.cfg.RereadCheck, "reread-check", true, "before a reread (command or SIGINT), run the worker program with -test on the filter and keep the running workers if it fails")
		f.IntVar(&o.threads, "threads", 1, "threads running md-multiplexor's own code at once (GOMAXPROCS; the GOMAXPROCS variable wins). 1, like the original's single event loop, measured fastest; raise it only if md-multiplexor itself saturates a core")
		f.StringVar(&o.cfg.MetricsListen, "metrics-listen", "", "serve Prometheus /metrics and JSON /status on this address (e.g. 127.0.0.1:9130)")
	})
}

func secs(n int) time.Duration { return time.Duration(n) * time.Second }

func (o *options) config() mux.Config {
	c := o.cfg
	c.MinWorkers, c.MaxWorkers, c.MaxRequests = o.minW, o.maxW, o.maxReq
	c.MaxLifetime, c.IdleTimeout, c.BusyTimeout = secs(o.lifetime), secs(o.idle), secs(o.busy)
	c.ClientTimeout, c.StartInterval, c.MinStartGap = secs(o.client), secs(o.wait), secs(o.gap)
	c.QueueSize, c.QueueTimeout, c.RecipokPerDomain = o.qsize, secs(o.qtime), o.recipok
	c.MaxRSSKB, c.MaxASKB = o.rssKB, o.asKB
	c.StatusLogEvery, c.TickInterval, c.TickTypes, c.ListenBacklog = secs(o.statusLog), secs(o.tick), o.tickTypes, o.backlog
	return c
}

// run starts the multiplexor; in the background unless -D.
func run(c *cobra.Command, o *options, stderr io.Writer) int {
	cfg := o.config()
	if os.Getenv("GOMAXPROCS") == "" && o.threads > 0 {
		runtime.GOMAXPROCS(o.threads)
	}
	if cfg.Embedded {
		fmt.Fprintln(stderr, "md-multiplexor has no embedded Perl interpreter.  Ignoring -E flag.")
	}
	fdStr := os.Getenv(readyFDEnv)
	if fdStr == "" {
		// Bad options are refused before anything is created or started,
		// in the foreground, as the original does while parsing them: no
		// pid file is left behind, and the error is not masked by a later
		// one (a lock file the user may not create).
		check := cfg
		if err := check.Normalize(); err != nil {
			fmt.Fprintf(stderr, "md-multiplexor: %v\n", err)
			return 1
		}
	}
	if !cfg.Foreground && fdStr == "" {
		return daemon.Background(progName, readyFDEnv, stderr)
	}
	// nil unless fdStr != ""; close-on-exec: workers must not hold the
	// parent's pipe open
	report := daemon.OpenReadyPipe(readyFDEnv)
	fail := func(err error) int {
		report.Fail(err) // nothing once report.Ready() was sent
		fmt.Fprintf(stderr, "md-multiplexor: %v\n", err)
		return 1
	}
	var logOut io.Writer
	if cfg.Foreground {
		logOut = stderr
	}
	log, err := mux.NewLogger(cfg.SyslogIdent, cfg.SyslogFacility, logOut)
	if err != nil {
		return fail(err)
	}
	// Not truncated until the lock is ours: a second copy refused by the
	// lock must not empty the running copy's pid file. nil without -p.
	pidFile, err := daemon.OpenPidFile(cfg.PidFile)
	if err != nil {
		return fail(err)
	}
	if err := daemon.DropPrivileges(progName, cfg.User, allowRootForTests); err != nil {
		return fail(err)
	}
	cfg.LockFile = daemon.LockPath(cfg.LockFile, cfg.PidFile)
	if cfg.LockFile != "" {
		lf, err := daemon.LockFile(cfg.LockFile)
		if err != nil {
			return fail(err)
		}
		defer lf.Release()
	}
	srv, err := mux.New(cfg, log)
	if err != nil {
		return fail(err)
	}
	signal.Ignore(syscall.SIGPIPE) // workers inherit an ignored SIGPIPE, as with the original
	ctx := context.Background()
	stopWatch := daemon.NotifyStopping(func(m string) { log.Warnf("%s", m) })
	defer stopWatch()
	// ready runs once the control socket (and every other socket) listens
	// and the first worker has been started: md-mx-ctrl status answers.
	err = srv.Run(ctx, func() {
		pidFile.Write()
		if report != nil {
			// The waiting parent tells the service manager, if any
			// (daemon.NotifyReadyFor): it is the main process until it
			// exits.
			report.Ready()
		} else if err := daemon.Notify(daemon.Ready); err != nil {
			// Type=notify: the unit is active, and md-milterd ordered
			// after it starts, once the pool answers.
			log.Warnf("%s", err)
		}
	})
	if err != nil {
		return fail(err)
	}
	return 0
}

// allowRootForTests lets the tests, which may run as root, start the
// multiplexor without -U (dropping privileges would change the test process
// for good).
var allowRootForTests = false
