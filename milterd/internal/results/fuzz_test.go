package results

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParseResults checks that no RESULTS content makes Parse panic or
// produce a plan the original could not have made. The seed corpus in
// testdata/fuzz/FuzzParseResults holds the golden RESULTS files and the
// quirks. Run it with:
//
//	go test -run='^$' -fuzz='^FuzzParseResults$' -fuzztime=30s ./internal/results
func FuzzParseResults(f *testing.F) {
	f.Add([]byte("HX-A 1\nF\nB550 5.7.1 no\n"), true)
	f.Add([]byte("N%20 -1 %0D\nI\tx 0 \nJ \n"), false)
	f.Fuzz(func(t *testing.T, data []byte, seen bool) {
		env := Env{SeenMIMEVersion: seen, ScannedBy: "MIMEDefang 3.3", MyIP: "127.0.0.1",
			ValidateHeader: "X-MIMEDefang-Relay-x", ValidatePresent: seen, ContentTypeHeaders: 2}
		p := Parse(data, env)
		if !reflect.DeepEqual(p, Parse(data, env)) {
			t.Fatal("Parse is not deterministic")
		}
		if p.Disposition < Accept || p.Disposition > Discard {
			t.Fatalf("disposition %v", p.Disposition)
		}
		if len(data) > MaxSize {
			if p.Disposition != TempFail || !p.FilterFailed || len(p.Actions) != 0 {
				t.Fatalf("oversize: %s", dump(p))
			}
			return
		}
		if p.Disposition == Accept && !p.SawF {
			t.Fatalf("accepted without F: %s", dump(p))
		}
		if p.SawF && p.Disposition != Accept {
			t.Fatalf("F reached but not accepted: %s", dump(p))
		}
		if r := p.Reply; r != nil {
			class := byte('5')
			if p.Disposition == TempFail {
				class = '4'
			} else if p.Disposition != Reject {
				t.Fatalf("reply with %v", p.Disposition)
			}
			if r.Code[0] != class || r.DSN[0] != class || len(r.Lines) == 0 || len(r.Lines) > 31 {
				t.Fatalf("bad reply %+v for %v", r, p.Disposition)
			}
			for _, l := range r.Lines {
				if strings.ContainsAny(l, "\r\n\x00") {
					t.Fatalf("control byte in reply line %q", l)
				}
			}
		}
		if p.Disposition == Reject && !p.Rejecting && (p.Reply == nil || p.Reply.DSN != "5.4.0") {
			t.Fatalf("reject without B: %s", dump(p))
		}
		if p.Disposition == Discard && !p.Rejecting {
			t.Fatalf("discard without D: %s", dump(p))
		}
		scannedBy := false
		for _, a := range p.Actions {
			if a.Kind < AddHeader || a.Kind > Quarantine {
				t.Fatalf("kind %v", a.Kind)
			}
			if p.Rejecting && a.Kind != Quarantine && a.Line != 0 {
				t.Fatalf("modification while rejecting: %v", a)
			}
			switch a.Kind {
			case AddHeader, InsertHeader, ChangeHeader, DeleteHeader:
				if a.Name == "" {
					t.Fatalf("empty header name: %v", a)
				}
				if a.Kind != InsertHeader && a.Index < 1 && a.Kind != AddHeader {
					t.Fatalf("index %d: %v", a.Index, a)
				}
				if a.Kind == InsertHeader && a.Index < 0 {
					t.Fatalf("index %d: %v", a.Index, a)
				}
				if a.Kind != ChangeHeader && a.Line != 0 && strings.Contains(a.Value, "\r") {
					t.Fatalf("CR in header value: %v", a)
				}
			case AddRecipient, DeleteRecipient, ChangeSender, Quarantine:
				if a.Value == "" {
					t.Fatalf("empty argument: %v", a)
				}
			}
			if strings.Contains(a.Name+a.Value, "\x00") {
				t.Fatalf("NUL in %v", a)
			}
			if a.Line == 0 && a.Name == "X-Scanned-By" {
				scannedBy = true
			}
		}
		if scannedBy != (p.SawF && !p.Rejecting) {
			t.Fatalf("X-Scanned-By %v, F %v, rejecting %v", scannedBy, p.SawF, p.Rejecting)
		}
	})
}
