package mux

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Version is what the `version` command answers, with no newline, as the
// original does. The Debian original this replaces reports 3.3.
var Version = "3.3"

// maxCommand is the control socket's read buffer, counting the "\n" (§8.1).
const maxCommand = 4096

const privHelp = `help             -- List available multiplexor commands
status           -- Display worker status
rawstatus        -- Display worker status in computer-readable format
barstatus        -- Display worker status as bar graph
free             -- Display number of free workers
load             -- Display worker load (scans)
rawload          -- Display worker load in computer-readable format
load1 secs       -- Display worker load in alternate format
rawload1 secs    -- Display worker load in alternate format
load-relayok     -- Display load (relayok requests)
rawload-relayok  -- Computer-readable load (relayok requests)
load-senderok    -- Display load (senderok requests)
rawload-senderok -- Computer-readable load (senderok requests)
load-recipok     -- Display load (recipok requests)
rawload-recipok  -- Computer-readable load (recipok requests)
histo            -- Display histogram of busy workers
msgs             -- Display number of messages processed since startup
reread           -- Force a re-read of filter rules
workers           -- Display workers with process-IDs
busyworkers       -- Display busy workers with process-IDs
workerinfo n      -- Display information about a particular worker
scan /path       -- Run a scan (do not invoke using md-mx-ctrl)
(Analogous hload commands provide hourly information)
`

const unprivHelp = `help             -- List available multiplexor commands
free             -- Display number of free workers
load             -- Display worker load (scans)
rawload          -- Display worker load in computer-readable format
load1 secs       -- Display worker load in alternate format
rawload1 secs    -- Display worker load in computer-readable alternate format
load-relayok     -- Display load (relayok requests)
rawload-relayok  -- Computer-readable load (relayok requests)
load-senderok    -- Display load (senderok requests)
rawload-senderok -- Computer-readable load (senderok requests)
load-recipok     -- Display load (recipok requests)
rawload-recipok  -- Computer-readable load (recipok requests)
status           -- Display worker status
histo            -- Display histogram of busy workers
msgs             -- Display number of messages processed since startup
workers           -- Display workers with process-IDs
busyworkers       -- Display busy workers with process-IDs
workerinfo n      -- Display information about a particular worker
(Analogous hload commands provide hourly information)
`

// serveControl answers one connection on a control socket: one command, one
// reply, close (§8.1).
func (s *Server) serveControl(conn net.Conn, privileged bool) {
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(s.cfg.ClientTimeout))
	reply, ok := s.answer(conn.Read, privileged)
	if !ok || reply == "" {
		return
	}
	conn.SetWriteDeadline(time.Now().Add(s.cfg.ClientTimeout))
	conn.Write([]byte(reply))
}

// answer reads one command with read and returns the reply; ok is false when
// the client went away or timed out before sending a command.
func (s *Server) answer(read func([]byte) (int, error), privileged bool) (reply string, ok bool) {
	line, err := readCommand(read)
	switch {
	case err == errTooLong:
		// Read the rest of the line first: closing with unread input would
		// reset the connection and lose the reply.
		drainLine(read)
		return replyTooLong, true
	case err != nil:
		return "", false
	}
	return s.Command(line, privileged), true
}

// errTooLong marks a command line that did not fit the read buffer.
var errTooLong = fmt.Errorf("mux: command longer than %d bytes", maxCommand-1)

// readCommand reads up to the first "\n" (at most maxCommand bytes) and
// returns the line without it and without one trailing "\r". A line that ends
// at EOF without "\n" is taken whole. A line too long for the buffer returns
// errTooLong, which the caller answers with "error: Command too long".
func readCommand(read func([]byte) (int, error)) (string, error) {
	bp := cmdBufs.Get().(*[]byte)
	defer cmdBufs.Put(bp)
	buf := *bp
	n := 0
	for {
		m, err := read(buf[n:])
		if m < 0 {
			m = 0
		}
		if i := bytes.IndexByte(buf[n:n+m], '\n'); i >= 0 {
			return strings.TrimSuffix(string(buf[:n+i]), "\r"), nil
		}
		n += m
		if n == len(buf) {
			return "", errTooLong
		}
		if err != nil {
			if n == 0 {
				return "", err
			}
			return strings.TrimSuffix(string(buf[:n]), "\r"), nil
		}
	}
}

// drainLine reads and discards input up to and including the next "\n".
func drainLine(read func([]byte) (int, error)) {
	bp := cmdBufs.Get().(*[]byte)
	defer cmdBufs.Put(bp)
	for {
		n, err := read(*bp)
		if (n > 0 && bytes.IndexByte((*bp)[:n], '\n') >= 0) || err != nil {
			return
		}
	}
}

// cmdBufs recycles the control sockets' read buffers: one connection per
// request means one buffer per request otherwise.
var cmdBufs = sync.Pool{New: func() any { b := make([]byte, maxCommand); return &b }}

// Command answers one control command, in the comparison order of the
// original's handleCommand (§8.2). It returns the exact reply bytes; "" means
// close without writing.
func (s *Server) Command(cmd string, privileged bool) string {
	switch cmd {
	case "help":
		if privileged {
			return privHelp
		}
		return unprivHelp
	case "free":
		s.mu.Lock()
		defer s.mu.Unlock()
		return itoa(s.countLocked().free()) + "\n"
	case "version":
		return Version
	case "tick":
		return "error: External agents may not invoke 'tick'\n"
	case "status":
		return s.statusReply()
	case "slaves", "workers":
		return s.workerReport(false)
	case "busyslaves", "busyworkers":
		return s.workerReport(true)
	case "histo":
		return s.histoReply()
	case "msgs":
		s.mu.Lock()
		defer s.mu.Unlock()
		return strconv.FormatInt(s.msgs, 10) + "\n"
	case "foo_no_such_command":
		return "error: Unknown command\n"
	}
	if t, ok := loadCommands[cmd]; ok {
		return s.loadReply(t)
	}
	if t, ok := loadCommands[strings.TrimPrefix(cmd, "h")]; ok && cmd[0] == 'h' {
		return s.hourlyReply(t)
	}
	if rest, ok := strings.CutPrefix(cmd, "load1 "); ok {
		return s.load1Reply(rest)
	}
	if strings.HasPrefix(cmd, "slaveinfo ") || strings.HasPrefix(cmd, "workerinfo ") {
		return s.workerInfo(cmd)
	}
	if !privileged {
		return "error: Attempt to use privileged command on unprivileged socket\n"
	}
	switch cmd {
	case "reread":
		if err := s.RereadChecked("reread command"); err != nil {
			return "error: Filter not reread, workers keep the old one: " + oneLine(err.Error()) + "\n"
		}
		return "Forced reread of filter rules\n"
	case "autoscale":
		return s.autoscaleReply()
	}
	if len(cmd) >= maxCommand-1 {
		return replyTooLong
	}
	// scan and everything else go to a worker, with the "\n" put back.
	return s.Do(cmd+"\n", true)
}

// loadCommands maps load and load-* to the command type they report; the
// same names with an h in front are the hourly figures.
var loadCommands = map[string]cmdType{
	"load": cmdScan, "load-relayok": cmdRelayok, "load-senderok": cmdSenderok, "load-recipok": cmdRecipok,
}

func (s *Server) uptime() int64 { return int64(s.now().Sub(s.started) / time.Second) }

func (s *Server) statusReply() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, w := range s.workers {
		b.WriteByte(w.state.char())
	}
	fmt.Fprintf(&b, " %d %d %d %d %d\n", s.msgs, s.activations, s.cfg.QueueSize, len(s.queue), s.uptime())
	return b.String()
}

func (s *Server) workerReport(busyOnly bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var b strings.Builder
	for _, w := range s.workers {
		if busyOnly && w.state != stateBusy {
			continue
		}
		fmt.Fprintf(&b, "%d %c", w.slot, w.state.char())
		if w.state != stateStopped {
			fmt.Fprintf(&b, " %d", w.pid)
		}
		if w.state == stateBusy && w.curCmd >= 0 && w.curCmd < numTracked {
			b.WriteString(" " + w.curCmd.String())
		}
		if w.lastCmd >= 0 && w.lastCmd < numTracked {
			b.WriteString(" last=" + w.lastCmd.String())
		}
		fmt.Fprintf(&b, " ago=%d", secondsSince(now, w.lastChange))
		if w.tag != "" {
			b.WriteString(" (" + w.tag + ")")
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func avg(sum, n int64, empty float64) float64 {
	if n == 0 {
		return empty
	}
	return float64(sum) / float64(n)
}

func (s *Server) loadReply(t cmdType) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().Unix()
	var w [4]totals
	for i, back := range []int64{10, 60, 300, 600} {
		w[i] = s.hist.window(t, now, back)
		if t != cmdScan {
			w[i].activated, w[i].reaped = 0, 0
		}
	}
	var b strings.Builder
	writeCountsAndAverages(&b, &w, 1) // load says 1.000000 busy workers when idle (§14 item 15)
	for i := range w {
		fmt.Fprintf(&b, "%d ", w[i].activated)
	}
	for i := range w {
		fmt.Fprintf(&b, "%d ", w[i].reaped)
	}
	c := s.countLocked()
	fmt.Fprintf(&b, "%d %d %d %d %d %d %d %d %d\n", c.busy, c.idle, c.stopped, c.killed,
		s.msgs, s.activations, s.cfg.QueueSize, len(s.queue), s.uptime())
	return b.String()
}

// writeCountsAndAverages writes the first twelve fields of load and hload:
// four counts, four average busy-worker counts (emptyAvg for a window with no
// commands), four average milliseconds.
func writeCountsAndAverages(b *strings.Builder, w *[4]totals, emptyAvg float64) {
	for i := range w {
		fmt.Fprintf(b, "%d ", w[i].count)
	}
	for i := range w {
		fmt.Fprintf(b, "%f ", avg(w[i].workers, w[i].count, emptyAvg))
	}
	for i := range w {
		fmt.Fprintf(b, "%f ", avg(w[i].ms, w[i].count, 0))
	}
}

func (s *Server) load1Reply(arg string) string {
	back, err := strconv.Atoi(strings.TrimSpace(arg))
	if err != nil || back < 10 || back > 600 {
		return "error: Invalid 'back' amount (must be 10-600)\n"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().Unix()
	var b strings.Builder
	for t := cmdType(0); t < numTracked; t++ {
		w := s.hist.window(t, now, int64(back))
		fmt.Fprintf(&b, "%d %f %f ", w.count, avg(w.workers, w.count, 0), avg(w.ms, w.count, 0))
	}
	c := s.countLocked()
	var busyBy [numTracked]int
	for _, w := range s.workers {
		if w.state == stateBusy && w.curCmd >= 0 && w.curCmd < numTracked {
			busyBy[w.curCmd]++
		}
	}
	fmt.Fprintf(&b, "%d %d %d %d %d %d %d %d %d %d %d %d %d %d\n", c.busy, c.idle, c.stopped, c.killed,
		s.msgs, s.activations, s.cfg.QueueSize, len(s.queue), s.uptime(), back,
		busyBy[cmdScan], busyBy[cmdRelayok], busyBy[cmdSenderok], busyBy[cmdRecipok])
	return b.String()
}

func (s *Server) hourlyReply(t cmdType) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().Unix()
	var w [4]totals
	var span [4]int64
	for i, h := range []int64{1, 4, 12, 24} {
		w[i], span[i] = s.hist.hourWindow(t, now, h)
	}
	var b strings.Builder
	writeCountsAndAverages(&b, &w, 0)
	fmt.Fprintf(&b, "%d %d %d %d\n", span[0], span[1], span[2], span[3])
	return b.String()
}

func (s *Server) histoReply() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for i, n := range s.histo {
		fmt.Fprintf(&b, "%4d %d\n", i+1, n)
	}
	return b.String()
}

func (s *Server) workerInfo(cmd string) string {
	// The original parses from byte 10 with sscanf("%d"), which skips spaces.
	arg := ""
	if len(cmd) > 10 {
		arg = cmd[10:]
	}
	n, ok := scanInt(arg)
	if !ok {
		return "error: Invalid worker number\n"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n < 0 || n >= len(s.workers) {
		return "error: Worker number out of range\n"
	}
	w := s.workers[n]
	now := s.now()
	pid, age, reqAge := -1, int64(-1), int64(-1)
	if w.state != stateStopped {
		pid = w.pid
		age = secondsSince(now, w.activated)
		reqAge = secondsSince(now, w.firstReq)
	}
	return fmt.Sprintf("Worker %d\nState %s\nPID %d\nNumRequests %d\nNumScans %d\nAge %d\nFirstReqAge %d\nLastStateChangeAge %d\nStatusTag %s\n",
		n, w.state.name(), pid, w.numRequests, w.numScans, age, reqAge, secondsSince(now, w.lastChange), w.tag)
}

// scanInt is sscanf("%d"): leading white space, optional sign, digits.
func scanInt(s string) (int, bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	end := 0
	if end < len(s) && (s[end] == '-' || s[end] == '+') {
		end++
	}
	start := end
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == start {
		return 0, false
	}
	n, err := strconv.Atoi(s[:end])
	return n, err == nil
}

func itoa(n int) string { return strconv.Itoa(n) }

// oneLine keeps a reply on one line: the control protocol is line-based.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
