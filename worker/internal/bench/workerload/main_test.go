package main

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {90, 90}, {99, 99}, {100, 100}, {0, 1}} {
		if got := percentile(d, tc.p); got != tc.want {
			t.Errorf("percentile(1..100, %v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("percentile of one value = %v", got)
	}
}

func TestWorkerFlag(t *testing.T) {
	var w workerFlags
	if err := w.Set("md=/bin/md-worker,/f.lua"); err != nil || w[0] != (workerSpec{"md", "/bin/md-worker", "/f.lua"}) {
		t.Errorf("Set = %v, %+v", err, w)
	}
	for _, bad := range []string{"md", "md=/bin/x", "=a,b", "md=,f"} {
		if err := w.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
}
