package message

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The Perl oracles (MIME-tools through testdata/mimetools-dump.pl,
// HTML::Parser through testdata/html-oracle.pl) do not run in the unit
// tests: testdata/record-oracles.sh ran them once and recorded what they
// printed under testdata/oracles, and the tests compare package message
// with those recordings. The integration test TestOraclesMatchRecordings
// (integration/oracles_test.go) runs the oracles again and fails when
// their output no longer matches the recordings.
//
// Each recording of mimetools-dump.pl's output, SET.dump, comes with
// SET.sha256, the sha256sum of the files it was made from: a test that
// builds different inputs (the corpus, the test or package message's
// writer changed) fails and says to record again rather than report a
// difference from MIME-tools that nobody checked.
//
// MD_ORACLE_DIR=DIR makes the tests read the recordings from DIR instead,
// e.g. after `MD_DIFF_SEED=7 testdata/record-oracles.sh DIR` to explore
// another seed of TestDifferential.

// recordCommand is what the failure messages tell to run.
const recordCommand = "worker/message/testdata/record-oracles.sh (needs perl: apt-get install -y libmime-tools-perl mimedefang libhtml-parser-perl), then review the diff of worker/message/testdata/oracles"

// oracleDir returns the directory that holds the recordings.
func oracleDir() string {
	if d := os.Getenv("MD_ORACLE_DIR"); d != "" {
		return d
	}
	return filepath.Join("testdata", "oracles")
}

// oracleInput is one message an oracle read, under the name it was given.
type oracleInput struct {
	name string
	raw  []byte
}

// writeOracleInputsEnv names the directory TestWriteOracleInputs writes to.
const writeOracleInputsEnv = "MD_WRITE_ORACLE_INPUTS"

// TestWriteOracleInputs is not a test but the recorder's source of the
// messages that only the tests build (mutated and rewritten copies of the
// corpus): with MD_WRITE_ORACLE_INPUTS=DIR it writes them to
// DIR/differential and DIR/rewritten. testdata/record-oracles.sh runs it.
func TestWriteOracleInputs(t *testing.T) {
	dir := os.Getenv(writeOracleInputsEnv)
	if dir == "" {
		t.Skip("writes the oracles' inputs only with " + writeOracleInputsEnv + "=DIR (testdata/record-oracles.sh)")
	}
	for set, inputs := range map[string][]oracleInput{
		"differential": differentialInputs(t, diffSeed()),
		"rewritten":    rewrittenInputs(t),
	} {
		sub := filepath.Join(dir, set)
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, in := range inputs {
			if err := os.WriteFile(filepath.Join(sub, in.name), in.raw, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// recordedDump returns the recorded output of mimetools-dump.pl for set
// (the name of SET.dump in oracleDir), by input file name, after checking
// that the recording was made from exactly these inputs.
func recordedDump(t testing.TB, set string, inputs []oracleInput) map[string]string {
	t.Helper()
	checkRecordedInputs(t, set, inputs)
	path := filepath.Join(oracleDir(), set+".dump")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("recorded MIME-tools output: %v: run %s", err, recordCommand)
	}
	res := map[string]string{}
	var name string
	var cur strings.Builder
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "== "); ok {
			if name != "" {
				res[name] = cur.String()
			}
			name, cur = strings.TrimSuffix(rest, "\n"), strings.Builder{}
			continue
		}
		cur.WriteString(line)
	}
	if name != "" {
		res[name] = cur.String()
	}
	for _, in := range inputs {
		if _, ok := res[in.name]; !ok {
			t.Fatalf("%s has no entry for %s: run %s", path, in.name, recordCommand)
		}
	}
	return res
}

// checkRecordedInputs fails the test unless SET.sha256 in oracleDir lists
// exactly inputs, with their SHA-256.
func checkRecordedInputs(t testing.TB, set string, inputs []oracleInput) {
	t.Helper()
	path := filepath.Join(oracleDir(), set+".sha256")
	recorded, err := readSums(path)
	if err != nil {
		t.Fatalf("recorded inputs: %v: run %s", err, recordCommand)
	}
	var stale []string
	seen := map[string]bool{}
	for _, in := range inputs {
		seen[in.name] = true
		sum := sha256.Sum256(in.raw)
		switch r, ok := recorded[in.name]; {
		case !ok:
			stale = append(stale, in.name+" (not recorded)")
		case r != hex.EncodeToString(sum[:]):
			stale = append(stale, in.name+" (changed)")
		}
	}
	for name := range recorded {
		if !seen[name] {
			stale = append(stale, name+" (recorded, no longer an input)")
		}
	}
	if len(stale) > 0 {
		sort.Strings(stale)
		if len(stale) > 10 {
			stale = append(stale[:10], fmt.Sprintf("and %d more", len(stale)-10))
		}
		t.Fatalf("the recording of the oracle's output for %q (%s) was not made from the messages this test reads: %s.\n"+
			"The corpus, the test's inputs or package message's writer changed since it was recorded; the oracle must read the new messages: run %s",
			set, path, strings.Join(stale, ", "), recordCommand)
	}
}

// readSums reads a sha256sum output file: name -> hex digest.
func readSums(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sums := map[string]string{}
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) != 2 {
			return nil, fmt.Errorf("%s: bad line %q", path, s.Text())
		}
		sums[strings.TrimPrefix(f[1], "*")] = f[0]
	}
	return sums, s.Err()
}

// corpusInputs reads files (paths) as oracle inputs named by their base
// names, as record-oracles.sh passes them to mimetools-dump.pl.
func corpusInputs(t testing.TB, files []string) []oracleInput {
	t.Helper()
	var inputs []oracleInput
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, oracleInput{filepath.Base(f), raw})
	}
	return inputs
}
