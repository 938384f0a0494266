package mux

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mdgo/md/proto"
	"golang.org/x/sys/unix"
)

// state is a worker slot's state (§7.1).
type state int

const (
	stateStopped state = iota
	stateIdle
	stateBusy
	stateKilled
)

func (s state) char() byte   { return "SIBK"[s] }
func (s state) name() string { return [...]string{"Stopped", "Idle", "Busy", "Killed"}[s] }
func (s state) lower() string {
	return [...]string{"stopped", "idle", "busy", "killed"}[s]
}

// Delays of the kill sequence (§7.5). Variables so that tests can shorten them.
var (
	termDelay = 10 * time.Second // EOF -> SIGTERM for a worker that was not busy
	killDelay = 10 * time.Second // SIGTERM -> SIGKILL
)

// replyMsg is what a request read from its worker's stdout.
type replyMsg struct {
	line string // the line with its "\n", or a partial line at EOF
	eof  bool   // stdout closed (line holds any partial bytes)
}

// call is one request outstanding on a worker.
type call struct {
	line  string // request, ending in "\n"
	typ   cmdType
	qid   string
	start time.Time
	// unread: the worker was reaped with the whole request still in its
	// stdin pipe (set by the reaper, which closes the pipe; guarded by
	// Server.mu).
	unread bool
}

// worker is one slot of the pool. Fields are guarded by Server.mu. inc counts
// incarnations (processes) of the slot, so goroutines and timers of an old
// process can tell that they are stale.
type worker struct {
	slot int
	inc  uint64

	state       state
	proc        *os.Process
	pid         int
	stdin       *os.File
	stdinRaw    syscall.RawConn
	stdout      *os.File        // read only by the goroutine that holds the worker Busy
	stdoutRaw   syscall.RawConn // for the FIONREAD check of an idle worker
	rd          *bufio.Reader   // over stdout; empty between requests
	gen         int
	numRequests int
	numScans    int
	activated   time.Time // process start
	firstReq    time.Time // first request of this process; zero before
	lastChange  time.Time
	seq         int64 // activation sequence number (older = smaller)
	idleSeq     int64 // when it last became Idle (later = larger): the original's idle-list order
	lastCmd     cmdType
	curCmd      cmdType
	tag         string
	qid         string // queue ID of the current/last request, for stderr lines
	oom         bool
	killedByUs  bool
	pending     *call
	reason      string // why it was started, for metrics
}

// activateLocked starts a process in slot w (§6.1). It returns an error the
// caller answers with "error: Unable to activate worker".
func (s *Server) activateLocked(w *worker, reason string) error {
	now := s.now()
	if s.cfg.MinStartGap > 0 && !s.lastActivation.IsZero() && now.Sub(s.lastActivation) < s.cfg.MinStartGap {
		s.log.Infof("Did not start worker %d: Not enough time elapsed since last worker activation", w.slot)
		return errors.New("start-rate limit (-W)")
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return s.activationFailed(w, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW)
		return s.activationFailed(w, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW, outR, outW)
		return s.activationFailed(w, err)
	}
	args := []string{}
	if s.cfg.SubFilter != "" {
		args = append(args, "-f", s.cfg.SubFilter)
	}
	mode := "-server"
	var stR, stW *os.File
	if s.cfg.StatusFD {
		mode = "-serveru"
		if stR, stW, err = os.Pipe(); err != nil {
			closeAll(inR, inW, outR, outW, errR, errW)
			return s.activationFailed(w, err)
		}
	}
	args = append(args, mode)
	cmd := &exec.Cmd{
		Path:   s.cfg.WorkerProgram,
		Args:   append([]string{filepath.Base(s.cfg.WorkerProgram)}, args...),
		Dir:    s.cfg.SpoolDir,
		Stdin:  inR,
		Stdout: outW,
		Stderr: errW,
	}
	var extra []*os.File
	if stW != nil {
		extra = []*os.File{stW}
	}
	cmd.ExtraFiles, cmd.Env = s.callsFiles(extra)
	err = cmd.Start()
	closeAll(inR, outW, errW, stW)
	if err != nil {
		closeAll(inW, outR, errR, stR)
		return s.activationFailed(w, err)
	}
	s.applyLimits(w.slot, cmd.Process.Pid)

	w.inc++
	inc := w.inc
	w.proc = cmd.Process
	w.pid = cmd.Process.Pid
	w.stdin = inW
	w.stdinRaw, _ = inW.SyscallConn()
	w.stdout = outR
	w.stdoutRaw, _ = outR.SyscallConn()
	w.rd = bufio.NewReaderSize(outR, maxReplyLine)
	w.gen = s.generation
	w.numRequests, w.numScans = 0, 0
	w.oom, w.killedByUs = false, false
	w.activated = now
	w.firstReq = time.Time{}
	w.pending = nil
	w.curCmd = cmdNone
	w.lastCmd = cmdNone
	w.qid = ""
	w.reason = reason
	s.activationSeq++
	w.seq = s.activationSeq
	s.activations++
	s.lastActivation = now
	s.hist.activated(now.Unix())
	s.setState(w, stateIdle)
	s.metrics.workerStarted(reason)

	go s.readStderr(w, inc, errR)
	if stR != nil {
		go s.readStatus(w, inc, stR)
	}
	go s.reap(w, inc, cmd)

	if s.cfg.LogEvents {
		s.log.Infof("Starting worker %d (pid %d) (%d running): %s", w.slot, w.pid, s.countLocked().running(), reason)
	}
	if s.cfg.Autoscale {
		s.as.lastOut = now
		c := s.countLocked()
		s.log.Infof("Autoscale: scaled out to %d workers (ema_busy=%.2f queued=%d)", c.running(), s.as.ema, len(s.queue))
	}
	s.stats.event(s, "StartWorker", w.slot, fmt.Sprintf("reason=%q", reason))
	return nil
}

func (s *Server) activationFailed(w *worker, err error) error {
	s.log.Errorf("Could not start worker %d: %v", w.slot, err)
	return err
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}

// applyLimits sets the -R and -M rlimits (in kB) on a freshly started worker.
// Go cannot run code between fork and exec, so the limits are applied with
// prlimit(2) right after the exec; a failure is logged at LOG_WARNING.
func (s *Server) applyLimits(slot, pid int) {
	set := func(res int, name string, kb int64) {
		if kb <= 0 {
			return
		}
		lim := &unix.Rlimit{Cur: uint64(kb) * 1024, Max: uint64(kb) * 1024}
		if err := unix.Prlimit(pid, res, lim, nil); err != nil {
			s.log.Warnf("Worker %d: setting %s limit failed: %v", slot, name, err)
		}
	}
	set(unix.RLIMIT_RSS, "RLIMIT_RSS", s.cfg.MaxRSSKB)
	set(unix.RLIMIT_AS, "RLIMIT_AS", s.cfg.MaxASKB)
	set(unix.RLIMIT_DATA, "RLIMIT_DATA", s.cfg.MaxASKB)
}

// maxReplyLine is the longest reply line the original reads (4095 bytes + LF).
const maxReplyLine = 4096

// readReply reads one reply line from a worker's stdout, the way the original
// does (at most 4095 bytes and the "\n"). kill, when not empty, says why the
// worker must be killed after this reply: it wrote more than one line, or a
// line too long, so it is out of step. err is the read error when there is no
// reply at all (the busy deadline passed).
func readReply(rd *bufio.Reader) (m replyMsg, kill string, err error) {
	b, err := rd.ReadSlice('\n')
	switch {
	case err == nil && rd.Buffered() > 0:
		// More bytes came with the reply: take the first line as the
		// reply, as the original does; the worker is out of step.
		return replyMsg{line: string(b)}, "Worker wrote more than one line per request", nil
	case err == nil:
		return replyMsg{line: string(b)}, "", nil
	case errors.Is(err, bufio.ErrBufferFull):
		return replyMsg{line: string(b[:maxReplyLine-1])}, "Worker wrote a reply line longer than 4095 bytes", nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return replyMsg{}, "", err
	default:
		return replyMsg{line: string(b), eof: true}, "", nil
	}
}

// hasUnreadOutput reports whether an idle worker wrote something nobody asked
// for: such a worker is out of step, and its next reply would be that output.
func (w *worker) hasUnreadOutput() bool {
	if w.stdoutRaw == nil {
		return false
	}
	n := 0
	w.stdoutRaw.Control(func(fd uintptr) {
		n, _ = unix.IoctlGetInt(int(fd), unix.TIOCINQ) // FIONREAD
	})
	return n > 0
}

// closeStdoutLocked closes a worker's stdout unless a request is still
// reading it (then that request closes it when done).
func (w *worker) closeStdoutLocked() {
	if w.stdout != nil && w.pending == nil {
		w.stdout.Close()
	}
	w.stdout, w.stdoutRaw, w.rd = nil, nil, nil
}

func trimForLog(s string) string {
	s = strings.TrimRight(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

func (w *worker) closeStdin() {
	if w.stdin != nil {
		w.stdin.Close()
		w.stdin, w.stdinRaw = nil, nil
	}
}

// readStderr logs what a worker writes to stderr, line by line, with the queue
// ID of its current request (§6.6). It is always drained.
func (s *Server) readStderr(w *worker, inc uint64, f *os.File) {
	defer f.Close()
	r := bufio.NewReaderSize(f, 1024)
	for {
		b, err := r.ReadSlice('\n')
		if len(b) > 0 {
			line := strings.TrimRight(string(b), "\n")
			s.mu.Lock()
			qid := ""
			if w.inc == inc {
				qid = w.qid
				if strings.Contains(line, "Out of memory!") {
					w.oom = true
				}
			}
			s.mu.Unlock()
			if s.cfg.LogEvents {
				s.log.WithQID(qid).Infof("Worker %d stderr: %s", w.slot, line)
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// readStatus reads status tags from fd 3 of a -serveru worker (§6.5).
func (s *Server) readStatus(w *worker, inc uint64, f *os.File) {
	defer f.Close()
	buf := make([]byte, 63)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			chunk := strings.TrimSuffix(string(buf[:n]), "\n")
			lines := strings.Split(chunk, "\n")
			last := lines[len(lines)-1]
			s.mu.Lock()
			if w.inc == inc && w.state == stateBusy {
				s.setTag(w, proto.Decode(last))
			}
			s.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// reap waits for a worker process to exit and returns its slot to Stopped.
// A request still reading the worker's stdout keeps it: what the worker wrote
// before it exited is still in the pipe, and is its reply.
func (s *Server) reap(w *worker, inc uint64, cmd *exec.Cmd) {
	err := cmd.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.inc != inc {
		return
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	expected := w.killedByUs
	var how, reason string
	switch {
	case ws.Exited():
		how = fmt.Sprintf("exited normally with status %d", ws.ExitStatus())
		reason = "exit"
		if ws.ExitStatus() != 0 {
			reason = "exit_nonzero"
		}
	case ws.Signaled() && (ws.Signal() == syscall.SIGTERM || ws.Signal() == syscall.SIGKILL) && expected:
		how = "exited due to SIGTERM/SIGKILL as expected."
		reason = "killed"
	case ws.Signaled():
		how = fmt.Sprintf("exited due to signal %d", ws.Signal())
		reason = "signal"
	default:
		how = fmt.Sprintf("exited for unknown reason (%v)", err)
		reason = "unknown"
	}
	msg := fmt.Sprintf("Reap: worker %d (pid %d) %s", w.slot, w.pid, how)
	if !expected {
		msg += " (WORKER DIED UNEXPECTEDLY)"
		s.notify("U\n")
		reason = "died"
		if w.oom {
			reason = "oom"
		}
	}
	if s.cfg.LogEvents || !expected {
		s.log.Infof("%s", msg)
	}
	if s.cfg.LogEvents {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			s.log.Infof("Worker %d resource usage: req=%d, scans=%d, user=%d.%03d, sys=%d.%03d, nswap=%d, majflt=%d, minflt=%d, maxrss=%d, bi=%d, bo=%d",
				w.slot, w.numRequests, w.numScans, ru.Utime.Sec, ru.Utime.Usec/1000, ru.Stime.Sec, ru.Stime.Usec/1000,
				ru.Nswap, ru.Majflt, ru.Minflt, ru.Maxrss, ru.Inblock, ru.Oublock)
		}
	}
	s.metrics.workerExited(reason)
	w.closeStdoutLocked()
	if w.pending != nil && pipeHolds(w.stdinRaw, len(w.pending.line)) {
		w.pending.unread = true
	}
	w.pending = nil
	w.closeStdin()
	w.proc = nil
	w.pid = 0
	s.hist.reaped(s.now().Unix())
	s.setState(w, stateStopped)
	s.stats.event(s, "ReapWorker", w.slot, "")
	s.serveQueueFromStoppedLocked()
	s.cond.Broadcast()
}

// killLocked retires a worker (§7.5): SIGCONT, and SIGTERM at once if it was
// busy; EOF on stdin; then SIGTERM after termDelay (if it was not busy) and
// SIGKILL after killDelay more.
func (s *Server) killLocked(w *worker, reason string) {
	if w.state == stateStopped || w.state == stateKilled || w.proc == nil {
		return
	}
	now := s.now()
	if s.cfg.LogEvents {
		s.log.WithQID(w.pendingQID()).Infof("Killing %s worker %d (pid %d) req=%d age=%d req_age=%d: %s",
			w.state.lower(), w.slot, w.pid, w.numRequests, secondsSince(now, w.activated), secondsSince(now, w.firstReq), reason)
	}
	wasBusy := w.state == stateBusy
	w.proc.Signal(syscall.SIGCONT)
	if wasBusy {
		w.proc.Signal(syscall.SIGTERM)
	}
	w.killedByUs = true
	s.setState(w, stateKilled)
	w.closeStdin()
	if wasBusy {
		s.armNuke(w, killDelay)
	} else {
		s.signalLater(w, termDelay, syscall.SIGTERM, "taking too long to exit; sending SIGTERM", func() { s.armNuke(w, killDelay) })
	}
	s.stats.event(s, "KillWorker", w.slot, fmt.Sprintf("req=%d age=%d reason=%q", w.numRequests, secondsSince(now, w.activated), reason))
}

// armNuke sends SIGKILL after d unless the process has been reaped by then.
func (s *Server) armNuke(w *worker, d time.Duration) {
	s.signalLater(w, d, syscall.SIGKILL, "taking way too long to exit; sending SIGKILL", nil)
}

// signalLater sends SIGCONT and sig to the worker's current process after d,
// unless it has been reaped by then, logging why; then, under the lock, runs
// next (if not nil).
func (s *Server) signalLater(w *worker, d time.Duration, sig syscall.Signal, why string, next func()) {
	inc := w.inc
	time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if w.inc != inc || w.proc == nil {
			return
		}
		if s.cfg.LogEvents {
			s.log.Infof("Worker %d (pid %d) %s", w.slot, w.pid, why)
		}
		w.proc.Signal(syscall.SIGCONT)
		w.proc.Signal(sig)
		if next != nil {
			next()
		}
	})
}

func (w *worker) pendingQID() string {
	if w.pending != nil {
		return w.pending.qid
	}
	return w.qid
}

func secondsSince(now, t time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return int64(now.Sub(t) / time.Second)
}

var _ io.Closer = (*os.File)(nil)
