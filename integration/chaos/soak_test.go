package chaos

import (
	"encoding/csv"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/mdgo/md/integration/internal/harness"
)

// The soak's bounds: after the warm-up (the first fifth of the run), the
// resident memory of md-milterd and md-multiplexor may grow by at most
// soakRSSGrowth and their open descriptors by at most soakFDGrowth; no
// worker may exceed soakWorkerRSS; and no working directory may be left
// once the load has drained.
const (
	soakRSSGrowth = 16 << 20
	soakFDGrowth  = 4
	soakWorkerRSS = 128 << 20
)

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a duration such as 1h or 90s", name, v)
	}
	return d
}

// sample is one reading of every process of the stack.
type sample struct {
	at                      time.Duration
	milterRSS, muxRSS       int64 // bytes
	milterFDs, muxFDs       int
	workers                 int
	workerRSS, workerMaxRSS int64 // all md-worker processes, and the largest
	workerFDs               int   // all md-worker processes
	workDirs                int
}

// TestSoak sends mail at a steady rate (MD_SOAK_RATE a second, default 2)
// for MD_SOAK_DURATION (default 1m; make soak: 1h) through the whole
// stack, rereading the filter every MD_SOAK_REREAD (default 1m, or a
// third of a shorter run) while md-multiplexor replaces each worker after
// 50 requests, and reads the resident memory and open descriptors of
// md-milterd, md-multiplexor and every md-worker every MD_SOAK_INTERVAL
// (default 10s). It checks the bounds above; that every message was
// delivered once, scanned, or rejected by the policy; that no message of
// no known number was delivered; and that md-milterd's --stale-age sweep
// found nothing to remove (nothing leaked a working directory).
func TestSoak(t *testing.T) {
	dur := envDuration(t, "MD_SOAK_DURATION", time.Minute)
	every := envDuration(t, "MD_SOAK_INTERVAL", 10*time.Second)
	rereadEvery := envDuration(t, "MD_SOAK_REREAD", min(time.Minute, dur/3))
	rate := envInt(t, "MD_SOAK_RATE", 2)
	cs := startChaosStack(t, "-r", "50")
	l := newLedger()
	s := &sender{l: l, addr: cs.Postfix.Addr, rate: rate}

	var samples []sample
	read := func(at time.Duration) {
		smp := sample{at: at, workDirs: cs.workDirs()}
		var err error
		if smp.milterRSS, smp.milterFDs, err = procUsage(cs.Milter.PID); err != nil {
			t.Errorf("soak at %v: md-milterd: %v", at.Round(time.Second), err)
		}
		if smp.muxRSS, smp.muxFDs, err = procUsage(cs.Multiplexor.PID); err != nil {
			t.Errorf("soak at %v: md-multiplexor: %v", at.Round(time.Second), err)
		}
		for _, w := range cs.workers() {
			for _, pid := range append([]int{w}, children(w)...) {
				if !isMDWorker(pid) {
					continue // the garbleworker in front of it
				}
				rss, fds, err := procUsage(pid)
				if err != nil {
					continue // it has just exited: recycled after 50 requests
				}
				smp.workers++
				smp.workerRSS += rss
				smp.workerFDs += fds
				smp.workerMaxRSS = max(smp.workerMaxRSS, rss)
			}
		}
		samples = append(samples, smp)
	}

	start := time.Now()
	read(0)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	sampleTick := time.NewTicker(every)
	rereadTick := time.NewTicker(rereadEvery)
	stop := time.After(dur)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	rereads, i := 0, 0
loop:
	for {
		select {
		case <-tick.C:
			kind := mixedKind(i)
			i++
			m := l.add("soak", kind, "", func(seq int) []byte { return build(seq, kind) })
			select {
			case sem <- struct{}{}:
			default:
				t.Errorf("the stack cannot keep up with %d messages a second: 8 sends in flight", rate)
				break loop
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.l.send(s.addr, m)
				<-sem
			}()
		case <-sampleTick.C:
			read(time.Since(start))
		case <-rereadTick.C:
			if err := cs.reread(); err != nil {
				t.Error(err)
			}
			rereads++
		case <-stop:
			break loop
		}
	}
	tick.Stop()
	sampleTick.Stop()
	rereadTick.Stop()
	wg.Wait()
	sent := i
	tempfailed := len(l.held("soak"))
	read(time.Since(start))
	underLoad := len(samples) // the samples taken while the load ran

	// Drain: tempfails are sent again, 4 at a time at the soak's rate (as
	// the campaign's retry), until none is left, then every accepted
	// message must be delivered.
	deadline := time.Now().Add(harness.Scale(5 * time.Minute))
	for {
		held := l.held("soak")
		if len(held) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
		j := 0
		s.run(4, func() *message {
			if j >= len(held) {
				return nil
			}
			j++
			return held[j-1]
		})
	}
	if err := harness.Await(harness.Scale(2*time.Minute), func() bool {
		if err := l.collect(cs.Postfix.Maildir); err != nil {
			t.Fatal(err)
		}
		return l.awaiting() == 0 && cs.queued() == 0 && cs.workDirs() == 0
	}); err != nil {
		t.Errorf("after the soak: %v: %d accepted messages not delivered, %d in Postfix's queue, %d working directories in the spool", err, l.awaiting(), cs.queued(), cs.workDirs())
	}
	read(time.Since(start))
	for _, p := range l.problems() {
		t.Error(p)
	}
	for _, s := range l.strays {
		t.Errorf("delivered message of no known number: %s", s)
	}
	// md-milterd's --stale-age sweep would hide a working directory
	// leaked while it runs: nothing killed it here, so it must have
	// found none.
	if n := strings.Count(cs.Milter.Log(), "removed working directory"); n > 0 {
		t.Errorf("md-milterd removed %d stale working directories during the soak: leaked by a message's session", n)
	}
	if h := l.held("soak"); len(h) > 0 {
		t.Errorf("%d messages still tempfailed after the soak, e.g. %d: %s", len(h), h[0].seq, h[0].reply)
	}
	t.Logf("soak: %d messages in %v at %d/s (%d tempfailed at the first attempt), %d rereads, %d samples", sent, dur, rate, tempfailed, rereads, len(samples))
	checkSoakBounds(t, samples[:underLoad], samples[len(samples)-1])
	if out := os.Getenv("MD_SOAK_OUT"); out != "" {
		if err := writeSoak(out, samples, fmt.Sprintf("%d messages, %d/s, reread every %v, workers replaced after 50 requests", sent, rate, rereadEvery)); err != nil {
			t.Error(err)
		}
	}
}

// checkSoakBounds compares the floor of the daemons' memory and
// descriptors (the least of a window of samples, so that a burst of
// sessions in flight is not taken for growth) at the end of the load with
// the floor after the warm-up, checks every sample's workers, and reports
// the drained stack's last reading.
func checkSoakBounds(t *testing.T, load []sample, drained sample) {
	fifth := max(1, len(load)/5)
	warm := floor(load[min(fifth, len(load)-1):min(2*fifth, len(load))])
	last := floor(load[len(load)-fifth:])
	for _, c := range []struct {
		name       string
		warm, last int64
		bound      int64
	}{
		{"md-milterd RSS", warm.milterRSS, last.milterRSS, soakRSSGrowth},
		{"md-multiplexor RSS", warm.muxRSS, last.muxRSS, soakRSSGrowth},
		{"md-milterd open descriptors", int64(warm.milterFDs), int64(last.milterFDs), soakFDGrowth},
		{"md-multiplexor open descriptors", int64(warm.muxFDs), int64(last.muxFDs), soakFDGrowth},
	} {
		t.Logf("soak: %s: at least %d after the warm-up, at least %d in the last fifth of the load", c.name, c.warm, c.last)
		if c.last-c.warm > c.bound {
			t.Errorf("soak: %s grew from %d to %d, more than %d", c.name, c.warm, c.last, c.bound)
		}
	}
	// A reading may find no worker (a reread or -r 50 has just retired
	// them all, the next starts with the next message); most must, or the
	// workers' bound measures nothing.
	maxDirs, maxWorker, withWorkers := 0, int64(0), 0
	for _, s := range load[1:] { // the first is taken before any mail
		if s.workers > 0 {
			withWorkers++
		}
		if s.workerMaxRSS > soakWorkerRSS {
			t.Errorf("soak: a worker had %d MiB resident at %v, more than %d", s.workerMaxRSS>>20, s.at.Round(time.Second), soakWorkerRSS>>20)
		}
		maxDirs, maxWorker = max(maxDirs, s.workDirs), max(maxWorker, s.workerMaxRSS)
	}
	if withWorkers*2 < len(load)-1 {
		t.Errorf("soak: only %d of %d readings under load found an md-worker", withWorkers, len(load)-1)
	}
	t.Logf("soak: at most %d working directories in the spool and %d MiB in one worker; drained: md-milterd %d MiB %d fds, md-multiplexor %d MiB %d fds, %d working directories",
		maxDirs, maxWorker>>20, drained.milterRSS>>20, drained.milterFDs, drained.muxRSS>>20, drained.muxFDs, drained.workDirs)
}

// floor is the least of each daemon figure over samples.
func floor(samples []sample) sample {
	f := samples[0]
	for _, s := range samples[1:] {
		f.milterRSS, f.muxRSS = min(f.milterRSS, s.milterRSS), min(f.muxRSS, s.muxRSS)
		f.milterFDs, f.muxFDs = min(f.milterFDs, s.milterFDs), min(f.muxFDs, s.muxFDs)
	}
	return f
}

// procUsage returns pid's resident memory (bytes) and open descriptors, or
// an error when the process is gone.
func procUsage(pid int) (int64, int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	rss := int64(-1)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("/proc/%d/status: VmRSS %q", pid, v)
			}
			rss = kb << 10
		}
	}
	if rss < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status has no VmRSS (a zombie?)", pid)
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, 0, err
	}
	return rss, len(fds), nil
}

func isMDWorker(pid int) bool {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b)) == "md-worker"
}

// writeSoak writes dir/soak.csv and the curves in dir/soak.png.
func writeSoak(dir string, samples []sample, title string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "soak.csv"))
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"seconds", "milterd_rss_kb", "multiplexor_rss_kb", "workers", "workers_rss_kb", "worker_max_rss_kb",
		"milterd_fds", "multiplexor_fds", "workers_fds", "work_dirs"})
	for _, s := range samples {
		w.Write([]string{strconv.Itoa(int(s.at.Seconds())),
			strconv.FormatInt(s.milterRSS>>10, 10), strconv.FormatInt(s.muxRSS>>10, 10), strconv.Itoa(s.workers),
			strconv.FormatInt(s.workerRSS>>10, 10), strconv.FormatInt(s.workerMaxRSS>>10, 10),
			strconv.Itoa(s.milterFDs), strconv.Itoa(s.muxFDs), strconv.Itoa(s.workerFDs), strconv.Itoa(s.workDirs)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}

	mib := func(v int64) float64 { return float64(v) / (1 << 20) }
	rss := plot.New()
	rss.Title.Text = "Resident memory (MiB): " + title
	rss.X.Label.Text = "minutes"
	fds := plot.New()
	fds.Title.Text = "Open file descriptors"
	fds.X.Label.Text = "minutes"
	counts := map[*plot.Plot]int{} // lines drawn in each plot
	series := func(p *plot.Plot, name string, n int, y func(s sample) float64) error {
		pts := make(plotter.XYs, len(samples))
		for i, s := range samples {
			pts[i].X, pts[i].Y = s.at.Minutes(), y(s)
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		line.Color = plotColors[n%len(plotColors)]
		counts[p]++
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(name, line)
		return nil
	}
	for _, s := range []struct {
		p    *plot.Plot
		name string
		y    func(s sample) float64
	}{
		{rss, "md-milterd", func(s sample) float64 { return mib(s.milterRSS) }},
		{rss, "md-multiplexor", func(s sample) float64 { return mib(s.muxRSS) }},
		{rss, "md-worker, all", func(s sample) float64 { return mib(s.workerRSS) }},
		{rss, "md-worker, largest", func(s sample) float64 { return mib(s.workerMaxRSS) }},
		{fds, "md-milterd", func(s sample) float64 { return float64(s.milterFDs) }},
		{fds, "md-multiplexor", func(s sample) float64 { return float64(s.muxFDs) }},
		{fds, "md-worker, all", func(s sample) float64 { return float64(s.workerFDs) }},
		{fds, "working directories", func(s sample) float64 { return float64(s.workDirs) }},
	} {
		if err := series(s.p, s.name, counts[s.p], s.y); err != nil {
			return err
		}
	}
	for _, p := range []*plot.Plot{rss, fds} {
		p.Y.Min = 0
		p.Y.Max *= 1.4 // room for the legend above the curves
		p.Legend.Top = true
		p.Legend.Left = true
		p.Add(plotter.NewGrid())
	}
	img := vgimg.New(vg.Points(900), vg.Points(700))
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Points(10), PadX: vg.Points(10), PadTop: vg.Points(5), PadBottom: vg.Points(5)}
	canvases := plot.Align([][]*plot.Plot{{rss}, {fds}}, tiles, draw.New(img))
	rss.Draw(canvases[0][0])
	fds.Draw(canvases[1][0])
	png, err := os.Create(filepath.Join(dir, "soak.png"))
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(png); err != nil {
		png.Close()
		return err
	}
	return png.Close()
}

var plotColors = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
}
