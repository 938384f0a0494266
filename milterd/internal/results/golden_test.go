package results

import (
	"bufio"
	"log/slog"
	"mime"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/mdgo/md/internal/golden"
	"github.com/mdgo/md/milterd/internal/policy"
)

// goldenDir finds the captures of the original MIMEDefang
// (testdata/golden at the top of the repository, or $MD_GOLDEN_DIR).
func goldenDir(t testing.TB) string {
	t.Helper()
	return golden.Dir(t)
}

// header is one header of a message, as the MTA holds it.
type header struct{ name, value string }

// readHeaders reads the header block of a message file (unfolding
// continuation lines into the value) and returns the headers and the body.
func readHeaders(t *testing.T, path string) ([]header, string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(string(b), "\n\n")
	var hs []header
	for _, l := range strings.Split(head, "\n") {
		if (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && len(hs) > 0 {
			hs[len(hs)-1].value += "\n" + l
			continue
		}
		n, v, _ := strings.Cut(l, ":")
		hs = append(hs, header{n, strings.TrimPrefix(v, " ")})
	}
	return hs, body
}

// envFor is what the milter would know about a golden message: the
// MIME-Version and Content-Type headers it saw (from HEADERS), the lab's
// X-Scanned-By text ("MIMEDefang 3.3", the Debian 12 package) and myip
// (MyIPAddress 127.0.0.1, the address relayok carried).
func envFor(t *testing.T, dir string) Env {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "HEADERS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := Env{ScannedBy: "MIMEDefang 3.3", MyIP: "127.0.0.1"}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, _, _ := strings.Cut(sc.Text(), ":")
		switch strings.ToLower(name) {
		case "mime-version":
			env.SeenMIMEVersion = true
		case "content-type":
			env.ContentTypeHeaders++
		}
	}
	return env
}

// apply plays a plan's header actions on a header list with the MTA's
// semantics (a change beyond the last occurrence adds the header at the
// end, as the Postfix evidence shows for Content-Type and MIME-Version).
func apply(hs []header, actions []Action) []header {
	nth := func(name string, idx int) int {
		for i, h := range hs {
			if strings.EqualFold(h.name, name) {
				if idx--; idx == 0 {
					return i
				}
			}
		}
		return -1
	}
	for _, a := range actions {
		switch a.Kind {
		case AddHeader:
			hs = append(hs, header{a.Name, a.Value})
		case InsertHeader:
			i := min(a.Index, len(hs))
			hs = append(hs[:i], append([]header{{a.Name, a.Value}}, hs[i:]...)...)
		case ChangeHeader, DeleteHeader:
			i := nth(a.Name, a.Index)
			switch {
			case i < 0 && a.Kind == ChangeHeader && a.Value != "":
				hs = append(hs, header{a.Name, a.Value})
			case i >= 0 && (a.Kind == DeleteHeader || a.Value == ""):
				hs = append(hs[:i], hs[i+1:]...)
			case i >= 0:
				hs[i].value = a.Value
			}
		}
	}
	return hs
}

// postfixHeaders are the ones Postfix and local delivery add.
var postfixHeaders = map[string]bool{"Return-Path": true, "X-Original-To": true, "Delivered-To": true, "Received": true}

func names(hs []header) []string {
	var out []string
	for _, h := range hs {
		if !postfixHeaders[h.name] {
			out = append(out, h.name)
		}
	}
	return out
}

func swaksFinalReply(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The reply to the final "." of DATA: the line after " -> ."
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if l == " -> ." && i+1 < len(lines) {
			return strings.TrimPrefix(strings.TrimPrefix(lines[i+1], "<** "), "<-  ")
		}
	}
	t.Fatalf("%s: no end of DATA", path)
	return ""
}

// inputBoundary is the boundary of the message in the golden working
// directory dir (its INPUTMSG), which changes with every capture.
func inputBoundary(t *testing.T, dir string) string {
	t.Helper()
	hs, _ := readHeaders(t, filepath.Join(dir, "INPUTMSG"))
	for _, h := range hs {
		if strings.EqualFold(h.name, "Content-Type") {
			if _, params, err := mime.ParseMediaType(h.value); err == nil && params["boundary"] != "" {
				return params["boundary"]
			}
		}
	}
	t.Fatalf("%s/INPUTMSG: no Content-Type with a boundary", dir)
	return ""
}

func TestGoldenPlans(t *testing.T) {
	golden := goldenDir(t)
	spool := filepath.Join(golden, "spool")
	xscanned := Action{Kind: AddHeader, Line: 1, Name: "X-Scanned", Value: "MIMEDefang lab typical filter"}
	scannedBy := Action{Kind: AddHeader, Name: "X-Scanned-By", Value: "MIMEDefang 3.3 on 127.0.0.1"}
	cleanPlan := func(dir string) Plan {
		return Plan{Disposition: Accept, SawF: true, Actions: []Action{
			xscanned,
			{Kind: ChangeHeader, Line: 2, Name: "Content-Type", Index: 1, Value: "text/plain"},
			{Kind: ChangeHeader, Line: 2, Name: "MIME-Version", Index: 1, Value: "1.0"},
			{Kind: ReplaceBody, Line: 3, Value: filepath.Join(dir, "NEWBODY")},
			scannedBy,
		}}
	}
	tests := []struct {
		name     string
		want     func(dir string) Plan
		swaks    []string // SMTP conversations whose end-of-DATA reply the plan must explain
		evidence string   // a delivered message of the same kind
	}{
		{name: "clean", want: cleanPlan,
			swaks:    []string{"transcripts/clean.swaks.txt", "evidence/typical-clean.swaks.txt"},
			evidence: "evidence/typical-clean.delivered.eml"},
		{name: "clean-allchecks", want: cleanPlan,
			swaks:    []string{"transcripts/clean-allchecks.swaks.txt"},
			evidence: "evidence/typical-clean.delivered.eml"},
		{name: "exe", want: func(dir string) Plan {
			// The filter keeps the boundary of the message swaks sent.
			return Plan{Disposition: Accept, SawF: true, Actions: []Action{
				xscanned,
				{Kind: ChangeHeader, Line: 2, Name: "Content-Type", Index: 1,
					Value: `multipart/mixed; boundary="` + inputBoundary(t, dir) + `"`},
				{Kind: ReplaceBody, Line: 3, Value: filepath.Join(dir, "NEWBODY")},
				scannedBy,
			}}
		},
			swaks:    []string{"transcripts/exe.swaks.txt", "evidence/typical-exe.swaks.txt"},
			evidence: "evidence/typical-exe.delivered.eml"},
		{name: "reject", want: func(string) Plan {
			return Plan{Disposition: Reject, Rejecting: true,
				Reply: &policy.SMTPReply{Code: "554", DSN: "5.7.1",
					Lines: []string{"Message rejected by lab policy: forbidden subject marker"}},
				Notes: []Note{{Level: slog.LevelDebug, Text: "Bouncing because filter instructed us to"}}}
		},
			swaks: []string{"transcripts/reject.swaks.txt", "evidence/typical-reject.swaks.txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(spool, tt.name)
			got := Load(dir, envFor(t, dir))
			want := tt.want(dir)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("plan\n got %s\nwant %s", dump(got), dump(want))
			}
			for _, s := range tt.swaks {
				reply := swaksFinalReply(t, filepath.Join(golden, s))
				switch got.Disposition {
				case Accept:
					if !strings.HasPrefix(reply, "250 2.0.0 Ok: queued as ") {
						t.Errorf("%s: the plan accepts, the MTA said %q", s, reply)
					}
				case Reject:
					if reply != got.Reply.String() {
						t.Errorf("%s: the MTA said %q, the plan says %q", s, reply, got.Reply.String())
					}
				}
			}
			if tt.evidence == "" {
				return
			}
			// The delivered message of the same kind shows the same
			// header edits, in the same order, with the same values
			// (boundaries and the per-run greeting masked).
			in, _ := readHeaders(t, filepath.Join(dir, "INPUTMSG"))
			out := apply(in, got.Actions)
			del, delBody := readHeaders(t, filepath.Join(golden, tt.evidence))
			if !reflect.DeepEqual(names(out), names(del)) {
				t.Errorf("header order after the plan\n got %q\nwant %q (%s)", names(out), names(del), tt.evidence)
			}
			boundary := regexp.MustCompile(`_MIME_BOUNDARY_000_\d+`)
			for _, a := range got.Actions {
				if a.Kind != AddHeader && a.Kind != ChangeHeader {
					continue
				}
				found := false
				for _, h := range del {
					if h.name == a.Name && boundary.ReplaceAllString(h.value, "B") == boundary.ReplaceAllString(a.Value, "B") {
						found = true
					}
				}
				if !found {
					t.Errorf("%s: no %s: %q in the delivered message", tt.evidence, a.Name, a.Value)
				}
			}
			if tt.name == "clean" {
				nb, err := os.ReadFile(filepath.Join(dir, "NEWBODY"))
				if err != nil {
					t.Fatal(err)
				}
				_, wantRest, _ := strings.Cut(string(nb), "\n")
				_, gotRest, _ := strings.Cut(delBody, "\n")
				if gotRest != wantRest {
					t.Errorf("delivered body after the greeting\n got %q\nwant %q (NEWBODY)", gotRest, wantRest)
				}
			}
		})
	}
}

func dump(p Plan) string {
	var b strings.Builder
	b.WriteString(p.Disposition.String())
	if p.Reply != nil {
		b.WriteString(" reply=" + p.Reply.String())
	}
	if p.Rejecting {
		b.WriteString(" rejecting")
	}
	if p.SawF {
		b.WriteString(" sawF")
	}
	if p.FilterFailed {
		b.WriteString(" filterFailed")
	}
	for _, a := range p.Actions {
		b.WriteString("\n\t" + a.String())
	}
	for _, n := range p.Notes {
		b.WriteString("\n\tnote " + n.Level.String() + " " + n.Text)
	}
	return b.String()
}
