package milter

import (
	"strings"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetrics(t *testing.T) {
	mx := startFakeMX(t)
	cfg := testConfig(t, mx.path)
	cfg.Metrics = NewMetrics()
	cfg.SenderCheck = true
	c := startMilter(t, cfg)

	for range 2 { // accepted
		if o := runMessage(t, c, "x"); o.err != nil || o.end == nil || o.end.Type != gomilter.ActionAccept {
			t.Fatalf("accept run: %+v", o)
		}
	}
	mx.mu.Lock()
	mx.results = "B554 5.7.1 no\nF\n"
	mx.mu.Unlock()
	runMessage(t, c, "x") // rejected
	mx.mu.Lock()
	mx.results = "HX-A b\n" // no F line
	mx.mu.Unlock()
	runMessage(t, c, "x") // tempfailed: results
	mx.mu.Lock()
	mx.results = "D\nF\n"
	mx.scanReply = "error: worker died\n"
	mx.mu.Unlock()
	runMessage(t, c, "x") // tempfailed: multiplexor
	mx.mu.Lock()
	mx.scanReply = "ok\n"
	mx.checks["senderok"] = "ok -1 busy 451 4.3.0\n"
	mx.mu.Unlock()
	runMessage(t, c, "x") // tempfailed at MAIL FROM
	mx.mu.Lock()
	delete(mx.checks, "senderok")
	mx.mu.Unlock()
	runMessage(t, c, "x") // discarded

	m := cfg.Metrics
	// the session's close callback runs after the client has gone
	for range 100 {
		if testutil.ToFloat64(m.active) == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, tc := range []struct {
		name string
		got  float64
		want float64
	}{
		{"sessions_total", testutil.ToFloat64(m.sessions), 7},
		{"sessions_active", testutil.ToFloat64(m.active), 0},
		{"messages accept", testutil.ToFloat64(m.messages.WithLabelValues("accept")), 2},
		{"messages reject", testutil.ToFloat64(m.messages.WithLabelValues("reject")), 1},
		{"messages tempfail", testutil.ToFloat64(m.messages.WithLabelValues("tempfail")), 3},
		{"messages discard", testutil.ToFloat64(m.messages.WithLabelValues("discard")), 1},
		{"errors multiplexor", testutil.ToFloat64(m.errors.WithLabelValues("multiplexor")), 1},
		{"errors results", testutil.ToFloat64(m.errors.WithLabelValues("results")), 1},
		{"errors spool", testutil.ToFloat64(m.errors.WithLabelValues("spool")), 0},
		{"errors panic", testutil.ToFloat64(m.errors.WithLabelValues("panic")), 0},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	// 7 free, 7 senderok, 6 scans (the MAIL FROM tempfail has none), and 6
	// messages that reached end of message.
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, mf := range mfs {
		name := strings.TrimPrefix(mf.GetName(), metricsPrefix)
		for _, mt := range mf.GetMetric() {
			if h := mt.GetHistogram(); h != nil {
				key := name
				for _, l := range mt.GetLabel() {
					key += "/" + l.GetValue()
				}
				counts[key] = h.GetSampleCount()
			}
		}
	}
	for k, v := range map[string]uint64{
		"multiplexor_request_duration_seconds/free":     7,
		"multiplexor_request_duration_seconds/senderok": 7,
		"multiplexor_request_duration_seconds/scan":     6,
		"multiplexor_request_duration_seconds/relayok":  0,
		"message_bytes": 6,
	} {
		if counts[k] != v {
			t.Errorf("%s observations = %d, want %d", k, counts[k], v)
		}
	}
	if n, err := testutil.GatherAndCount(m.Registry()); err != nil || n < 6 {
		t.Errorf("gathered %d series (%v)", n, err)
	}
}

func TestMetricsSpoolAndPanic(t *testing.T) {
	mx := startFakeMX(t)
	cfg := testConfig(t, mx.path)
	cfg.Metrics = NewMetrics()
	cfg.Spool.SpoolDir += "/missing"
	runMessage(t, startMilter(t, cfg), "x")
	if got := testutil.ToFloat64(cfg.Metrics.errors.WithLabelValues("spool")); got != 1 {
		t.Errorf("spool errors = %v, want 1", got)
	}
	cfg.MX = nil // the free request panics
	runMessage(t, startMilter(t, cfg), "x")
	if got := testutil.ToFloat64(cfg.Metrics.errors.WithLabelValues("panic")); got != 1 {
		t.Errorf("panic errors = %v, want 1", got)
	}
	if got := testutil.ToFloat64(cfg.Metrics.messages.WithLabelValues("tempfail")); got != 1 {
		t.Errorf("tempfailed messages = %v, want 1 (the connect-time tempfail is no message)", got)
	}
}
