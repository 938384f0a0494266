package harness

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Metrics is one scrape of a /metrics endpoint: each sample's value by its
// series as served, e.g. `mimedefang_multiplexor_integration_requests_total{integration="clamd",result="hit"}`.
type Metrics map[string]float64

// ScrapeMetrics reads http://addr/metrics in the Prometheus text format.
func ScrapeMetrics(t testing.TB, addr string) Metrics {
	t.Helper()
	c := &http.Client{Timeout: Scale(10 * time.Second)}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scraping %s: %v", addr, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping %s: %s, %v", addr, resp.Status, err)
	}
	m := Metrics{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("%s/metrics: not a sample line: %q", addr, line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("%s/metrics: not a sample line: %q", addr, line)
		}
		m[line[:i]] = v
	}
	return m
}
