package faulttest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// Rereads while requests are running and queued: no request fails, and
// afterwards every running worker is one started after the last reread.
func TestRereadUnderLoad(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "2", "-x", "4", "-q", "16", "-w", "1")
	m.waitIdle(2, 10*time.Second)

	// Every PID seen before the last reread belongs to an old generation.
	old := map[int]bool{}
	var oldMu sync.Mutex
	record := func() {
		ws := m.workers()
		oldMu.Lock()
		defer oldMu.Unlock()
		for _, pid := range pidsIn(ws, "IBK") {
			old[pid] = true
		}
	}
	record()

	const clients, perClient = 8, 25
	var wg sync.WaitGroup
	var failMu sync.Mutex
	var failures []string
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < perClient; i++ {
				r, err := m.do("sleep 20")
				if err != nil || r != "ok slept\n" {
					failMu.Lock()
					failures = append(failures, fmt.Sprintf("client %d request %d: %q %v", c, i, r, err))
					failMu.Unlock()
				}
			}
		}(c)
	}
	for i := 0; i < 5; i++ {
		time.Sleep(100 * time.Millisecond)
		record()
		m.expect("reread", "Forced reread of filter rules\n")
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if n := len(failures); n > 0 {
		t.Fatalf("%d of %d requests failed across the rereads", n, clients*perClient)
	}

	// The old generation is retired as each worker finishes; only new
	// workers are left.
	var ws []slot
	harness.WaitFor(t, 10*time.Second, "the old generation to be gone", func() bool {
		ws = m.workers()
		for _, w := range ws {
			if w.state == 'K' || old[w.pid] {
				return false
			}
		}
		return len(pidsIn(ws, "I")) >= 2
	})
	for pid := range old {
		if err := m.waitGone(pid, 5*time.Second); err != nil {
			t.Error(err)
		}
	}
	t.Logf("%d old-generation workers replaced; now: %v", len(old), pidsIn(ws, "IB"))
	m.expect("ping", "PONG\n")
}

// The -q queue: a request that finds every worker busy waits and is served;
// with the queue full a request is refused at once; a request left in the
// queue longer than -Q gets the queue timeout.
func TestQueue(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "1", "-x", "1", "-q", "2", "-Q", "2")
	m.waitIdle(1, 10*time.Second)

	slow := m.async("sleep 800")
	harness.WaitFor(t, 5*time.Second, "the worker to be busy", func() bool { return m.status().count('B') == 1 })
	a := m.async("echo a")
	harness.WaitFor(t, 5*time.Second, "one queued request", func() bool { return m.status().queued == 1 })
	b := m.async("echo b")
	harness.WaitFor(t, 5*time.Second, "two queued requests", func() bool { return m.status().queued == 2 })
	if st := m.status(); st.queueSize != 2 || st.states != "B" {
		t.Errorf("status with the queue full: %+v", st)
	}
	m.expect("echo c", replyNoFree)

	if r := await(t, slow, 15*time.Second, "sleep 800"); r != "ok slept\n" {
		t.Errorf("sleep 800: %q", r)
	}
	if r := await(t, a, 5*time.Second, "queued echo a"); r != "ok a\n" {
		t.Errorf("queued echo a: %q, want %q", r, "ok a\n")
	}
	if r := await(t, b, 5*time.Second, "queued echo b"); r != "ok b\n" {
		t.Errorf("queued echo b: %q, want %q", r, "ok b\n")
	}
	if q := m.status().queued; q != 0 {
		t.Errorf("%d requests still queued", q)
	}

	slow = m.async("sleep 4000")
	harness.WaitFor(t, 5*time.Second, "the worker to be busy", func() bool { return m.status().count('B') == 1 })
	start := time.Now()
	m.expect("echo d", replyQueueTimout)
	if d := time.Since(start); d < 1500*time.Millisecond || d > 4*time.Second {
		t.Errorf("queue timeout after %v, want about 2 s (-Q 2)", d)
	}
	if r := await(t, slow, 15*time.Second, "sleep 4000"); r != "ok slept\n" {
		t.Errorf("sleep 4000: %q", r)
	}
	m.expect("ping", "PONG\n")
}

// With -l, what a worker writes to stderr is logged line by line.
func TestWorkerStderrLogged(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "1", "-x", "1", "-l")
	m.waitIdle(1, 10*time.Second)
	m.expect("stderr hello", "ok\n")
	m.expect("stderr second%20line", "ok\n")
	re := regexp.MustCompile(`(?m)Worker 0 stderr: hello$`)
	re2 := regexp.MustCompile(`(?m)Worker 0 stderr: second line$`)
	harness.WaitFor(t, 5*time.Second, "the worker's stderr in the log", func() bool {
		l := m.log()
		return re.MatchString(l) && re2.MatchString(l)
	})
}

// With -Z, a busy worker's status tags on fd 3 show in `workers`; the tag is
// cleared when the worker goes back to idle.
func TestStatusFD(t *testing.T) {
	t.Parallel()
	m := startMux(t, "-m", "1", "-x", "1", "-Z")
	m.waitIdle(1, 10*time.Second)
	r := m.async("status busy%20thing 1500")
	harness.WaitFor(t, 5*time.Second, "the status tag in `workers`", func() bool {
		ws := m.workers()
		return ws[0].state == 'B' && strings.HasSuffix(ws[0].line, " (busy thing)")
	})
	if info := m.must("workerinfo 0"); !strings.Contains(info, "\nStatusTag busy thing\n") {
		t.Errorf("workerinfo 0 while busy:\n%s", info)
	}
	if got := await(t, r, 10*time.Second, "status"); got != "ok\n" {
		t.Errorf("status: reply %q", got)
	}
	harness.WaitFor(t, 5*time.Second, "the tag to be cleared", func() bool {
		ws := m.workers()
		return ws[0].state == 'I' && !strings.Contains(ws[0].line, "(")
	})
}

// --metrics-listen serves Prometheus metrics and a JSON status.
func TestMetrics(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	m := startMux(t, "-m", "2", "-x", "3", "-w", "1", "--metrics-listen", addr)
	m.waitIdle(2, 10*time.Second)
	for i := 0; i < 5; i++ {
		m.expect("echo x", "ok x\n")
	}
	m.expect("relayok 192.0.2.1 host 25 192.0.2.2 25 NOQUEUE", "ok 1 ok 250 2.1.0 0\n")

	get := func(path string) string {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %v", path, resp.Status, err)
		}
		return string(b)
	}
	metrics := get("/metrics")
	for _, want := range []string{
		`mimedefang_multiplexor_requests_total{command="other",outcome="ok"} 5`,
		`mimedefang_multiplexor_requests_total{command="relayok",outcome="ok"} 1`,
		`mimedefang_multiplexor_workers{state="idle"} 2`,
		`mimedefang_multiplexor_workers{state="stopped"} 1`,
		`mimedefang_multiplexor_workers_max 3`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", metrics)
	}

	var st struct {
		Idle, Busy, Stopped int
		Workers             []struct {
			Slot  int
			State string
			PID   int
		}
	}
	body := get("/status")
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("/status is not JSON: %v\n%s", err, body)
	}
	if len(st.Workers) != 3 || st.Idle != 2 || st.Stopped != 1 {
		t.Errorf("/status: %d workers, idle %d, stopped %d; want 3, 2, 1:\n%s", len(st.Workers), st.Idle, st.Stopped, body)
	}
	want := map[int]bool{}
	for _, pid := range pidsIn(m.workers(), "I") {
		want[pid] = true
	}
	for _, w := range st.Workers {
		if w.State == "idle" && !want[w.PID] {
			t.Errorf("/status: idle worker %d has pid %d, not one `workers` shows", w.Slot, w.PID)
		}
	}
}

// A reread with a filter that does not load (the worker program's -test
// fails) is refused with the program's words; the running workers stay,
// requests keep working, and once the filter is mended the reread goes
// through. SIGINT takes the same path.
func TestRereadRefusesBrokenFilter(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp(binDir, "filter-") // readable by the -U user, unlike t.TempDir
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	filter := filepath.Join(dir, "filter")
	if err := os.WriteFile(filter, []byte("good\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := startMux(t, "-m", "2", "-x", "2", "-F", filter)
	before := pidsIn(m.waitIdle(2, 10*time.Second), "I")

	if err := os.WriteFile(filter, []byte("good\nSYNTAX ERROR\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := m.must("reread")
	want := "error: Filter not reread, workers keep the old one: "
	if !strings.HasPrefix(r, want) || !strings.Contains(r, "syntax error at "+filter+" line 2") || strings.Count(r, "\n") != 1 {
		t.Fatalf("reread of a broken filter answered %q, want %q... with the program's message on one line", r, want)
	}
	m.waitLog("Reread (reread command) refused")
	if err := syscall.Kill(m.pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	m.waitLog("Reread (SIGINT) refused")
	m.expect("ping", "PONG\n")
	after := pidsIn(m.workers(), "I")
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("workers changed after refused rereads: %v, then %v", before, after)
	}

	if err := os.WriteFile(filter, []byte("good again\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m.expect("reread", "Forced reread of filter rules\n")
	harness.WaitFor(t, 10*time.Second, "the old workers to be replaced", func() bool {
		now := pidsIn(m.workers(), "I")
		for _, pid := range now {
			for _, old := range before {
				if pid == old {
					return false
				}
			}
		}
		return len(now) == 2
	})
}
