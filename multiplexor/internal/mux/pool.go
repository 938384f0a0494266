package mux

import (
	"cmp"
	"errors"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdgo/md/proto"
	"golang.org/x/sys/unix"
)

// The multiplexor's own error replies (§7.6, §8.5).
const (
	replyNoFreeWorkers   = "error: No free workers\n"
	replyCannotActivate  = "error: Unable to activate worker\n"
	replyTalkError       = "error: Error talking to worker process\n"
	replyQueueTimeout    = "error: Queued request timed out\n"
	replyTooLong         = "error: Command too long\n"
	replyNoResponse      = "ERR No response from worker\n"
	replyTimeoutLoaded   = "ERR Filter timed out - system may be overloaded (consider increasing busy timeout)\n"
	replyTimeout         = "ERR Filter timed out - check filter rules or system load\n"
	replyRecipokLimitHit = "ok -1 Per-domain%20recipok%20limit%20hit;%20please%20try%20again%20later\n"
)

// counts are the derived pool counts of §7.1.
type counts struct{ stopped, idle, busy, killed int }

func (c counts) free() int    { return c.idle + c.stopped }
func (c counts) running() int { return c.idle + c.busy + c.killed }

func (s *Server) countLocked() counts {
	var c counts
	for _, w := range s.workers {
		switch w.state {
		case stateStopped:
			c.stopped++
		case stateIdle:
			c.idle++
		case stateBusy:
			c.busy++
		case stateKilled:
			c.killed++
		}
	}
	return c
}

// setState moves a worker to a new state (putOnList): it clears the status
// tag, notifies listeners, keeps the busy histogram and the free count.
func (s *Server) setState(w *worker, st state) {
	if w.state == st {
		return
	}
	old := w.state
	freeBefore := s.countLocked().free()
	w.state = st
	w.tag = ""
	w.lastChange = s.now()
	if st == stateIdle {
		s.idleSeq++
		w.idleSeq = s.idleSeq
	}
	if s.notifier != nil {
		s.notify("S " + itoa(w.slot) + " StateChange " + old.name() + " -> " + st.name() + "\n")
	}
	c := s.countLocked()
	if st == stateBusy {
		if c.busy >= 1 && c.busy <= len(s.histo) {
			s.histo[c.busy-1]++
		}
		if w.firstReq.IsZero() {
			w.firstReq = w.lastChange
		}
	}
	if free := c.free(); free != freeBefore && s.notifier != nil {
		s.notify("F " + itoa(free) + "\n")
		if freeBefore == 0 {
			s.notify("Y\n")
		}
	}
	if c.free() == 0 {
		s.notify("Z\n")
	}
}

// setTag sets a worker's status tag and tells notification listeners.
func (s *Server) setTag(w *worker, tag string) {
	if len(tag) > 63 {
		tag = tag[:63]
	}
	w.tag = tag
	if s.notifier != nil {
		s.notify("S " + itoa(w.slot) + " " + tag + "\n")
	}
}

// tagFromCommand is the tag set at dispatch: the request up to its second
// space, cut to 63 bytes, decoded, with non-printable bytes made spaces.
func tagFromCommand(line string) string {
	line = strings.TrimSuffix(line, "\n")
	if i := strings.IndexByte(line, ' '); i >= 0 {
		if j := strings.IndexByte(line[i+1:], ' '); j >= 0 {
			line = line[:i+1+j]
		}
	}
	if len(line) > 63 {
		line = line[:63]
	}
	b := []byte(proto.Decode(line))
	for i, c := range b {
		if c < 0x20 || c > 0x7E {
			b[i] = ' '
		}
	}
	return string(b)
}

// queueIDOf extracts the queue ID a request carries, for log lines: scan,
// senderok and recipok set it; other requests clear it (§6.6).
func queueIDOf(line string, typ cmdType) string {
	var i int
	switch typ {
	case cmdScan:
		i = 1
	case cmdSenderok:
		i = 6
	case cmdRecipok:
		i = 8
	default:
		return ""
	}
	for f := range strings.FieldsSeq(line) {
		if i == 0 {
			return proto.Decode(f)
		}
		i--
	}
	return ""
}

// findFreeWorkerLocked picks a worker for a request of type typ (§7.2),
// starting a stopped slot when no worker is idle. It returns nil and false
// when every slot is busy or killed, nil and true when a start failed.
//
// The choice among idle workers is the original's findFreeWorker exactly,
// because it shows in workerinfo (NumRequests, NumScans) and workers
// (last=): it walks the idle list, which putOnList keeps most recently idle
// first, and keeps the oldest activation as the fallback. A candidate is a
// worker whose last tracked command is typ or that has run none; a later
// candidate in the walk replaces the current one when the current one has
// not run typ (so among workers that ran nothing, the one idle longest
// wins), or when it is older.
func (s *Server) findFreeWorkerLocked(typ cmdType) (w *worker, startFailed bool) {
	var best, same *worker
	for _, c := range s.idleListLocked() {
		if best == nil || c.seq < best.seq {
			best = c
		}
		if c.lastCmd == typ || c.lastCmd == cmdNone {
			if same == nil || same.lastCmd != typ || c.seq < same.seq {
				same = c
			}
		}
	}
	if same != nil {
		best = same
	}
	if best != nil && best.hasUnreadOutput() {
		s.log.Errorf("Worker %d (pid %d) wrote output nobody asked for; killing it", best.slot, best.pid)
		s.killLocked(best, "Worker wrote output nobody asked for")
		return s.findFreeWorkerLocked(typ)
	}
	if best != nil {
		if s.cfg.LogScheduling {
			s.log.Infof("Chose idle worker %d for %s", best.slot, typ)
		}
		return best, false
	}
	for _, c := range s.workers {
		if c.state == stateStopped {
			if err := s.activateLocked(c, "About to perform "+typ.String()+" request"); err != nil {
				return nil, true
			}
			if s.cfg.LogScheduling {
				s.log.Infof("Started stopped worker %d for %s", c.slot, typ)
			}
			return c, false
		}
	}
	return nil, false
}

// idleListLocked returns the idle workers in the order of the original's
// idle list, which putOnList keeps most recently idle first. The original
// walks it to pick a worker, to kill idle workers on reread and on the idle
// timer; the order shows in workerinfo and in the -O notifications.
// The slice is reused: it is valid until the next call, under s.mu.
func (s *Server) idleListLocked() []*worker {
	idle := s.idleBuf[:0]
	for _, w := range s.workers {
		if w.state == stateIdle {
			idle = append(idle, w)
		}
	}
	slices.SortFunc(idle, func(a, b *worker) int { return cmp.Compare(b.idleSeq, a.idleSeq) })
	s.idleBuf = idle
	return idle
}

// recipokDomain is the domain the -y limit counts a recipok request under:
// the text after the first '@' of the whole line, up to '>' or a space, at
// most 127 bytes, lower-cased (§7.10).
func recipokDomain(line string) string {
	i := strings.IndexByte(line, '@')
	if i < 0 {
		return ""
	}
	d := line[i+1:]
	if j := strings.IndexAny(d, "> \n"); j >= 0 {
		d = d[:j]
	}
	if len(d) > 127 {
		d = d[:127]
	}
	return strings.ToLower(d)
}

func (s *Server) atRecipokLimitLocked(line string) (string, bool) {
	dom := recipokDomain(line)
	if dom == "" {
		return "", false
	}
	n := 0
	for _, w := range s.workers {
		if w.state == stateBusy && w.curCmd == cmdRecipok && w.pending != nil && recipokDomain(w.pending.line) == dom {
			n++
		}
	}
	return dom, n >= s.cfg.RecipokPerDomain
}

// waiter is a request in the queue (§7.7).
type waiter struct {
	line    string
	typ     cmdType
	granted chan *worker // buffered 1: the worker handed over, already Busy
	inc     uint64       // the worker's incarnation when it was handed over
	since   time.Time
}

// Do runs one request line (ending in "\n") on a worker and returns the reply
// to send to the client. It never returns an empty string: every failure is
// one of the original's error replies, which the milter turns into a
// tempfail. queueable says whether the request may wait in the -q queue.
func (s *Server) Do(line string, queueable bool) string {
	typ := classify(line)
	s.mu.Lock()
	if typ == cmdRecipok && s.cfg.recipokLimitOn() {
		if dom, hit := s.atRecipokLimitLocked(line); hit {
			s.mu.Unlock()
			if s.cfg.LogEvents {
				s.log.WithQID(queueIDOf(line, typ)).Infof("Hit per-domain recipok limit (%d) for domain %s", s.cfg.RecipokPerDomain, dom)
			}
			s.metrics.request(typ, "recipok_limit", 0)
			return replyRecipokLimitHit
		}
	}
	w, startFailed := s.findFreeWorkerLocked(typ)
	if w == nil {
		if startFailed {
			s.mu.Unlock()
			s.metrics.request(typ, "no_worker", 0)
			return replyCannotActivate
		}
		if !queueable || len(s.queue) >= s.cfg.QueueSize {
			s.mu.Unlock()
			if s.cfg.LogEvents {
				s.log.WithQID(queueIDOf(line, typ)).Infof("No free workers")
			}
			s.metrics.request(typ, "no_worker", 0)
			return replyNoFreeWorkers
		}
		q := &waiter{line: line, typ: typ, granted: make(chan *worker, 1), since: s.now()}
		s.queue = append(s.queue, q)
		if s.cfg.LogEvents {
			s.log.WithQID(queueIDOf(line, typ)).Infof("All workers are busy: Queueing request (%d queued)", len(s.queue))
		}
		s.metrics.queueDepth(len(s.queue))
		s.mu.Unlock()
		return s.waitInQueue(q)
	}
	return s.run(w, line, typ) // unlocks
}

func (s *Server) waitInQueue(q *waiter) string {
	t := time.NewTimer(s.cfg.QueueTimeout)
	defer t.Stop()
	select {
	case w := <-q.granted:
		s.metrics.queueWait(s.now().Sub(q.since))
		return s.runGranted(w, q)
	case <-t.C:
	}
	s.mu.Lock()
	for i, o := range s.queue {
		if o == q {
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			s.metrics.queueDepth(len(s.queue))
			s.mu.Unlock()
			s.log.WithQID(queueIDOf(q.line, q.typ)).Infof("Queued request timed out after %v", s.cfg.QueueTimeout)
			s.metrics.queueWait(s.now().Sub(q.since))
			s.metrics.request(q.typ, "queue_timeout", 0)
			return replyQueueTimeout
		}
	}
	s.mu.Unlock()
	// Granted just as the timer fired: the worker is ours.
	w := <-q.granted
	s.metrics.queueWait(s.now().Sub(q.since))
	return s.runGranted(w, q)
}

// runGranted runs a queued request on the worker handed to it. If that worker
// died in the meantime the request goes back through Do rather than fail.
func (s *Server) runGranted(w *worker, q *waiter) string {
	s.mu.Lock()
	if w.inc != q.inc || w.state != stateBusy || w.stdin == nil || w.pending != nil {
		s.mu.Unlock()
		return s.Do(q.line, true)
	}
	return s.runBusy(w, q.line, q.typ)
}

// run marks an idle worker busy with the request and runs it. Called with mu
// held; returns with it released.
func (s *Server) run(w *worker, line string, typ cmdType) string {
	s.setState(w, stateBusy)
	return s.runBusy(w, line, typ)
}

// runBusy sends the request to a worker already marked Busy and reads its
// reply itself, with the busy timeout as the read deadline. Called with mu
// held; returns with it released.
func (s *Server) runBusy(w *worker, line string, typ cmdType) string {
	c := &call{line: line, typ: typ, qid: queueIDOf(line, typ), start: s.now()}
	w.pending = c
	w.curCmd = typ
	w.qid = c.qid
	if typ < numTracked {
		w.lastCmd = typ
	}
	s.setTag(w, tagFromCommand(line))
	stdin, stdinRaw, out, rd := w.stdin, w.stdinRaw, w.stdout, w.rd
	inc := w.inc
	served := w.numRequests > 0
	if typ == cmdScan {
		s.stats.event(s, "StartFilter", w.slot, "")
	}
	s.mu.Unlock()

	if out == nil {
		return s.writeFailed(w, inc, c, errWorkerGone)
	}
	if err := writeWithDeadline(stdin, stdinRaw, line, s.cfg.ClientTimeout); err != nil {
		return s.writeFailed(w, inc, c, err)
	}
	out.SetReadDeadline(time.Now().Add(s.cfg.BusyTimeout))
	m, kill, err := readReply(rd)
	// A worker that exits between requests (one that decided to stop after
	// answering the last one) may have been handed this request first.
	// Whether it read any of it shows in its stdin pipe, which still holds
	// the whole request if not (if the reaper got there first and closed
	// the pipe, it looked and set c.unread).
	unread := err == nil && m.eof && m.line == "" && pipeHolds(stdinRaw, len(line))

	s.mu.Lock()
	unread = unread || (err == nil && m.eof && m.line == "" && c.unread)
	current := w.inc == inc && w.pending == c
	if current {
		w.pending = nil
	}
	if err != nil {
		// No reply within the busy timeout.
		busy := s.countLocked().busy
		s.finishLocked(w, inc, c, false)
		s.notify("B\n")
		s.log.WithQID(c.qid).Errorf("Worker %d (pid %d) timed out after %v on %q", w.slot, w.pid, s.cfg.BusyTimeout, trimForLog(tagFromCommand(line)))
		if current {
			s.killLocked(w, "Busy timeout")
		}
		s.releaseStdoutLocked(w, inc, out)
		s.mu.Unlock()
		s.metrics.request(typ, "timeout", s.now().Sub(c.start))
		if busy > 3 {
			return replyTimeoutLoaded
		}
		return replyTimeout
	}
	if m.eof && current && w.state != stateKilled && w.state != stateStopped {
		// The process closed stdout: it is dying. Do not hand it more work.
		w.closeStdin()
		s.setState(w, stateKilled)
		s.armNuke(w, killDelay)
	}
	if kill != "" && current {
		s.log.WithQID(c.qid).Errorf("%s (worker %d, pid %d)", kill, w.slot, w.pid)
		s.killLocked(w, kill)
	}
	if unread && served {
		// It never saw the request: give it to another worker, as when
		// writing to a worker that is already gone fails. A worker that
		// dies before its first request gets no second chance: its filter
		// may be broken, and every new worker would die the same way.
		s.log.WithQID(c.qid).Infof("Worker %d (pid %d) exited before reading the request; passing it to another worker", w.slot, w.pid)
		if current {
			w.curCmd = cmdNone
		}
		s.releaseStdoutLocked(w, inc, out)
		s.mu.Unlock()
		s.metrics.request(typ, "retried", s.now().Sub(c.start))
		return s.Do(line, true)
	}
	if m.eof && m.line == "" {
		if w.oom {
			s.log.WithQID(c.qid).Errorf("Worker %d ran out of memory -- possible DoS attack due to complex MIME?", w.slot)
		} else if s.cfg.LogEvents {
			s.log.WithQID(c.qid).Errorf("Worker %d died prematurely -- check your filter rules", w.slot)
		} else {
			s.log.WithQID(c.qid).Errorf("Worker %d died prematurely -- check your filter rules and use the '-l' flag on mimedefang-multiplexor to see Perl error messages", w.slot)
		}
		s.finishLocked(w, inc, c, false)
		s.releaseStdoutLocked(w, inc, out)
		s.mu.Unlock()
		s.metrics.request(typ, "no_response", s.now().Sub(c.start))
		return replyNoResponse
	}
	s.finishLocked(w, inc, c, true)
	s.releaseStdoutLocked(w, inc, out)
	s.mu.Unlock()
	outcome := "ok"
	if m.eof {
		outcome = "partial"
	} else if strings.HasPrefix(m.line, "error:") || strings.HasPrefix(m.line, "ERR ") {
		outcome = "error"
	}
	s.metrics.request(typ, outcome, s.now().Sub(c.start))
	return m.line
}

// pipeHolds reports whether the pipe behind raw (a worker's stdin, our
// write end) still holds exactly n unread bytes.
func pipeHolds(raw syscall.RawConn, n int) bool {
	if raw == nil {
		return false
	}
	held := -1
	if err := raw.Control(func(fd uintptr) {
		held, _ = unix.IoctlGetInt(int(fd), unix.TIOCINQ) // FIONREAD
	}); err != nil {
		return false
	}
	return held == n
}

// releaseStdoutLocked closes the stdout a request read from if its worker
// process is gone or going: the reaper leaves it to the request.
func (s *Server) releaseStdoutLocked(w *worker, inc uint64, out *os.File) {
	if w.inc != inc || w.stdout != out || w.state == stateStopped {
		out.Close()
	}
}

// writeFailed handles a request that could not be written to its worker.
// The worker never saw the request, so it is safe to try another worker:
// a worker that died while idle must not fail the message.
func (s *Server) writeFailed(w *worker, inc uint64, c *call, err error) string {
	s.mu.Lock()
	if w.inc == inc && w.pending == c {
		w.pending = nil
	}
	s.log.WithQID(c.qid).Errorf("Error writing to worker %d: %v", w.slot, err)
	if w.inc == inc {
		w.curCmd = cmdNone
		s.killLocked(w, "Error talking to worker")
	}
	retry := errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed) || err == errWorkerGone
	s.mu.Unlock()
	if retry {
		return s.Do(c.line, true)
	}
	s.mu.Lock()
	s.finishLocked(w, inc, c, false)
	s.mu.Unlock()
	s.metrics.request(c.typ, "error", s.now().Sub(c.start))
	return replyTalkError
}

// finishLocked does the bookkeeping when a request ends, however it ended:
// load history, counters, and, if the worker is still Busy with it, back to
// Idle and the expiry checks.
func (s *Server) finishLocked(w *worker, inc uint64, c *call, ok bool) {
	now := s.now()
	s.hist.record(c.typ, now.Unix(), int64(s.countLocked().busy), now.Sub(c.start).Milliseconds())
	if c.typ == cmdScan {
		s.msgs++
		s.stats.event(s, "EndFilter", w.slot, "numRequests="+itoa(w.numRequests+1))
	}
	if w.inc != inc {
		return
	}
	w.numRequests++
	if c.typ == cmdScan {
		w.numScans++
	}
	w.curCmd = cmdNone
	if w.state == stateBusy && ok {
		s.checkExpiryLocked(w)
	}
}

// checkExpiryLocked runs when a worker finishes a request (§7.4): hand it a
// queued request, or retire it for its request count, lifetime or generation.
func (s *Server) checkExpiryLocked(w *worker) {
	if len(s.queue) > 0 && w.numRequests < 3*s.cfg.MaxRequests {
		q := s.queue[0]
		s.queue = s.queue[1:]
		s.metrics.queueDepth(len(s.queue))
		// Idle and straight back to Busy, as the original's putOnList does,
		// without letting go of the lock: the worker goes to the waiter.
		s.setState(w, stateIdle)
		s.setState(w, stateBusy)
		q.inc = w.inc
		q.granted <- w
		return
	}
	s.setState(w, stateIdle)
	now := s.now()
	switch {
	case w.numRequests >= s.cfg.MaxRequests:
		s.killLocked(w, "Worker has processed "+itoa(w.numRequests)+" requests")
	case s.cfg.MaxLifetime > 0 && !w.firstReq.IsZero() && now.Sub(w.firstReq) > s.cfg.MaxLifetime:
		s.killLocked(w, "Worker has exceeded maximum lifetime of "+itoa(int(s.cfg.MaxLifetime/time.Second))+" seconds")
	case w.gen < s.generation:
		s.killLocked(w, "New generation -- forcing reread of filter rules")
	}
}

// serveQueueFromStoppedLocked starts a worker in a free slot for the head of
// the queue. The original only hands out queued requests when a worker
// finishes one (§14 item 22); doing it also when a slot frees up means a
// queued message is not left to time out while a slot stands empty.
func (s *Server) serveQueueFromStoppedLocked() {
	for len(s.queue) > 0 && !s.shuttingDown {
		var slot *worker
		for _, w := range s.workers {
			if w.state == stateStopped {
				slot = w
				break
			}
		}
		if slot == nil {
			return
		}
		if err := s.activateLocked(slot, "Serving queued request"); err != nil {
			return
		}
		q := s.queue[0]
		s.queue = s.queue[1:]
		s.metrics.queueDepth(len(s.queue))
		s.setState(slot, stateBusy)
		q.inc = slot.inc
		q.granted <- slot
	}
}

// writeWithDeadline writes a request to a worker's stdin. An idle worker has
// read everything it was sent, so the line goes into an empty pipe at once:
// the first, direct write costs no timer. Only if that does not take the whole
// line does the rest wait, for at most d.
func writeWithDeadline(f *os.File, rc syscall.RawConn, line string, d time.Duration) error {
	if f == nil || rc == nil {
		return errWorkerGone
	}
	n := 0
	var werr error
	if err := rc.Control(func(fd uintptr) { n, werr = unix.Write(int(fd), unsafe.Slice(unsafe.StringData(line), len(line))) }); err != nil {
		return err
	}
	switch {
	case werr == nil && n == len(line):
		return nil
	case werr != nil && werr != unix.EAGAIN && werr != unix.EINTR:
		return werr
	}
	if n < 0 {
		n = 0
	}
	if err := f.SetWriteDeadline(time.Now().Add(d)); err != nil {
		return err
	}
	_, err := f.WriteString(line[n:])
	return err
}
