// Package loadstat holds the statistics the project's load generators
// report (bench/: mxload, milterload, e2eload, workerload), so that every
// benchmark's p50 and p99 mean the same thing.
package loadstat

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, which must be in ascending order: the smallest value with at least
// p % of the values at or below it. It returns 0 for no values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p*float64(len(sorted))/100)) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

// Sorted returns a sorted copy of ds, ready for Percentile.
func Sorted(ds []time.Duration) []time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s
}

// Millis is d in milliseconds, as the load generators print it.
func Millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
