package mux

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

var errWorkerGone = errors.New("mux: worker process is gone")

// Server is one md-multiplexor. Create it with New, then call Run.
type Server struct {
	cfg Config
	log *Logger

	mu             sync.Mutex
	cond           *sync.Cond // signalled when a worker is reaped
	workers        []*worker
	queue          []*waiter
	histo          []int64
	hist           history
	msgs           int64
	activations    int64
	activationSeq  int64
	idleSeq        int64 // stamps workers as they become Idle (see worker.idleSeq)
	idleBuf        []*worker
	generation     int
	lastActivation time.Time
	started        time.Time
	shuttingDown   bool
	as             autoscaleState

	notifier *notifier
	stats    *statsLog
	metrics  *metrics

	listeners []net.Listener
	unprivSem chan struct{}
	httpSrv   *http.Server

	callsR    net.Conn // the integration-call socket (calls.go); nil without metrics
	callsW    *os.File // its end the workers get
	workerEnv []string // workers' environment; nil: the multiplexor's

	// Now is the clock; tests may replace it. nil means time.Now.
	Now func() time.Time
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// New checks the configuration and prepares a server. Nothing is started
// until Run.
func New(cfg Config, log *Logger) (*Server, error) {
	if err := cfg.Normalize(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, unprivSem: make(chan struct{}, 20)}
	s.cond = sync.NewCond(&s.mu)
	s.workers = make([]*worker, cfg.MaxWorkers)
	for i := range s.workers {
		s.workers[i] = &worker{slot: i, lastCmd: cmdNone, curCmd: cmdNone}
	}
	s.histo = make([]int64, cfg.MaxWorkers)
	s.metrics = newMetrics(s)
	s.stats = &statsLog{}
	return s, nil
}

// Run opens the sockets, starts the first worker and serves until ctx is
// cancelled or SIGTERM arrives; then it shuts the workers down as the original
// does (§7.12) and returns. ready, if not nil, is called once every socket is
// listening.
func (s *Server) Run(ctx context.Context, ready func()) error {
	umask := 0o077
	if s.cfg.GroupUmask {
		umask = 0o027
	}
	unix.Umask(umask)
	sockUmask := umask
	if s.cfg.GroupUmask {
		sockUmask = 0o007
	}
	if err := os.Chdir(s.cfg.SpoolDir); err != nil {
		return fmt.Errorf("mux: chdir %s: %w", s.cfg.SpoolDir, err)
	}
	s.started = s.now()
	s.mu.Lock()
	for _, w := range s.workers {
		w.lastChange = s.started
	}
	s.mu.Unlock()
	if s.cfg.Embedded {
		s.log.Infof("md-multiplexor has no embedded interpreter: ignoring -E (workers are started with fork/exec)")
	}
	if err := s.stats.open(s.cfg.StatsFile, s.cfg.StatsFlush, s.cfg.StatsSyslog, s.log); err != nil {
		return err
	}
	defer s.stats.close()
	if err := s.openCalls(); err != nil {
		return fmt.Errorf("mux: the integration-call pipe: %w", err)
	}

	network, path, err := parseSocketSpec(s.cfg.Socket)
	if err == nil && network != "unix" {
		err = fmt.Errorf("mux: the control socket (-s) must be a UNIX-domain socket, not %q", s.cfg.Socket)
	}
	if err != nil {
		return err
	}
	priv, err := listenUnixRaw(path, sockUmask)
	if err != nil {
		return err
	}
	s.listeners = append(s.listeners, priv)
	go s.acceptRaw(priv, true)
	if s.cfg.UnprivSocket != "" {
		l, err := listenSpec(s.cfg.UnprivSocket, 0)
		if err != nil {
			s.closeListeners()
			return err
		}
		s.listeners = append(s.listeners, l)
		go s.acceptLoop(l, func(c net.Conn) {
			select {
			case s.unprivSem <- struct{}{}:
				defer func() { <-s.unprivSem }()
				s.serveControl(c, false)
			default:
				c.Close() // more than 20 at once: closed without a reply
			}
		})
	}
	if s.cfg.LogEvents {
		s.log.Infof("started; minWorkers=%d, maxWorkers=%d, maxRequests=%d, maxLifetime=%d, maxIdleTime=%d, busyTimeout=%d, clientTimeout=%d",
			s.cfg.MinWorkers, s.cfg.MaxWorkers, s.cfg.MaxRequests, lifetimeSecs(s.cfg.MaxLifetime),
			int(s.cfg.IdleTimeout/time.Second), int(s.cfg.BusyTimeout/time.Second), int(s.cfg.ClientTimeout/time.Second))
	}

	s.mu.Lock()
	s.bringUpToMinLocked()
	s.mu.Unlock()

	if s.cfg.NotifySocket != "" {
		n, err := newNotifier(s.cfg.NotifySocket, sockUmask, s.log)
		if err != nil {
			s.shutdown()
			return err
		}
		s.mu.Lock()
		s.notifier = n
		s.mu.Unlock()
	}
	if s.cfg.MapSocket != "" {
		l, err := listenSpec(s.cfg.MapSocket, sockUmask)
		if err != nil {
			s.shutdown()
			return err
		}
		s.listeners = append(s.listeners, l)
		go s.acceptLoop(l, s.serveMap)
	}
	if s.cfg.MetricsListen != "" {
		if err := s.serveMetrics(s.cfg.MetricsListen); err != nil {
			s.shutdown()
			return err
		}
	}

	stop := make(chan struct{})
	var timers sync.WaitGroup
	s.every(&timers, stop, s.cfg.StartInterval, func() {
		s.mu.Lock()
		s.bringUpToMinLocked()
		s.mu.Unlock()
	})
	s.every(&timers, stop, s.cfg.IdleTimeout, s.idleCheck)
	s.every(&timers, stop, time.Second, s.sweepUnsolicited)
	if s.cfg.StatusLogEvery > 0 {
		s.every(&timers, stop, s.cfg.StatusLogEvery, s.logStatus)
	}
	if s.cfg.Autoscale {
		s.every(&timers, stop, autoscaleInterval, s.autoscaleTick)
	}
	if s.cfg.TickInterval > 0 {
		for t := 0; t < s.cfg.TickTypes; t++ {
			t := t
			timers.Add(1)
			go func() { defer timers.Done(); s.tickLoop(stop, t) }()
		}
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if ready != nil {
		ready()
	}
	for {
		select {
		case <-ctx.Done():
		case sig := <-sigs:
			switch sig {
			case syscall.SIGINT:
				go s.RereadChecked("SIGINT") // the check may take seconds: keep serving signals
				continue
			case syscall.SIGHUP:
				s.stats.reopen()
				continue
			}
		}
		break
	}
	close(stop)
	timers.Wait()
	s.shutdown()
	return nil
}

func lifetimeSecs(d time.Duration) int {
	if d <= 0 {
		return -1
	}
	return int(d / time.Second)
}

func (s *Server) every(wg *sync.WaitGroup, stop chan struct{}, d time.Duration, f func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				f()
			}
		}
	}()
}

func (s *Server) acceptLoop(l net.Listener, serve func(net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		go serve(c)
	}
}

func (s *Server) closeListeners() {
	for _, l := range s.listeners {
		l.Close()
		if a, ok := l.Addr().(*net.UnixAddr); ok {
			os.Remove(a.Name)
		}
	}
	s.listeners = nil
}

// bringUpToMinLocked starts one worker when fewer than the minimum run (§7.3).
func (s *Server) bringUpToMinLocked() {
	if s.shuttingDown || s.countLocked().running() >= s.cfg.MinWorkers {
		return
	}
	for _, w := range s.workers {
		if w.state == stateStopped {
			s.activateLocked(w, "Bringing workers up to minWorkers ("+itoa(s.cfg.MinWorkers)+")")
			return
		}
	}
}

// idleCheck is the idle timer (§7.4).
func (s *Server) idleCheck() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	// Killed workers still count as running until they are reaped, so the
	// kills are counted off as the original does (numAlive), or every idle
	// worker past the timeout would go, minimum or not.
	alive := s.countLocked().running()
	for _, w := range s.idleListLocked() {
		if s.cfg.MaxLifetime > 0 && !w.firstReq.IsZero() && now.Sub(w.firstReq) > s.cfg.MaxLifetime {
			alive--
			s.killLocked(w, "Worker has exceeded maximum lifetime of "+itoa(int(s.cfg.MaxLifetime/time.Second))+" seconds")
		}
	}
	for _, w := range s.idleListLocked() {
		if alive <= s.cfg.MinWorkers {
			break
		}
		if now.Sub(w.lastChange) >= s.cfg.IdleTimeout {
			alive--
			s.killLocked(w, "Idle timeout")
		}
	}
	s.bringUpToMinLocked()
}

// sweepUnsolicited kills idle workers that wrote output nobody asked for
// (a line after their reply, in a later write): found here within a second
// rather than when the next request would have been given to them.
func (s *Server) sweepUnsolicited() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.workers {
		if w.state == stateIdle && w.hasUnreadOutput() {
			s.log.Errorf("Worker %d (pid %d) wrote output nobody asked for; killing it", w.slot, w.pid)
			s.killLocked(w, "Worker wrote output nobody asked for")
		}
	}
}

func (s *Server) logStatus() {
	s.mu.Lock()
	c := s.countLocked()
	q, msgs, act := len(s.queue), s.msgs, s.activations
	s.mu.Unlock()
	s.log.Infof("Worker status: Stopped=%d Idle=%d Busy=%d Killed=%d Queued=%d Msgs=%d Activations=%d",
		c.stopped, c.idle, c.busy, c.killed, q, msgs, act)
}

// rereadCheckTimeout bounds the filter test that precedes a reread.
const rereadCheckTimeout = 30 * time.Second

// CheckFilter runs the worker program as "PROG [-f FILTER] -test", the syntax
// check that both mimedefang.pl and md-worker implement, and returns an error
// with the program's last words when the filter does not load.
func (s *Server) CheckFilter() error {
	args := []string{}
	if s.cfg.SubFilter != "" {
		args = append(args, "-f", s.cfg.SubFilter)
	}
	ctx, cancel := context.WithTimeout(context.Background(), rereadCheckTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.cfg.WorkerProgram, append(args, "-test")...)
	cmd.Args[0] = filepath.Base(s.cfg.WorkerProgram)
	cmd.Dir = s.cfg.SpoolDir
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("no answer within %v", rereadCheckTimeout)
	}
	msg := strings.Join(strings.Fields(lastBytes(string(out), 400)), " ")
	if msg == "" {
		return fmt.Errorf("%s -test: %v", s.cfg.WorkerProgram, err)
	}
	return fmt.Errorf("%s -test: %v: %s", s.cfg.WorkerProgram, err, msg)
}

// lastBytes returns at most the last n bytes of s.
func lastBytes(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// RereadChecked is Reread after CheckFilter, when the configuration asks
// for the check: a filter that does not load is refused and the running
// workers, with the old filter, keep serving.
func (s *Server) RereadChecked(why string) error {
	if s.cfg.RereadCheck {
		if err := s.CheckFilter(); err != nil {
			s.log.Errorf("Reread (%s) refused: the new filter does not load; workers keep the old one: %v", why, err)
			s.metrics.rereadRefused()
			return err
		}
	}
	s.Reread(why)
	return nil
}

// Reread starts a new generation (§7.12): idle workers are replaced now, busy
// ones after their current request. No request fails because of it.
func (s *Server) Reread(why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.generation++
	s.log.Infof("Forcing reread of filter rules (%s): generation %d", why, s.generation)
	for _, w := range s.idleListLocked() {
		s.killLocked(w, "New generation -- forcing reread of filter rules")
	}
	s.notify("R\n")
	s.bringUpToMinLocked()
}

// shutdown stops the workers as the original does on SIGTERM: EOF, up to
// 10 s, SIGTERM, up to 10 s, SIGKILL.
func (s *Server) shutdown() {
	s.closeListeners()
	if s.httpSrv != nil {
		s.httpSrv.Close()
	}
	if s.cfg.PidFile != "" {
		os.Remove(s.cfg.PidFile)
	}
	s.mu.Lock()
	s.shuttingDown = true
	for _, w := range s.workers {
		if w.proc != nil {
			w.killedByUs = true
			w.proc.Signal(syscall.SIGCONT)
			w.closeStdin()
			if w.state != stateKilled {
				s.setState(w, stateKilled)
			}
		}
	}
	s.mu.Unlock()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if s.waitAllStopped(10 * time.Second) {
			break
		}
		s.mu.Lock()
		for _, w := range s.workers {
			if w.proc != nil {
				w.proc.Signal(syscall.SIGCONT)
				w.proc.Signal(sig)
			}
		}
		s.mu.Unlock()
	}
	s.waitAllStopped(2 * time.Second)
	s.closeCalls()
	if s.notifier != nil {
		s.notifier.close()
	}
}

func (s *Server) waitAllStopped(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		s.mu.Lock()
		left := 0
		for _, w := range s.workers {
			if w.proc != nil {
				left++
			}
		}
		s.mu.Unlock()
		if left == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// notify sends a message to the -O listeners, if any (§10.2).
func (s *Server) notify(msg string) {
	if s.notifier != nil {
		s.notifier.send(msg)
	}
}
