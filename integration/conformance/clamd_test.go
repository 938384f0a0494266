package conformance

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// TestClamdConformance: the ClamAV functions (issue 12) against one real
// clamd (harness.StartClamd, its own Unix socket and an EICAR-only
// signature database), through mimedefang.pl 3.3 with testdata/clamd.filter
// and through md-worker with its Lua port testdata/clamd.lua, on identical
// working directories built as in TestConformance.
//
// Each message of clamdMessages goes through both policies of the filters:
// "message" (filter_begin calls message_contains_virus_clamd(), a virus
// quarantines and rejects with $VirusName in the reply, then filter calls
// entity_contains_virus_clamd on each part of a message not rejected) and
// "parts" (only filter scans, and drops an infected part with a warning
// naming the virus). Any category but ok and virus tempfails, with the
// outcome in the reply. mimedefang.pl sends "SCAN <dir>/Work" for the
// message and "SCAN <file>" for a part, so clamd runs as root here to read
// the working directories (md-worker's own permissions are left alone);
// md-worker runs once with its default INSTREAM (subtest INSTREAM) and once
// with ClamdMode = "SCAN" (subtest SCAN).
//
// Compared: the verdict (the B/T/D line, whose reply carries $VirusName or
// the failure's code, category and action), every header edit (the
// filters write what each scan returned in X-Clamd-Message and
// X-Clamd-Part, $VirusScannerMessages in X-Virus-Scanner-Messages and
// $VirusName in X-Virus-Name), the envelope, whether the body is rewritten,
// the top-level MIME headers, the MIME tree of the delivered message (which
// parts were dropped, the warning part that names the virus) and its bytes
// (wire), the quarantine (its files and their contents), and md-worker's
// promise that untouched parts stay byte copies. Then clamd is stopped and
// the daemon-down outcome is compared the same way: both tempfail, with the
// same code, category and action in the reply.
//
// A difference fails the test unless clamdKnownDifferences lists it with
// its reason; an entry whose difference no longer shows fails it too.
func TestClamdConformance(t *testing.T) {
	requirePerl(t)
	harness.RequireRoot(t)
	mdBin, err := mdWorkerBinary(t)
	if err != nil {
		t.Fatal(err)
	}
	perlFilter := readTestdata(t, "clamd.filter")
	luaFilter := readTestdata(t, "clamd.lua")
	dumper := absPath(t, filepath.Join("testdata", "dumptree.pl"))

	dir := harness.NewTestDir(t)
	clamd := harness.StartClamd(t, harness.ClamdOptions{Dir: dir, User: "root"})
	msgs := clamdMessages()

	known := &clamdKnown{seen: map[string]bool{}}
	// run compares the outcomes of one message under one policy.
	run := func(t *testing.T, phase, policy string, i int, m clamdMessage) {
		base := harness.MkdirOwned(t, filepath.Join(dir, phase, policy, m.name), harness.Account{Name: "root"}, 0o700)
		mxID, qid := fmt.Sprintf("m%06d", i+1), fmt.Sprintf("4C%06dV", i+1)
		perl := runClamdCase(t, base, "perl", mimedefangPL, dumper, m.raw, mxID, qid,
			perlSettings(clamd.Socket, filepath.Join(base, "perl-q"), policy)+perlFilter, false)
		if os.Getenv("CONFORMANCE_VERBOSE") != "" {
			t.Logf("mimedefang.pl outcome:\n%s%s%s", perl.o, perl.o.wireString(), strings.Join(perl.quarantine, "\n"))
		}
		checkClamdExpectation(t, "mimedefang.pl", m.expect(phase, policy), perl.o)
		for _, mode := range []string{"INSTREAM", "SCAN"} {
			t.Run(mode, func(t *testing.T) {
				settings := luaSettings(clamd.Socket, filepath.Join(base, mode+"-q"), policy)
				if mode != "INSTREAM" {
					settings += "ClamdMode = " + luaString(mode) + "\n"
				}
				md := runClamdCase(t, base, mode, mdBin, dumper, m.raw, mxID, qid, settings+luaFilter, true)
				key := phase + " " + policy + "/" + m.name
				compareClamd(t, known, key, mode, perl, md)
			})
		}
	}

	t.Run("up", func(t *testing.T) {
		for _, policy := range []string{"message", "parts"} {
			t.Run(policy, func(t *testing.T) {
				t.Parallel()
				for i, m := range msgs {
					t.Run(m.name, func(t *testing.T) {
						t.Parallel()
						run(t, "up", policy, i, m)
					})
				}
			})
		}
	})

	// clamd down: nothing answers on its socket any more. The message
	// policy meets it at PING (message_contains_virus_clamd), the parts
	// policy at the connection of entity_contains_virus_clamd.
	clamd.Terminate(harness.Scale(harness.StopTimeout))
	t.Run("down", func(t *testing.T) {
		for _, policy := range []string{"message", "parts"} {
			t.Run(policy, func(t *testing.T) {
				for i, m := range msgs {
					if m.name != "attachment" {
						continue
					}
					t.Run(m.name, func(t *testing.T) {
						t.Parallel()
						run(t, "down", policy, i, m)
					})
				}
			})
		}
	})

	for key, byMode := range clamdKnownDifferences {
		for mode, byAspect := range byMode {
			for aspect, reason := range byAspect {
				if id := key + " " + mode + " " + aspect; !known.seen[id] {
					t.Errorf("clamdKnownDifferences lists %s %s %s (%s), which no longer differs: remove the entry", key, mode, aspect, reason)
				}
			}
		}
	}
}

// clamdKnownDifferences lists, per case ("<phase> <policy>/<message>"), per
// md-worker mode (INSTREAM, SCAN) and per compared aspect, a difference
// between mimedefang.pl and md-worker that is deliberate, with the reason
// (also in docs/compatibility.md). Empty: none is known.
var clamdKnownDifferences = map[string]map[string]map[string]string{}

// clamdKnown records which entries of clamdKnownDifferences were used.
type clamdKnown struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (k *clamdKnown) lookup(key, mode, aspect string) (string, bool) {
	reason, ok := clamdKnownDifferences[key][mode][aspect]
	if ok {
		k.mu.Lock()
		k.seen[key+" "+mode+" "+aspect] = true
		k.mu.Unlock()
	}
	return reason, ok
}

// clamdRun is one implementation's outcome on one message.
type clamdRun struct {
	o          *outcome
	dir        string
	quarantine []string
}

// runClamdCase builds a working directory name under base with the message
// raw, writes the filter (settings, then the testdata filter) beside it
// with an empty quarantine, and runs bin on it.
func runClamdCase(t *testing.T, base, name, bin, dumper string, raw []byte, mxID, qid, filter string, worker bool) clamdRun {
	t.Helper()
	wd := filepath.Join(base, name)
	if err := os.Mkdir(wd, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := buildWorkDir(wd, raw, mxID, qid); err != nil {
		t.Fatal(err)
	}
	q := filepath.Join(base, name+"-q")
	if err := os.Mkdir(q, 0o700); err != nil {
		t.Fatal(err)
	}
	ext := ".filter"
	if worker {
		ext = ".lua"
	}
	fpath := filepath.Join(base, name+ext)
	if err := os.WriteFile(fpath, []byte(filter), 0o600); err != nil {
		t.Fatal(err)
	}
	o, failure, err := scan(bin, fpath, wd, dumper)
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(bin), err)
	}
	if failure != "" {
		t.Logf("%s: the scan failed, the milter tempfails:\n%s", filepath.Base(bin), failure)
	}
	addWire(t, o, wd, worker)
	if worker && failure == "" {
		checkWorkerBody(t, wd, o, map[string]string{})
	}
	return clamdRun{o: o, dir: wd, quarantine: quarantineListing(t, q)}
}

// compareClamd reports every aspect on which md-worker (mode) differs from
// mimedefang.pl on the case key, unless clamdKnownDifferences lists it.
func compareClamd(t *testing.T, known *clamdKnown, key, mode string, perl, md clamdRun) {
	t.Helper()
	for _, a := range append(append([]string{}, aspects...), "quarantine") {
		var want, have []string
		if a == "quarantine" {
			want, have = perl.quarantine, md.quarantine
		} else {
			want, have = perl.o.aspect(a), md.o.aspect(a)
		}
		if equalLines(want, have) {
			continue
		}
		if reason, ok := known.lookup(key, mode, a); ok {
			t.Logf("%s: known difference in %s: %s\n%s", key, a, reason, diffLines(want, have))
			continue
		}
		t.Errorf("%s: md-worker (%s) differs from mimedefang.pl in %s (- mimedefang.pl, + md-worker):\n%s",
			key, mode, a, diffLines(want, have))
	}
	if t.Failed() {
		t.Logf("mimedefang.pl RESULTS:\n%s\nmd-worker RESULTS:\n%s", perl.o.results, md.o.results)
	}
}

var qdirRE = regexp.MustCompile(`^\d{4}-\d\d-\d\d-\d\d/qdir-\d{4}-\d\d-\d\d-\d\d\.\d\d\.\d\d-001$`)

// quarantineListing lists the files quarantined under q, one line each:
// the name inside the message's quarantine directory, then the content
// (quoted when short, else its size and SHA-256). The directory's own name
// holds the time and is only checked against the original's pattern.
func quarantineListing(t *testing.T, q string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(q, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(q, path)
		qdir, name := filepath.Split(rel)
		qdir = strings.TrimSuffix(qdir, "/")
		if !qdirRE.MatchString(qdir) {
			out = append(out, "unexpected directory "+qdir)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if len(data) <= 120 {
			out = append(out, fmt.Sprintf("%s %q", name, data))
		} else {
			out = append(out, fmt.Sprintf("%s %d bytes sha256=%x", name, len(data), sha256.Sum256(data)))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// checkClamdExpectation checks that the reference run took the path the
// message was written for (notation of perlExpectations).
func checkClamdExpectation(t *testing.T, who string, wants []string, o *outcome) {
	t.Helper()
	expect(t, who+" did not take the intended path", wants, o.String())
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func perlString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func luaString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

func perlSettings(sock, q, policy string) string {
	return "$ClamdSock = " + perlString(sock) + ";\n" +
		"$Features{'Path:QUARANTINEDIR'} = " + perlString(q) + ";\n" +
		"$ClamdConfScan = " + perlString(policy) + ";\n"
}

func luaSettings(sock, q, policy string) string {
	return "ClamdSock = " + luaString(sock) + "\n" +
		`Features["Path:QUARANTINEDIR"] = ` + luaString(q) + "\n" +
		"ClamdConfScan = " + luaString(policy) + "\n"
}

// clamdMessage is one message of the test, built at run time (the EICAR
// bytes come from harness.EICAR, never whole in a file).
type clamdMessage struct {
	name string
	raw  []byte
	// virus: the message carries EICAR where the scanners look.
	virus bool
}

// expect is what mimedefang.pl must do with the message (the reference
// run's path), in perlExpectations' notation.
func (m clamdMessage) expect(phase, policy string) []string {
	virus := harness.EICARVirusName
	switch {
	case phase == "down" && policy == "message":
		return []string{"verdict:   T451 4.3.0 Problem running virus scanner: 999 cannot-execute tempfail"}
	case phase == "down":
		return []string{"verdict:   T451 4.3.0 Problem running virus scanner on part 1: 999 cannot-execute tempfail"}
	case !m.virus && policy == "message":
		return []string{"verdict:   (deliver)", "X-Clamd-Message | 0 ok ok", "!virus"}
	case !m.virus:
		return []string{"verdict:   (deliver)", " 0 ok ok", "!virus"}
	case policy == "message":
		return []string{"verdict:   B554 5.7.1 Virus found: " + virus}
	}
	return []string{"verdict:   (deliver)", "rewritten: true", "1 virus quarantine",
		"X-Virus-Scanner-Messages | clamd found the " + virus + " virus.\\n", "X-Virus-Name | " + virus,
		"filename=\"warning1.txt\""}
}

const clamdHeader = "From: Tester <tester@example.com>\nTo: Alice <alice@example.org>\n" +
	"Date: Mon, 02 Mar 2026 10:00:00 +0000\n"

// clamdMail assembles a message: the common header, Subject, Message-ID,
// the given fields, a blank line and body.
func clamdMail(name, subject string, fields []string, body string) []byte {
	h := clamdHeader + "Subject: " + subject + "\nMessage-ID: <clamd-" + name + "@example.com>\n"
	for _, f := range fields {
		h += f + "\n"
	}
	return []byte(h + "\n" + body)
}

// b64 is base64 in lines of 76 characters, as mail clients write it.
func b64(data []byte) string {
	s := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	b.WriteString(s + "\n")
	return b.String()
}

// uuencode is the uuencoded form of data as "begin 644 name" ... "end".
func uuencode(name string, data []byte) string {
	enc := func(c byte) byte {
		if c == 0 {
			return '`'
		}
		return c + ' '
	}
	var b strings.Builder
	b.WriteString("begin 644 " + name + "\n")
	for len(data) > 0 {
		n := min(45, len(data))
		line := make([]byte, n+(3-n%3)%3)
		copy(line, data[:n])
		b.WriteByte(enc(byte(n)))
		for i := 0; i < len(line); i += 3 {
			x := uint(line[i])<<16 | uint(line[i+1])<<8 | uint(line[i+2])
			b.Write([]byte{enc(byte(x >> 18 & 63)), enc(byte(x >> 12 & 63)), enc(byte(x >> 6 & 63)), enc(byte(x & 63))})
		}
		b.WriteByte('\n')
		data = data[n:]
	}
	b.WriteString("`\nend\n")
	return b.String()
}

// zipped is a zip archive holding data as name, with a fixed time.
func zipped(name string, data []byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate,
		Modified: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)})
	if err == nil {
		_, err = w.Write(data)
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// qpSoftBreaks is data (printable ASCII without '=') as quoted-printable
// lines of n characters joined by soft line breaks.
func qpSoftBreaks(data []byte, n int) string {
	var lines []string
	for len(data) > n {
		lines = append(lines, string(data[:n]))
		data = data[n:]
	}
	return strings.Join(append(lines, string(data)), "=\n")
}

// multipart joins parts (each a header, a blank line and a body) under
// boundary.
func multipart(boundary string, parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString("--" + boundary + "\n" + p)
		if !strings.HasSuffix(p, "\n") {
			b.WriteByte('\n')
		}
	}
	b.WriteString("--" + boundary + "--\n")
	return b.String()
}

func attachment(typ, name string, data []byte) string {
	return fmt.Sprintf("Content-Type: %s; name=\"%s\"\nContent-Disposition: attachment; filename=\"%s\"\n"+
		"Content-Transfer-Encoding: base64\n\n%s", typ, name, name, b64(data))
}

const textPart = "Content-Type: text/plain; charset=us-ascii\n\n"

func clamdMessages() []clamdMessage {
	eicar := harness.EICAR()
	mixed := func(b string) []string {
		return []string{"MIME-Version: 1.0", `Content-Type: multipart/mixed; boundary="` + b + `"`}
	}
	pdf := []byte("%PDF-1.4\n% a clean attachment, not a virus\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
	inner := clamdMail("inner", "The original message", mixed("=-inner"), multipart("=-inner",
		textPart+"The original text.\n",
		attachment("application/octet-stream", "inner.com", eicar)))
	// The EICAR string as the attachment's file name (RFC 2231), the
	// content clean: neither scanner reads names.
	var eicarName strings.Builder
	for _, c := range eicar {
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' {
			eicarName.WriteByte(c)
		} else {
			fmt.Fprintf(&eicarName, "%%%02X", c)
		}
	}
	return []clamdMessage{
		{name: "clean-text", raw: clamdMail("clean-text", "Clean text",
			[]string{"MIME-Version: 1.0", "Content-Type: text/plain; charset=us-ascii"},
			"Hello Alice,\n\nnothing to scan here but these words.\n")},
		{name: "attachment", virus: true, raw: clamdMail("attachment", "EICAR attached",
			mixed("=-att"), multipart("=-att",
				textPart+"See the attachment.\n",
				attachment("application/octet-stream", "sample.com", eicar)))},
		{name: "nested-rfc822", virus: true, raw: clamdMail("nested-rfc822", "Forwarded EICAR",
			mixed("=-fwd"), multipart("=-fwd",
				textPart+"Forwarding the message below.\n",
				"Content-Type: message/rfc822\nContent-Disposition: attachment\n\n"+string(inner)))},
		{name: "single-part-body", virus: true, raw: clamdMail("single-part-body", "EICAR in the body",
			[]string{"MIME-Version: 1.0", "Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: 7bit"},
			string(eicar)+"\n")},
		{name: "two-attachments", virus: true, raw: clamdMail("two-attachments", "Two attachments, one infected",
			mixed("=-two"), multipart("=-two",
				textPart+"Two files.\n",
				attachment("application/pdf", "report.pdf", pdf),
				attachment("application/x-msdownload", "setup.com", eicar)))},
		{name: "innocent-name", virus: true, raw: clamdMail("innocent-name", "Holiday picture",
			mixed("=-img"), multipart("=-img",
				textPart+"A picture from the beach.\n",
				attachment("image/jpeg", "holiday.jpg", eicar)))},
		{name: "eicar-in-name", raw: clamdMail("eicar-in-name", "A name, not a virus",
			mixed("=-name"), multipart("=-name",
				textPart+"The file name is the test string; the file is not.\n",
				"Content-Type: text/plain; charset=us-ascii\n"+
					"Content-Disposition: attachment; filename*=us-ascii''"+eicarName.String()+"\n\n"+
					"Just text.\n"))},
		{name: "zip", virus: true, raw: clamdMail("zip", "EICAR in a zip archive",
			mixed("=-zip"), multipart("=-zip",
				textPart+"The archive.\n",
				attachment("application/zip", "archive.zip", zipped("eicar.com", eicar))))},
		{name: "qp-soft-breaks", virus: true, raw: clamdMail("qp-soft-breaks", "EICAR quoted-printable",
			mixed("=-qp"), multipart("=-qp",
				textPart+"Quoted-printable, cut by soft line breaks.\n",
				"Content-Type: text/plain; charset=us-ascii; name=\"notes.txt\"\n"+
					"Content-Disposition: attachment; filename=\"notes.txt\"\nContent-Transfer-Encoding: quoted-printable\n\n"+
					qpSoftBreaks(eicar, 20)+"\n"))},
		{name: "empty-attachment", raw: clamdMail("empty-attachment", "An empty attachment",
			mixed("=-empty"), multipart("=-empty",
				textPart+"The attachment is empty.\n",
				"Content-Type: application/octet-stream; name=\"empty.bin\"\n"+
					"Content-Disposition: attachment; filename=\"empty.bin\"\nContent-Transfer-Encoding: base64\n\n"))},
		{name: "uuencoded", virus: true, raw: clamdMail("uuencoded", "EICAR uuencoded in the text",
			[]string{"MIME-Version: 1.0", "Content-Type: text/plain; charset=us-ascii"},
			"Here it is:\n\n"+uuencode("eicar.com", eicar))},
	}
}
