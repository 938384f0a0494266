// Package daemon turns md-milterd's command line into a running milter: the
// original `mimedefang` option letters (docs/reference/protocol.md §11.1) and the run loop,
// with the start-up probe of the multiplexor (§11.5). Going into the
// background, privilege dropping, pid and lock files, sd_notify and the
// milter socket are the shared github.com/mdgo/md/internal/daemon; the log
// lines go through github.com/mdgo/md/internal/logging.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mdgo/md/internal/daemon"
	"github.com/mdgo/md/internal/logging"
	"github.com/mdgo/md/milterd/internal/milter"
	"github.com/mdgo/md/milterd/internal/mxclient"
	"github.com/mdgo/md/milterd/internal/spool"
)

// progName begins md-milterd's messages on stderr.
const progName = "md-milterd"

// readyFDEnv names the descriptor on which a background child reports to
// its waiting parent: "X" for success, "E<message>" for failure (§11.5).
const readyFDEnv = "MD_MILTERD_READY_FD"

// DefaultSpoolDir is the original's compiled-in spool directory.
const DefaultSpoolDir = "/var/spool/MIMEDefang"

// probe is the start-up wait for the multiplexor: 100 probes, 200 ms apart
// (variables so that tests can shorten it).
var (
	probeCount    = 100
	probeInterval = 200 * time.Millisecond
)

type options struct {
	conn, mxSocket, user, spoolDir                 string
	relay, helo, sender, rcpt, noFree, keep, debug bool
	scannedBy                                      string
	noScannedBy, groupRead, foreground, stripCR    bool
	pidFile, lockFile, facility                    string
	macros                                         []string

	conserve, filterTime, noRcptRej, symlist, obsolM bool
	backlog, reserved                                int
	loopback                                         string
	readTimeout, writeTimeout, mxTimeout             time.Duration
	staleAge                                         time.Duration
	ipKeyFile                                        string
	metricsListen                                    string
}

// DefaultIPKeyFile is the original's IP-validation key file (§13.3).
const DefaultIPKeyFile = "/etc/mail/mimedefang-ip-key"

// readIPKey returns the IP-validation header name: the key file's first
// line, chomped, at most 255 bytes. A missing file turns the feature off
// without a word; any other error is reported and turns it off too.
func readIPKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if len(line) > 255 {
		line = line[:255]
	}
	return line, nil
}

// Main runs md-milterd with args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	o := &options{}
	cli := daemon.CLI{
		Name:  "md-milterd",
		Use:   "md-milterd -p <conn> -m <mx_socket> -U <user> [options]",
		Short: "MIMEDefang milter (replaces mimedefang)",
		Long: `md-milterd is the milter between the MTA (Postfix or Sendmail) and the
MIMEDefang multiplexor. It writes each message into a working directory under
the spool directory, asks the multiplexor to scan it, and applies the
worker's RESULTS through the milter protocol. Every failure is a temporary
failure: mail is never accepted unscanned.

Every option of mimedefang is accepted with the same letter and meaning.
-y is always on (the macro list is always requested from the MTA); -M is
obsolete and ignored.`,
		Example: `  md-milterd -D -U defang -p inet:7890@127.0.0.1 -m /var/spool/MIMEDefang/mimedefang-multiplexor.sock`,
		Version: fmt.Sprintf("mimedefang version %s (md-milterd)", milter.Version),
		Run:     func(c *cobra.Command) int { return run(c, o, stderr) },
	}
	return cli.Main(args, stdout, stderr, func(f *pflag.FlagSet) {
		f.StringVarP(&o.conn, "socket", "p", "", "milter socket: /path, unix:/path, local:/path, inet:port@host or inet6:port@host (required)")
		f.StringVarP(&o.mxSocket, "multiplexor", "m", "", "the multiplexor's UNIX-domain socket (required)")
		f.StringVarP(&o.user, "user", "U", "", "run as this user (required when started as root)")
		f.StringVarP(&o.spoolDir, "spool-dir", "z", DefaultSpoolDir, "spool directory, where the mdefang-* working directories go")
		f.BoolVarP(&o.relay, "relay-check", "r", false, "send relayok at connect")
		f.BoolVarP(&o.helo, "helo-check", "H", false, "send helook at HELO")
		f.BoolVarP(&o.sender, "sender-check", "s", false, "send senderok at MAIL FROM")
		f.BoolVarP(&o.rcpt, "recipient-check", "t", false, "send recipok at each RCPT TO")
		f.BoolVarP(&o.noFree, "no-free-check", "q", false, "skip the connect-time free-worker check (disables -R)")
		f.IntVarP(&o.reserved, "reserve-loopback", "R", -1, "workers reserved for loopback clients")
		f.StringVarP(&o.loopback, "loopback-addr", "L", "", "an address to treat as loopback (reported as 127.0.0.1)")
		f.BoolVarP(&o.keep, "keep-failed", "k", false, "keep the working directory when the filter fails")
		f.BoolVarP(&o.debug, "debug", "d", false, "never delete working directories")
		f.StringVarP(&o.scannedBy, "scanned-by", "x", milter.DefaultScannedBy, "X-Scanned-By header text; empty means no header")
		f.BoolVarP(&o.noScannedBy, "no-scanned-by", "X", false, "no X-Scanned-By header (same as -x '')")
		f.StringArrayVarP(&o.macros, "macro", "a", nil, "pass one more MTA macro, by name without braces (repeatable, up to 30)")
		f.BoolVarP(&o.stripCR, "strip-bare-cr", "c", false, "remove bare CRs from the body")
		f.BoolVarP(&o.conserve, "conserve-fds", "C", false, "open and close the spool files in every callback")
		f.BoolVarP(&o.filterTime, "filter-time", "T", false, "log the filter time of each message")
		f.BoolVarP(&o.noRcptRej, "no-rejected-rcpts", "N", false, "do not ask the MTA for recipients it rejected")
		f.BoolVarP(&o.symlist, "symlist", "y", false, "request the macro list from the MTA (always on in md-milterd)")
		f.IntVarP(&o.backlog, "backlog", "b", 0, "listen backlog of the milter socket; values below 5 become 5 (default: the system's, somaxconn)")
		f.BoolVarP(&o.groupRead, "group-readable", "G", false, "make sockets, directories and files group-accessible")
		f.StringVarP(&o.pidFile, "pidfile", "P", "", "write the process ID to this file")
		f.StringVarP(&o.lockFile, "lockfile", "o", "", "lock file (default <pidfile>.lock)")
		f.StringVarP(&o.facility, "syslog-facility", "S", "mail", "syslog facility")
		f.BoolVarP(&o.foreground, "foreground", "D", false, "stay in the foreground and log to stderr as well (not when stderr is the journal)")
		f.BoolVarP(&o.obsolM, "obsolete-M", "M", false, "obsolete; ignored")
		f.StringVar(&o.ipKeyFile, "ip-key-file", DefaultIPKeyFile, "IP-validation key file (its first line names the header)")
		f.DurationVar(&o.readTimeout, "read-timeout", 10*time.Minute, "how long to wait for the MTA's next milter command")
		f.DurationVar(&o.writeTimeout, "write-timeout", time.Minute, "how long a write to the MTA may take")
		f.DurationVar(&o.mxTimeout, "mx-timeout", mxclient.DefaultTimeout, "deadline of one exchange with the multiplexor")
		f.StringVar(&o.metricsListen, "metrics-listen", "", "serve Prometheus metrics on http://ADDR/metrics (host:port; empty: off)")
		f.DurationVar(&o.staleAge, "stale-age", time.Hour, "remove working directories nothing has changed in for this long, left by a crashed md-milterd (at start, then every half of it, at most every 10m); longer than --read-timeout plus --mx-timeout; 0: never; off with -d and -k")
	})
}

func (o *options) validate(c *cobra.Command) error {
	if o.conn == "" {
		return errors.New("you must specify the -p option")
	}
	if o.mxSocket == "" {
		return errors.New("you must specify the -m option")
	}
	if c.Flags().Changed("scanned-by") && o.noScannedBy {
		return errors.New("-x and -X are mutually exclusive")
	}
	if len(o.macros) > 30 {
		return errors.New("too many -a options (at most 30)")
	}
	for _, m := range o.macros {
		if len(m) > 200 || m == "" {
			return fmt.Errorf("bad macro name %q", m)
		}
	}
	if o.reserved < -1 {
		o.reserved = -1
	}
	if o.staleAge < 0 || (o.staleAge > 0 && o.staleAge <= o.readTimeout+o.mxTimeout) {
		return fmt.Errorf("--stale-age %v must be 0 or longer than --read-timeout plus --mx-timeout (%v): a working directory can be idle that long while its message is in flight", o.staleAge, o.readTimeout+o.mxTimeout)
	}
	if c.Flags().Changed("backlog") {
		o.backlog = max(o.backlog, daemon.MinBacklog) // 0 means "not given" to listen
	}
	if _, err := logging.ParseFacility(o.facility); err != nil {
		return err
	}
	_, _, err := daemon.ParseConn(o.conn)
	return err
}

// myIPAddress is the host's first IPv4 address (§13.1).
func myIPAddress() (string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "", err
	}
	addrs, err := net.LookupIP(h)
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if v4 := a.To4(); v4 != nil {
			return v4.String(), nil
		}
	}
	return "", fmt.Errorf("no IPv4 address for %s", h)
}

// run starts the milter; in the background unless -D.
func run(c *cobra.Command, o *options, stderr io.Writer) int {
	fdStr := os.Getenv(readyFDEnv)
	if fdStr == "" {
		if err := o.validate(c); err != nil {
			fmt.Fprintf(stderr, "md-milterd: %v\n", err)
			return 1
		}
		if !o.foreground {
			return daemon.Background(progName, readyFDEnv, stderr)
		}
	} else if err := o.validate(c); err != nil {
		fmt.Fprintf(stderr, "md-milterd: %v\n", err)
		return 1
	}
	report := daemon.OpenReadyPipe(readyFDEnv) // nil unless fdStr != ""
	fail := func(err error) int {
		report.Fail(err)
		fmt.Fprintf(stderr, "md-milterd: %v\n", err)
		return 1
	}
	myIP, ipErr := myIPAddress()
	var logOut io.Writer
	if o.foreground {
		logOut = stderr
	}
	log, err := logging.NewLogger("mimedefang", o.facility, logOut)
	if err != nil {
		return fail(err)
	}
	if ipErr != nil {
		log.Warn(fmt.Sprintf("Could not determine my own IP address: %v", ipErr))
		if !o.foreground { // in the foreground the logger already wrote it there
			fmt.Fprintf(stderr, "md-milterd: could not determine my own IP address: %v\n", ipErr)
		}
	}
	pidFile, err := daemon.OpenPidFile(o.pidFile) // nil without -P
	if err != nil {
		return fail(err)
	}
	if err := daemon.DropPrivileges(progName, o.user, allowRootForTests); err != nil {
		return fail(err)
	}
	if err := os.Chdir(o.spoolDir); err != nil {
		return fail(fmt.Errorf("cannot chdir to %s: %w", o.spoolDir, err))
	}
	ipKey, err := readIPKey(o.ipKeyFile)
	if err != nil {
		fmt.Fprintf(stderr, "md-milterd: cannot read %s: %v\n", o.ipKeyFile, err)
	}
	if lock := daemon.LockPath(o.lockFile, o.pidFile); lock != "" {
		lf, err := daemon.LockFile(lock)
		if err != nil {
			return fail(err)
		}
		defer lf.Release()
	}
	// From here on the pid file is this process's: removed when it exits,
	// as the original's is, also when the multiplexor does not answer.
	defer pidFile.Remove()
	scannedBy := o.scannedBy
	if o.noScannedBy {
		scannedBy = ""
	}
	// Closed when a signal asks md-milterd to stop: a session sleeping
	// through a filter's delay then answers at once.
	stopping := make(chan struct{})
	cfg := &milter.Config{
		Spool: spool.Options{
			SpoolDir: o.spoolDir, GroupReadable: o.groupRead, StripBareCR: o.stripCR,
			ConserveDescriptors: o.conserve, Debug: o.debug, KeepFailed: o.keep,
			ValidateHeader: ipKey,
		},
		MX:         &mxclient.Client{Path: o.mxSocket, Timeout: o.mxTimeout, Logger: log},
		RelayCheck: o.relay, HeloCheck: o.helo, SenderCheck: o.sender, RecipCheck: o.rcpt,
		NoFreeCheck: o.noFree, ReservedForLoopback: o.reserved, LoopbackAddr: o.loopback,
		ScannedBy: scannedBy, ExtraMacros: o.macros, NoRcptRej: o.noRcptRej,
		MyIPAddress: myIP, FilterTime: o.filterTime, Logger: log,
		Stopping: stopping,
	}
	network, addr, _ := daemon.ParseConn(o.conn)
	if network == "unix" {
		os.Remove(addr)
		defer os.Remove(addr)
	}
	mask := 0o077
	if o.groupRead {
		mask = 0o007
	}
	old := syscall.Umask(mask)
	ln, err := daemon.Listen(network, addr, o.backlog)
	if o.groupRead {
		syscall.Umask(0o027)
	} else {
		syscall.Umask(old | 0o077)
	}
	if err != nil {
		return fail(fmt.Errorf("cannot listen on %s: %w", o.conn, err))
	}
	if o.metricsListen != "" {
		cfg.Metrics = milter.NewMetrics()
		mln, err := net.Listen("tcp", o.metricsListen)
		if err != nil {
			ln.Close()
			return fail(fmt.Errorf("cannot listen on %s for metrics: %w", o.metricsListen, err))
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", cfg.Metrics.Handler())
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(mln)
		defer hs.Close()
		log.Info(fmt.Sprintf("Serving metrics on http://%s/metrics", mln.Addr()))
	}
	log.Info(fmt.Sprintf("MIMEDefang alive. workersReservedForLoopback=%d AllowNewConnectionsToQueue=%d doRelayCheck=%d doHeloCheck=%d doSenderCheck=%d doRecipientCheck=%d",
		o.reserved, b2i(o.noFree), b2i(o.relay), b2i(o.helo), b2i(o.sender), b2i(o.rcpt)))
	if !probe(cfg.MX) {
		ln.Close()
		log.Error("Multiplexor socket did not appear.  Exiting.")
		return fail(errors.New("Multiplexor socket did not appear.  Exiting."))
	}
	log.Info("Multiplexor alive - entering main loop")
	srv := milter.NewServer(cfg, o.readTimeout, o.writeTimeout)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	signal.Ignore(syscall.SIGPIPE)
	pidFile.Write()
	if report != nil {
		// The waiting parent tells the service manager, if any
		// (daemon.NotifyReadyFor): it is the main process until it exits.
		report.Ready()
		// the background child has no stderr
	} else if err := daemon.Notify(daemon.Ready); err != nil {
		// Type=notify: the unit is active, and the MTA ordered after it
		// may start, once the socket listens and the multiplexor answers.
		log.Warn(err.Error())
	}
	if o.staleAge > 0 && !o.debug && !o.keep {
		go sweepStale(o.spoolDir, o.staleAge, stopping, log)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(milter.Listener(ln)) }()
	select {
	case s := <-sigs:
		if err := daemon.Notify(daemon.Stopping); err != nil {
			log.Warn(err.Error())
		}
		log.Info(fmt.Sprintf("Received signal %v: exiting", s))
		close(stopping)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
		return 0
	case err := <-done:
		if err != nil && !errors.Is(err, net.ErrClosed) {
			log.Error(fmt.Sprintf("milter server stopped: %v", err))
			return 1
		}
	}
	return 0
}

// sweepStale removes the working directories a crashed md-milterd left
// (spool.SweepStale) at start, then every half of idle (at most every 10
// minutes), until stop is closed.
func sweepStale(spoolDir string, idle time.Duration, stop <-chan struct{}, log *slog.Logger) {
	every := min(idle/2, 10*time.Minute)
	for {
		removed, err := spool.SweepStale(spoolDir, idle, time.Now())
		if err != nil {
			log.Warn(fmt.Sprintf("cannot look for stale working directories: %v", err))
		}
		for _, r := range removed {
			log.Warn(fmt.Sprintf("%s: removed working directory %s, unchanged for %v: left by a md-milterd that crashed while its message was in flight (the MTA kept the message)",
				strings.TrimPrefix(r.Name, "mdefang-"), r.Name, r.Idle.Round(time.Second)))
		}
		select {
		case <-stop:
			return
		case <-time.After(every):
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// probe waits for the multiplexor to answer `free` (§11.5).
func probe(mx *mxclient.Client) bool {
	c := *mx
	c.Timeout = 2 * time.Second
	for i := 0; i < probeCount; i++ {
		if _, err := c.Free(context.Background()); err == nil {
			return true
		}
		time.Sleep(probeInterval)
	}
	return false
}

// allowRootForTests lets the tests, which may run as root, start the milter
// without -U (dropping privileges would change the test process for good).
var allowRootForTests = false
