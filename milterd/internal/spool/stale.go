package spool

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Stale is a working directory SweepStale removed.
type Stale struct {
	Name string        // mdefang-QUEUEID
	Idle time.Duration // since anything in it last changed
}

// SweepStale removes the working directories (mdefang-*) under spoolDir in
// which nothing has changed for longer than idle: neither the directory
// nor any entry in it or in its Work/ and tmp/ subdirectories. Only a
// crashed md-milterd (SIGKILL, a power cut) leaves one behind: a running
// one removes each directory when its message ends, and writes to it as the
// message arrives (each piece within --read-timeout) and while the worker
// scans it (within --mx-timeout). The original never removes them; they pile up
// until an administrator does. Removing one cannot lose mail: a message
// still in flight in it fails and is tempfailed, and the MTA keeps it.
// It returns what it removed; directories it cannot read or remove are
// left alone.
func SweepStale(spoolDir string, idle time.Duration, now time.Time) ([]Stale, error) {
	entries, err := os.ReadDir(spoolDir)
	if err != nil {
		return nil, err
	}
	var removed []Stale
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "mdefang-") {
			continue
		}
		dir := filepath.Join(spoolDir, e.Name())
		newest, ok := newestChange(dir)
		if !ok || now.Sub(newest) <= idle {
			continue
		}
		if os.RemoveAll(dir) == nil {
			removed = append(removed, Stale{Name: e.Name(), Idle: now.Sub(newest)})
		}
	}
	return removed, nil
}

// newestChange is the latest modification time of dir, its entries, and
// the entries of its Work/ and tmp/ subdirectories (symbolic links are not
// followed).
func newestChange(dir string) (time.Time, bool) {
	fi, err := os.Lstat(dir)
	if err != nil {
		return time.Time{}, false
	}
	newest := fi.ModTime()
	for _, d := range []string{dir, filepath.Join(dir, "Work"), filepath.Join(dir, "tmp")} {
		entries, err := os.ReadDir(d)
		if err != nil {
			if d == dir {
				return time.Time{}, false
			}
			continue
		}
		for _, e := range entries {
			if info, err := e.Info(); err == nil && info.ModTime().After(newest) {
				newest = info.ModTime()
			}
		}
	}
	return newest, true
}
