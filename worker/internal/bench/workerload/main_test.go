package main

import "testing"

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
