package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// oraclePerlModules are the Perl modules the oracles of package message
// load, with the Debian packages that provide them.
var oraclePerlModules = []struct{ module, pkg string }{
	{"MIME::Parser", "libmime-tools-perl"},
	{"Mail::MIMEDefang::MIME", "mimedefang"},
	{"HTML::Parser", "libhtml-parser-perl"},
	{"Digest::SHA", "perl"},
	{"JSON::PP", "perl"},
}

// oracleRecordTimeout bounds one run of record-oracles.sh (about 10 s on an
// idle machine: compiling package message's tests and some 35 perl runs).
const oracleRecordTimeout = 5 * time.Minute

// TestOraclesMatchRecordings runs the Perl oracles of package message for
// real: worker/message/testdata/record-oracles.sh (MIME-tools through
// mimetools-dump.pl, MIME::Parser's max_parts, HTML::Parser through
// html-oracle.pl) records into a temporary directory, and every file must
// equal the recording the unit tests compare with
// (worker/message/testdata/oracles). A difference means that the oracle
// (MIME-tools, Mail::MIMEDefang, HTML::Parser, the oracle scripts) or its
// inputs changed since the recording: record again and look at the diff.
// Missing Perl modules fail the test with the apt-get line; it never
// skips.
func TestOraclesMatchRecordings(t *testing.T) {
	requireOraclePerl(t)
	root := filepath.Dir(harness.ModuleRoot(t))
	testdata := filepath.Join(root, "worker", "message", "testdata")
	recorded := filepath.Join(testdata, "oracles")
	out := t.TempDir()

	ctx, cancel := context.WithTimeout(context.Background(), harness.Scale(oracleRecordTimeout))
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(testdata, "record-oracles.sh"), out)
	cmd.Env = oracleRecorderEnv(goToolPath(t))
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("record-oracles.sh %s: %v (after %v)\n%s", out, err, time.Since(start).Round(time.Millisecond), tail(b, 8000))
	}
	t.Logf("record-oracles.sh ran in %v", time.Since(start).Round(time.Millisecond))

	names := map[string]bool{}
	for _, dir := range []string{recorded, out} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			names[e.Name()] = true
		}
	}
	if len(names) == 0 {
		t.Fatalf("record-oracles.sh wrote nothing to %s and %s holds nothing", out, recorded)
	}
	sorted := make([]string, 0, len(names))
	for name := range names {
		sorted = append(sorted, name)
	}
	sort.Strings(sorted)
	const again = "run worker/message/testdata/record-oracles.sh and review the diff of worker/message/testdata/oracles " +
		"(then the unit tests of package message show whether the parser must follow)"
	for _, name := range sorted {
		t.Run(name, func(t *testing.T) {
			want, errWant := os.ReadFile(filepath.Join(recorded, name))
			got, errGot := os.ReadFile(filepath.Join(out, name))
			switch {
			case errWant != nil:
				t.Errorf("the recorder writes %s but it is not recorded (%v): %s", name, errWant, again)
			case errGot != nil:
				t.Errorf("%s is recorded but the recorder no longer writes it (%v): %s", name, errGot, again)
			case !bytes.Equal(want, got):
				line, w, g := firstDifference(string(want), string(got))
				t.Errorf("the oracle's output differs from the recording worker/message/testdata/oracles/%s from line %d on:\n--- recorded\n%s\n--- the oracle now\n%s\n%s",
					name, line, w, g, again)
			}
		})
	}
}

// requireOraclePerl fails the test unless perl and the modules the oracles
// load are installed, with the apt-get line that installs them.
func requireOraclePerl(t *testing.T) {
	t.Helper()
	all := []string{"perl"}
	for _, m := range oraclePerlModules {
		all = append(all, m.pkg)
	}
	if _, err := exec.LookPath("perl"); err != nil {
		t.Fatalf("the Perl oracles need perl (%v): apt-get install -y %s", err, strings.Join(uniqueStrings(all), " "))
	}
	var missing []string
	for _, m := range oraclePerlModules {
		if err := exec.Command("perl", "-M"+m.module, "-e", "1").Run(); err != nil {
			missing = append(missing, m.pkg)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("the Perl oracles need modules that are missing: apt-get install -y %s", strings.Join(uniqueStrings(missing), " "))
	}
}

// oracleRecorderEnv is the test's environment for record-oracles.sh, with
// the directory of the go tool first in PATH and without the variables
// that would make it record something else than the recordings (another
// seed) or make the tests read other recordings.
func oracleRecorderEnv(goTool string) []string {
	var env []string
	path := filepath.Dir(goTool)
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "MD_DIFF_SEED", "MD_ORACLE_DIR", "MD_WRITE_ORACLE_INPUTS":
			continue
		case "PATH":
			path += string(os.PathListSeparator) + v
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PATH="+path)
}

// firstDifference returns the number (from 1) of the first line where a
// and b differ, and a few lines of each from there.
func firstDifference(a, b string) (int, string, string) {
	la, lb := strings.SplitAfter(a, "\n"), strings.SplitAfter(b, "\n")
	i := 0
	for i < len(la) && i < len(lb) && la[i] == lb[i] {
		i++
	}
	excerpt := func(lines []string) string {
		if i >= len(lines) {
			return "(end of file)"
		}
		end := min(i+8, len(lines))
		s := strings.Join(lines[i:end], "")
		if end < len(lines) {
			s += fmt.Sprintf("[... %d more lines]\n", len(lines)-end)
		}
		return s
	}
	return i + 1, excerpt(la), excerpt(lb)
}

func uniqueStrings(s []string) []string {
	seen := map[string]bool{}
	var res []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			res = append(res, v)
		}
	}
	return res
}
