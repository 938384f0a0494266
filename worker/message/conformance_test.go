package message

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const corpusDir = "../testdata/corpus"

// deviations lists, per corpus file, the lines of MIME-tools' dump that
// package message deliberately does not reproduce (see the package
// documentation, "Differences from MIME-tools"): want is replaced by got.
var deviations = map[string]struct{ want, got string }{}

// dumpTree renders a Message the way mimetools-dump.pl renders MIME-tools' tree.
func dumpTree(t testing.TB, m *Message) string {
	var b strings.Builder
	wm := 0
	if m.WasMultipart() {
		wm = 1
	}
	fmt.Fprintf(&b, "multipart %d\n", wm)
	Walk(m.Top(), func(p *Part, depth int) bool {
		if p.repair == repairBogus {
			// The documented deviation: MIME-tools makes an empty
			// text/plain of a part whose header runs into the next
			// boundary; package message reads it as mail clients do.
			fmt.Fprintf(&b, "%d\ttext/plain\t\t%x\n", depth, sha256.Sum256(nil))
			return false
		}
		if p.clientNested {
			// The documented deviation: MIME-tools reads a
			// message/* part other than rfc822 as a leaf.
			asLeaf := *p
			asLeaf.kind = leaf
			h := sha256.New()
			if _, err := asLeaf.DecodeTo(h); err != nil {
				t.Errorf("DecodeTo: %v", err)
			}
			fmt.Fprintf(&b, "%d\t%s\t%s\t%x\n", depth, escDump(p.Type()), escDump(p.FileName()), h.Sum(nil))
			return false
		}
		sum := "-"
		if !p.IsMultipart() {
			h := sha256.New()
			if _, err := p.DecodeTo(h); err != nil {
				t.Errorf("DecodeTo: %v", err)
			}
			sum = hex.EncodeToString(h.Sum(nil))
		}
		fmt.Fprintf(&b, "%d\t%s\t%s\t%s\n", depth, escDump(p.Type()), escDump(p.FileName()), sum)
		return true
	})
	return b.String()
}

func escDump(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func corpusFiles(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.eml"))
	if err != nil || len(files) < 45 {
		t.Fatalf("corpus: %d files in %s (%v); run go generate ./message/", len(files), corpusDir, err)
	}
	return files
}

// TestConformance compares the tree Parse builds of every corpus message
// with the tree MIME-tools builds (recorded in testdata/oracles/corpus.dump,
// see oracle_test.go).
func TestConformance(t *testing.T) {
	files := corpusFiles(t)
	want := recordedDump(t, "corpus", corpusInputs(t, files))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Parse(raw, Limits{MaxParts: -1})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got := dumpTree(t, m)
			w := want[filepath.Base(f)]
			if d, ok := deviations[filepath.Base(f)]; ok {
				if !strings.Contains(w, d.want) {
					t.Errorf("deviation no longer applies: MIME-tools output lacks %q", d.want)
				}
				w = strings.Replace(w, d.want, d.got, 1)
			}
			if got != w {
				t.Errorf("tree differs from MIME-tools\n--- MIME-tools\n%s--- package message\n%s", w, got)
			}
		})
	}
}

// TestMaxPartsMatchesMIMETools checks that Limits.MaxParts counts entities
// as MIME::Parser's max_parts does: the smallest limit Parse accepts is the
// smallest MIME-tools accepts (recorded in testdata/oracles/maxparts.txt by
// trying MD_MAX_PARTS=1, 2, ... with mimetools-dump.pl).
func TestMaxPartsMatchesMIMETools(t *testing.T) {
	names := []string{"07-nested-multipart.eml", "08-rfc822-multipart.eml", "27-digest.eml",
		"42-bogus-part.eml", "44-outer-ends-inner.eml", "48-uuencode.eml", "52-many-parts.eml", "54-uuencode-multi.eml"}
	var files []string
	for _, name := range names {
		files = append(files, filepath.Join(corpusDir, name))
	}
	inputs := corpusInputs(t, files)
	checkRecordedInputs(t, "corpus", corpusInputs(t, corpusFiles(t)))
	minimum := recordedMaxParts(t)
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			want, ok := minimum[in.name]
			if !ok {
				t.Fatalf("%s has no entry for %s: run %s", filepath.Join(oracleDir(), "maxparts.txt"), in.name, recordCommand)
			}
			n := 1
			for ; n < 1000; n++ {
				if _, err := Parse(in.raw, Limits{MaxParts: n}); err == nil {
					break
				}
			}
			if n != want {
				t.Errorf("Parse needs MaxParts %d; the smallest MD_MAX_PARTS MIME-tools accepts is %d", n, want)
			}
		})
	}
}

// recordedMaxParts reads testdata/oracles/maxparts.txt: lines "NAME N", N
// the smallest MD_MAX_PARTS with which mimetools-dump.pl parses NAME.
func recordedMaxParts(t testing.TB) map[string]int {
	t.Helper()
	path := filepath.Join(oracleDir(), "maxparts.txt")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("recorded MIME-tools max_parts: %v: run %s", err, recordCommand)
	}
	res := map[string]int{}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var name string
		var n int
		if _, err := fmt.Sscanf(line, "%s %d", &name, &n); err != nil {
			t.Fatalf("%s: bad line %q: %v", path, line, err)
		}
		res[name] = n
	}
	return res
}
