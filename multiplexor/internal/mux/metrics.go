package mux

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mdgo/md/proto"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const metricsPrefix = "mimedefang_multiplexor_"

// metrics is the Prometheus instrumentation, on a registry of our own.
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	queueGauge prometheus.Gauge
	waitHist   prometheus.Histogram
	starts     *prometheus.CounterVec
	exits      *prometheus.CounterVec
	refused    prometheus.Counter

	counters   sync.Map // requestKey -> prometheus.Counter
	durationBy [cmdOther + 1]prometheus.Observer

	// Integration calls reported by the workers (calls.go).
	intRequests *prometheus.CounterVec
	intErrors   *prometheus.CounterVec
	intDuration *prometheus.HistogramVec
	intRejected prometheus.Counter
	intMu       sync.Mutex
	intSeen     map[string]bool

	// DNS queries reported by the workers (calls.go).
	dnsQueries  *prometheus.CounterVec
	dnsDuration *prometheus.HistogramVec
	dnsSeen     map[string]bool // "type" and "type outcome" label values
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricsPrefix + "requests_total",
		Help: "Requests handed to workers, by command type (scan, relayok, senderok, recipok, other) and outcome (ok, error, timeout, no_response, partial, no_worker, queue_timeout, recipok_limit).",
	}, []string{"command", "outcome"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    metricsPrefix + "request_duration_seconds",
		Help:    "Time from dispatch to a worker until its reply, by command type.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
	}, []string{"command"})
	m.queueGauge = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: metricsPrefix + "queue_depth",
		Help: "Requests waiting in the -q queue for a free worker.",
	})
	m.waitHist = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    metricsPrefix + "queue_wait_seconds",
		Help:    "Time requests spent in the queue, whether they got a worker or timed out.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	})
	m.starts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricsPrefix + "worker_starts_total",
		Help: "Worker processes started, by reason (on_demand, minimum, queued, autoscale).",
	}, []string{"reason"})
	m.exits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricsPrefix + "worker_exits_total",
		Help: "Worker processes reaped, by reason (exit, exit_nonzero, killed, signal, died, oom, unknown).",
	}, []string{"reason"})
	m.refused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: metricsPrefix + "reread_refused_total",
		Help: "Rereads refused because the new filter failed the worker program's -test check.",
	})
	for t := range m.durationBy {
		m.durationBy[t] = m.duration.WithLabelValues(cmdType(t).String())
	}
	m.intRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricsPrefix + "integration_requests_total",
		Help: "Questions the workers' filters put to a network integration (clamd, clamdscan, clamscan, spamd, rspamd, smtp ...), by result: clean (nothing found), hit (virus, spam, refused recipient), error (no usable answer: down, timed out, garbage).",
	}, []string{"integration", "result"})
	m.intErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricsPrefix + "integration_errors_total",
		Help: "Integration calls that got no usable answer (the result=error requests): the message was tempfailed or passed as the filter decides.",
	}, []string{"integration"})
	m.intDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    metricsPrefix + "integration_duration_seconds",
		Help:    "Wall time of each integration call, as the worker measured it.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"integration"})
	m.intRejected = prometheus.NewCounter(prometheus.CounterOpts{
		Name: metricsPrefix + "integration_lines_rejected_total",
		Help: "Lines on the workers' integration-call pipe that were not call lines, or named an integration past the first 32.",
	})
	m.intSeen = map[string]bool{}
	m.dnsQueries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricsPrefix + "dns_queries_total",
		Help: "DNS queries the workers' DNS functions sent (answers from a request's cache are not counted), by type (A, TXT, MX ...) and outcome: the response code (NOERROR, NXDOMAIN, SERVFAIL, REFUSED ...), or timeout or error when no server answered.",
	}, []string{"type", "outcome"})
	m.dnsDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    metricsPrefix + "dns_query_duration_seconds",
		Help:    "Wall time of each DNS query, as the worker measured it, by type.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"type"})
	m.dnsSeen = map[string]bool{}
	m.reg.MustRegister(m.requests, m.duration, m.queueGauge, m.waitHist, m.starts, m.exits, m.refused,
		m.intRequests, m.intErrors, m.intDuration, m.intRejected, m.dnsQueries, m.dnsDuration, &poolCollector{s: s})
	return m
}

// call counts one integration call; false when its integration would be
// one label value too many.
func (m *metrics) call(c proto.Call) bool {
	m.intMu.Lock()
	if !m.intSeen[c.Integration] {
		if len(m.intSeen) >= maxIntegrations {
			m.intMu.Unlock()
			return false
		}
		m.intSeen[c.Integration] = true
	}
	m.intMu.Unlock()
	m.intRequests.WithLabelValues(c.Integration, c.Result).Inc()
	if c.Result == proto.CallError {
		m.intErrors.WithLabelValues(c.Integration).Inc()
	}
	m.intDuration.WithLabelValues(c.Integration).Observe(c.Seconds)
	return true
}

func (m *metrics) callRejected() { m.intRejected.Inc() }

// maxDNSSeries bounds the dns_queries_total series (type, outcome pairs).
const maxDNSSeries = 64

// dnsQuery counts one DNS query; false when it would be one series too
// many.
func (m *metrics) dnsQuery(q proto.DNSQuery) bool {
	k := q.Type + " " + q.Outcome
	m.intMu.Lock()
	if !m.dnsSeen[k] {
		if len(m.dnsSeen) >= maxDNSSeries {
			m.intMu.Unlock()
			return false
		}
		m.dnsSeen[k] = true
	}
	m.intMu.Unlock()
	m.dnsQueries.WithLabelValues(q.Type, q.Outcome).Inc()
	m.dnsDuration.WithLabelValues(q.Type).Observe(q.Seconds)
	return true
}

// request counts one request. The label lookups are cached, since this runs
// for every request.
func (m *metrics) request(t cmdType, outcome string, d time.Duration) {
	if t < 0 || t > cmdOther {
		t = cmdOther
	}
	k := requestKey{t, outcome}
	c, ok := m.counters.Load(k)
	if !ok {
		c, _ = m.counters.LoadOrStore(k, m.requests.WithLabelValues(t.String(), outcome))
	}
	c.(prometheus.Counter).Inc()
	if d > 0 {
		m.durationBy[t].Observe(d.Seconds())
	}
}

type requestKey struct {
	t       cmdType
	outcome string
}

func (m *metrics) queueDepth(n int)           { m.queueGauge.Set(float64(n)) }
func (m *metrics) queueWait(d time.Duration)  { m.waitHist.Observe(d.Seconds()) }
func (m *metrics) rereadRefused()             { m.refused.Inc() }
func (m *metrics) workerExited(reason string) { m.exits.WithLabelValues(reason).Inc() }
func (m *metrics) workerStarted(reason string) {
	r := "on_demand"
	switch {
	case strings.HasPrefix(reason, "Bringing"):
		r = "minimum"
	case strings.HasPrefix(reason, "Serving queued"):
		r = "queued"
	case strings.HasPrefix(reason, "Autoscale"):
		r = "autoscale"
	}
	m.starts.WithLabelValues(r).Inc()
}

// poolCollector reads the pool's state at scrape time.
type poolCollector struct{ s *Server }

var (
	descWorkers = prometheus.NewDesc(metricsPrefix+"workers", "Worker slots by state (stopped, idle, busy, killed).", []string{"state"}, nil)
	descRSS     = prometheus.NewDesc(metricsPrefix+"worker_rss_bytes", "Resident set size of each running worker process.", []string{"slot"}, nil)
	descMsgs    = prometheus.NewDesc(metricsPrefix+"scans_total", "Scan requests completed since start (the msgs counter).", nil, nil)
	descActs    = prometheus.NewDesc(metricsPrefix+"activations_total", "Worker activations (forks) since start.", nil, nil)
	descMax     = prometheus.NewDesc(metricsPrefix+"workers_max", "Configured maximum number of workers (-x).", nil, nil)
	descGen     = prometheus.NewDesc(metricsPrefix+"generation", "Filter generation; goes up on every reread.", nil, nil)
)

func (p *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWorkers, descRSS, descMsgs, descActs, descMax, descGen} {
		ch <- d
	}
}

func (p *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := p.s
	s.mu.Lock()
	c := s.countLocked()
	type slotPID struct{ slot, pid int }
	var pids []slotPID
	for _, w := range s.workers {
		if w.pid > 0 {
			pids = append(pids, slotPID{w.slot, w.pid})
		}
	}
	msgs, acts, gen := s.msgs, s.activations, s.generation
	s.mu.Unlock()
	for st, n := range map[string]int{"stopped": c.stopped, "idle": c.idle, "busy": c.busy, "killed": c.killed} {
		ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(n), st)
	}
	for _, sp := range pids {
		if rss, ok := rssBytes(sp.pid); ok {
			ch <- prometheus.MustNewConstMetric(descRSS, prometheus.GaugeValue, float64(rss), strconv.Itoa(sp.slot))
		}
	}
	ch <- prometheus.MustNewConstMetric(descMsgs, prometheus.CounterValue, float64(msgs))
	ch <- prometheus.MustNewConstMetric(descActs, prometheus.CounterValue, float64(acts))
	ch <- prometheus.MustNewConstMetric(descMax, prometheus.GaugeValue, float64(s.cfg.MaxWorkers))
	ch <- prometheus.MustNewConstMetric(descGen, prometheus.GaugeValue, float64(gen))
}

var pageSize = int64(os.Getpagesize())

// rssBytes reads a process's resident set size from /proc/<pid>/statm.
func rssBytes(pid int) (int64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * pageSize, true
}

// WorkerStatus is one slot in the JSON status.
type WorkerStatus struct {
	Slot        int    `json:"slot"`
	State       string `json:"state"`
	PID         int    `json:"pid,omitempty"`
	Command     string `json:"command,omitempty"`
	LastCommand string `json:"last_command,omitempty"`
	Requests    int    `json:"requests"`
	Scans       int    `json:"scans"`
	AgeSeconds  int64  `json:"age_seconds"`
	StateAge    int64  `json:"state_age_seconds"`
	StatusTag   string `json:"status_tag,omitempty"`
	RSSBytes    int64  `json:"rss_bytes,omitempty"`
}

// Status is the multiplexor's own JSON status (GET /status on the metrics
// listener): what jsonstatus and workers show, in one document.
type Status struct {
	Timestamp   string         `json:"timestamp"`
	Hostname    string         `json:"hostname"`
	Version     string         `json:"version"`
	Uptime      int64          `json:"uptime_seconds"`
	Msgs        int64          `json:"msgs"`
	Activations int64          `json:"activations"`
	Generation  int            `json:"generation"`
	QueueSize   int            `json:"queue_size"`
	Queued      int            `json:"queued"`
	Busy        int            `json:"busy"`
	Idle        int            `json:"idle"`
	Stopped     int            `json:"stopped"`
	Killed      int            `json:"killed"`
	Workers     []WorkerStatus `json:"workers"`
}

// Snapshot returns the current Status.
func (s *Server) Snapshot() Status {
	host, _ := os.Hostname()
	s.mu.Lock()
	now := s.now()
	c := s.countLocked()
	st := Status{Timestamp: now.Format(time.RFC3339), Hostname: host, Version: Version, Uptime: s.uptime(),
		Msgs: s.msgs, Activations: s.activations, Generation: s.generation, QueueSize: s.cfg.QueueSize,
		Queued: len(s.queue), Busy: c.busy, Idle: c.idle, Stopped: c.stopped, Killed: c.killed}
	for _, w := range s.workers {
		ws := WorkerStatus{Slot: w.slot, State: w.state.lower(), Requests: w.numRequests, Scans: w.numScans,
			AgeSeconds: -1, StateAge: secondsSince(now, w.lastChange), StatusTag: w.tag}
		if w.state != stateStopped {
			ws.PID = w.pid
			ws.AgeSeconds = secondsSince(now, w.activated)
		}
		if w.state == stateBusy && w.curCmd != cmdNone {
			ws.Command = w.curCmd.String()
		}
		if w.lastCmd != cmdNone {
			ws.LastCommand = w.lastCmd.String()
		}
		st.Workers = append(st.Workers, ws)
	}
	s.mu.Unlock()
	for i := range st.Workers {
		if st.Workers[i].PID > 0 {
			st.Workers[i].RSSBytes, _ = rssBytes(st.Workers[i].PID)
		}
	}
	return st
}

// serveMetrics starts the HTTP listener for /metrics and /status.
func (s *Server) serveMetrics(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("mux: metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(s.Snapshot())
	})
	s.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.log.Infof("Serving metrics on http://%s/metrics and status on /status", l.Addr())
	go s.httpSrv.Serve(l)
	return nil
}

// MetricsRegistry exposes the registry, for tests and embedding.
func (s *Server) MetricsRegistry() *prometheus.Registry { return s.metrics.reg }
