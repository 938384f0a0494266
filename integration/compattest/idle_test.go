package compattest

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// TestIdleTimeoutKeepsMinimum starts both multiplexors with -m 1 -x 3 -i 10,
// has three requests start three workers, and leaves them idle. The first
// idle-timer run that finds them idle for 10 s kills idle workers only while
// more than the minimum run: the original counts its kills off (a killed
// worker still counts as running until it is reaped), so two of the three
// go, one stays, and nothing is started again.
func TestIdleTimeoutKeepsMinimum(t *testing.T) {
	t.Parallel()
	p := startPair(t, needBins(t), "-m", "1", "-x", "3", "-i", "10")
	both := []*mux{p.orig, p.ours}
	for _, m := range both {
		m.waitIdle(t, 1, 1)
	}
	notes := map[*mux]*notifications{}
	for _, m := range both {
		notes[m] = subscribe(t, m)
	}
	time.Sleep(harness.Scale(300 * time.Millisecond)) // let both read "?*" before the first event (the -O socket acknowledges nothing)

	// Three requests at once: the idle worker takes one, two more start.
	pause := fmt.Sprintf("senderok <pause@example.com> 127.0.0.1 localhost client.example.com %s NOQUEUE\n", p.work)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	for _, m := range both {
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := exchange(m.priv, pause)
				if err != nil || r != okReply {
					mu.Lock()
					bad = append(bad, fmt.Sprintf("%s: %q %v", m.name, r, err))
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("pause senderoks, want %q from each: %v", okReply, bad)
	}
	mark := map[*mux]int{}
	for _, m := range both {
		m.waitIdle(t, 3, 3)
		// The notifications of the last Busy -> Idle (and its F line) may
		// still be on their way: count from after them, or the two
		// multiplexors' counts differ by when the mark was taken.
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			n := 0
			for _, l := range notes[m].waitFor(0, 0) {
				if strings.Contains(l, "StateChange Busy -> Idle") {
					n++
				}
			}
			if n >= 3 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		mark[m] = notes[m].count()
	}

	// At most two timer periods later, one idle worker is left; a restart
	// would follow within -w (3 s) of a reap.
	for _, m := range both {
		m.waitStatus(t, "a single idle worker after the idle timeout", func(f []string) bool {
			return strings.Count(f[0], "I") == 1 && strings.Count(f[0], "S") == len(f[0])-1
		})
	}
	time.Sleep(5 * time.Second)
	events := map[*mux]map[string]int{}
	for _, m := range both {
		f, err := m.status()
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if strings.Count(f[0], "I") != 1 || strings.Count(f[0], "S") != len(f[0])-1 || f[2] != "3" {
			t.Errorf("%s multiplexor after the idle timeout: status %q; want one idle worker, two stopped, 3 activations", m.name, f)
		}
		events[m] = map[string]int{}
		for _, l := range maskNotifications(notes[m].waitFor(0, 0)[mark[m]:]) {
			events[m][strings.TrimSpace(l)]++
		}
	}
	want := map[string]int{"S n StateChange Idle -> Killed": 2, "S n StateChange Killed -> Stopped": 2, "S n StateChange Stopped -> Idle": 0}
	o, u := describe(events[p.orig]), describe(events[p.ours])
	if o != u {
		t.Errorf("notifications after the requests differ (slots masked, counted):\noriginal %s\n    ours %s", o, u)
	}
	for k := range want {
		if events[p.orig][k] != want[k] {
			t.Errorf("the original sent %q %d times, expected %d: %s", k, events[p.orig][k], want[k], o)
		}
	}
	t.Logf("notifications after the requests: %s", o)
}

// describe prints counted notifications in a stable order.
func describe(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "[%s]x%d ", k, counts[k])
	}
	return b.String()
}
