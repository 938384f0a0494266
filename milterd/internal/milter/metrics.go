package milter

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const metricsPrefix = "mimedefang_milterd_"

// Message outcomes, the values of the outcome label of messages_total.
const (
	outcomeAccept   = "accept"
	outcomeReject   = "reject"
	outcomeTempFail = "tempfail"
	outcomeDiscard  = "discard"
)

// Error kinds, the values of the kind label of errors_total.
const (
	errMultiplexor = "multiplexor" // a request that failed or timed out
	errSpool       = "spool"       // the working directory could not be made or written
	errResults     = "results"     // RESULTS missing, oversize or without an F line
	errPanic       = "panic"       // a panic in a callback
)

// Metrics is the milter's Prometheus instrumentation, on a registry of its
// own. A nil *Metrics records nothing: Config.Metrics is optional.
type Metrics struct {
	reg      *prometheus.Registry
	sessions prometheus.Counter
	active   prometheus.Gauge
	messages *prometheus.CounterVec
	bytes    prometheus.Histogram
	mxTime   *prometheus.HistogramVec
	errors   *prometheus.CounterVec
}

// NewMetrics returns the metrics, registered on a new registry with every
// label value present from the start (at zero).
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.sessions = prometheus.NewCounter(prometheus.CounterOpts{
		Name: metricsPrefix + "sessions_total",
		Help: "Milter connections from the MTA.",
	})
	m.active = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: metricsPrefix + "sessions_active",
		Help: "Milter connections from the MTA now open.",
	})
	m.messages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricsPrefix + "messages_total",
		Help: "Messages ended by the milter, by the answer given (accept, reject, tempfail, discard): at end of message, or earlier at MAIL FROM or at the recipient that ended them.",
	}, []string{"outcome"})
	m.bytes = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    metricsPrefix + "message_bytes",
		Help:    "Size of the messages that reached end of message (header fields and body as the MTA sent them).",
		Buckets: prometheus.ExponentialBuckets(1024, 4, 9), // 1 KB .. 64 MB
	})
	m.mxTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    metricsPrefix + "multiplexor_request_duration_seconds",
		Help:    "Time of one multiplexor request, failed ones included, by command (free, relayok, helook, senderok, recipok, scan).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
	}, []string{"command"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricsPrefix + "errors_total",
		Help: "Failures that made the milter tempfail, by kind (multiplexor, spool, results, panic).",
	}, []string{"kind"})
	for _, o := range []string{outcomeAccept, outcomeReject, outcomeTempFail, outcomeDiscard} {
		m.messages.WithLabelValues(o)
	}
	for _, c := range []string{"free", "relayok", "helook", "senderok", "recipok", "scan"} {
		m.mxTime.WithLabelValues(c)
	}
	for _, k := range []string{errMultiplexor, errSpool, errResults, errPanic} {
		m.errors.WithLabelValues(k)
	}
	m.reg.MustRegister(m.sessions, m.active, m.messages, m.bytes, m.mxTime, m.errors)
	return m
}

// Registry is the registry the metrics are on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

func (m *Metrics) sessionStart() {
	if m == nil {
		return
	}
	m.sessions.Inc()
	m.active.Inc()
}

func (m *Metrics) sessionEnd() {
	if m == nil {
		return
	}
	m.active.Dec()
}

func (m *Metrics) message(outcome string) {
	if m == nil || outcome == "" {
		return
	}
	m.messages.WithLabelValues(outcome).Inc()
}

func (m *Metrics) messageSize(n int64) {
	if m == nil {
		return
	}
	m.bytes.Observe(float64(n))
}

func (m *Metrics) request(command string, start time.Time) {
	if m == nil {
		return
	}
	m.mxTime.WithLabelValues(command).Observe(time.Since(start).Seconds())
}

func (m *Metrics) error(kind string) {
	if m == nil {
		return
	}
	m.errors.WithLabelValues(kind).Inc()
}
