package faulttest

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// The multiplexor's own error replies (docs/reference/protocol.md §7.6, §8.5).
const (
	replyNoResponse  = "ERR No response from worker\n"
	replyTimeout     = "ERR Filter timed out - check filter rules or system load\n"
	replyNoFree      = "error: No free workers\n"
	replyQueueTimout = "error: Queued request timed out\n"
)

// A worker that dies in the middle of a request: that request gets "ERR No
// response from worker", a request running on another worker is not
// disturbed, and the pool is brought back up to its minimum.
func TestCrash(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "2", "-x", "3", "-w", "1")
	m.waitIdle(2, 10*time.Second)

	gate, open := m.gate("slow")
	slow := m.async("sleep " + gate)
	harness.WaitFor(t, 30*time.Second, "the sleep to be running", func() bool { return m.status().count('B') == 1 })
	m.expect("crash", replyNoResponse)
	open()
	if r := await(t, slow, 15*time.Second, "sleep"); r != "ok slept\n" {
		t.Errorf("sleep 500 running beside the crash: reply %q, want %q", r, "ok slept\n")
	}

	// Healed: the minimum of two workers runs again, and they answer.
	m.waitIdle(2, 10*time.Second)
	m.expect("ping", "PONG\n")

	// A scan whose worker crashes counts as a processed message, and also
	// gets the error reply.
	before := m.status().msgs
	m.expect("scan CRASH /nonexistent", replyNoResponse)
	if after := m.status().msgs; after != before+1 {
		t.Errorf("msgs went from %d to %d after a crashed scan, want +1", before, after)
	}
	m.waitIdle(2, 10*time.Second)
	m.expect("scan NOQUEUE /nonexistent", "ok\n")
	if !strings.Contains(m.log(), "(WORKER DIED UNEXPECTEDLY)") {
		t.Errorf("the log does not say that a worker died unexpectedly")
	}
}

// A worker that never answers is killed at the busy timeout (-b) and its
// request answered with the timeout error; meanwhile the other workers keep
// answering.
func TestHang(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "2", "-x", "4", "-w", "1")
	m.waitIdle(2, 10*time.Second)

	start := time.Now()
	hung := m.async("hang")
	var pid int
	harness.WaitFor(t, 5*time.Second, "the hang to be running", func() bool {
		pids := pidsIn(m.workers(), "B")
		if len(pids) == 1 {
			pid = pids[0]
		}
		return pid != 0
	})
	for i := 0; i < 20; i++ {
		t0 := time.Now()
		if r := m.must("ping"); r != "PONG\n" {
			t.Errorf("ping %d while a worker hangs: reply %q", i, r)
		}
		if d := time.Since(t0); d > 3*time.Second {
			t.Errorf("ping %d while a worker hangs took %v: something blocks", i, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
	select {
	case r := <-hung:
		t.Fatalf("the hang was answered %q after %v, before the 10 s busy timeout", r, time.Since(start))
	default:
	}
	r := await(t, hung, 20*time.Second, "hang")
	elapsed := time.Since(start)
	if r != replyTimeout {
		t.Errorf("hang: reply %q, want %q", r, replyTimeout)
	}
	if elapsed < 9*time.Second || elapsed > 15*time.Second {
		t.Errorf("hang answered after %v, want about 10 s (-b 10)", elapsed)
	}
	// Killed with prejudice: SIGTERM at the timeout, which the worker does
	// not ignore.
	if err := m.waitGone(pid, 5*time.Second); err != nil {
		t.Error(err)
	}
	m.expect("ping", "PONG\n")
}

// A worker that writes half a line and stalls is killed at the busy timeout;
// the other workers are not blocked by its half line.
func TestHalfLine(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "2", "-x", "3", "-w", "1")
	m.waitIdle(2, 10*time.Second)

	start := time.Now()
	half := m.async("half")
	var pid int
	harness.WaitFor(t, 5*time.Second, "the half line to be running", func() bool {
		pids := pidsIn(m.workers(), "B")
		if len(pids) == 1 {
			pid = pids[0]
		}
		return pid != 0
	})
	for i := 0; i < 10; i++ {
		m.expect("echo "+strconv.Itoa(i), "ok "+strconv.Itoa(i)+"\n")
		time.Sleep(300 * time.Millisecond)
	}
	r := await(t, half, 20*time.Second, "half")
	if r != replyTimeout {
		t.Errorf("half: reply %q, want %q", r, replyTimeout)
	}
	if d := time.Since(start); d < 9*time.Second {
		t.Errorf("half answered after %v, before the 10 s busy timeout", d)
	}
	if err := m.waitGone(pid, 5*time.Second); err != nil {
		t.Error(err)
	}
	m.expect("ping", "PONG\n")
}

// With -M, the workers run under RLIMIT_AS: a worker that grows past it dies
// (a Go worker's runtime aborts) and its request gets "No response", while
// modest growth is fine. The limit is set relative to the worker's own
// virtual size, because a Go program reserves about 1 GB of address space
// at start and -M 200000 (200 MB, a usual value for mimedefang.pl) would
// not even let it grow its heap.
func TestGrowPastMemoryLimit(t *testing.T) {
	t.Parallel()
	limitKB := vmSizeKB(t) + 200_000
	m := startMux(t, "-m", "1", "-x", "2", "-w", "1", "-M", strconv.FormatInt(limitKB, 10))
	ws := m.waitIdle(1, 10*time.Second)
	pid := pidsIn(ws, "I")[0]

	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`Max address space\s+` + strconv.FormatInt(limitKB*1024, 10) + `\s+` + strconv.FormatInt(limitKB*1024, 10))
	if !want.Match(limits) {
		t.Errorf("worker %d runs without RLIMIT_AS = %d kB:\n%s", pid, limitKB, limits)
	}

	m.expect("grow 10", "ok grew\n")
	m.expect("grow 400", replyNoResponse)
	if err := m.waitGone(pid, 5*time.Second); err != nil {
		t.Error(err)
	}
	m.waitIdle(1, 10*time.Second)
	m.expect("ping", "PONG\n")
	m.expect("grow 10", "ok grew\n")
}

// A worker that writes an extra line nobody asked for is out of step: it is
// killed and replaced, and its stray line is not taken as the reply to the
// next request.
func TestGarbage(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "1", "-x", "1", "-w", "1")
	old := pidsIn(m.waitIdle(1, 10*time.Second), "I")[0]

	m.expect("garbage", "ok garbage\n")
	var cur int
	harness.WaitFor(t, 10*time.Second, "the out-of-step worker to be replaced", func() bool {
		ws := m.workers()
		if ws[0].state == 'I' && ws[0].pid != old {
			cur = ws[0].pid
			return true
		}
		return false
	})
	if err := m.waitGone(old, 5*time.Second); err != nil {
		t.Error(err)
	}
	for i := 0; i < 5; i++ {
		m.expect("echo "+strconv.Itoa(i), "ok "+strconv.Itoa(i)+"\n")
	}
	m.expect("pid", "ok "+strconv.Itoa(cur)+"\n")
}

// An idle worker that ignores EOF and SIGTERM, retired by a reread, gets EOF,
// SIGTERM 10 s later and SIGKILL 10 s after that (docs/reference/protocol.md §7.5): it is
// still alive after the SIGTERM, and gone within 30 s. The pool keeps
// serving on its other slot meanwhile.
func TestIgnoreEOFAndTERM(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "1", "-x", "2", "-w", "1")
	pid := pidsIn(m.waitIdle(1, 10*time.Second), "I")[0]

	m.expect("pid", "ok "+strconv.Itoa(pid)+"\n")
	m.expect("ignoreeof term", "ok ignoring\n")
	start := time.Now()
	m.expect("reread", "Forced reread of filter rules\n")

	for time.Since(start) < 13*time.Second {
		m.expect("ping", "PONG\n")
		time.Sleep(500 * time.Millisecond)
	}
	// EOF came at 0 s and SIGTERM at 10 s; both were ignored.
	if !m.isWorker(pid) {
		t.Fatalf("the worker ignoring EOF and SIGTERM was gone %v after the reread, before the SIGKILL due at 20 s", time.Since(start))
	}
	if err := m.waitGone(pid, 30*time.Second-time.Since(start)); err != nil {
		t.Fatalf("%v: not SIGKILLed within 30 s of the reread", err)
	}
	t.Logf("worker gone %v after the reread", time.Since(start).Round(100*time.Millisecond))
	m.expect("ping", "PONG\n")
}

// A worker that writes its reply and a second line in one write(2) is out of
// step. The original throws away the bytes after the first newline of a
// read (docs/reference/protocol.md §6.2); they must never become the reply to the request
// queued behind, which the multiplexor hands to the worker as soon as its
// reply is in. Every queued request gets its own reply.
func TestTwoLinesInOneWriteWithQueue(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "1", "-x", "1", "-w", "1", "-q", "4", "-Q", "20")
	const rounds = 10
	for round := 0; round < rounds; round++ {
		old := pidsIn(m.waitIdle(1, 10*time.Second), "I")[0]
		gate, open := m.gate(strconv.Itoa(round))
		g := m.async("twolines " + gate)
		harness.WaitFor(t, 30*time.Second, "the worker to be busy", func() bool { return m.status().count('B') == 1 })
		var qs []<-chan string
		for i := 0; i < 3; i++ {
			qs = append(qs, m.async(fmt.Sprintf("echo r%dq%d", round, i)))
			harness.WaitFor(t, 30*time.Second, "the request to be queued", func() bool { return m.status().queued == i+1 })
		}
		open()
		if r := await(t, g, 15*time.Second, "twolines"); r != "ok twolines\n" {
			t.Errorf("round %d: twolines: reply %q", round, r)
		}
		for i, q := range qs {
			want := fmt.Sprintf("ok r%dq%d\n", round, i)
			if r := await(t, q, 25*time.Second, "queued echo"); r != want {
				t.Errorf("round %d: queued request %d: reply %q, want %q", round, i, r, want)
			}
		}
		if err := m.waitGone(old, 5*time.Second); err != nil {
			t.Errorf("round %d: the out-of-step worker was not replaced: %v", round, err)
		}
		if t.Failed() {
			return
		}
	}
}

// A worker that dies while requests wait in the queue behind it: its own
// request gets "No response", and the queued ones are served by its
// replacement instead of being handed to the dying process.
func TestCrashWithQueue(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "1", "-x", "1", "-w", "1", "-q", "4", "-Q", "20")
	m.waitIdle(1, 10*time.Second)
	gate, open := m.gate("crash")
	c := m.async("crash " + gate)
	harness.WaitFor(t, 30*time.Second, "the worker to be busy", func() bool { return m.status().count('B') == 1 })
	var qs []<-chan string
	for i := 0; i < 3; i++ {
		qs = append(qs, m.async("echo q"+strconv.Itoa(i)))
		harness.WaitFor(t, 30*time.Second, "the request to be queued", func() bool { return m.status().queued == i+1 })
	}
	open()
	if r := await(t, c, 15*time.Second, "crash"); r != replyNoResponse {
		t.Errorf("crash: reply %q, want %q", r, replyNoResponse)
	}
	for i, q := range qs {
		want := "ok q" + strconv.Itoa(i) + "\n"
		if r := await(t, q, 25*time.Second, "queued echo"); r != want {
			t.Errorf("queued request %d behind a crash: reply %q, want %q", i, r, want)
		}
	}
}

// More than three workers busy when the busy timeout fires: the first
// timeout reply says the system may be overloaded (docs/reference/protocol.md §7.6).
func TestHangOverloaded(t *testing.T) {
	t.Parallel()
	const replyOverloaded = "ERR Filter timed out - system may be overloaded (consider increasing busy timeout)\n"
	m := startMux(t, "-m", "1", "-x", "5", "-w", "1")
	m.waitIdle(1, 10*time.Second)
	var hs []<-chan string
	for i := 0; i < 4; i++ {
		hs = append(hs, m.async("hang"))
	}
	var pids []int
	harness.WaitFor(t, 5*time.Second, "four hung workers", func() bool {
		pids = pidsIn(m.workers(), "B")
		return len(pids) == 4
	})
	overloaded := 0
	for _, h := range hs {
		switch r := await(t, h, 25*time.Second, "hang"); r {
		case replyOverloaded:
			overloaded++
		case replyTimeout:
		default:
			t.Errorf("hang: reply %q, want a busy-timeout reply", r)
		}
	}
	if overloaded == 0 {
		t.Errorf("no hang was answered %q although four workers were busy", replyOverloaded)
	}
	for _, pid := range pids {
		if err := m.waitGone(pid, 5*time.Second); err != nil {
			t.Error(err)
		}
	}
	m.expect("ping", "PONG\n")
}

// A reply line longer than 4095 bytes reaches the client cut to 4095 bytes,
// without its newline (docs/reference/protocol.md §6.2); a command of 4095 bytes or more is
// refused (docs/reference/protocol.md §8.1). Either way the next request is answered
// correctly.
func TestLongLines(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "1", "-x", "2", "-w", "1")
	m.waitIdle(1, 10*time.Second)

	arg := strings.Repeat("y", 4094-len("echo "))
	m.expect("echo "+arg, "ok "+arg+"\n")
	m.expect("echo "+arg+"y", "error: Command too long\n")

	r := m.must("long 5000")
	if want := "ok " + strings.Repeat("x", 4092); r != want {
		t.Errorf("long 5000: reply of %d bytes ending %q, want the first 4095 bytes with no newline", len(r), r[max(0, len(r)-10):])
	}
	m.expect("long 4092", "ok "+strings.Repeat("x", 4092)+"\n")
	for i := 0; i < 3; i++ {
		m.expect("echo "+strconv.Itoa(i), "ok "+strconv.Itoa(i)+"\n")
	}
}

// -r: a worker is replaced after that many requests.
func TestMaxRequests(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "1", "-x", "1", "-w", "1", "-r", "3")
	pid := pidsIn(m.waitIdle(1, 10*time.Second), "I")[0]
	for i := 0; i < 3; i++ {
		m.expect("pid", "ok "+strconv.Itoa(pid)+"\n")
	}
	var cur int
	harness.WaitFor(t, 10*time.Second, "the worker to be replaced", func() bool {
		ws := m.workers()
		cur = ws[0].pid
		return ws[0].state == 'I' && cur != pid
	})
	if err := m.waitGone(pid, 5*time.Second); err != nil {
		t.Error(err)
	}
	m.expect("pid", "ok "+strconv.Itoa(cur)+"\n")
}

// A worker program that exits at once: requests get an error reply, and the
// multiplexor stays up and answers its own commands.
func TestWorkerExitsAtOnce(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "1", "-x", "2", "-w", "1", "-f", "/bin/false")
	for i := 0; i < 5; i++ {
		r := m.must("ping")
		if !strings.HasPrefix(r, "ERR ") && !strings.HasPrefix(r, "error: ") {
			t.Errorf("ping to a worker that exits at once: reply %q, want an error reply", r)
		}
	}
	if st := m.status(); len(st.states) != 2 {
		t.Errorf("status: %+v", st)
	}
	m.expect("tick", "error: External agents may not invoke 'tick'\n")
}

// -X: ticks run on idle workers and count as requests; "tick N" from the
// control socket is forwarded, a bare "tick" is refused.
func TestTicks(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "1", "-x", "1", "-w", "1", "-X", "1")
	m.waitIdle(1, 10*time.Second)
	harness.WaitFor(t, 10*time.Second, "two ticks to have run", func() bool {
		var n int
		for _, l := range strings.Split(m.must("workerinfo 0"), "\n") {
			if v, ok := strings.CutPrefix(l, "NumRequests "); ok {
				n, _ = strconv.Atoi(v)
			}
		}
		return n >= 2
	})
	m.expect("tick 7", "tock 7\n")
	m.expect("tick", "error: External agents may not invoke 'tick'\n")
	m.expect("ping", "PONG\n")
}

// SIGTERM with a worker hung on a request and another that ignores EOF and
// SIGTERM: the multiplexor removes its socket, escalates to SIGKILL and
// exits within about 20 s, leaving no process behind; the client waiting on
// the hung worker gets no "ok".
func TestShutdownWithStubbornWorkers(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "2", "-x", "3", "-w", "1")
	m.waitIdle(2, 10*time.Second)
	m.expect("ignoreeof term", "ok ignoring\n")
	h := m.async("hang")
	harness.WaitFor(t, 5*time.Second, "the hang to be running", func() bool { return m.status().count('B') == 1 })
	took := m.terminate()
	if took > 25*time.Second {
		t.Errorf("md-multiplexor took %v to exit after SIGTERM, want about 20 s", took)
	}
	t.Logf("md-multiplexor exited %v after SIGTERM", took.Round(100*time.Millisecond))
	if r := await(t, h, 5*time.Second, "hang"); strings.HasPrefix(r, "ok") {
		t.Errorf("the hung request was answered %q", r)
	}
	if _, err := os.Stat(m.sock); err == nil {
		t.Errorf("the control socket %s is still there", m.sock)
	}
	if left := m.workerProcs(); len(left) > 0 {
		t.Errorf("worker processes left behind: %v", left)
	}
}

// A worker that writes half a line and exits: the partial line is forwarded
// as it is, without a newline (docs/reference/protocol.md §7.6), and the worker is replaced.
func TestPartialLineThenExit(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "1", "-x", "1", "-w", "1")
	pid := pidsIn(m.waitIdle(1, 10*time.Second), "I")[0]
	m.expect("half exit", "ok hal")
	if err := m.waitGone(pid, 5*time.Second); err != nil {
		t.Error(err)
	}
	m.waitIdle(1, 10*time.Second)
	m.expect("ping", "PONG\n")
}

// A worker that writes its whole reply and then exits at once (a crash in
// clean-up code, or a worker that retires itself): the reply was written, so
// the client must get it, not "No response". The process exit and the reply
// bytes reach the multiplexor at nearly the same moment; the reply must win.
func TestReplyThenExit(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "2", "-x", "4", "-w", "1")
	m.waitIdle(2, 10*time.Second)
	const n = 100
	lost := 0
	quitter := 0
	for i := 0; i < n; i++ {
		// The request must not go to the worker that quit last: wait
		// until it has been reaped.
		harness.WaitFor(t, 10*time.Second, "the last worker to quit to be reaped", func() bool {
			for _, w := range m.workers() {
				if w.state == 'K' || w.state == 'I' && (w.pid == quitter || !m.isWorker(w.pid)) {
					return false
				}
			}
			return true
		})
		r := m.must("quit")
		switch {
		case strings.HasPrefix(r, "ok bye "):
			quitter, _ = strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(r, "ok bye ")))
		case r == replyNoResponse:
			lost++
		default:
			t.Errorf("quit: reply %q", r)
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d complete replies written just before the worker exited were lost (answered %q)", lost, n, replyNoResponse)
	}
}

// A worker that answers and exits a moment later without reading on (one
// that retires itself): the request the multiplexor hands it in that
// moment is still whole in its stdin pipe, so it goes to another worker
// instead of failing with "No response from worker".
func TestRequestToExitingWorker(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "1", "-x", "2", "-w", "1", "-q", "4", "-Q", "30")
	m.waitIdle(1, 10*time.Second)
	m.expect("ping", "PONG\n") // the worker has served a request
	if r := m.must("quit 300"); !strings.HasPrefix(r, "ok bye ") {
		t.Fatalf("quit: reply %q", r)
	}
	// The quitting worker is the only idle one: it gets this request.
	m.expect("ping", "PONG\n")
	m.waitLog("exited before reading the request; passing it to another worker")
}
