package message

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// mutate breaks a message the ways mail gets broken: lines deleted,
// duplicated, swapped or truncated, boundary lines moved, bytes replaced by
// MIME syntax characters, blank lines inserted, CRs added, uuencode blocks
// dropped in.
func mutate(r *rand.Rand, raw []byte) []byte {
	lines := bytes.SplitAfter(raw, []byte("\n"))
	for k := 0; k < 1+r.Intn(8); k++ {
		if len(lines) < 2 {
			break
		}
		i := r.Intn(len(lines))
		switch r.Intn(9) {
		case 0:
			lines = append(lines[:i], lines[i+1:]...)
		case 1:
			lines = append(lines[:i+1], lines[i:]...)
		case 2:
			j := r.Intn(len(lines))
			lines[i], lines[j] = lines[j], lines[i]
		case 3:
			lines = lines[:i]
		case 4:
			// copy a boundary-looking line elsewhere
			for _, l := range lines {
				if bytes.HasPrefix(l, []byte("--")) && r.Intn(3) == 0 {
					lines = append(lines[:i], append([][]byte{l}, lines[i:]...)...)
					break
				}
			}
		case 5:
			l := append([]byte(nil), lines[i]...)
			if len(l) > 1 {
				l[r.Intn(len(l))] = "\r\n\t =;\"'*%?-:/abcXYZ"[r.Intn(20)]
			}
			lines[i] = l
		case 6:
			lines[i] = []byte("\n")
		case 7:
			l := append([]byte(nil), lines[i]...)
			lines[i] = append(bytes.TrimSuffix(l, []byte("\n")), []byte("\r\n")...)
		case 8:
			lines = append(lines[:i], append([][]byte{[]byte("begin 644 x.exe\n"), []byte("#86)C\n"), []byte("end\n")}, lines[i:]...)...)
		}
	}
	return bytes.Join(lines, nil)
}

// TestDifferential compares Parse with MIME-tools over 600 mutated copies of
// corpus messages (fixed seeds, so failures reproduce; set MD_DIFF_SEED to
// explore other seeds).
func TestDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("600 messages through perl")
	}
	dir := t.TempDir()
	seed := int64(1)
	if s, err := strconv.ParseInt(os.Getenv("MD_DIFF_SEED"), 10, 64); err == nil {
		seed = s
	}
	r := rand.New(rand.NewSource(seed))
	var files []string
	src := corpusFiles(t)
	for n := 0; n < 600; n++ {
		raw, err := os.ReadFile(src[r.Intn(len(src))])
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, fmt.Sprintf("m%03d.eml", n))
		if err := os.WriteFile(f, mutate(r, raw), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	want := mimeToolsDump(t, files)
	bad := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Parse(raw, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if got := dumpTree(t, m); got != want[f] {
			bad++
			if bad <= 5 {
				t.Errorf("seed %d, %s differs\n%q\n--- MIME-tools\n%s--- package message\n%s", seed, filepath.Base(f), raw, want[f], got)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d messages differ", bad, len(files))
	}
}
