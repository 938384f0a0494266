package mux

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestStatsFileMode: the -t file is created as the original's fopen(..,
// "a") creates it under the multiplexor's file umask (set by Run): 0600,
// or 0640 with -G (umask 027); never world-readable.
func TestStatsFileMode(t *testing.T) {
	for _, tc := range []struct {
		umask int
		want  os.FileMode
	}{
		{0o077, 0o600},
		{0o027, 0o640},
		{0o000, 0o640},
	} {
		path := filepath.Join(t.TempDir(), "stats")
		old := unix.Umask(tc.umask)
		var l statsLog
		err := l.open(path, true, false, nil)
		unix.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		l.close()
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != tc.want {
			t.Errorf("stats file under umask %03o: %v, %v; want %04o", tc.umask, fi.Mode(), err, tc.want)
		}
	}
}
