package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// TestCloneStandsAlone clones the repository (its committed state) into an
// empty temporary directory, with nothing beside it, and runs `make unit
// modules build` there: every unit test finds what it reads inside the
// repository (the captures of MIMEDefang 3.3 are testdata/golden) and needs
// no prior build (unit runs first, with no bin/), no test reaches for a
// folder next to the checkout, and every module builds alone (GOWORK=off). It also checks that no tracked file
// outside the docs names such a folder or the folder holding the checkout.
func TestCloneStandsAlone(t *testing.T) {
	root := filepath.Dir(harness.ModuleRoot(t))
	if _, err := os.Stat(filepath.Join(root, ".git")); err != nil {
		t.Fatalf("%s is not a git checkout (%v): the test clones it", root, err)
	}
	// A sibling folder of the checkout ("../" + name), or the path of
	// the folder holding the checkout, named by any tracked file but the
	// docs.
	// A system-wide folder holding the checkout (a clone in /tmp) is named
	// by tracked files for its own sake, not as the checkout's parent:
	// only a private parent (such as a workspace folder) is looked for.
	sibling := `\.\./` + "shared"
	patterns := []string{"-e", sibling}
	if parent := filepath.Dir(root); !systemDirs[parent] {
		patterns = append(patterns, "-e", regexp.QuoteMeta(parent+"/"))
	}
	out, err := exec.Command("git", append(append([]string{"-C", root, "grep", "-l", "-E"}, patterns...), "--", ".", ":!*.md")...).Output()
	if files := strings.Fields(string(out)); err == nil && len(files) > 0 {
		t.Errorf("tracked files name a folder outside the repository: %s", strings.Join(files, ", "))
	}

	// An empty directory of its own: nothing beside the clone.
	parent := t.TempDir()
	clone := filepath.Join(parent, "md")
	if out, err := exec.Command("git", "clone", "--quiet", "--no-hardlinks", root, clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	entries, err := os.ReadDir(parent)
	if err != nil || len(entries) != 1 {
		t.Fatalf("the clone's parent holds %d entries (%v), want the clone alone", len(entries), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "unit", "modules", "build")
	cmd.Dir = clone
	cmd.Env = append(os.Environ(), "MD_GOLDEN_DIR=", "MD_BIN_DIR=")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make unit modules build in a clone with nothing beside it: %v\n%s", err, tail(b, 6000))
	}
}

// systemDirs are folders every machine has, which tracked files name for
// their own sake (/tmp in test scripts, /var/tmp for caches).
var systemDirs = map[string]bool{"/": true, "/tmp": true, "/var/tmp": true, "/root": true, "/home": true, "/var": true, "/srv": true, "/opt": true}

// tail returns the last n bytes of b.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
