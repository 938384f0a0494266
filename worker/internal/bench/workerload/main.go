// Command workerload measures MIMEDefang workers in server mode: per-message
// scan time and resident memory of two or more worker programs running the
// same policy over the same corpus, in one run.
//
//	workerload -worker original=/usr/bin/mimedefang.pl,conformance.filter \
//	           -worker md-worker=bin/md-worker,conformance.lua \
//	           -corpus 'worker/testdata/corpus/*.eml' -rounds 20
//
// For every -worker it starts one process, `PROGRAM -f FILTER -server`, for
// the whole run, as the multiplexor would. It builds a working directory
// (INPUTMSG, HEADERS, COMMANDS; package workdir) for every corpus message,
// and then, round by round, sends `scan <qid> <dir>` for every message to
// each worker in turn and times the round trip (the request written to the
// `ok` read). Every scan gets a fresh copy of its working directory, written
// before the round starts, outside the timed region. The workers take turns
// round by round (A B, then B A), so that a noisy spell of a shared machine
// hits both. One unmeasured warm-up round comes first.
//
// It prints a Markdown table (median, p90 and p99 scan time, messages per
// second, CPU time per message, peak and final RSS of each worker process)
// and, with -raw FILE, one line per worker with the same figures as
// key=value pairs. The first -worker is the baseline of the ratio columns.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mdgo/md/internal/loadstat"

	"github.com/mdgo/md/worker/workdir"
)

// workerSpec is one -worker flag: NAME=PROGRAM,FILTER.
type workerSpec struct {
	name, program, filter string
}

type workerFlags []workerSpec

func (w *workerFlags) String() string { return fmt.Sprint(*w) }

func (w *workerFlags) Set(s string) error {
	name, rest, ok := strings.Cut(s, "=")
	prog, filt, ok2 := strings.Cut(rest, ",")
	if !ok || !ok2 || name == "" || prog == "" || filt == "" {
		return fmt.Errorf("want NAME=PROGRAM,FILTER, got %q", s)
	}
	*w = append(*w, workerSpec{name, prog, filt})
	return nil
}

type corpusFlags []string

func (c *corpusFlags) String() string { return strings.Join(*c, " ") }
func (c *corpusFlags) Set(s string) error {
	*c = append(*c, s)
	return nil
}

func main() {
	var (
		workers workerFlags
		corpus  corpusFlags
	)
	flag.Var(&workers, "worker", "NAME=PROGRAM,FILTER: a worker to measure, started as `PROGRAM -f FILTER -server` (repeat; the first is the baseline)")
	flag.Var(&corpus, "corpus", "a glob of .eml files (repeat)")
	rounds := flag.Int("rounds", 20, "measured rounds; each scans every message once per worker")
	scratch := flag.String("dir", "", "where the working directories go (default: a new directory under $TMPDIR, removed at exit)")
	raw := flag.String("raw", "", "also write one key=value line per worker to this file")
	title := flag.String("policy", "", "the policy's name, for the report")
	skip := flag.String("skip", "", "comma-separated file names of corpus messages to leave out")
	flag.Parse()
	if len(workers) < 1 || len(corpus) == 0 || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "workerload: need at least one -worker, one -corpus and -rounds >= 1")
		flag.Usage()
		os.Exit(2)
	}
	skipped := map[string]bool{}
	for _, n := range strings.Split(*skip, ",") {
		if n != "" {
			skipped[n] = true
		}
	}
	if err := run(workers, corpus, skipped, *rounds, *scratch, *raw, *title); err != nil {
		fmt.Fprintln(os.Stderr, "workerload:", err)
		os.Exit(1)
	}
}

// message is one corpus message's working-directory files.
type message struct {
	name  string
	files map[string][]byte
}

func loadCorpus(globs []string, skip map[string]bool) ([]message, error) {
	var msgs []message
	for _, g := range globs {
		paths, err := filepath.Glob(g)
		if err != nil {
			return nil, err
		}
		sort.Strings(paths)
		for _, p := range paths {
			if skip[filepath.Base(p)] {
				continue
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			i := len(msgs) + 1
			msgs = append(msgs, message{
				name:  filepath.Base(p),
				files: workdir.Files(b, fmt.Sprintf("m%06d", i), fmt.Sprintf("4C%06dQ", i)),
			})
		}
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("no message matches %q", globs)
	}
	return msgs, nil
}

func run(specs []workerSpec, globs []string, skip map[string]bool, rounds int, scratch, rawPath, title string) error {
	msgs, err := loadCorpus(globs, skip)
	if err != nil {
		return err
	}
	if scratch == "" {
		scratch, err = os.MkdirTemp("", "workerload-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(scratch)
	} else if err := os.MkdirAll(scratch, 0o700); err != nil {
		return err
	}
	var ws []*worker
	defer func() {
		for _, w := range ws {
			w.stop()
		}
	}()
	for _, s := range specs {
		w, err := start(s, filepath.Join(scratch, s.name+".log"))
		if err != nil {
			return err
		}
		ws = append(ws, w)
	}
	// Round 0 is the warm-up: it loads whatever the filter loads lazily
	// and is not counted.
	for r := 0; r <= rounds; r++ {
		order := make([]*worker, len(ws))
		copy(order, ws)
		if r%2 == 1 {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		for _, w := range order {
			if err := w.round(msgs, filepath.Join(scratch, w.spec.name, strconv.Itoa(r)), r > 0); err != nil {
				return fmt.Errorf("%s, round %d: %w", w.spec.name, r, err)
			}
			fmt.Fprintf(os.Stderr, "workerload: %s round %d/%d done\n", w.spec.name, r, rounds)
		}
	}
	for _, w := range ws {
		if err := w.finish(); err != nil {
			return err
		}
	}
	fmt.Print(report(ws, len(msgs), rounds, title))
	if rawPath != "" {
		var b strings.Builder
		for _, w := range ws {
			s := w.summary()
			fmt.Fprintf(&b, "policy=%q worker=%s scans=%d errors=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f mps=%.1f cpu_ms=%.3f hwm_kib=%d rss_kib=%d anon_kib=%d\n",
				title, w.spec.name, s.n, w.errors, s.p50, s.p90, s.p99, s.mps, s.cpuMs, w.hwmKiB, w.rssKiB, w.anonKiB)
		}
		if err := os.WriteFile(rawPath, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// worker is one worker process in server mode.
type worker struct {
	spec   workerSpec
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader

	times   []time.Duration // every measured round trip
	errors  int             // scans answered with something other than ok
	cpu     int64           // clock ticks spent in measured rounds
	hwmKiB  int64           // VmHWM at the end
	rssKiB  int64           // VmRSS at the end
	anonKiB int64           // RssAnon at the end: the part no other worker shares
}

func start(s workerSpec, logPath string) (*worker, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.program, "-f", s.filter, "-server")
	cmd.Env = append(os.Environ(), "TZ=UTC", "LC_ALL=C")
	cmd.Stderr = log
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.name, err)
	}
	log.Close() // the child holds its own descriptor
	w := &worker{spec: s, cmd: cmd, stdin: in, stdout: bufio.NewReader(out)}
	// A ping proves the filter loaded and the loop runs.
	if reply, err := w.request("ping"); err != nil || reply != "PONG" {
		w.stop()
		tail, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("%s did not answer ping (%q, %v); its log:\n%s", s.name, reply, err, tail)
	}
	return w, nil
}

func (w *worker) request(line string) (string, error) {
	if _, err := io.WriteString(w.stdin, line+"\n"); err != nil {
		return "", err
	}
	reply, err := w.stdout.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("reading the reply to %q: %w", line, err)
	}
	return strings.TrimSuffix(reply, "\n"), nil
}

// round scans every message once, each in a fresh working directory under
// base, written before the first scan; measured rounds are recorded.
func (w *worker) round(msgs []message, base string, measured bool) error {
	dirs := make([]string, len(msgs))
	for i, m := range msgs {
		dirs[i] = filepath.Join(base, strconv.Itoa(i))
		if err := os.MkdirAll(dirs[i], 0o700); err != nil {
			return err
		}
		if err := workdir.WriteFiles(dirs[i], m.files, 0o600); err != nil {
			return err
		}
	}
	cpu0, err := cpuTicks(w.cmd.Process.Pid)
	if err != nil {
		return err
	}
	for i, m := range msgs {
		qid := fmt.Sprintf("4C%06dQ", i+1)
		t0 := time.Now()
		reply, err := w.request("scan " + qid + " " + dirs[i])
		d := time.Since(t0)
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		if !measured {
			if reply != "ok" {
				fmt.Fprintf(os.Stderr, "workerload: %s: %s answered %q (warm-up)\n", w.spec.name, m.name, reply)
			}
			continue
		}
		w.times = append(w.times, d)
		if reply != "ok" {
			w.errors++
			fmt.Fprintf(os.Stderr, "workerload: %s: %s answered %q\n", w.spec.name, m.name, reply)
		}
	}
	cpu1, err := cpuTicks(w.cmd.Process.Pid)
	if err != nil {
		return err
	}
	if measured {
		w.cpu += cpu1 - cpu0
	}
	return os.RemoveAll(base)
}

// finish reads the memory figures of the still running worker.
func (w *worker) finish() error {
	var err error
	pid := w.cmd.Process.Pid
	if w.hwmKiB, err = statusKiB(pid, "VmHWM"); err != nil {
		return err
	}
	if w.rssKiB, err = statusKiB(pid, "VmRSS"); err != nil {
		return err
	}
	w.anonKiB, err = statusKiB(pid, "RssAnon")
	return err
}

// stop closes the worker's stdin (its loop ends at EOF), then waits; a
// worker that has not exited within 5 s is killed.
func (w *worker) stop() {
	if w.cmd.ProcessState != nil {
		return
	}
	w.stdin.Close()
	done := make(chan struct{})
	go func() {
		w.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		w.cmd.Process.Kill()
		<-done
	}
}

// statusKiB reads a "Name:  N kB" field of /proc/PID/status.
func statusKiB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// cpuTicks is utime + stime of /proc/PID/stat, in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14, stime 15.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("unreadable /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unreadable utime/stime in /proc stat")
	}
	return u + s, nil
}

// clockTick is USER_HZ, 100 on every Linux platform Go supports.
const clockTick = 100

type summary struct {
	n                       int
	p50, p90, p99           float64 // ms
	mps                     float64 // scans per second of round-trip time
	cpuMs                   float64 // worker CPU ms per scan
	hwmMiB, rssMiB, anonMiB float64
}

func (w *worker) summary() summary {
	s := summary{n: len(w.times)}
	if s.n == 0 {
		return s
	}
	sorted := loadstat.Sorted(w.times)
	var total time.Duration
	for _, d := range sorted {
		total += d
	}
	s.p50 = loadstat.Millis(loadstat.Percentile(sorted, 50))
	s.p90 = loadstat.Millis(loadstat.Percentile(sorted, 90))
	s.p99 = loadstat.Millis(loadstat.Percentile(sorted, 99))
	s.mps = float64(s.n) / total.Seconds()
	s.cpuMs = float64(w.cpu) * 1000 / clockTick / float64(s.n)
	s.hwmMiB = float64(w.hwmKiB) / 1024
	s.rssMiB = float64(w.rssKiB) / 1024
	s.anonMiB = float64(w.anonKiB) / 1024
	return s
}

func report(ws []*worker, nmsgs, rounds int, policy string) string {
	var b strings.Builder
	base := ws[0].summary()
	fmt.Fprintf(&b, "Policy: %s; %d messages x %d rounds per worker (after one warm-up round)\n\n", policy, nmsgs, rounds)
	b.WriteString("| worker | filter | median ms | p90 ms | p99 ms | msg/s | CPU ms/msg | peak RSS MiB | RSS after MiB | of which anonymous | errors |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, w := range ws {
		s := w.summary()
		fmt.Fprintf(&b, "| %s | %s | %.3f | %.3f | %.3f | %.1f | %.2f | %.1f | %.1f | %.1f | %d |\n",
			w.spec.name, filepath.Base(w.spec.filter), s.p50, s.p90, s.p99, s.mps, s.cpuMs, s.hwmMiB, s.rssMiB, s.anonMiB, w.errors)
	}
	if len(ws) > 1 {
		b.WriteString("\n| worker | median speed-up | p99 speed-up | msg/s ratio | CPU ratio | peak RSS fraction | anonymous RSS fraction |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
		for _, w := range ws[1:] {
			s := w.summary()
			fmt.Fprintf(&b, "| %s vs %s | %.1fx | %.1fx | %.1fx | %.1fx | %.2f | %.2f |\n", w.spec.name, ws[0].spec.name,
				div(base.p50, s.p50), div(base.p99, s.p99), div(s.mps, base.mps), div(base.cpuMs, s.cpuMs),
				div(s.hwmMiB, base.hwmMiB), div(s.anonMiB, base.anonMiB))
		}
	}
	return b.String()
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
