package filter

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdgo/md/worker/message"
)

// FuzzScan runs the whole message path (parse, the part walk with drops,
// replacements and boilerplate, warnings, NEWBODY and RESULTS) on arbitrary
// INPUTMSG bytes: the scan never panics, answers "ok" with a RESULTS that
// ends in F, and a NEWBODY it announces parses again.
func FuzzScan(f *testing.F) {
	corpus, _ := filepath.Glob("../testdata/corpus/*.eml")
	for i, p := range corpus {
		if i%4 == 0 { // a sample keeps the seed run short
			if b, err := os.ReadFile(p); err == nil {
				f.Add(string(b))
			}
		}
	}
	f.Add("Subject: x\n\nbody\n")
	f.Add("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\n\n<html><body>x</body></html>\n--b\nContent-Disposition: attachment; filename=a.exe\n\nMZ\n--b--\n")
	w, _ := testWorker(f, func(*Config) *Callbacks {
		return &Callbacks{
			Filter: func(c *Context, p *message.Part, fname, ext, typ string) error {
				switch {
				case strings.EqualFold(ext, ".exe"):
					c.ActionDropWithWarning("dropped " + fname)
				case typ == "application/octet-stream":
					c.ActionReplaceWithWarning("replaced " + fname)
				}
				return nil
			},
			End: func(c *Context, top *message.Part) error {
				c.AppendTextBoilerplate(top, "-- boilerplate", false)
				c.AppendHTMLBoilerplate(top, "<p>boilerplate</p>", true)
				c.RemoveRedundantHTMLParts(top)
				return nil
			},
		}
	})
	f.Fuzz(func(t *testing.T, inputmsg string) {
		dir := writeCase(t, "Sbob@example.com\nRalice@example.com ? ? ?\nF\n", inputmsg)
		reply := scan(t, w, dir)
		results, err := os.ReadFile(filepath.Join(dir, "RESULTS"))
		switch {
		case reply == "ok\n":
			if err != nil || !strings.HasSuffix(string(results), "F\n") {
				t.Fatalf("scan answered ok but RESULTS is %q (%v)", results, err)
			}
		case strings.HasPrefix(reply, "error: ") && strings.Count(reply, "\n") == 1:
			if strings.HasSuffix(string(results), "F\n") {
				t.Fatalf("scan failed (%q) but RESULTS is complete: %q", reply, results)
			}
			return
		default:
			t.Fatalf("reply %q", reply)
		}
		if !strings.Contains("\n"+string(results), "\nC\n") {
			return
		}
		body, err := os.ReadFile(filepath.Join(dir, "NEWBODY"))
		if err != nil {
			t.Fatalf("RESULTS has C but no NEWBODY: %v", err)
		}
		ct := ""
		for _, l := range strings.Split(string(results), "\n") {
			if strings.HasPrefix(l, "M") {
				ct = PercentDecode(l[1:])
			}
		}
		if _, err := message.Parse([]byte("Content-Type: "+ct+"\n\n"+string(body)), message.Limits{}); err != nil {
			t.Fatalf("NEWBODY does not parse: %v", err)
		}
	})
}
