// Package conformance runs every message of the conformance corpus through
// the original mimedefang.pl with testdata/conformance.filter and through
// md-worker with the equivalent testdata/conformance.lua, on identical
// working directories, and compares what the milter would do with each
// result: the verdict, the header and envelope edits, whether the body is
// rewritten, the top-level MIME headers and the MIME tree of the delivered
// message (type, disposition, charset, file name and the SHA-256 of the
// decoded content of every part), listed by testdata/dumptree.pl, a
// MIME::Parser dumper that neither implementation grades itself with, and
// the bytes of the delivered message (the "wire" aspect, wire_test.go):
// every part either implementation writes anew, header fields, transfer
// encoding and encoded body, and the layout of every container it writes
// (preamble, delimiter lines, closing delimiter and epilogue); parts copied
// from the input are checked to be byte copies in md-worker's delivery
// (rawparts_test.go). A message on which mimedefang.pl fails is compared
// through a twin it can deliver (twin_test.go).
//
// It needs the real mimedefang.pl (Debian package mimedefang 3.3) and the Perl
// modules it and the dumper use; a missing piece fails the test with the
// apt-get line that installs it. md-worker is make build's (bin/, or
// $MD_BIN_DIR). The corpus is worker/testdata/corpus plus testdata/extra.
//
// TestBrokenMIME (broken_test.go) is the second half: a differential test
// on generated broken messages, read by independent readers (Python's email
// package and MIME-tools), that holds md-worker to "what the filter saw is
// what the recipient gets".
//
// Environment: MD_BIN_DIR (directory holding md-worker), CONFORMANCE_VERBOSE
// (log every reference outcome), CONFORMANCE_KEEP=DIR (keep both working
// directories of every message under DIR for debugging), CONFORMANCE_REPORT=FILE
// (write the summary table as Markdown).
package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
	mdmessage "github.com/mdgo/md/worker/message"
)

const (
	mimedefangPL = "/usr/bin/mimedefang.pl"
	installHint  = "apt-get install -y mimedefang libnet-dns-perl libio-socket-ssl-perl " +
		"libmime-tools-perl libarchive-zip-perl libhtml-parser-perl"
	minMessages = 40
	runTimeout  = 60 * time.Second
)

// knownDifferences lists, per message and per compared aspect, a difference
// between mimedefang.pl and md-worker that is deliberate, with the reason.
// An entry whose difference no longer shows up fails the test, so the table
// cannot go stale. Every entry is also described in docs/compatibility.md
// under "md-worker".
//
// The aspect "all" covers every aspect of the message.
var knownDifferences = map[string]map[string]string{
	"c26-encoded-filenames.eml": {
		"headers": reasonUTF8Names,
		"tree":    reasonUTF8Names + " The warning text quotes the name.",
		"wire":    reasonUTF8Names + " " + wireUTF8Warning,
	},
	"c32-non-latin1-exe-name.eml": {
		// Compared instead with mimedefang.pl's outcome on a twin
		// (referenceTwins).
		"all": "mimedefang.pl dies (\"open body: Invalid argument\", MIME::Entity) writing a warning part " +
			"whose text holds a file name with characters beyond Latin-1, so the milter tempfails the " +
			"message for ever; md-worker delivers it with the attachment dropped and the name in UTF-8.",
	},
	"corpus_14-rfc2231-charset.eml": {
		"headers": reasonUTF8Names,
	},
	"c33-no-blank-line-scr.eml": {
		"headers": reasonBogusPart,
		"tree":    reasonBogusPart,
		"wire": reasonBogusPart + " Here md-worker drops the attachment and writes the warning part, " +
			"where mimedefang.pl delivers the empty text/plain it read in its place (boilerplate appended).",
	},
	"c34-stray-line.eml": {
		"tree": reasonBogusPart + " Here the part is the stray line, which becomes its body.",
		"wire": reasonBogusPart + " Here the part is the stray line, which becomes its body.",
	},
	"c35-warning-utf8-name.eml": {
		"headers": reasonUTF8Names,
		"tree":    reasonUTF8Names + " md-worker's warning part declares charset=utf-8.",
		"wire":    reasonUTF8Names + " " + wireUTF8Warning,
	},
	"c36-two-dispositions.eml": {
		"rewritten": reasonAllNames,
		"tree":      reasonAllNames,
		"wire":      reasonAllNames + " mimedefang.pl delivers the message unchanged; md-worker writes a new body.",
	},
	"c37-container-name.eml": {
		"content": reasonContainerName,
		"tree":    reasonContainerName,
		"wire":    reasonContainerName + " The wire listing shows the container as written anew: its header changed.",
	},
	"corpus_33-garbage-ct.eml": {
		"tree": reasonLenientNames + " Here name=foo bar.exe, which MIME-tools reads as \"foo\".",
		"wire": reasonLenientNames + " Here name=foo bar.exe, which MIME-tools reads as \"foo\".",
	},
	"corpus_55-bad-params.eml": {
		"tree": reasonLenientNames + " Here name=\"unterminated.exe, which MIME-tools reads as no name.",
		"wire": reasonLenientNames + " Here name=\"unterminated.exe, which MIME-tools reads as no name. " +
			reasonNormalized + " Here name*0 is repeated: md-worker writes name=\"abc\", the name both read.",
	},
	"corpus_34-dup-ct.eml": {
		"rewritten": reasonAllNames,
		"content":   reasonAllNames + " The part was the only one: the message becomes the warning.",
		"tree":      reasonAllNames,
		"wire":      reasonAllNames + " The part was the only one: the message becomes the warning.",
	},
	"corpus_42-bogus-part.eml": {
		"headers":   reasonBogusPart,
		"rewritten": reasonBogusPart,
		"tree":      reasonBogusPart,
		"wire":      reasonBogusPart,
	},
	"corpus_57-rfc822-base64.eml": {
		"rewritten": reasonBogusPart + " Here the attached message's header is a line of base64: " +
			"md-worker reads that line as the attached message's body.",
		"tree": reasonBogusPart,
		"wire": reasonBogusPart + " Here the attached message's header is a line of base64: md-worker " +
			"writes the attached message with the header it read (Content-Type: text/plain), and the " +
			"rebuild gives the headerless part of the digest its Content-Type, as mimedefang.pl's " +
			"rebuild would if it rewrote the message.",
	},
	"corpus_15-rfc2047-filename.eml": {
		"headers": reasonUTF8Names,
		"tree":    reasonUTF8Names + " The warning text quotes the name.",
		"wire":    reasonUTF8Names + " " + wireUTF8Warning,
	},
}

// knownWireEntities confines the known wire difference of a message to some
// of its entities (paths of the wire listing, with everything under them):
// outside them the bytes must still be mimedefang.pl's, so a known
// difference in a warning part does not hide a new one elsewhere. A message
// without an entry may differ anywhere (its parts are not the same ones).
var knownWireEntities = map[string][]string{
	"c26-encoded-filenames.eml":      {"0.1"}, // the warning part
	"c35-warning-utf8-name.eml":      {"0.1"},
	"corpus_15-rfc2047-filename.eml": {"0.1"},
	"c33-no-blank-line-scr.eml":      {"0.1", "0.2"}, // the warning / the hidden part, the text part
	"c34-stray-line.eml":             {"0.1"},        // the part read with the stray line as its body
}

// outsideEntities drops the wire lines of the entities paths (and of the
// entities under them).
func outsideEntities(lines, paths []string) []string {
	var out []string
	for _, l := range lines {
		path, _, _ := strings.Cut(l, " ")
		inside := false
		for _, p := range paths {
			if path == p || strings.HasPrefix(path, p+".") {
				inside = true
			}
		}
		if !inside {
			out = append(out, l)
		}
	}
	return out
}

const (
	reasonBogusPart = "A part whose header runs into the next boundary without a blank line is an empty " +
		"text/plain for MIME-tools, so mimedefang.pl's filter never sees the attachment that mail clients " +
		"open (they end the header at its first line that is not a field); md-worker reads it as the " +
		"clients do, the filter sees it, and the part is delivered in normalized form (docs/compatibility.md)."
	reasonAllNames = "A part names a second file in a repeated Content-Type or Content-Disposition field, which " +
		"MIME-tools ignores and some mail clients use: md-worker's re_match sees every name, so the " +
		"dangerous one is dropped; a part kept is delivered with one field of each kind."
	reasonContainerName = "The message header names a file on the message's own multipart container, which no " +
		"filter sees (the part walk starts below the top entity) and readers that take the container for an " +
		"attachment show: md-worker deletes the Content-Disposition and the Content-Type's name parameters " +
		"(docs/compatibility.md, broken MIME rule 4); mimedefang.pl delivers them."
	reasonLenientNames = "A file name parameter that MIME-tools cuts short or cannot read (a bad token, an " +
		"unterminated quote) is read in full by lenient mail clients; md-worker's re_match also matches that " +
		"reading, so the dangerous name is dropped and the warning lists one more part."
	reasonNormalized = "A part whose header needed a repair to be read is delivered in normalized form, as " +
		"md-worker's filter read it (docs/compatibility.md, broken MIME rule 3); mimedefang.pl delivers " +
		"MIME-tools' re-rendering of the original field."
	// wireUTF8Warning is how reasonUTF8Names shows in the bytes of a
	// warning part that quotes the name.
	wireUTF8Warning = "The warning part declares charset=utf-8 and holds the name's UTF-8 bytes, " +
		"quoted-printable; mimedefang.pl's has no charset and the Latin-1 bytes."
	reasonUTF8Names = "A MIME-decoded file name reaches the filter as UTF-8 in md-worker; MIME-tools hands " +
		"mimedefang.pl a Perl character string that is written out as Latin-1 bytes (and, beyond " +
		"Latin-1, percent-encoded as garbage such as %444), so the same name gives different bytes " +
		"in RESULTS and in warning texts."
)

// perlExpectations checks that each message of testdata/extra really takes
// the path it was written for in the reference run: every string must occur
// in the rendered Perl outcome, every string starting with "!" must not.
var perlExpectations = map[string][]string{
	"c01-exe-attachment.eml": {"leaf application/octet-stream \"invoice.exe\" \".exe\"",
		"rewritten: true", "filename=\"warning1.txt\"", "!filename=\"invoice.exe\""},
	"c02-many-bad-names.eml": {"rewritten: true", "!run.BAT\" sha", "!script.vbs\" sha",
		"!screen.scr\" sha", "filename=\"report.pdf\" sha", "filename=\"warning1.txt\""},
	"c03-zip-with-exe.eml": {"rewritten: true", "!bundle.zip\" sha", "filename=\"warning1.txt\""},
	"c04-zip-clean.eml":    {"rewritten: false", "filename=\"data.zip\" sha"},
	"c05-replace.eml": {"rewritten: true", "!letter.replace\" sha",
		"text/plain disposition=inline charset= filename=\"warning1.txt\""},
	"c06-accept-with-warning.eml": {"rewritten: true", "filename=\"notes.warn\" sha", "filename=\"warning1.txt\""},
	"c07-silent-drop.eml":         {"rewritten: true", "!application/x-drop disposition", "filename=\"dot.png\" sha", "!warning1.txt"},
	"c08-change-subject-delete-header.eml": {"I Subject | 1 | [changed] Please CHANGE-SUBJECT now",
		"J X-Delete-Me | 2", "J X-Delete-Me | 1", "rewritten: false"},
	"c09-recipients.eml":              {"envelope:  R <added@example.com>", "envelope:  S <bob@example.com>"},
	"c10-bounce.eml":                  {"verdict:   B550 5.7.0 Conformance bounce"},
	"c11-tempfail.eml":                {"verdict:   T451 4.3.2 Conformance tempfail"},
	"c12-discard.eml":                 {"verdict:   D"},
	"c13-verdict-precedence.eml":      {"verdict:   D"},
	"c14-boilerplate-alternative.eml": {"X-Conformance-Boilerplate | text=1 html=1", "rewritten: true"},
	"c15-boilerplate-single-qp.eml":   {"X-Conformance-Boilerplate | text=1 html=0", "rewritten: true"},
	"c16-boilerplate-all.eml":         {"X-Conformance-Boilerplate | text=1 html=1", "rewritten: true"},
	"c17-no-html.eml":                 {"X-Conformance-No-HTML | removed=1", "!text/html disposition"},
	"c18-add-part-single.eml":         {"rewritten: true", "filename=\"added.txt\" sha", "0 multipart/mixed"},
	"c19-add-part-alternative.eml":    {"rewritten: true", "filename=\"added.txt\" sha", "0 multipart/mixed", "1 multipart/alternative"},
	"c20-rebuild.eml":                 {"rewritten: true", "filename=\"a.gif\" sha"},
	"c21-rebuild-single-base64.eml":   {"rewritten: true", "0 text/plain"},
	"c22-duplicate-subject.eml":       {"J Subject | 2", "subjects=2", "verdict:   (deliver)"},
	"c23-nested-rfc822-exe.eml":       {"container message/rfc822", "leaf application/octet-stream \"inner.pif\"", "!inner.pif\" sha", "filename=\"warning1.txt\""},
	"c24-drop-subtree.eml":            {"container multipart/alternative", "!multipart/alternative disposition", "filename=\"t.csv\" sha", "filename=\"warning1.txt\""},
	"c25-single-part-exe.eml":         {"multipart=0", "!payload.com\" sha", "filename=\"warning1.txt\""},
	"c26-encoded-filenames.eml":       {"sum\xe9.exe\" \".exe\"", "ber.warn\" \".warn\"", "!résumé.exe\" sha", "filename=\"über.warn\" sha"},
	"c27-inline-warning.eml":          {"!warning1.txt", "!tool.exe\" sha", "rewritten: true"},
	"c28-no-mime-headers.eml":         {"rewritten: false", "leaf text/plain \"\" \"\""},
	"c29-boilerplate-and-warning.eml": {"X-Conformance-Boilerplate | text=1 html=0", "filename=\"warning1.txt\""},
	"c30-crlf-nested-drop.eml":        {"rewritten: true", "!application/x-drop disposition", "1 multipart/related"},
	"c31-folded-headers-rebuild.eml":  {"rewritten: true", "X-Conformance-Env"},
	// mimedefang.pl dies writing the warning that names a file beyond Latin-1.
	"c32-non-latin1-exe-name.eml": {"verdict:   " + scanFailed},
	// The reproducers of issue #10: MIME-tools hides the attachment...
	"c33-no-blank-line-scr.eml": {"rewritten: true", "2 leaf text/plain \"\" \"\"", "!screen.scr"},
	// ... drops the stray line...
	"c34-stray-line.eml": {"rewritten: true", "1 leaf text/plain \"\" \"\"", "filename=\"d.csv\""},
	// ... writes the warning without a charset...
	"c35-warning-utf8-name.eml": {"filename=\"warning1.txt\"", "text/plain disposition=inline charset= filename=\"warning1.txt\""},
	// ... and sees only the first of two names.
	"c36-two-dispositions.eml": {"rewritten: false", "\"safe.txt\" \".txt\"", "filename=\"safe.txt\" sha"},
	// Beyond the issue: a name on the message's own container, which no
	// filter sees, is delivered.
	"c37-container-name.eml": {"rewritten: false", "0 multipart/mixed disposition=attachment charset= filename=\"screen.scr\""},
}

// workerExpectations are what md-worker must do with a message, checked on
// its outcome and on the bytes of its delivered message (same notation as
// perlExpectations).
var workerExpectations = map[string][]string{
	// The policy's outcome, which mimedefang.pl cannot deliver (see
	// referenceTwins): the .exe dropped, the warning in UTF-8.
	"c32-non-latin1-exe-name.eml": {"rewritten: true", "!файл.exe\" sha", "!0YTQsNC50LsuZXhl",
		"text/plain disposition=inline charset=utf-8 filename=\"warning1.txt\"",
		"Content-Type: text/plain; charset=utf-8; name=\"warning1.txt\"\nContent-Disposition: inline; filename=\"warning1.txt\"\n" +
			"Content-Transfer-Encoding: quoted-printable\n",
		"\nRemoved dangerous attachment =D1=84=D0=B0=D0=B9=D0=BB.exe\n"},
	"c33-no-blank-line-scr.eml": {"2 leaf application/octet-stream \"screen.scr\" \".scr\"", "filename=\"warning1.txt\"",
		"!screen.scr\" sha", "!name=\"screen.scr\""},
	"c34-stray-line.eml": {"\nContent-Type: text/plain\n\nThis line is not a header.\n-- \nConformance text boilerplate\n",
		"!This line is not a header.Content-Type"},
	"c35-warning-utf8-name.eml": {"text/plain disposition=inline charset=utf-8 filename=\"warning1.txt\"",
		"Content-Type: text/plain; charset=utf-8; name=\"warning1.txt\""},
	"c36-two-dispositions.eml": {"rewritten: true", "filename=\"warning1.txt\"", "!evil.exe", "!safe.txt\" sha"},
	"c37-container-name.eml": {"rewritten: false", "!screen.scr", "!evil.exe",
		"0 multipart/mixed disposition= charset= filename=\"\""},
}

// message is one corpus message.
type message struct {
	name string // unique test name
	path string
}

func corpusMessages(t *testing.T) []message {
	t.Helper()
	var msgs []message
	for _, src := range []struct{ prefix, glob string }{
		{"corpus_", filepath.Join(harness.ModuleRoot(t), "..", "worker", "testdata", "corpus", "*.eml")},
		{"", filepath.Join("testdata", "extra", "*.eml")},
	} {
		files, err := filepath.Glob(src.glob)
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(files)
		for _, f := range files {
			msgs = append(msgs, message{name: src.prefix + filepath.Base(f), path: f})
		}
	}
	return msgs
}

// requirePerl fails the test when the reference implementation or a Perl
// module the filter or the dumper needs is missing.
func requirePerl(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(mimedefangPL); err != nil {
		t.Fatalf("%s is missing (%v): install the original with: %s", mimedefangPL, err, installHint)
	}
	out, err := exec.Command("perl", "-MMIME::Parser", "-MArchive::Zip", "-MHTML::Parser",
		"-MNet::DNS", "-MIO::Socket::SSL", "-MDigest::SHA", "-e1").CombinedOutput()
	if err != nil {
		t.Fatalf("Perl modules for mimedefang.pl are missing (%v: %s): install them with: %s", err, out, installHint)
	}
}

// mdWorkerBinary returns make build's md-worker (see harness.MDBinary).
func mdWorkerBinary(t *testing.T) (string, error) {
	t.Helper()
	return harness.MDBinary(t, "md-worker"), nil
}

func absPath(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// run starts one implementation on a working directory.
func run(ctx context.Context, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "TZ=UTC", "LC_ALL=C")
	err := cmd.Run()
	return out.String(), err
}

// scanFailed is the verdict of a scan that exited with an error or left a
// RESULTS file without F: the milter tempfails the message.
const scanFailed = "T (scan failed: the milter tempfails)"

// scan runs one implementation in one-shot mode on dir and reads what the
// milter would do. A failed scan is an outcome (the tempfail verdict) and is
// described in failure; err is a failure of the harness.
func scan(bin, filterPath, dir, dumper string) (o *outcome, failure string, err error) {
	out, runErr := run(context.Background(), bin, "-f", filterPath, dir)
	if runErr != nil {
		results, _ := os.ReadFile(filepath.Join(dir, "RESULTS"))
		return &outcome{Verdict: scanFailed, results: string(results)},
			fmt.Sprintf("%s: %v\n%s", filepath.Base(bin), runErr, out), nil
	}
	o, err = readOutcome(dir, dumper)
	if errors.Is(err, errNoF) {
		return &outcome{Verdict: scanFailed, results: o.resultsOr(dir)}, err.Error() + "\n" + out, nil
	}
	return o, "", err
}

// row is one line of the summary table.
type row struct {
	name   string
	perl   string // the reference verdict, for the table
	status map[string]string
}

func TestConformance(t *testing.T) {
	requirePerl(t)
	msgs := corpusMessages(t)
	if len(msgs) < minMessages {
		t.Errorf("the conformance corpus has %d messages, want at least %d (worker/testdata/corpus + testdata/extra)",
			len(msgs), minMessages)
	}
	perlFilter := absPath(t, filepath.Join("testdata", "conformance.filter"))
	luaFilter := absPath(t, filepath.Join("testdata", "conformance.lua"))
	dumper := absPath(t, filepath.Join("testdata", "dumptree.pl"))

	mdBin, mdErr := mdWorkerBinary(t)
	if mdErr != nil {
		t.Errorf("md-worker is not available, only the Perl reference runs: %v", mdErr)
	}

	var mu sync.Mutex
	var rows []row
	seen := map[string]bool{}

	t.Run("msg", func(t *testing.T) {
		for i, m := range msgs {
			t.Run(m.name, func(t *testing.T) {
				t.Parallel()
				r := row{name: m.name, status: map[string]string{}}
				defer func() {
					mu.Lock()
					rows = append(rows, r)
					seen[m.name] = true
					mu.Unlock()
				}()
				raw, err := os.ReadFile(m.path)
				if err != nil {
					t.Fatal(err)
				}
				base := t.TempDir()
				if keep := os.Getenv("CONFORMANCE_KEEP"); keep != "" {
					// Debugging: keep both working directories.
					base = filepath.Join(keep, m.name)
					if err := os.RemoveAll(base); err != nil {
						t.Fatal(err)
					}
					if err := os.MkdirAll(base, 0o700); err != nil {
						t.Fatal(err)
					}
				}
				perlDir, mdDir := filepath.Join(base, "perl"), filepath.Join(base, "md")
				qid := fmt.Sprintf("4C%06dQ", i+1)
				mxID := fmt.Sprintf("m%06d", i+1)
				for _, d := range []string{perlDir, mdDir} {
					if err := os.Mkdir(d, 0o700); err != nil {
						t.Fatal(err)
					}
					if err := buildWorkDir(d, raw, mxID, qid); err != nil {
						t.Fatal(err)
					}
				}

				ref, perlFailure, err := scan(mimedefangPL, perlFilter, perlDir, dumper)
				if err != nil {
					r.perl = "error"
					t.Fatalf("reference outcome: %v", err)
				}
				if perlFailure != "" {
					t.Logf("mimedefang.pl scan failed, the milter tempfails:\n%s", perlFailure)
				}
				r.perl = shortVerdict(ref)
				addWire(t, ref, perlDir, false)
				if os.Getenv("CONFORMANCE_VERBOSE") != "" {
					t.Logf("mimedefang.pl outcome:\n%s%s", ref, ref.wireString())
				}
				checkExpectations(t, filepath.Base(m.path), ref)

				if mdBin == "" {
					r.status["run"] = "n/a"
					return
				}
				got, failure, err := scan(mdBin, luaFilter, mdDir, dumper)
				if err != nil {
					r.status["run"] = "FAIL"
					t.Errorf("md-worker outcome: %v\nRESULTS:\n%s\nmimedefang.pl outcome:\n%s", err, got.resultsOr(mdDir), ref)
					return
				}
				r.status["run"] = "ok"
				addWire(t, got, mdDir, true)
				if failure != "" {
					r.status["run"] = "failed"
					t.Logf("md-worker scan failed, the milter tempfails:\n%s", failure)
				}
				compare(t, m.name, ref, got, r.status)
				expect(t, "md-worker did not do what it must", workerExpectations[filepath.Base(m.path)], got.String()+"\n"+string(got.final))
				if failure == "" {
					checkWorkerBody(t, mdDir, got, r.status)
				}
				if tw, ok := referenceTwins[filepath.Base(m.path)]; ok {
					checkTwin(t, tw, raw, ref, perlFailure, perlDir, got, base, mxID, qid, perlFilter, dumper)
					r.status["twin"] = "="
					if t.Failed() {
						r.status["twin"] = "FAIL"
					}
				}
			})
		}
	})

	for name := range knownDifferences {
		if !seen[name] {
			t.Errorf("knownDifferences lists %s, which is not in the corpus", name)
			continue
		}
	}
	for name := range knownWireEntities {
		if knownDifferences[name]["wire"] == "" {
			t.Errorf("knownWireEntities lists %s, which has no known wire difference", name)
		}
	}
	for name := range referenceTwins {
		if !seen[name] {
			t.Errorf("referenceTwins lists %s, which is not in testdata/extra", name)
		}
	}
	report(t, rows)
}

// addWire sets o.Wire for a delivered message: its bytes against INPUTMSG,
// an entity copied from INPUTMSG counting as unchanged when it is a byte
// copy (exact, md-worker) or has the same header and decoded content
// (mimedefang.pl, which prints every entity anew).
func addWire(t *testing.T, o *outcome, dir string, exact bool) {
	t.Helper()
	if o.Verdict != "" || o.final == nil {
		return
	}
	input, err := os.ReadFile(filepath.Join(dir, "INPUTMSG"))
	if err != nil {
		t.Fatal(err)
	}
	o.Wire = wireLayout(input, o.final, exact)
}

// resultsOr returns the raw RESULTS for the report, also when o is nil.
func (o *outcome) resultsOr(dir string) string {
	if o != nil {
		return o.results
	}
	b, _ := os.ReadFile(filepath.Join(dir, "RESULTS"))
	return string(b)
}

func shortVerdict(o *outcome) string {
	switch {
	case o.Verdict != "":
		return o.Verdict[:1]
	case o.Rewritten:
		return "C"
	}
	return "-"
}

func checkExpectations(t *testing.T, base string, ref *outcome) {
	t.Helper()
	expect(t, "reference run did not take the intended path", perlExpectations[base], ref.String())
}

// expect checks wants (a leading "!": must not occur) against rendered.
func expect(t *testing.T, what string, wants []string, rendered string) {
	t.Helper()
	for _, want := range wants {
		if neg, ok := strings.CutPrefix(want, "!"); ok {
			if strings.Contains(rendered, neg) {
				t.Errorf("%s: %q present\n%s", what, neg, rendered)
			}
		} else if !strings.Contains(rendered, want) {
			t.Errorf("%s: %q missing\n%s", what, want, rendered)
		}
	}
}

// compare reports every aspect on which md-worker differs from
// mimedefang.pl, unless the difference is listed in knownDifferences.
func compare(t *testing.T, name string, ref, got *outcome, status map[string]string) {
	t.Helper()
	known := knownDifferences[name]
	for _, a := range aspects {
		want, have := ref.aspect(a), got.aspect(a)
		same := equalLines(want, have)
		reason, isKnown := known[a]
		if all, ok := known["all"]; ok {
			reason, isKnown = all, true
			if same {
				status[a] = "="
				continue
			}
		}
		switch {
		case same && isKnown:
			status[a] = "STALE"
			t.Errorf("%s: knownDifferences says %q differs (%s), but it no longer does: remove the entry", name, a, reason)
		case same:
			status[a] = "="
		case isKnown && a == "wire" && knownWireEntities[name] != nil &&
			!equalLines(outsideEntities(want, knownWireEntities[name]), outsideEntities(have, knownWireEntities[name])):
			status[a] = "DIFF"
			t.Errorf("%s: wire differs outside entities %v, to which knownDifferences confines it (%s) (- mimedefang.pl, + md-worker):\n%s",
				name, knownWireEntities[name], reason, diffLines(want, have))
		case isKnown:
			status[a] = "known"
			t.Logf("%s: known difference in %s: %s\n%s", name, a, reason, diffLines(want, have))
		default:
			status[a] = "DIFF"
			t.Errorf("%s: %s differs (- mimedefang.pl, + md-worker):\n%s", name, a, diffLines(want, have))
		}
	}
	if all, ok := known["all"]; ok && equalOutcomes(ref, got) {
		t.Errorf("%s: knownDifferences says the outcome differs (%s), but it no longer does: remove the entry", name, all)
	}
	if t.Failed() {
		t.Logf("mimedefang.pl RESULTS:\n%s\nmd-worker RESULTS:\n%s", ref.results, got.results)
	}
}

// checkWorkerBody holds md-worker to its own promise: an unchanged message is
// never rewritten, in a rewritten one every leaf the filter did not touch
// keeps the exact bytes it had in INPUTMSG, and the delivered message has no
// part whose header needs a repair to be read (what the filter saw is what
// the recipient gets: message.Part.Repaired).
func checkWorkerBody(t *testing.T, dir string, got *outcome, status map[string]string) {
	t.Helper()
	if got.Verdict == "" {
		if m, err := mdmessage.Parse(got.final, mdmessage.Limits{}); err != nil {
			t.Errorf("md-worker's delivered message does not parse: %v", err)
		} else if rp := m.RepairedParts(); len(rp) > 0 {
			_, why := rp[0].Repaired()
			status["bytes"] = "FAIL"
			t.Errorf("md-worker delivered a part whose header needs a repair (%s):\n%s", why, got.final)
			return
		}
	}
	rawC := strings.Contains("\n"+got.results, "\nC")
	if !rawC {
		if got.hasNewBody {
			status["bytes"] = "FAIL"
			t.Errorf("md-worker wrote NEWBODY although RESULTS has no C line (an unchanged message must not be rewritten)")
			return
		}
		status["bytes"] = "="
		return
	}
	if !got.hasNewBody {
		status["bytes"] = "FAIL"
		t.Errorf("md-worker wrote C without NEWBODY")
		return
	}
	input, err := os.ReadFile(filepath.Join(dir, "INPUTMSG"))
	if err != nil {
		t.Fatal(err)
	}
	status["bytes"] = "="
	for _, p := range reencodedLeaves(input, got.final) {
		status["bytes"] = "FAIL"
		t.Errorf("md-worker %s", p)
	}
}

// reencodedLeaves compares the leaves of the delivered message with those of
// INPUTMSG: a delivered leaf with the type and decoded content of an input
// leaf is an untouched part, and must carry the same body bytes (give or
// take the line break before the next boundary).
func reencodedLeaves(input, delivered []byte) []string {
	in := rawLeaves(input)
	var problems []string
	for _, leaf := range rawLeaves(delivered) {
		var candidates []rawLeaf
		for _, l := range in {
			if l.decoded == leaf.decoded && l.typ == leaf.typ {
				candidates = append(candidates, l)
			}
		}
		if len(candidates) == 0 {
			continue // a new or changed part
		}
		ok := false
		for _, c := range candidates {
			if bytes.Equal(bytes.TrimSuffix(c.body, []byte("\n")), bytes.TrimSuffix(leaf.body, []byte("\n"))) {
				ok = true
				break
			}
		}
		if !ok {
			problems = append(problems, fmt.Sprintf(
				"re-encoded an untouched %s part (delivered leaf %s, INPUTMSG leaf %s): its bytes differ from INPUTMSG\n--- INPUTMSG\n%s\n--- NEWBODY\n%s",
				leaf.typ, leaf.path, candidates[0].path, clip(candidates[0].body), clip(leaf.body)))
		}
	}
	return problems
}

func clip(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + "..."
	}
	return string(b)
}

func equalOutcomes(a, b *outcome) bool {
	for _, x := range aspects {
		if !equalLines(a.aspect(x), b.aspect(x)) {
			return false
		}
	}
	return true
}

func equalLines(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// diffLines renders a line diff of two short lists (longest common
// subsequence): "  " common, "- " only in a, "+ " only in b.
func diffLines(a, b []string) string {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var sb strings.Builder
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			sb.WriteString("    " + a[i] + "\n")
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			sb.WriteString("  + " + b[j] + "\n")
			j++
		default:
			sb.WriteString("  - " + a[i] + "\n")
			i++
		}
	}
	return sb.String()
}

// report logs the per-message summary table (and writes it to
// $CONFORMANCE_REPORT when set).
func report(t *testing.T, rows []row) {
	sort.Slice(rows, func(i, j int) bool { return rows[i].name < rows[j].name })
	cols := append([]string{"run"}, aspects...)
	cols = append(cols, "bytes", "twin")
	var b strings.Builder
	fmt.Fprintf(&b, "| message | perl | %s |\n|---|---|%s\n", strings.Join(cols, " | "), strings.Repeat("---|", len(cols)))
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s |", r.name, r.perl)
		for _, c := range cols {
			s := r.status[c]
			if s == "" {
				s = "n/a"
			}
			fmt.Fprintf(&b, " %s |", s)
		}
		b.WriteByte('\n')
	}
	t.Logf("conformance summary (perl: D/B/T verdict, C rewritten, - delivered unchanged; = same, DIFF differs, known listed difference; "+
		"bytes: md-worker's untouched parts are byte copies; twin: compared through a twin, referenceTwins):\n%s", b.String())
	if p := os.Getenv("CONFORMANCE_REPORT"); p != "" {
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}
