package integration

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// metricsListen returns md-multiplexor's flags to serve metrics on a port
// of the test's own, and that address.
func metricsListen(t *testing.T) ([]string, string) {
	addr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	return []string{"--metrics-listen", addr}, addr
}

// startStackWithMetrics starts the whole Go stack (Postfix, md-milterd,
// md-multiplexor, md-worker) running filter, md-multiplexor serving
// /metrics on a port of the test's own, and returns it with that address.
func startStackWithMetrics(t *testing.T, filter string) (*harness.Stack, string) {
	args, addr := metricsListen(t)
	return harness.StartStack(t, harness.StackOptions{
		Multiplexor:     harness.MDBinary(t, "md-multiplexor"),
		Milter:          harness.MDBinary(t, "md-milterd"),
		Worker:          harness.MDBinary(t, "md-worker"),
		Filter:          filter,
		MultiplexorArgs: args,
	}), addr
}

// expectIntegrationCalls waits until md-multiplexor's /metrics at addr
// counts exactly want[result] calls of integration for each result
// ("clean", "hit", "error"; absent means 0), with as many errors and
// latency samples: each call a worker made reached the multiplexor once.
func expectIntegrationCalls(t *testing.T, addr, integration string, want map[string]float64) {
	t.Helper()
	const p = "mimedefang_multiplexor_integration_"
	var total float64
	for _, n := range want {
		total += n
	}
	series := func(m harness.Metrics) string {
		var lines []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if strings.HasPrefix(k, p) && strings.Contains(k, `integration="`+integration+`"`) && !strings.Contains(k, "_bucket") {
				lines = append(lines, fmt.Sprintf("%s %g", k, m[k]))
			}
		}
		return strings.Join(lines, "\n")
	}
	var last harness.Metrics
	err := harness.Await(20*time.Second, func() bool {
		last = harness.ScrapeMetrics(t, addr)
		for _, r := range []string{"clean", "hit", "error"} {
			if last[fmt.Sprintf(`%srequests_total{integration=%q,result=%q}`, p, integration, r)] != want[r] {
				return false
			}
		}
		return last[fmt.Sprintf(`%serrors_total{integration=%q}`, p, integration)] == want["error"] &&
			last[fmt.Sprintf(`%sduration_seconds_count{integration=%q}`, p, integration)] == total
	})
	if err != nil {
		t.Errorf("%v: md-multiplexor's /metrics for %s, want %v (requests by result, errors, latency samples):\n%s", err, integration, want, series(last))
	}
}
