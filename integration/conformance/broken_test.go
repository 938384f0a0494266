package conformance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/brokengen"
	mdmessage "github.com/mdgo/md/worker/message"
	"github.com/mdgo/md/worker/workdir"
)

// TestBrokenMIME is the differential test of broken MIME (issue #10): a
// fixed-seed generator (internal/brokengen) makes messages with the faults
// mail gets in the wild and in evasion attempts, and each goes through
// mimedefang.pl (testdata/broken.filter) and md-worker (testdata/broken.lua)
// with the same policy: drop dangerous extensions with a warning, append a
// disclaimer to text parts when the Subject asks. The delivered messages are
// read by three readers that are neither implementation: Python's email
// package with its compat32 and default policies (testdata/clientview.py) and
// MIME-tools (testdata/mimeview.pl).
//
// Two kinds of checks:
//
//   - md-worker's own guarantee, whatever mimedefang.pl does: no reader
//     finds in md-worker's delivered message a file name the filter did not
//     see (broken.lua records every name, entity:filenames()), and none
//     finds a name the policy drops.
//   - The comparison with mimedefang.pl: verdict, and the types and names of
//     the delivered parts as Python's compat32 reader sees them. A
//     difference is a failure unless it falls in one of the documented
//     deviations (deviations below, docs/compatibility.md).
//
// Environment: MD_BROKEN_N (messages, default 2000), MD_BROKEN_SEED (default
// 1; "random" for a time-based seed, as `make fuzz` runs it), MD_BROKEN_KEEP
// (a directory: every failing message and both working directories are kept
// there).
func TestBrokenMIME(t *testing.T) {
	requirePerl(t)
	if out, err := exec.Command("python3", "-c", "import email.policy, json").CombinedOutput(); err != nil {
		t.Fatalf("python3 with its standard library is needed as the independent reader (%v: %s): apt-get install -y python3", err, out)
	}
	n := envInt(t, "MD_BROKEN_N", 2000)
	seed := int64(1)
	switch s := os.Getenv("MD_BROKEN_SEED"); s {
	case "":
	case "random":
		seed = time.Now().UnixNano()
	default:
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("MD_BROKEN_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d, %d messages (MD_BROKEN_SEED, MD_BROKEN_N)", seed, n)
	mdBin, err := mdWorkerBinary(t)
	if err != nil {
		t.Fatal(err)
	}

	base := t.TempDir()
	r := rand.New(rand.NewSource(seed))
	msgs := make([]brokengen.Message, n)
	var perlDirs, mdDirs []string
	for i := range msgs {
		msgs[i] = brokengen.Generate(r, i)
		for side, dirs := range map[string]*[]string{"perl": &perlDirs, "md": &mdDirs} {
			d := filepath.Join(base, side, fmt.Sprintf("m%05d", i))
			if err := os.MkdirAll(d, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := buildWorkDir(d, msgs[i].Raw, fmt.Sprintf("b%06d", i), fmt.Sprintf("4B%06dQ", i)); err != nil {
				t.Fatal(err)
			}
			*dirs = append(*dirs, d)
		}
	}

	var wg sync.WaitGroup
	var perlErrs, mdErrs []string
	wg.Add(2)
	go func() {
		defer wg.Done()
		perlErrs = serveAll(t, []string{"perl", mimedefangPL, "-f", absPath(t, "testdata/broken.filter"), "-server"}, perlDirs)
	}()
	go func() {
		defer wg.Done()
		mdErrs = serveAll(t, []string{mdBin, "-f", absPath(t, "testdata/broken.lua"), "-server"}, mdDirs)
	}()
	wg.Wait()
	if t.Failed() {
		return
	}

	perl := make([]*outcome, n)
	md := make([]*outcome, n)
	var delivered []string
	inputs := make([]string, n)
	for i := range msgs {
		inputs[i] = filepath.Join(base, fmt.Sprintf("in-%05d.eml", i))
		if err := os.WriteFile(inputs[i], msgs[i].Raw, 0o600); err != nil {
			t.Fatal(err)
		}
		delivered = append(delivered, inputs[i])
		perl[i] = deliveryOf(t, perlDirs[i])
		md[i] = deliveryOf(t, mdDirs[i])
		for _, d := range []string{perlDirs[i], mdDirs[i]} {
			if _, err := os.Stat(filepath.Join(d, "delivered.eml")); err == nil {
				delivered = append(delivered, filepath.Join(d, "delivered.eml"))
			}
		}
	}
	views := readViews(t, delivered)

	counts := map[string]int{}
	var failures []string
	for i, m := range msgs {
		c := &brokenCase{i: i, msg: m, perl: perl[i], md: md[i], perlErr: perlErrs[i], mdErr: mdErrs[i],
			inputView: views[inputs[i]],
			perlView:  views[filepath.Join(perlDirs[i], "delivered.eml")],
			mdView:    views[filepath.Join(mdDirs[i], "delivered.eml")]}
		for _, f := range c.check() {
			failures = append(failures, f)
			counts["FAIL "+strings.SplitN(f, ":", 2)[0]]++
			if keep := os.Getenv("MD_BROKEN_KEEP"); keep != "" {
				keepCase(t, keep, i, m, perlDirs[i], mdDirs[i])
			}
		}
		counts[c.category()]++
	}
	var keys []string
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sum strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sum, "  %5d  %s\n", counts[k], k)
	}
	t.Logf("outcomes of %d broken messages (seed %d):\n%s", n, seed, sum.String())
	for i, f := range failures {
		if i == 10 {
			t.Errorf("... and %d more failures", len(failures)-10)
			break
		}
		t.Error(f)
	}
}

// deviations are the documented differences from mimedefang.pl, each with
// its reason (also in docs/compatibility.md, "Broken MIME").
var deviations = map[string]string{
	"same": "",
	"perl-delivers-dangerous-name": "mimedefang.pl delivers a part that a mail client opens under a name the policy drops, " +
		"because MIME-tools hid the name from its filter (a header run into the next boundary, a repeated field or " +
		"parameter, a malformed field, a name Windows saves without its trailing dots or blanks); md-worker's filter " +
		"sees the name and drops the part.",
	"repaired-part-normalized": "The message has a part whose header needed a repair to be read (no blank line, a line " +
		"that is not a field, a repeated Content-Type/-Disposition/-Transfer-Encoding or parameter): md-worker reads " +
		"it as mail clients do where MIME-tools does not, and delivers it in normalized form, as its filter read it; " +
		"mimedefang.pl delivers the original bytes or MIME-tools' re-rendering of its own reading.",
	"perl-scan-fails": "mimedefang.pl fails on the message (so the milter tempfails it for ever); md-worker scans it.",
	"md-worker-parses-attached-message": "A message/* part of another type than rfc822 (message/global, a " +
		"garbled \"message/\\0rfc822\", ...) is a leaf for MIME-tools; mail clients parse it as an attached " +
		"message, and so does md-worker, so its filter sees (and the policy drops) the attachments inside.",
	"md-worker-takes-container-name-off": "The message header names a file on the message's own multipart " +
		"container (a Content-Disposition filename, a Content-Type name), which neither filter sees (the part walk " +
		"starts below the top entity) and which readers show when they take the container for an attachment; " +
		"md-worker deletes the name from the message header, mimedefang.pl delivers it.",
	"md-worker-sees-hidden-name": "A part carries a dangerous name that MIME-tools does not give mimedefang.pl's filter " +
		"(a repeated field or parameter, a malformed field, a value with an unterminated quote, a bad token or a fold, " +
		"a field behind a bare CR, a name Windows saves without its trailing dots or blanks): md-worker's re_match " +
		"sees it and the policy drops the part, even where no reader tested here shows that name (a container's name).",
}

// inputFacts is what md-worker's reading of a generated message says about
// it, for the classification: whether a message/* part that MIME-tools reads
// as a leaf is parsed as an attached message, whether a part carries a name
// the policy drops among the names md-worker reads beyond MIME-tools' two
// (message.Part.Names after the Content-Disposition filename and
// Content-Type name) or only once Windows trims it, and whether a part's
// header needed a repair.
type inputFacts struct {
	attachedMessage, hiddenDangerousName, repaired, containerName bool
}

// readInput reads raw as md-worker gets it: INPUTMSG as the milter spools
// it (the header ends at its first line that is not a field, as the MTA
// ends it; repeated Content-Type fields left out).
func readInput(raw []byte) inputFacts {
	var f inputFacts
	m, err := mdmessage.Parse(workdir.Files(raw, "broken", "NOQUEUE")["INPUTMSG"], mdmessage.Limits{})
	if err != nil {
		return f
	}
	f.repaired = len(m.RepairedParts()) > 0
	del, _, changeCT := m.TopNameEdits()
	f.containerName = len(del) > 0 || changeCT
	mdmessage.Walk(m.Top(), func(p *mdmessage.Part, _ int) bool {
		switch t := p.Type(); {
		case !p.IsMultipart() || !strings.HasPrefix(t, "message/"):
		case t == "message/rfc822" || t == "message/external-body" || t == "message/partial":
		default:
			f.attachedMessage = true
		}
		var primary []string
		for _, src := range [...][2]string{{"Content-Disposition", "filename"}, {"Content-Type", "name"}} {
			if v, ok := p.MIMEAttr(src[0], src[1]); ok {
				primary = append(primary, mdmessage.DecodeMIMEWords(v))
			}
		}
		for _, n := range p.Names() {
			d := mdmessage.DecodeMIMEWords(n)
			if dangerous(d) && (!slices.Contains(primary, d) || !dangerousRE.MatchString(d)) {
				f.hiddenDangerousName = true
			}
		}
		return true
	})
	return f
}

// brokenCase is one generated message and what became of it.
type brokenCase struct {
	i                int
	msg              brokengen.Message
	perl, md         *outcome
	perlErr, mdErr   string
	perlView, mdView map[string]json.RawMessage
	inputView        map[string]json.RawMessage // the readers on the message as it came
}

var dangerousRE = regexp.MustCompile(`(?i)\.(exe|com|bat|scr|pif|vbs)\.*$`)

// dangerous is the policy's test on a name, as Windows would save it.
func dangerous(n string) bool { return dangerousRE.MatchString(strings.TrimRight(n, ". ")) }

// leaf is one delivered leaf part as a reader sees it.
type leaf struct {
	typ   string
	names []string
}

func leaves(raw json.RawMessage) ([]leaf, error) {
	if len(raw) > 0 && raw[0] == '{' {
		var e struct{ Error string }
		json.Unmarshal(raw, &e)
		return nil, fmt.Errorf("reader failed: %s", e.Error)
	}
	var rows [][]json.RawMessage
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, err
	}
	var out []leaf
	for _, row := range rows {
		var l leaf
		if len(row) != 2 || json.Unmarshal(row[0], &l.typ) != nil || json.Unmarshal(row[1], &l.names) != nil {
			return nil, fmt.Errorf("bad reader row %s", row)
		}
		out = append(out, l)
	}
	return out, nil
}

var warningName = regexp.MustCompile(`^warning\d+\.txt$`)

// seen returns what md-worker's filter saw: every type and every name of
// the X-Broken-Saw headers.
func (c *brokenCase) seen() (types, names map[string]bool) {
	types, names = map[string]bool{}, map[string]bool{}
	for _, h := range c.md.Headers {
		v, ok := strings.CutPrefix(h, "H X-Broken-Saw | ")
		if !ok {
			continue
		}
		f := strings.Split(v, "\x1f")
		types[f[0]] = true
		for _, n := range f[1:] {
			names[nameKey(n)] = true
		}
	}
	return types, names
}

// nameKey is how a name the filter saw and a name a reader found are
// compared, whatever each did with what it could not decode and with
// folding: lower case, only letters, digits and dots, every run of other
// bytes (8-bit, "\xHH" escapes, U+FFFD, blanks, quotes) as one "?". The
// policy's own test (dangerous) works on the names as found.
func nameKey(n string) string {
	n = strings.ToLower(n)
	n = regexp.MustCompile(`\\x[0-9a-f]{2}`).ReplaceAllString(n, "\x80")
	var b strings.Builder
	other := false
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' {
			b.WriteByte(c)
			other = false
			continue
		}
		if !other && c >= 0x80 {
			b.WriteByte('?')
		}
		other = c >= 0x80
	}
	return strings.TrimRight(b.String(), ".")
}

// check returns the failures of one message, each "kind: details"; the
// message itself is described once, after its first failure.
func (c *brokenCase) check() []string {
	var out []string
	fail := func(kind, format string, args ...any) {
		f := fmt.Sprintf("%s: message %d (faults %s): %s", kind, c.i, strings.Join(c.msg.Faults, ", "), fmt.Sprintf(format, args...))
		if len(out) == 0 {
			f += "\n" + c.describe()
		}
		out = append(out, f)
	}
	if c.md.Verdict != "" {
		fail("md-worker-verdict", "md-worker did not deliver: %s (%s)", c.md.Verdict, c.mdErr)
		return out
	}
	if m, err := mdmessage.Parse(c.md.final, mdmessage.Limits{}); err == nil {
		if rp := m.RepairedParts(); len(rp) > 0 {
			_, why := rp[0].Repaired()
			fail("md-worker-delivers-broken-header", "a part of the delivered message needs a repair: %s", why)
		}
	}
	_, saw := c.seen()
	for reader, raw := range c.mdView {
		ls, err := leaves(raw)
		if err != nil {
			// A failure counts when the reader reads both the
			// message as it came and mimedefang.pl's delivery.
			_, inErr := leaves(c.inputView[reader])
			_, perlErr := leaves(c.perlView[reader])
			if inErr == nil && (perlErr == nil || c.perl.Verdict != "") {
				fail("reader-fails-on-md-worker-output", "%s: %v", reader, err)
			}
			continue
		}
		for _, l := range ls {
			for _, n := range l.names {
				if dangerous(n) {
					fail("dangerous-name-delivered", "%s finds %q (%s) in md-worker's delivered message", reader, n, l.typ)
				}
				// A name without a letter, digit or dot (a NUL, a
				// quote) can carry neither a name nor an extension.
				if k := nameKey(n); k != "" && !saw[k] && !warningName.MatchString(n) {
					fail("name-the-filter-did-not-see", "%s finds %q (%s); the filter saw %q", reader, n, l.typ, keys(saw))
				}
			}
		}
	}
	if c.category() == "" {
		fail("difference-from-mimedefang.pl", "not a documented deviation")
	}
	return out
}

// category classifies the comparison with mimedefang.pl: a key of
// deviations, or "" for an undocumented difference.
func (c *brokenCase) category() string {
	if c.md.Verdict != "" {
		return "md-worker-fails"
	}
	if c.perl.Verdict == scanFailed {
		return "perl-scan-fails"
	}
	if c.perl.Verdict != "" {
		return ""
	}
	pv, perr := leaves(c.perlView["python-compat32"])
	mv, merr := leaves(c.mdView["python-compat32"])
	if perr == nil && merr == nil && sameLeaves(pv, mv) {
		return "same"
	}
	for _, raw := range c.perlView {
		ls, _ := leaves(raw)
		for _, l := range ls {
			for _, n := range l.names {
				if dangerous(n) {
					return "perl-delivers-dangerous-name"
				}
			}
		}
	}
	switch f := readInput(c.msg.Raw); {
	case f.attachedMessage:
		return "md-worker-parses-attached-message"
	case f.hiddenDangerousName:
		return "md-worker-sees-hidden-name"
	case f.repaired:
		return "repaired-part-normalized"
	case f.containerName:
		return "md-worker-takes-container-name-off"
	}
	return ""
}

// sameLeaves compares two views leaf by leaf, warning parts left out.
func sameLeaves(a, b []leaf) bool {
	strip := func(ls []leaf) []string {
		var out []string
		for _, l := range ls {
			if len(l.names) == 1 && warningName.MatchString(l.names[0]) {
				continue
			}
			out = append(out, l.typ+" "+strings.Join(l.names, "|"))
		}
		return out
	}
	return slices.Equal(strip(a), strip(b))
}

func (c *brokenCase) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "input: %q\n", c.msg.Raw)
	for _, side := range []struct {
		name string
		o    *outcome
		v    map[string]json.RawMessage
		err  string
	}{{"mimedefang.pl", c.perl, c.perlView, c.perlErr}, {"md-worker", c.md, c.mdView, c.mdErr}} {
		fmt.Fprintf(&b, "%s: verdict %q rewritten %v %s\n", side.name, side.o.Verdict, side.o.Rewritten, side.err)
		var rs []string
		for r := range side.v {
			rs = append(rs, r)
		}
		sort.Strings(rs)
		for _, r := range rs {
			fmt.Fprintf(&b, "  %s: %s\n", r, side.v[r])
		}
	}
	return b.String()
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return v
}

// deliveryOf reads one scanned directory; a failed scan is the tempfail
// verdict.
func deliveryOf(t *testing.T, dir string) *outcome {
	o, err := readDelivery(dir)
	if err != nil {
		return &outcome{Verdict: scanFailed}
	}
	return o
}

// serveAll runs one worker in server mode (argv) and has it scan every
// directory, one "scan" request at a time as the multiplexor sends them. A
// worker that dies or does not answer within runTimeout is restarted; its
// request counts as a failed scan. It returns, per directory, the answer
// line when it was not "ok".
func serveAll(t *testing.T, argv []string, dirs []string) []string {
	errs := make([]string, len(dirs))
	var w *serverProc
	defer func() {
		if w != nil {
			w.stop()
		}
	}()
	for i, d := range dirs {
		if w == nil {
			var err error
			if w, err = startServer(argv); err != nil {
				t.Errorf("%s: %v", argv[0], err)
				return errs
			}
		}
		answer, err := w.request(fmt.Sprintf("scan 4B%06dQ %s", i, d), runTimeout)
		if err != nil {
			errs[i] = fmt.Sprintf("worker failed: %v; stderr: %s", err, w.stderr.String())
			w.stop()
			w = nil
			continue
		}
		if answer != "ok" {
			errs[i] = answer
		}
	}
	return errs
}

type serverProc struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string
	stderr *bytes.Buffer
}

func startServer(argv []string) (*serverProc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "TZ=UTC", "LC_ALL=C")
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s := &serverProc{cmd: cmd, in: in, lines: make(chan string, 1), stderr: &bytes.Buffer{}}
	cmd.Stderr = &limitedWriter{b: s.stderr, max: 4096}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	return s, nil
}

func (s *serverProc) request(req string, timeout time.Duration) (string, error) {
	if _, err := io.WriteString(s.in, req+"\n"); err != nil {
		return "", err
	}
	select {
	case l, ok := <-s.lines:
		if !ok {
			return "", fmt.Errorf("exited: %v", s.cmd.Wait())
		}
		return l, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("no answer within %v", timeout)
	}
}

func (s *serverProc) stop() {
	s.in.Close()
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// limitedWriter keeps the last lines of a worker's stderr, at most max bytes.
type limitedWriter struct {
	mu  sync.Mutex
	b   *bytes.Buffer
	max int
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if w.b.Len() > w.max {
		rest := append([]byte(nil), w.b.Bytes()[w.b.Len()-w.max:]...)
		w.b.Reset()
		w.b.Write(rest)
	}
	return len(p), nil
}

// readViews runs the readers over every delivered message and returns, per
// file, each reader's view.
func readViews(t *testing.T, files []string) map[string]map[string]json.RawMessage {
	views := map[string]map[string]json.RawMessage{}
	const batch = 400
	for start := 0; start < len(files); start += batch {
		chunk := files[start:min(start+batch, len(files))]
		for _, argv := range [][]string{
			append([]string{"python3", absPath(t, "testdata/clientview.py")}, chunk...),
			append([]string{"perl", absPath(t, "testdata/mimeview.pl")}, chunk...),
		} {
			cmd := exec.Command(argv[0], argv[1:]...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v\n%s", filepath.Base(argv[1]), err, stderr.String())
			}
			for _, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
				var v struct {
					File    string
					Readers map[string]json.RawMessage
				}
				if err := json.Unmarshal(l, &v); err != nil {
					t.Fatalf("%s: bad output line %q: %v", filepath.Base(argv[1]), l, err)
				}
				if views[v.File] == nil {
					views[v.File] = map[string]json.RawMessage{}
				}
				for r, raw := range v.Readers {
					views[v.File][r] = raw
				}
			}
		}
	}
	return views
}

// keepCase copies a failing message and both working directories to dir.
func keepCase(t *testing.T, dir string, i int, m brokengen.Message, perlDir, mdDir string) {
	d := filepath.Join(dir, fmt.Sprintf("m%05d", i))
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d, "input.eml"), m.Raw, 0o644)
	exec.Command("cp", "-a", perlDir, filepath.Join(d, "perl")).Run()
	exec.Command("cp", "-a", mdDir, filepath.Join(d, "md")).Run()
}
