package conformance

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Tests of the harness itself, so a conformance failure points at an
// implementation and not at the grader.

func TestPercentDecode(t *testing.T) {
	for in, want := range map[string]string{
		"foo%0D%0Abar%09bl%25t": "foo\r\nbar\tbl%t",
		"100%":                  "100%",
		"%zz%4a":                "%zzJ",
	} {
		if got := percentDecode(in); got != want {
			t.Errorf("percentDecode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCommandsEncode(t *testing.T) {
	if got, want := commandsEncode("a b%c\"d\x7f"), `a%20b%25c"d%7F`; got != want {
		t.Errorf("commandsEncode = %q, want %q", got, want)
	}
}

func TestApplyEdits(t *testing.T) {
	hs := []header{{"Subject", "s"}, {"X-A", "1"}, {"Content-Type", "text/plain"}, {"X-A", "2"}}
	lines, err := parseResults([]byte("HX-New v%20w\nNX-First 0 f\nIX-A 2 two\nJX-A 1\nIX-Absent 1 added\nMmultipart/mixed; boundary=\"b\"\nF\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range applyEdits(hs, lines) {
		got = append(got, h.name+": "+h.value)
	}
	want := []string{"X-First: f", "Subject: s", "Content-Type: multipart/mixed; boundary=\"b\"",
		"X-A: two", "X-New: v w", "X-Absent: added", "MIME-Version: 1.0"}
	if !equalLines(got, want) {
		t.Errorf("applyEdits:\n%s", diffLines(want, got))
	}
}

func TestParseResultsNeedsF(t *testing.T) {
	if _, err := parseResults([]byte("HX-A b\n")); err == nil {
		t.Error("RESULTS without F accepted")
	}
}

func TestRawLeavesAndReencoding(t *testing.T) {
	input := []byte("Content-Type: multipart/mixed; boundary=\"b\"\n\npreamble\n--b\nContent-Type: text/plain\n\nhello\n--b\n" +
		"Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nQUJDREVGR0g=\n--b--\n")
	leaves := rawLeaves(input)
	if len(leaves) != 2 || string(leaves[0].body) != "hello" || leaves[1].typ != "application/pdf" {
		t.Fatalf("rawLeaves = %+v", leaves)
	}
	same := []byte("Content-Type: multipart/mixed; boundary=\"n\"\n\n--n\nContent-Type: application/pdf\n" +
		"Content-Transfer-Encoding: base64\n\nQUJDREVGR0g=\n--n\nContent-Type: text/plain\n\nwarning\n--n--\n")
	if p := reencodedLeaves(input, same); len(p) != 0 {
		t.Errorf("untouched part reported as re-encoded: %v", p)
	}
	reencoded := []byte("Content-Type: multipart/mixed; boundary=\"n\"\n\n--n\nContent-Type: application/pdf\n" +
		"Content-Transfer-Encoding: base64\n\nQUJD\nREVGR0g=\n--n--\n")
	if p := reencodedLeaves(input, reencoded); len(p) != 1 {
		t.Errorf("re-encoded part not reported: %v", p)
	}
}

func TestBuildWorkDir(t *testing.T) {
	dir := t.TempDir()
	raw := "Subject: one\r\nSubject: two words\r\nContent-Type: text/plain\r\nContent-Type: text/html\r\n" +
		"X-Folded: a\r\n\tb\r\nMessage-ID: <m@x>\r\n\r\nbody\r\n"
	if err := buildWorkDir(dir, []byte(raw), "m000001", "Q1"); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got, want := read("INPUTMSG"), "Subject: one\nSubject: two words\nContent-Type: text/plain\nX-Folded: a\n\tb\nMessage-ID: <m@x>\n\nbody\n"; got != want {
		t.Errorf("INPUTMSG = %q, want %q", got, want)
	}
	if got := read("HEADERS"); !strings.Contains(got, "X-Folded: a\tb\n") || strings.Contains(got, "text/html") {
		t.Errorf("HEADERS = %q", got)
	}
	cmds := read("COMMANDS")
	for _, want := range []string{"im000001\n", "S<alice@example.org>\n", "Uone\n", "Utwo%20words\n", "X<m@x>\n", "QQ1\n"} {
		if !strings.Contains(cmds, want) {
			t.Errorf("COMMANDS lacks %q:\n%s", want, cmds)
		}
	}
	if !strings.HasSuffix(cmds, "\nF\n") {
		t.Errorf("COMMANDS does not end with F:\n%s", cmds)
	}
}

func TestWireLayout(t *testing.T) {
	input := []byte("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\nSubject: s\n\npre\n--b\n" +
		"Content-Type: text/plain\n\nhello\n--b\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n" +
		"QUJDREVGR0g=\n--b--")
	gen := "----------=_1700000000-42-0"
	// A warning part added, the text part copied, the PDF re-encoded.
	delivered := []byte("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"" + gen + "\"\nSubject: s\n\n" +
		"--" + gen + "\nContent-Type: text/plain; name=\"warning1.txt\"\nContent-Transfer-Encoding: 7bit\n\nRemoved x.exe\n\n" +
		"--" + gen + "\nContent-Type: text/plain\n\nhello\n--" + gen + "\nContent-Type: application/pdf\n" +
		"Content-Transfer-Encoding: base64\n\nQUJD\nREVGR0g=\n\n--" + gen + "--\n")
	want := []string{
		"0         multipart/mixed multipart written anew",
		"0           field MIME-Version: 1.0",
		`0           field Content-Type: multipart/mixed; boundary="<generated boundary 1>"`,
		"0           Content-Transfer-Encoding (none)",
		"0           no preamble",
		`0           delimiter "--<generated boundary 1>"`,
		"0.1       text/plain leaf written anew",
		`0.1         field Content-Type: text/plain; name="warning1.txt"`,
		"0.1         field Content-Transfer-Encoding: 7bit",
		"0.1         Content-Transfer-Encoding 7bit",
		"0.1         body, 1 lines",
		"0.1         | Removed x.exe",
		`0           delimiter "--<generated boundary 1>"`,
		"0.2       text/plain unchanged: INPUTMSG entity 0.1",
		`0           delimiter "--<generated boundary 1>"`,
		"0.3       application/pdf unchanged: INPUTMSG entity 0.2",
		`0           closing delimiter "--<generated boundary 1>--", then "\n"`,
	}
	if got := wireLayout(input, delivered, false); !equalLines(got, want) {
		t.Errorf("wireLayout, mimedefang.pl's view:\n%s", diffLines(want, got))
	}
	// md-worker must copy the PDF byte for byte: re-encoded, it is written anew.
	got := wireLayout(input, delivered, true)
	if !slices.Contains(got, "0.3       application/pdf leaf written anew") || !slices.Contains(got, "0.3         | QUJD") {
		t.Errorf("wireLayout, md-worker's view, does not render the re-encoded PDF:\n%s", strings.Join(got, "\n"))
	}
	// Unchanged message: one line. Preamble, closing without a line end.
	if got := wireLayout(input, input, true); !equalLines(got, []string{"0         multipart/mixed unchanged: INPUTMSG entity 0"}) {
		t.Errorf("wireLayout of INPUTMSG itself = %q", got)
	}
	edited := bytes.Replace(input, []byte("hello"), []byte("hello!"), 1)
	got = wireLayout(input, edited, true)
	for _, l := range []string{`0           preamble "pre"`, `0           closing delimiter "--b--", then ""`, "0.1         | hello! (no line end)"} {
		if !slices.Contains(got, l) {
			t.Errorf("wireLayout lacks %q:\n%s", l, strings.Join(got, "\n"))
		}
	}
	// Two generated boundaries: each keeps its own mask.
	masked := maskGenerated([]string{gen + " " + gen[:len(gen)-1] + "1", gen})
	if !equalLines(masked, []string{"<generated boundary 1> <generated boundary 2>", "<generated boundary 1>"}) {
		t.Errorf("maskGenerated = %q", masked)
	}
	if got := outsideEntities([]string{"0 a", "0.1 b", "0.1.2 c", "0.10 d", "0.2 e"}, []string{"0.1"}); !equalLines(got, []string{"0 a", "0.10 d", "0.2 e"}) {
		t.Errorf("outsideEntities = %q", got)
	}
}
