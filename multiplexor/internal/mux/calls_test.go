package mux

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdgo/md/proto"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// TestCallsCounted: call datagrams on the workers' socket become the
// integration_* metrics; garbage, overlong datagrams and a 33rd
// integration are counted as rejected, not as calls.
func TestCallsCounted(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.MetricsListen = "127.0.0.1:0" })
	if err := s.openCalls(); err != nil {
		t.Fatal(err)
	}
	defer s.closeCalls()
	extra, env := s.callsFiles(nil)
	if len(extra) != 1 || env[len(env)-1] != proto.CallsFDEnv+"=3" {
		t.Fatalf("a worker without -Z gets %d extra files and %q", len(extra), env[len(env)-1])
	}
	status := extra[0] // stands for the -Z status pipe, fd 3
	if extra, env := s.callsFiles([]*os.File{status}); len(extra) != 2 || env[len(env)-1] != proto.CallsFDEnv+"=4" {
		t.Fatalf("a -Z worker gets %d extra files and %q", len(extra), env[len(env)-1])
	}
	fd := int(s.callsW.Fd())
	send := func(b []byte) {
		if _, err := syscall.SendmsgN(fd, b, nil, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []proto.Call{
		{Integration: "clamd", Result: proto.CallHit, Seconds: 0.02},
		{Integration: "clamd", Result: proto.CallClean, Seconds: 0.01},
		{Integration: "clamd", Result: proto.CallError, Seconds: 3},
		{Integration: "spamd", Result: proto.CallClean, Seconds: 0.5},
	} {
		send(proto.AppendCall(nil, c))
	}
	send(proto.AppendDNSQuery(nil, proto.DNSQuery{Type: "TXT", Outcome: "NXDOMAIN", Seconds: 0.002}))
	send(proto.AppendDNSQuery(nil, proto.DNSQuery{Type: "TXT", Outcome: "NXDOMAIN", Seconds: 0.004}))
	send(proto.AppendDNSQuery(nil, proto.DNSQuery{Type: "A", Outcome: "timeout", Seconds: 5}))
	send([]byte("dns a NOERROR 1\n"))
	send([]byte("garbage\n"))
	send([]byte("call clamd hit " + strings.Repeat("1", 200) + "\n"))
	for i := 0; i < maxIntegrations; i++ { // 30 more fit beside clamd and spamd
		send(proto.AppendCall(nil, proto.Call{Integration: "x" + strconv.Itoa(i), Result: proto.CallClean}))
	}
	m := s.metrics
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(m.intRejected) < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range []struct {
		what string
		got  float64
		want float64
	}{
		{"clamd hit", testutil.ToFloat64(m.intRequests.WithLabelValues("clamd", "hit")), 1},
		{"clamd clean", testutil.ToFloat64(m.intRequests.WithLabelValues("clamd", "clean")), 1},
		{"clamd error", testutil.ToFloat64(m.intRequests.WithLabelValues("clamd", "error")), 1},
		{"clamd errors", testutil.ToFloat64(m.intErrors.WithLabelValues("clamd")), 1},
		{"spamd clean", testutil.ToFloat64(m.intRequests.WithLabelValues("spamd", "clean")), 1},
		{"rejected: bad dns line, garbage, overlong, x30, x31", testutil.ToFloat64(m.intRejected), 5},
		{"dns TXT NXDOMAIN", testutil.ToFloat64(m.dnsQueries.WithLabelValues("TXT", "NXDOMAIN")), 2},
		{"dns A timeout", testutil.ToFloat64(m.dnsQueries.WithLabelValues("A", "timeout")), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.intDuration); n != maxIntegrations {
		t.Errorf("%d duration series, want %d", n, maxIntegrations)
	}
	h := histogramOf(t, m, "spamd")
	if h.GetSampleCount() != 1 || h.GetSampleSum() != 0.5 {
		t.Errorf("spamd duration: %d samples, sum %v; want 1, 0.5", h.GetSampleCount(), h.GetSampleSum())
	}
	for _, b := range h.GetBucket() {
		if want := uint64(0); b.GetUpperBound() >= 0.5 {
			want = 1
			if b.GetCumulativeCount() != want {
				t.Errorf("spamd bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
			}
		} else if b.GetCumulativeCount() != want {
			t.Errorf("spamd bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
}

// histogramOf returns the integration_duration_seconds series of one
// integration, as /metrics would serve it.
func histogramOf(t *testing.T, m *metrics, integration string) *dto.Histogram {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metricsPrefix+"integration_duration_seconds" {
			continue
		}
		for _, metric := range mf.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == "integration" && l.GetValue() == integration {
					return metric.GetHistogram()
				}
			}
		}
	}
	t.Fatalf("no duration series for %s", integration)
	return nil
}

// TestCallsOffWithoutMetrics: without --metrics-listen there is no socket,
// and a $MD_CALLS_FD the multiplexor inherited is emptied for its workers.
func TestCallsOffWithoutMetrics(t *testing.T) {
	t.Setenv(proto.CallsFDEnv, "3")
	s := newTestServer(t, nil)
	if err := s.openCalls(); err != nil {
		t.Fatal(err)
	}
	extra, env := s.callsFiles(nil)
	if s.callsW != nil || len(extra) != 0 || len(env) == 0 || env[len(env)-1] != proto.CallsFDEnv+"=" {
		t.Errorf("without metrics: socket %v, %d extra files, env ending %q", s.callsW, len(extra), env[len(env)-1:])
	}
}
