package spool

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSweepStale: a working directory nothing has changed in for longer
// than the idle time is removed, whatever its files; one with a recent
// change anywhere in it (a file, Work/), and anything that is not a
// working directory, stays.
func TestSweepStale(t *testing.T) {
	spool := t.TempDir()
	old := time.Now().Add(-2 * time.Hour)
	mk := func(rel string, mtime time.Time) {
		p := filepath.Join(spool, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	age := func(dir string, mtime time.Time) {
		if err := os.Chtimes(filepath.Join(spool, dir), mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	mk("mdefang-STALE/INPUTMSG", old)
	mk("mdefang-STALE/Work/PART-1", old)
	age("mdefang-STALE/Work", old)
	age("mdefang-STALE", old)
	mk("mdefang-ACTIVE/INPUTMSG", time.Now()) // still being written
	age("mdefang-ACTIVE", old)
	mk("mdefang-SCANNING/HEADERS", old)
	mk("mdefang-SCANNING/Work/PART-1", time.Now()) // the worker writing
	age("mdefang-SCANNING/Work", old)
	age("mdefang-SCANNING", old)
	mk("other/file", old)
	age("other", old)
	mk("mdefang-notadir", old)

	removed, err := SweepStale(spool, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0].Name != "mdefang-STALE" || removed[0].Idle < 2*time.Hour-time.Minute {
		t.Errorf("removed %+v, want mdefang-STALE idle about 2h", removed)
	}
	for _, keep := range []string{"mdefang-ACTIVE", "mdefang-SCANNING", "other", "mdefang-notadir"} {
		if _, err := os.Lstat(filepath.Join(spool, keep)); err != nil {
			t.Errorf("%s was removed: %v", keep, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(spool, "mdefang-STALE")); !os.IsNotExist(err) {
		t.Errorf("mdefang-STALE still there: %v", err)
	}
}
