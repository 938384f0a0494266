// Package golden finds the captures of the original MIMEDefang 3.3 that the
// tests compare against: testdata/golden at the top of the repository
// (spool directories, wire transcripts, md-mx-ctrl outputs and the filters
// they were made with; testdata/golden/README.md says how each was made).
// It is for tests only.
package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// EnvDir names the environment variable that points the tests at another
// capture directory (one recaptured for another MIMEDefang version, say).
const EnvDir = "MD_GOLDEN_DIR"

// Dir returns the capture directory joined with elem, failing tb when it
// does not exist: $MD_GOLDEN_DIR, else testdata/golden in the nearest
// directory above the current one (a test runs in its package's folder)
// that has it.
func Dir(tb testing.TB, elem ...string) string {
	tb.Helper()
	root := os.Getenv(EnvDir)
	if root == "" {
		root = find()
	}
	if root == "" {
		tb.Fatalf("golden: testdata/golden not found above %s (the repository's captures of MIMEDefang 3.3); set %s to a capture directory", wd(), EnvDir)
	}
	dir := filepath.Join(append([]string{root}, elem...)...)
	if _, err := os.Stat(dir); err != nil {
		tb.Fatalf("golden: %v (captures in %s)", err, root)
	}
	return dir
}

func find() string {
	dir := wd()
	for {
		cand := filepath.Join(dir, "testdata", "golden")
		if _, err := os.Stat(filepath.Join(cand, "README.md")); err == nil {
			return cand
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func wd() string {
	d, err := os.Getwd()
	if err != nil {
		return "."
	}
	return d
}
