package luafilter

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestHostileNamesStayInside: file names built to escape (../, absolute,
// NUL, overlong, a slash inside) cannot make the worker write outside its
// working, quarantine or document-root directories, whatever the filter
// does with the part (quarantine it, replace it with a URL, copy its name
// into a header), and RESULTS stays one well-formed command per line.
func TestHostileNamesStayInside(t *testing.T) {
	root := t.TempDir()
	docRoot := filepath.Join(root, "docroot")
	if err := os.Mkdir(docRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(root, "absolute-escape.exe")
	names := []string{
		"../escape-1.exe", "../../escape-2.exe", abs, "x/../../escape-3.exe", "..", ".",
		strings.Repeat("n", 5000) + ".exe", "dot.\r\nX-Evil: 1.exe",
	}
	var b strings.Builder
	b.WriteString("From: a@example.com\nSubject: names\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nhi\n")
	for i, n := range names {
		enc := strings.NewReplacer("\r", "%0D", "\n", "%0A", " ", "%20", "\"", "%22").Replace(n)
		fmt.Fprintf(&b, "--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename*=utf-8''%s\n\npart %d\n", enc, i)
	}
	// A NUL in a name, through RFC 2231.
	b.WriteString("--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename*=utf-8''../nul%00escape-4.exe\n\nnul\n--b--\n")

	tw := newTestWorker(t, `function filter(entity, fname, ext, type)
  if fname == "" then return action_accept() end
  action_add_header("X-Name", fname)
  action_quarantine(entity, "quarantined " .. fname)
  return action_replace_with_url(entity, "`+docRoot+`", "http://example.com", "see _URL_ for " .. fname)
end`)
	res, dir, err := tw.scanDir(b.String())
	if err != nil {
		t.Fatalf("scan: %v\nlog:\n%s", err, tw.log)
	}

	// Nothing outside the three directories.
	for _, p := range []string{abs, filepath.Join(root, "escape-1.exe"), filepath.Join(filepath.Dir(dir), "escape-1.exe")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was written", p)
		}
	}
	ents, _ := os.ReadDir(root)
	if len(ents) != 1 || ents[0].Name() != "docroot" {
		t.Errorf("%s holds %v, want only docroot", root, ents)
	}
	stored := regexp.MustCompile(`^\.?[0-9a-f]{40}(\.[A-Za-z0-9_]*)?$`)
	docs, _ := os.ReadDir(docRoot)
	if len(docs) == 0 {
		t.Error("action_replace_with_url stored nothing")
	}
	for _, e := range docs {
		if !stored.MatchString(e.Name()) || e.IsDir() {
			t.Errorf("docroot holds %q", e.Name())
		}
	}
	qdir := tw.w.Config().QuarantineDir
	filepath.WalkDir(qdir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !regexp.MustCompile(`^(PART\.\d+\.(BODY|HEADERS)|MSG\.\d+|ENTIRE_MESSAGE|HEADERS|RECIPIENTS|SENDER|SENDMAIL-QID)$`).MatchString(d.Name()) {
			t.Errorf("quarantine holds %q", p)
		}
		return nil
	})
	for _, p := range []string{filepath.Dir(dir), filepath.Dir(qdir)} {
		es, _ := os.ReadDir(p)
		for _, e := range es {
			if strings.Contains(e.Name(), "escape") {
				t.Errorf("%s holds %q", p, e.Name())
			}
		}
	}

	// RESULTS: one command per line, no raw CR, the names percent-encoded.
	for _, l := range strings.Split(strings.TrimSuffix(res, "\n"), "\n") {
		if l == "" || strings.ContainsAny(l, "\r\x00") || !strings.ContainsRune("HNIJCMQFRSfBTD", rune(l[0])) {
			t.Errorf("RESULTS line %q", l)
		}
	}
	if !strings.Contains(res, "HX-Name dot.%0D%0AX-Evil") {
		t.Errorf("the CR LF name is not encoded in RESULTS:\n%s", res)
	}
}
