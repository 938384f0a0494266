// Package chaos is the fault campaign of the whole Go stack (issue 14):
// Postfix → md-milterd → md-multiplexor → md-worker, with clamd, spamd,
// rspamd and an NSD blocklist behind the filter, under load, with one
// fault injected per phase. Every message carries a number; at the end
// every number is accounted for: delivered exactly once with the
// policy's work on it, rejected by the policy with a 5xx, or still with
// the client after a 4xx (and then sent again and delivered once the
// fault is gone). Nothing may be lost, duplicated or delivered unscanned.
//
// make test runs it with MD_CHAOS_N=30 messages per fault; make chaos
// with more, rewriting the table in docs/reliability.md
// (MD_CHAOS_REPORT). See docs/reliability.md for the settings.
package chaos

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/brokengen"
	"github.com/mdgo/md/integration/internal/harness"
)

// settings of a campaign, from the environment
type settings struct {
	n          int    // messages per fault (MD_CHAOS_N)
	corpusN    int    // broken-MIME messages (MD_CHAOS_CORPUS_N)
	kills      int    // workers killed (MD_CHAOS_KILLS)
	seed       int64  // the broken-MIME generator's seed (MD_CHAOS_SEED)
	only       string // run only the faults whose name matches (MD_CHAOS_ONLY)
	report     string // the file whose table is rewritten (MD_CHAOS_REPORT)
	conc       int    // concurrent SMTP clients
	rate       int    // messages a second at most (MD_CHAOS_RATE)
	corpusRate int    // the same for the broken-MIME corpus, small messages (MD_CHAOS_CORPUS_RATE)
	fiftyMin   int    // the faulty-filter phase sends at least this many
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

func loadSettings(t *testing.T) settings {
	s := settings{
		n:          envInt(t, "MD_CHAOS_N", 30),
		kills:      envInt(t, "MD_CHAOS_KILLS", 100),
		seed:       int64(envInt(t, "MD_CHAOS_SEED", 1)),
		only:       os.Getenv("MD_CHAOS_ONLY"),
		report:     os.Getenv("MD_CHAOS_REPORT"),
		conc:       4,
		rate:       envInt(t, "MD_CHAOS_RATE", 3),
		corpusRate: envInt(t, "MD_CHAOS_CORPUS_RATE", 6),
		fiftyMin:   150, // three messages in 50: one error, one loop, one allocation
	}
	s.corpusN = envInt(t, "MD_CHAOS_CORPUS_N", 3*s.n)
	if s.only != "" && s.report != "" {
		t.Fatal("MD_CHAOS_ONLY with MD_CHAOS_REPORT: the report's table is of the whole campaign")
	}
	return s
}

// phase is one fault's run.
type phase struct {
	t        *testing.T
	cs       *chaosStack
	l        *ledger
	f        fault
	min      int
	s        *sender
	made     int
	injected atomic.Bool // the injector has finished
	notes    []string
	restarts int
	took     time.Duration
	// the faulty filter was in place for messages numbered faultyFrom
	// up to faultyTo (excluded)
	faultyFrom, faultyTo int
}

func (ph *phase) notef(format string, args ...any) {
	ph.notes = append(ph.notes, fmt.Sprintf(format, args...))
}

// sent is how many messages the phase has sent once.
func (ph *phase) sent() int { return int(ph.s.sent.Load()) }

// waitSent waits until the phase has sent n messages.
func (ph *phase) waitSent(n int) {
	ph.t.Helper()
	harness.WaitFor(ph.t, 10*time.Minute, fmt.Sprintf("%d messages sent in phase %s", n, ph.f.name), func() bool {
		return ph.sent() >= n
	})
}

// window runs on once from/1 of the phase's messages are sent, and off
// once to/1 are and at least minWindow has passed.
func (ph *phase) window(from, to float64, on, off func()) {
	ph.waitSent(int(from * float64(ph.min)))
	start := time.Now()
	on()
	ph.waitSent(int(to * float64(ph.min)))
	if d := minWindow - time.Since(start); d > 0 {
		time.Sleep(d)
	}
	off()
	ph.notef("fault on for %.1f s", time.Since(start).Seconds())
}

// minWindow is the shortest time a windowed fault lasts.
const minWindow = 4 * time.Second

// fault is one row of the table.
type fault struct {
	name   string
	what   string
	min    func(s settings) int // messages to send at least; nil: s.n
	inject func(ph *phase)      // runs during the load, in the test's goroutine
	corpus bool                 // the phase sends the broken-MIME and torture corpus
	// evidence checks, once the phase is over, that the fault took
	// effect: an error says how it did not.
	evidence func(ph *phase) error
}

func TestChaos(t *testing.T) {
	st := loadSettings(t)
	var only *regexp.Regexp
	if st.only != "" {
		only = regexp.MustCompile(st.only)
	}
	cs := startChaosStack(t)
	l := newLedger()
	var phases []*phase
	start := time.Now()
	for _, f := range faults {
		if only != nil && !only.MatchString(f.name) {
			continue
		}
		ph := runPhase(t, cs, l, st, f)
		phases = append(phases, ph)
		if t.Failed() {
			break
		}
	}
	if len(phases) == 0 {
		t.Fatalf("MD_CHAOS_ONLY=%q matches no fault", st.only)
	}
	// A last look, for copies delivered late (a duplicate would show now).
	if err := l.collect(cs.Postfix.Maildir); err != nil {
		t.Fatal(err)
	}
	rows := tally(l, phases)
	table := renderTable(rows)
	t.Logf("chaos campaign (%d messages per fault, %v):\n%s", st.n, time.Since(start).Round(time.Second), table)
	for _, s := range l.strays {
		t.Errorf("delivered message of no known number: %s", s)
	}
	for _, r := range rows {
		if r.lost+r.duplicated+r.unscanned+r.wrongReject > 0 {
			t.Errorf("%s: %d lost, %d duplicated, %d delivered unscanned, %d rejected against the policy", r.fault, r.lost, r.duplicated, r.unscanned, r.wrongReject)
		}
		if r.wrongHeld > 0 {
			t.Errorf("%s: %d messages still tempfailed after the fault was gone", r.fault, r.wrongHeld)
		}
	}
	for _, m := range l.problems() {
		t.Error(m)
	}
	// A md-milterd killed with messages in flight leaves their working
	// directories; the restarted one removes them after its --stale-age,
	// and none other: a directory a running md-milterd leaked would be
	// removed too, and must not be hidden by it.
	if err := harness.Await(3*time.Minute, func() bool { return cs.workDirs() == 0 }); err != nil {
		t.Errorf("%v: %d working directories left in the spool after the campaign", err, cs.workDirs())
	}
	if n := strings.Count(cs.Milter.Log(), "removed working directory"); n > cs.orphans {
		t.Errorf("md-milterd removed %d stale working directories, %d more than the killed md-milterds left: leaked by a running one", n, n-cs.orphans)
	} else {
		t.Logf("chaos: md-milterd removed %d stale working directories, of %d left by the killed md-milterds", n, cs.orphans)
	}
	if st.report != "" && !t.Failed() {
		if err := writeReport(st.report, st, table, time.Since(start)); err != nil {
			t.Error(err)
		}
	}
}

// runPhase sends the phase's messages while its fault is injected, then
// sends again what was tempfailed, waits for every accepted message to be
// delivered, and checks that the daemons still run.
func runPhase(t *testing.T, cs *chaosStack, l *ledger, st settings, f fault) *phase {
	ph := &phase{t: t, cs: cs, l: l, f: f, min: st.n, s: &sender{l: l, addr: cs.Postfix.Addr, rate: st.rate}}
	if f.min != nil {
		ph.min = f.min(st)
	}
	t.Logf("chaos: phase %q: %s", f.name, f.what)
	start := time.Now()
	mux, milter := cs.Multiplexor.Process, cs.Milter.Process

	var next func() *message
	if f.corpus {
		ph.s.rate = st.corpusRate
		corpus := buildCorpus(t, l, f.name, st)
		ph.min = len(corpus)
		next = func() *message {
			if ph.made >= len(corpus) {
				return nil
			}
			ph.made++
			return corpus[ph.made-1]
		}
	} else {
		next = func() *message {
			if (ph.made >= ph.min && ph.injected.Load()) || ph.made >= 40*ph.min {
				return nil
			}
			kind := mixedKind(ph.made)
			ph.made++
			return l.add(f.name, kind, "", func(seq int) []byte { return build(seq, kind) })
		}
	}
	done := make(chan struct{})
	go func() {
		ph.s.run(st.conc, next)
		close(done)
	}()
	if f.inject != nil {
		f.inject(ph)
	}
	ph.injected.Store(true)
	<-done

	// The fault is gone: what the client still holds is sent again, as a
	// sending MTA's queue runs would; a message that may stay tempfailed at
	// most 3 times.
	deadline := time.Now().Add(harness.Scale(5 * time.Minute))
	for round := 1; ; round++ {
		var again []*message
		for _, m := range l.held(f.name) {
			if !m.mayHold || m.attempts < 3 {
				again = append(again, m)
			}
		}
		if len(again) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: %d messages still tempfailed %v after the fault, e.g. %d: %s", f.name, len(again), harness.Scale(5*time.Minute), again[0].seq, again[0].reply)
			break
		}
		time.Sleep(time.Second)
		i := 0
		ph.s.run(st.conc, func() *message {
			if i >= len(again) {
				return nil
			}
			i++
			return again[i-1]
		})
	}
	err := harness.Await(harness.Scale(3*time.Minute), func() bool {
		if err := l.collect(cs.Postfix.Maildir); err != nil {
			t.Fatal(err)
		}
		return l.awaiting() == 0 && cs.queued() == 0
	})
	if err != nil {
		t.Errorf("%s: %v: %d accepted messages not delivered, %d in Postfix's queue", f.name, err, l.awaiting(), cs.queued())
	}
	for _, p := range []struct {
		name string
		old  *harness.Process
		now  *harness.Process
	}{{"md-multiplexor", mux, cs.Multiplexor.Process}, {"md-milterd", milter, cs.Milter.Process}} {
		if !p.now.Running() {
			t.Errorf("%s: %s (pid %d) died during the phase:\n%s", f.name, p.name, p.now.PID, p.now.Log())
		}
		if p.old != p.now {
			ph.notef("%s killed and restarted", p.name)
		}
	}
	if f.evidence != nil {
		if err := f.evidence(ph); err != nil {
			t.Errorf("%s: the fault did not take effect: %v", f.name, err)
		}
	}
	if w := cs.workDirs(); w > 0 {
		ph.notef("%d working directories in the spool at the end of the phase", w)
	}
	ph.took = time.Since(start)
	t.Logf("chaos: phase %q done in %v: %d messages, %s", f.name, ph.took.Round(time.Millisecond), ph.made, strings.Join(ph.notes, "; "))
	return ph
}

// The faults, one phase each, in the order of the table.
var faults = []fault{
	{name: "none", what: "no fault: the baseline"},
	{
		name: "kill -9 workers",
		what: "SIGKILL to a random worker every 20–120 ms, MD_CHAOS_KILLS times (100)",
		inject: func(ph *phase) {
			kills := 0
			want := envInt(ph.t, "MD_CHAOS_KILLS", 100)
			deadline := time.Now().Add(harness.Scale(10 * time.Minute))
			for kills < want {
				if time.Now().After(deadline) {
					ph.t.Errorf("only %d of %d workers killed in %v: md-multiplexor ran none", kills, want, harness.Scale(10*time.Minute))
					break
				}
				time.Sleep(time.Duration(20+rand.Intn(100)) * time.Millisecond)
				ws := ph.cs.workers()
				if len(ws) == 0 {
					continue
				}
				if syscall.Kill(ws[rand.Intn(len(ws))], syscall.SIGKILL) == nil {
					kills++
				}
			}
			ph.notef("%d workers killed", kills)
		},
		evidence: milterTempfail, // a busy worker was among them
	},
	{
		name: "kill -9 md-multiplexor",
		what: "SIGKILL to md-multiplexor at 30% and 65% of the load, restarted after 1 s (systemd Restart=always)",
		inject: func(ph *phase) {
			for _, at := range []float64{0.3, 0.65} {
				ph.waitSent(int(at * float64(ph.min)))
				ph.cs.restartMultiplexor()
				ph.restarts++
			}
		},
		evidence: milterTempfail,
	},
	{
		name: "kill -9 md-milterd",
		what: "SIGKILL to md-milterd at 30% and 65% of the load, restarted after 1 s",
		inject: func(ph *phase) {
			for _, at := range []float64{0.3, 0.65} {
				ph.waitSent(int(at * float64(ph.min)))
				ph.cs.restartMilter()
				ph.restarts++
			}
		},
		evidence: milterTempfail,
	},
	{
		name: "faulty filter",
		what: "a filter (installed by reread) that raises an error, loops for ever or allocates without bound on 1 message in 50; the good filter reread after the load",
		min:  func(s settings) int { return max(s.n, s.fiftyMin) },
		inject: func(ph *phase) {
			if err := ph.cs.setFilter(true); err != nil {
				ph.t.Fatal(err)
			}
			ph.faultyFrom = ph.l.nextSeq()
			ph.waitSent(ph.min)
			ph.faultyTo = ph.l.nextSeq()
			if err := ph.cs.setFilter(false); err != nil {
				ph.t.Fatal(err)
			}
		},
		// Every message numbered 0 mod 50 sent well inside the window
		// (the clients' messages in flight around the rereads aside)
		// was tempfailed at least once.
		evidence: func(ph *phase) error {
			hit := map[int]bool{}
			for _, m := range ph.l.tempfailed(ph.f.name, func(string) bool { return true }) {
				hit[m.seq] = true
			}
			var want, missed []int
			for seq := ph.faultyFrom + 8; seq < ph.faultyTo-8; seq++ {
				if seq%50 == 0 {
					want = append(want, seq)
					if !hit[seq] {
						missed = append(missed, seq)
					}
				}
			}
			if len(want) == 0 {
				return fmt.Errorf("no message numbered 0 mod 50 between %d and %d", ph.faultyFrom, ph.faultyTo)
			}
			if len(missed) > 0 {
				return fmt.Errorf("messages %v reached the faulty filter and were never tempfailed", missed)
			}
			ph.notef("messages %v tempfailed by the faulty filter", want)
			return nil
		},
	},
	{
		name: "garbled worker output",
		what: "while on, 1 worker reply in 3 is garbage, half a line and exit, or half a line and hang (garbleworker)",
		inject: func(ph *phase) {
			before := strings.Count(ph.cs.Multiplexor.Log(), "garbleworker: ")
			ph.window(0.1, 0.9, func() {
				if err := os.WriteFile(ph.cs.garbleFlag, nil, 0o644); err != nil {
					ph.t.Fatal(err)
				}
			}, func() { os.Remove(ph.cs.garbleFlag) })
			spoiled := strings.Count(ph.cs.Multiplexor.Log(), "garbleworker: ") - before
			ph.notef("%d replies spoiled", spoiled)
			if spoiled == 0 {
				ph.t.Error("garbled worker output: no reply was spoiled")
			}
		},
		evidence: milterTempfail,
	},
	{
		name: "spool full",
		what: "the spool's tmpfs filled to the last byte from 25% to 75% of the load",
		inject: func(ph *phase) {
			var free func()
			ph.window(0.25, 0.75, func() {
				var err error
				if free, err = ph.cs.fillSpool(); err != nil {
					ph.t.Fatal(err)
				}
			}, func() { free() })
		},
		evidence: milterTempfail,
	},
	scannerDown("clamd", func(cs *chaosStack) **harness.Process { return &cs.clamd.Process }, func(cs *chaosStack) {
		harness.WaitForUnixSocket(cs.t, cs.clamd.Socket, cs.clamd.Process)
	}),
	scannerHung("clamd", func(cs *chaosStack) *harness.Process { return cs.clamd.Process }),
	scannerDown("spamd", func(cs *chaosStack) **harness.Process { return &cs.spamd.Process }, func(cs *chaosStack) {
		harness.WaitForTCP(cs.t, cs.spamd.Addr, cs.spamd.Process)
	}),
	scannerHung("spamd", func(cs *chaosStack) *harness.Process { return cs.spamd.Process }),
	scannerDown("rspamd", func(cs *chaosStack) **harness.Process { return &cs.rspamd.Process }, func(cs *chaosStack) {
		harness.WaitForTCP(cs.t, cs.rspamd.Addr, cs.rspamd.Process)
	}),
	scannerHung("rspamd", func(cs *chaosStack) *harness.Process { return cs.rspamd.Process }),
	scannerDown("DNS server", func(cs *chaosStack) **harness.Process { return &cs.nsd.Process }, func(cs *chaosStack) {
		harness.WaitForTCP(cs.t, cs.nsd.Addr, cs.nsd.Process)
	}),
	{
		name: "DNS server hung",
		what: "NSD stopped (SIGSTOP) from 25% to 75% of the load",
		inject: func(ph *phase) {
			ph.window(0.25, 0.75, func() { ph.cs.nsd.Hang(ph.t) }, func() { ph.cs.nsd.Resume(ph.t) })
		},
		evidence: filterTempfail("DNS"),
	},
	{
		name: "reread every second",
		what: "md-mx-ctrl reread every second for the whole load",
		inject: func(ph *phase) {
			n := 0
			for ph.sent() < ph.min {
				if err := ph.cs.reread(); err != nil {
					ph.t.Error(err)
				}
				n++
				time.Sleep(time.Second)
			}
			ph.notef("%d rereads", n)
			if n == 0 {
				ph.t.Error("reread every second: no reread")
			}
		},
	},
	{
		name: "slow multiplexor",
		what: fmt.Sprintf("md-multiplexor and its workers stopped (SIGSTOP) for 10 s, 16 s and 22 s: under md-milterd's --mx-timeout (%v), between it and Postfix's milter_content_timeout (%v), beyond both", mxTimeout, postfixMilterTimeout),
		inject: func(ph *phase) {
			for _, d := range []time.Duration{mxTimeout - 2*time.Second, (mxTimeout + postfixMilterTimeout) / 2, postfixMilterTimeout + 2*time.Second} {
				ph.waitSent(ph.sent() + 2)
				ph.cs.Multiplexor.Hang(ph.t)
				time.Sleep(d)
				ph.cs.Multiplexor.Resume(ph.t)
			}
		},
		evidence: milterTempfail, // at least the 22 s stop
	},
	{
		name:   "broken MIME and torture",
		what:   "MD_CHAOS_CORPUS_N messages of TestBrokenMIME's generator (seed MD_CHAOS_SEED), then the torture messages: nested 100 deep, 10,000 parts, a 50 MB line, bad base64, NULs, 8-bit headers",
		corpus: true,
	},
}

// milterTempfail is the evidence of a fault in the milter's path: a
// message of the phase got a 4xx that is not one of the policy's own.
func milterTempfail(ph *phase) error {
	ms := ph.l.tempfailed(ph.f.name, func(r string) bool { return !isFilterTempfail(r) })
	if len(ms) == 0 {
		return errors.New("no message got a 4xx from md-milterd or Postfix")
	}
	ph.notef("%d messages tempfailed by md-milterd or Postfix", len(ms))
	return nil
}

// filterTempfail is the evidence of a scanner's fault: a message of the
// phase got the policy's tempfail for that scanner.
func filterTempfail(scanner string) func(ph *phase) error {
	text, ok := filterTempfails[scanner]
	if !ok {
		panic("filterTempfail: no tempfail text for " + scanner)
	}
	return func(ph *phase) error {
		ms := ph.l.tempfailed(ph.f.name, func(r string) bool { return strings.Contains(r, text) })
		if len(ms) == 0 {
			return fmt.Errorf("no message got the policy's %q", text)
		}
		ph.notef("%d messages tempfailed with %q", len(ms), text)
		return nil
	}
}

// scannerDown is the fault "NAME stopped": SIGTERM from 25% to 75% of the
// load, then started again; ready waits until it listens.
func scannerDown(name string, proc func(cs *chaosStack) **harness.Process, ready func(cs *chaosStack)) fault {
	return fault{
		name:     name + " stopped",
		what:     name + " stopped (SIGTERM) from 25% to 75% of the load, then started again",
		evidence: filterTempfail(strings.Fields(name)[0]),
		inject: func(ph *phase) {
			p := proc(ph.cs)
			ph.window(0.25, 0.75, func() { (*p).Terminate(harness.StopTimeout) }, func() {
				*p = (*p).Restart(ph.t)
				ready(ph.cs)
			})
		},
	}
}

// scannerHung is the fault "NAME hung": SIGSTOP from 25% to 75% of the
// load.
func scannerHung(name string, proc func(cs *chaosStack) *harness.Process) fault {
	return fault{
		name:     name + " hung",
		what:     name + " stopped (SIGSTOP) from 25% to 75% of the load",
		evidence: filterTempfail(strings.Fields(name)[0]),
		inject: func(ph *phase) {
			ph.window(0.25, 0.75, func() { proc(ph.cs).Hang(ph.t) }, func() { proc(ph.cs).Resume(ph.t) })
		},
	}
}

// buildCorpus makes the corpus phase's messages: st.corpusN broken ones,
// md-worker's parser corpus and fuzz inputs, then the torture messages.
func buildCorpus(t *testing.T, l *ledger, phase string, st settings) []*message {
	r := rand.New(rand.NewSource(st.seed))
	var out []*message
	for i := 0; i < st.corpusN; i++ {
		g := brokengen.Generate(r, i)
		out = append(out, l.add(phase, kindCorpus, "generated, faults: "+strings.Join(g.Faults, ", "), func(seq int) []byte {
			return render(seq, kindCorpus, g.Raw)
		}))
	}
	// The message corpus of md-worker's parser tests and its fuzzer's
	// saved inputs (go test fuzz v1 files).
	corpus, _ := filepath.Glob(filepath.Join(harness.ModuleRoot(t), "..", "worker", "testdata", "corpus", "*.eml"))
	seeds, _ := filepath.Glob(filepath.Join(harness.ModuleRoot(t), "..", "worker", "message", "testdata", "fuzz", "FuzzParse", "*"))
	if len(corpus) == 0 || len(seeds) == 0 {
		t.Fatalf("the parser's corpus (%d files) or fuzz inputs (%d) are missing", len(corpus), len(seeds))
	}
	for _, f := range append(corpus, seeds...) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if rest, ok := strings.CutPrefix(string(raw), "go test fuzz v1\n"); ok {
			q := strings.TrimSuffix(strings.TrimSpace(rest), ")")
			u, err := strconv.Unquote(strings.TrimPrefix(q, "[]byte("))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			raw = []byte(u)
		}
		out = append(out, l.add(phase, kindCorpus, "file "+filepath.Base(f), func(seq int) []byte { return render(seq, kindCorpus, raw) }))
	}
	for _, tm := range torture() {
		m := l.add(phase, kindTorture, tm.name, func(seq int) []byte {
			return render(seq, kindTorture, []byte(tm.body))
		})
		m.wantReply, m.mayHold, m.exeDropped = tm.wantReply, tm.mayHold, tm.exeDropped
		out = append(out, m)
	}
	return out
}

// tortureMessage is a torture message and the outcome it must have: by
// default delivered, scanned.
type tortureMessage struct {
	name, body string
	wantReply  string // it must be rejected with this reply
	mayHold    bool   // it may stay tempfailed
	exeDropped bool   // its .exe part must not be delivered
}

// torture returns the torture messages.
func torture() []tortureMessage {
	head := "From: torture@client." + harness.Domain + "\r\nTo: " + rcpt + "\r\nMIME-Version: 1.0\r\n"
	var nested strings.Builder
	nested.WriteString(head + "Subject: nested 100 deep\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n")
	for i := 1; i < 100; i++ {
		fmt.Fprintf(&nested, "--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n", i-1, i)
	}
	nested.WriteString("--b99\r\nContent-Type: application/octet-stream; name=\"deep.exe\"\r\n\r\n" + exeMarker + "\r\n--b99--\r\n")
	for i := 98; i >= 0; i-- {
		fmt.Fprintf(&nested, "--b%d--\r\n", i)
	}

	var parts strings.Builder
	parts.WriteString(head + "Subject: 10,000 parts\r\nContent-Type: multipart/mixed; boundary=\"p\"\r\n\r\n")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&parts, "--p\r\nContent-Type: text/plain\r\n\r\npart %d\r\n", i)
	}
	parts.WriteString("--p--\r\n")

	long := head + "Subject: a 50 MB line\r\nContent-Type: text/plain\r\n\r\n" + strings.Repeat("x", 50_000_000) + "\r\n"

	badB64 := head + "Subject: bad base64\r\nContent-Type: multipart/mixed; boundary=\"q\"\r\n\r\n" +
		"--q\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
		"--q\r\nContent-Type: application/octet-stream; name=\"bad.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"TVqQAAMAAAAEAAAA//8AALgA!!!*&^%$\r\nAAAAAAAAAAAQAAAA===\r\n=QUFB\r\nQUFB QUFB\r\n" +
		"--q\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@@not base64 at all@@@@\r\n--q--\r\n"

	nuls := head + "Subject: NULs\x00 in the subject\r\nX-Nul: a\x00b\r\nContent-Type: multipart/mixed; boundary=\"n\"\r\n\r\n" +
		"--n\r\nContent-Type: text/plain\r\n\r\nbody\x00with\x00NULs\r\n" +
		"--n\r\nContent-Type: application/octet-stream; name=\"nul\x00.exe\"\r\n\r\n" + exeMarker + "\r\n--n--\r\n"

	eightBit := head + "Subject: Grüße aus Köln – 8-bit \xe9\xe8 Latin-1\r\nX-Raw: \xff\xfe\xfd\r\nContent-Type: multipart/mixed; boundary=\"e\"\r\n\r\n" +
		"--e\r\nContent-Type: text/plain\r\n\r\nbody\r\n" +
		"--e\r\nContent-Type: application/octet-stream; name=\"d\xe9j\xe0.exe\"\r\nContent-Disposition: attachment; filename=\"Grüße.exe\"\r\n\r\n" + exeMarker + "\r\n--e--\r\n"

	return []tortureMessage{
		// md-worker parses 64 levels; deeper is bounced as too complicated.
		{name: "nested 100 deep", body: nested.String(), wantReply: "554 5.7.1 Message contained MIME parts nested too deeply"},
		// The campaign's filter sets MaxMIMEParts = 5000, as a site does.
		{name: "10,000 parts", body: parts.String(), wantReply: "554 5.7.1 Message contained too many MIME parts"},
		// spamd alone takes about the campaign's 8 s deadline over 50 MB
		// on a 2-core machine: delivered scanned, or tempfailed.
		{name: "a 50 MB line", body: long, mayHold: true},
		{name: "bad base64", body: badB64},
		// Postfix cuts a header line at a NUL, also in a part's header:
		// name="nul\0.exe" reaches the filter and the recipient as
		// name="nul", a part the policy keeps.
		{name: "NULs", body: nuls},
		{name: "8-bit headers", body: eightBit, exeDropped: true},
	}
}

// row is one line of the table.
type row struct {
	fault, what       string
	corpus            bool
	sent, delivered   int
	rejected          int // by the policy (or, for the corpus, by anyone: see notes)
	tempThenDelivered int
	held              int // still tempfailed at the end
	lost, duplicated  int
	unscanned         int
	wrongReject       int // 5xx to a message the policy accepts, or not the 5xx it must get
	wrongHeld         int // still tempfailed, and may not be
	restarts          int
	notes             []string
}

// tally counts every phase's messages.
func tally(l *ledger, phases []*phase) []row {
	l.mu.Lock()
	defer l.mu.Unlock()
	var rows []row
	for _, ph := range phases {
		r := row{fault: ph.f.name, what: ph.f.what, corpus: ph.f.corpus, restarts: ph.restarts, notes: ph.notes}
		heldWhy := map[string]int{}
		rejectWhy := map[string]int{}
		for _, m := range l.msgs {
			if m.phase != ph.f.name {
				continue
			}
			r.sent++
			if m.deliveries > 0 {
				r.delivered++
				if m.tempfails > 0 {
					r.tempThenDelivered++
				}
			}
			if m.deliveries > 1 {
				r.duplicated++
			}
			if len(m.unscanned) > 0 {
				r.unscanned++
			}
			switch m.state {
			case "accepted":
				if m.deliveries == 0 {
					r.lost++
				}
			case "rejected":
				if m.rightReject() {
					r.rejected++
					if m.kind == kindTorture || m.kind == kindCorpus {
						rejectWhy[describe(m)+": "+m.reply]++
					}
				} else {
					r.wrongReject++
				}
			case "held":
				r.held++
				if !m.mayHold {
					r.wrongHeld++
				}
				heldWhy[describe(m)+": "+m.reply]++
			}
		}
		for _, why := range sortedKeys(rejectWhy) {
			r.notes = append(r.notes, fmt.Sprintf("rejected: %s (%d)", why, rejectWhy[why]))
		}
		for _, why := range sortedKeys(heldWhy) {
			r.notes = append(r.notes, fmt.Sprintf("still tempfailed: %s (%d)", why, heldWhy[why]))
		}
		rows = append(rows, r)
	}
	return rows
}

func describe(m *message) string {
	if m.kind == kindTorture {
		return "torture message " + strconv.Quote(m.note)
	}
	if m.kind == kindCorpus {
		return "corpus message (" + m.note + ")"
	}
	return m.kind + " message"
}

func sortedKeys(m map[string]int) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

// problems describes every message that was lost, duplicated, delivered
// unscanned or rejected against the policy.
func (l *ledger) problems() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, seq := range sortedSeqs(l.msgs) {
		m := l.msgs[seq]
		var why []string
		if m.state == "accepted" && m.deliveries == 0 {
			why = append(why, "accepted ("+m.reply+") but never delivered")
		}
		if m.deliveries > 1 {
			why = append(why, fmt.Sprintf("delivered %d times", m.deliveries))
		}
		why = append(why, m.unscanned...)
		if m.state == "rejected" && !m.rightReject() {
			why = append(why, "rejected: "+m.reply)
		}
		if m.state == "held" && !m.mayHold {
			why = append(why, "still tempfailed: "+m.reply)
		}
		if m.state == "accepted" && m.expectsReject() {
			why = append(why, "accepted, but must be rejected")
		}
		if len(why) > 0 {
			out = append(out, fmt.Sprintf("message %d (%s, phase %q, %d attempts): %s", seq, describe(m), m.phase, m.attempts, strings.Join(why, "; ")))
		}
		if len(out) >= 50 {
			out = append(out, "... (more)")
			break
		}
	}
	return out
}

func sortedSeqs(m map[int]*message) []int {
	var s []int
	for k := range m {
		s = append(s, k)
	}
	sort.Ints(s)
	return s
}

// renderTable renders the rows as a Markdown table.
func renderTable(rows []row) string {
	var b strings.Builder
	b.WriteString("| Fault | Sent | Delivered | Rejected by policy | Tempfailed, then delivered | Still tempfailed | Lost | Duplicated | Delivered unscanned | Daemon restarts | Notes |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, r := range rows {
		rejected := strconv.Itoa(r.rejected)
		if r.wrongReject > 0 {
			rejected += fmt.Sprintf(" (+%d against the policy)", r.wrongReject)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %d | %d | %d | %d | %d | %d | %s |\n", r.fault, r.sent, r.delivered, rejected,
			r.tempThenDelivered, r.held, r.lost, r.duplicated, r.unscanned, r.restarts, strings.ReplaceAll(strings.Join(r.notes, "; "), "|", `\|`))
	}
	return b.String()
}

const (
	tableBegin = "<!-- chaos-table:begin (written by make chaos) -->"
	tableEnd   = "<!-- chaos-table:end -->"
)

// writeReport replaces the table between the markers of path.
func writeReport(path string, st settings, table string, took time.Duration) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	i, j := strings.Index(s, tableBegin), strings.Index(s, tableEnd)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %q ... %q markers", path, tableBegin, tableEnd)
	}
	body := fmt.Sprintf("\n\nRun of %s: %d messages per fault (MD_CHAOS_N), %d broken-MIME messages (MD_CHAOS_CORPUS_N, seed %d), %d SMTP clients sending at most %d messages a second (%d for the corpus), %v in all.\n\n%s\n",
		time.Now().UTC().Format("2006-01-02"), st.n, st.corpusN, st.seed, st.conc, st.rate, st.corpusRate, took.Round(time.Second), table)
	s = s[:i+len(tableBegin)] + body + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}
