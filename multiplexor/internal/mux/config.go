package mux

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// DefaultSpoolDir is the original's compile-time spool directory.
const DefaultSpoolDir = "/var/spool/MIMEDefang"

// DefaultWorkerProgram is the original's worker path.
const DefaultWorkerProgram = "/usr/bin/mimedefang.pl"

// Config holds every option of mimedefang-multiplexor (docs/reference/protocol.md §11.2). The
// zero value is not useful: start from DefaultConfig and call Normalize.
type Config struct {
	SpoolDir      string // -z
	Socket        string // -s, privileged control socket (UNIX only)
	UnprivSocket  string // -a, socket spec
	MapSocket     string // -N, SOCKETMAP listener
	NotifySocket  string // -O, notification listener
	WorkerProgram string // -f, absolute path
	SubFilter     string // -F, passed to the worker as -f <path>
	User          string // -U

	MinWorkers       int           // -m
	MaxWorkers       int           // -x
	MaxRequests      int           // -r
	MaxLifetime      time.Duration // -V, 0 = off
	IdleTimeout      time.Duration // -i
	BusyTimeout      time.Duration // -b
	ClientTimeout    time.Duration // -c
	StartInterval    time.Duration // -w
	MinStartGap      time.Duration // -W, 0 = off
	QueueSize        int           // -q
	QueueTimeout     time.Duration // -Q
	RecipokPerDomain int           // -y
	MaxRSSKB         int64         // -R
	MaxASKB          int64         // -M
	StatusFD         bool          // -Z
	Embedded         bool          // -E (no-op)
	LogEvents        bool          // -l
	StatsFile        string        // -t
	StatsSyslog      bool          // -T
	StatsFlush       bool          // -u
	StatusLogEvery   time.Duration // -L, 0 = off
	TickInterval     time.Duration // -X, 0 = off
	TickTypes        int           // -P
	ListenBacklog    int           // -I (accepted; Go uses the kernel's somaxconn)
	GroupUmask       bool          // -G
	PidFile          string        // -p
	LockFile         string        // -o
	SyslogFacility   string        // -S
	SyslogIdent      string        // -Y
	Foreground       bool          // -D
	EventDebug       bool          // -d (accepted; no event-loop debug log)
	LogScheduling    bool          // -A
	Autoscale        bool          // -k
	RereadCheck      bool          // --reread-check: test the filter before a reread

	MetricsListen string // --metrics-listen, "" = off
	LogStderr     bool   // also log to stderr (forced on with -D)
}

// DefaultConfig returns the original's defaults.
func DefaultConfig() Config {
	return Config{
		SpoolDir:       DefaultSpoolDir,
		WorkerProgram:  DefaultWorkerProgram,
		MinWorkers:     0,
		MaxWorkers:     2,
		MaxRequests:    500,
		IdleTimeout:    300 * time.Second,
		BusyTimeout:    120 * time.Second,
		ClientTimeout:  10 * time.Second,
		StartInterval:  3 * time.Second,
		QueueTimeout:   30 * time.Second,
		TickTypes:      1,
		SyslogFacility: "mail",
		SyslogIdent:    "mimedefang-multiplexor",
		RereadCheck:    true,
	}
}

// Normalize applies the original's clamping rules (docs/reference/protocol.md §11.2) and
// rejects what the original rejects. It fills in derived defaults (the socket
// path, the lock file).
func (c *Config) Normalize() error {
	if c.MaxWorkers < 1 {
		c.MaxWorkers = 1
	}
	if c.MinWorkers < 1 {
		c.MinWorkers = 1 // the original never runs with a minimum of 0 (§14 item 18)
	}
	if c.MinWorkers > c.MaxWorkers {
		c.MinWorkers = c.MaxWorkers
	}
	if c.MaxRequests < 1 {
		c.MaxRequests = 1
	}
	if c.MaxLifetime < 0 {
		c.MaxLifetime = 0
	}
	c.IdleTimeout = atLeast(c.IdleTimeout, 10*time.Second)
	c.BusyTimeout = atLeast(c.BusyTimeout, 10*time.Second)
	c.ClientTimeout = atLeast(c.ClientTimeout, 10*time.Second)
	c.StartInterval = atLeast(c.StartInterval, time.Second)
	if c.MinStartGap < 0 {
		c.MinStartGap = 0
	}
	if c.QueueSize < 0 {
		c.QueueSize = 0
	}
	if c.QueueSize > 128 {
		return fmt.Errorf("mux: queue size (-q) must be at most 128, not %d", c.QueueSize)
	}
	if c.QueueTimeout < time.Second {
		c.QueueTimeout = time.Second
	}
	if c.QueueTimeout > 600*time.Second {
		c.QueueTimeout = 600 * time.Second
	}
	if c.TickTypes < 1 {
		c.TickTypes = 1
	}
	if c.TickTypes > 30 {
		c.TickTypes = 30
	}
	if c.TickInterval < 0 {
		c.TickInterval = 0
	}
	if c.StatusLogEvery > 0 && c.StatusLogEvery < 5*time.Second {
		c.StatusLogEvery = 5 * time.Second
	}
	if c.SpoolDir == "" {
		c.SpoolDir = DefaultSpoolDir
	}
	if c.Socket == "" {
		c.Socket = filepath.Join(c.SpoolDir, "mimedefang-multiplexor.sock")
	}
	if isInetSpec(c.Socket) {
		return fmt.Errorf("mux: the control socket (-s) must be a UNIX-domain socket, not %q", c.Socket)
	}
	if !filepath.IsAbs(c.WorkerProgram) {
		return fmt.Errorf("mux: the worker program (-f) must be an absolute path, not %q", c.WorkerProgram)
	}
	if st, err := os.Stat(c.WorkerProgram); err != nil {
		return fmt.Errorf("mux: worker program: %w", err)
	} else if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("mux: worker program %s is not executable", c.WorkerProgram)
	}
	if c.PidFile != "" && c.LockFile == "" {
		c.LockFile = c.PidFile + ".lock"
	}
	if c.Foreground {
		c.LogStderr = true
	}
	return nil
}

func atLeast(d, min time.Duration) time.Duration {
	if d < min {
		return min
	}
	return d
}

// recipokLimitOn reports whether the per-domain recipok limit applies.
func (c *Config) recipokLimitOn() bool {
	return c.RecipokPerDomain > 0 && c.RecipokPerDomain < c.MaxWorkers
}
