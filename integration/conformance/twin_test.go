package conformance

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdgo/md/integration/internal/brokengen"
)

// referenceTwin stands in for the comparison of a message on which
// mimedefang.pl fails (knownDifferences "all"). The failure itself is
// checked (its log, the RESULTS without F, the NEWBODY cut short), and
// md-worker's outcome is compared in full with mimedefang.pl's outcome on a
// twin of the message that mimedefang.pl can deliver: the file name, an
// RFC 2047 word, replaced by one within Latin-1. In the reference outcome
// the twin's name is then put back as md-worker writes it, applying the
// documented deviation reasonUTF8Names and nothing else: the name's UTF-8
// bytes in the header edits and, quoted-printable, in the warning text, and
// charset=utf-8 in the warning part's Content-Type. The trees are compared
// but for the warning leaf, whose decoded text differs by the name; its
// bytes are compared in the wire aspect.
type referenceTwin struct {
	// perlFailure must all occur in the log of mimedefang.pl's run on
	// the message.
	perlFailure []string
	// name is the decoded file name, as UTF-8, that the message carries in
	// "=?UTF-8?B?...?=" words; twinName, within Latin-1, replaces it.
	name, twinName string
}

var referenceTwins = map[string]referenceTwin{
	"c32-non-latin1-exe-name.eml": {
		perlFailure: []string{
			"mimedefang.pl: exit status 22", // die with $! == EINVAL
			"open body: Invalid argument at /usr/share/perl5/MIME/Entity.pm",
		},
		name:     "файл.exe",
		twinName: "fäïl.exe",
	},
}

// The warning part's Content-Type as mimedefang.pl writes it, and as
// md-worker writes it for a warning text beyond ASCII (wire lines).
const (
	warningContentType     = `field Content-Type: text/plain; name="warning1.txt"`
	warningContentTypeUTF8 = `field Content-Type: text/plain; charset=utf-8; name="warning1.txt"`
)

// checkTwin runs the checks of referenceTwin tw for the message raw:
// mimedefang.pl's failure on it (perlFailure is the log of that run, perlDir
// its working directory, ref its outcome), then mimedefang.pl on the twin in
// base/twin, compared with got, md-worker's outcome on raw.
func checkTwin(t *testing.T, tw referenceTwin, raw []byte, ref *outcome, perlFailure, perlDir string,
	got *outcome, base, mxID, qid, perlFilter, dumper string) {
	t.Helper()

	// 1. mimedefang.pl dies writing the warning part.
	if ref.Verdict != scanFailed {
		t.Errorf("twin check: mimedefang.pl was expected to fail on this message, its verdict is %q", ref.Verdict)
	}
	for _, want := range tw.perlFailure {
		if !strings.Contains(perlFailure, want) {
			t.Errorf("twin check: mimedefang.pl's failure log lacks %q:\n%s", want, perlFailure)
		}
	}
	if strings.Contains("\n"+ref.results, "\nF") || strings.Contains("\n"+ref.results, "\nC") {
		t.Errorf("twin check: mimedefang.pl's RESULTS has an F or C line although it died:\n%s", ref.results)
	}
	cut, err := os.ReadFile(filepath.Join(perlDir, "NEWBODY"))
	if err != nil || !bytes.Contains(cut, []byte(`Content-Disposition: inline; filename="warning1.txt"`)) ||
		bytes.Contains(cut, []byte("WARNING: This e-mail")) {
		t.Errorf("twin check: mimedefang.pl's NEWBODY should stop after the warning part's header (%v):\n%s", err, cut)
	}

	// 2. The twin, through mimedefang.pl.
	word := func(name string) []byte {
		return []byte("=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(name)) + "?=")
	}
	if !bytes.Contains(raw, word(tw.name)) {
		t.Fatalf("twin check: the message does not carry %q as %s", tw.name, word(tw.name))
	}
	twinRaw := bytes.ReplaceAll(raw, word(tw.name), word(tw.twinName))
	twinDir := filepath.Join(base, "twin")
	if err := os.Mkdir(twinDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := buildWorkDir(twinDir, twinRaw, mxID, qid); err != nil {
		t.Fatal(err)
	}
	twin, failure, err := scan(mimedefangPL, perlFilter, twinDir, dumper)
	if err != nil || failure != "" {
		t.Fatalf("twin check: mimedefang.pl on the twin: %v %s", err, failure)
	}
	addWire(t, twin, twinDir, false)
	if os.Getenv("CONFORMANCE_VERBOSE") != "" {
		t.Logf("mimedefang.pl outcome on the twin:\n%s%s", twin, twin.wireString())
	}
	if twin.Verdict != "" || !twin.Rewritten {
		t.Fatalf("twin check: mimedefang.pl does not deliver a rewritten twin:\n%s", twin)
	}

	// 3. The reference outcome with the name put back as md-worker writes it.
	want := *twin
	latin1Name := brokengen.Latin1(tw.twinName)
	want.Headers = replaceAll(twin.Headers, latin1Name, tw.name)
	want.Wire = nil
	warnings := 0
	for _, l := range twin.Wire {
		if strings.HasSuffix(l, warningContentType) {
			l = strings.TrimSuffix(l, warningContentType) + warningContentTypeUTF8
			warnings++
		}
		want.Wire = append(want.Wire, strings.ReplaceAll(l, qpBytes(latin1Name), qpBytes(tw.name)))
	}
	if warnings != 1 || equalLines(want.Wire, twin.Wire) || equalLines(want.Headers, twin.Headers) {
		t.Errorf("twin check: the twin's name or warning part is not where it was expected (warning parts: %d):\n%s%s",
			warnings, twin, twin.wireString())
	}
	for _, a := range []string{"verdict", "headers", "envelope", "rewritten", "content", "wire"} {
		if w, g := want.aspect(a), got.aspect(a); !equalLines(w, g) {
			t.Errorf("twin check: md-worker's %s differs from mimedefang.pl's on the twin with the name put back (- mimedefang.pl, + md-worker):\n%s",
				a, diffLines(w, g))
		}
	}
	var wantTree, gotTree []string
	for _, l := range twin.Tree {
		if !strings.Contains(l, `filename="warning1.txt"`) {
			wantTree = append(wantTree, l)
		}
	}
	warningLeaves := 0
	for _, l := range got.Tree {
		if !strings.Contains(l, `filename="warning1.txt"`) {
			gotTree = append(gotTree, l)
		} else if strings.HasPrefix(l, `1 text/plain disposition=inline charset=utf-8 filename="warning1.txt" sha256=`) {
			warningLeaves++
		}
	}
	if !equalLines(wantTree, gotTree) || warningLeaves != 1 {
		t.Errorf("twin check: md-worker's tree is not mimedefang.pl's on the twin with one UTF-8 warning leaf:\n--- mimedefang.pl (twin)\n%s\n--- md-worker\n%s",
			strings.Join(twin.Tree, "\n"), strings.Join(got.Tree, "\n"))
	}
}

func replaceAll(lines []string, old, new string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.ReplaceAll(l, old, new)
	}
	return out
}

// qpBytes encodes s as quoted-printable does inside a short line: bytes
// beyond ASCII and "=" as =XX.
func qpBytes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x7f || c == '=' {
			fmt.Fprintf(&b, "=%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}
