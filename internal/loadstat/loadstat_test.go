package loadstat

import (
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i + 1)
	}
	for _, c := range []struct {
		values []time.Duration
		p      float64
		want   time.Duration
	}{
		{nil, 99, 0},
		{[]time.Duration{7}, 1, 7},
		{[]time.Duration{7}, 100, 7},
		{hundred, 99, 99},
		{hundred, 50, 50},
		{hundred, 100, 100},
		{hundred, 0.5, 1},
		{[]time.Duration{1, 2, 3}, 50, 2},
		{[]time.Duration{1, 2, 3, 4}, 50, 2},
		{[]time.Duration{1, 2, 3, 4}, 51, 3},
		{[]time.Duration{1, 2, 3, 4}, 99, 4},
		// 99 % of 1070 is 1059.3: nearest rank takes the 1060th value
		// (rounding, as two load generators did, took the 1059th).
		{seq(1070), 99, 1060},
	} {
		if got := Percentile(c.values, c.p); got != c.want {
			t.Errorf("Percentile(%d values, %v) = %v, want %v", len(c.values), c.p, got, c.want)
		}
	}
}

func TestSortedLeavesInput(t *testing.T) {
	in := []time.Duration{3, 1, 2}
	if got := Sorted(in); got[0] != 1 || got[2] != 3 || in[0] != 3 {
		t.Errorf("Sorted(%v) = %v, input now %v", []time.Duration{3, 1, 2}, got, in)
	}
}

func seq(n int) []time.Duration {
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = time.Duration(i + 1)
	}
	return s
}
