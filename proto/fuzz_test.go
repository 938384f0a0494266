package proto

import (
	"reflect"
	"strings"
	"testing"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/; they hold the golden
// lines. Run a target with, for example:
//
//	go test -run='^$' -fuzz='^FuzzParseRequest$' -fuzztime=30s

func FuzzDecode(f *testing.F) {
	f.Add("%")
	f.Add("%%41%4")
	f.Fuzz(func(t *testing.T, s string) {
		d := Decode(s)
		if len(d) > len(s) {
			t.Fatalf("Decode(%q) = %q grew", s, d)
		}
		if !strings.Contains(s, "%") && d != s {
			t.Fatalf("Decode(%q) = %q changed a string without %%", s, d)
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	f.Add("a b%\\'\"\x00\x7f\xff")
	f.Fuzz(func(t *testing.T, s string) {
		wide, narrow := Encode(s), EncodeCommands(s)
		if got := Decode(wide); got != s {
			t.Fatalf("Decode(Encode(%q)) = %q", s, got)
		}
		if got := Decode(narrow); got != s {
			t.Fatalf("Decode(EncodeCommands(%q)) = %q", s, got)
		}
		for i := 0; i < len(wide); i++ {
			c := wide[i]
			if c < 0x21 || c > 0x7e || c == '\\' || c == '\'' || c == '"' {
				t.Fatalf("Encode(%q) = %q has byte %#x at %d", s, wide, c, i)
			}
			if c == '%' && (i+2 >= len(wide) || !isUpperHex(wide[i+1]) || !isUpperHex(wide[i+2])) {
				t.Fatalf("Encode(%q) = %q has a bare %% at %d", s, wide, i)
			}
		}
		for i := 0; i < len(narrow); i++ {
			if c := narrow[i]; c < 0x21 || c > 0x7e {
				t.Fatalf("EncodeCommands(%q) = %q has byte %#x at %d", s, narrow, c, i)
			}
		}
	})
}

func isUpperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }

func FuzzParseCheckReply(f *testing.F) {
	f.Add("ok 1 \n")
	f.Add("ok 0 a\x00b\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := ParseCheckReply(raw)
		if err != nil {
			if !IsBadReply(err) {
				t.Fatalf("ParseCheckReply(%q): error %v is not a bad reply", raw, err)
			}
		} else {
			if r.Verdict < TempFail || r.Verdict > Discard {
				t.Fatalf("ParseCheckReply(%q) = verdict %d", raw, r.Verdict)
			}
			line := r.Line()
			again, err := ParseCheckReply(line)
			if err != nil || again != r {
				t.Fatalf("ParseCheckReply(%q) = %+v; its Line %q re-parses as %+v, %v", raw, r, line, again, err)
			}
			if again.Line() != line {
				t.Fatalf("Line not stable: %q then %q", line, again.Line())
			}
		}

		// A reply generated from the input's bytes must survive the trip.
		g := NewCheckReply(Verdict(len(raw)%7-3), raw, raw, raw, len(raw)-5)
		back, err := ParseCheckReply(g.Line())
		if err != nil || back != g {
			t.Fatalf("generated %+v: Line %q re-parses as %+v, %v", g, g.Line(), back, err)
		}

		// The same bytes as a reply to free.
		if n, err := ParseFreeReply(raw); err == nil {
			if m, err := ParseFreeReply(FreeReply(n)); err != nil || m != n {
				t.Fatalf("FreeReply(%d) re-parses as %d, %v", n, m, err)
			}
		} else if !IsBadReply(err) {
			t.Fatalf("ParseFreeReply(%q): error %v is not a bad reply", raw, err)
		}
	})
}

// representable reports whether Line keeps every field of a parsed request,
// so that ParseRequest(r.Line()) must give r back. Line loses information
// only where it substitutes a stand-in for an empty field, writes an empty
// word the worker's split swallows, or drops ESMTP arguments past the
// milter's 16382-byte limit.
func representable(r Request) bool {
	nonEmpty := func(ss ...string) bool {
		for _, s := range ss {
			if s == "" {
				return false
			}
		}
		return true
	}
	fits := func(fixed Request, args []string) bool {
		n := len(fixed.Line()) - 1
		for _, a := range args {
			n += 1 + len(Encode(a))
		}
		return n <= maxCheckLine
	}
	switch v := r.(type) {
	case RelayOK:
		return nonEmpty(v.IP, v.Name, v.ClientPort, v.MyIP, v.DaemonPort, v.QueueID)
	case HeloOK:
		return nonEmpty(v.IP, v.Name, v.Helo, v.ClientPort, v.MyIP, v.DaemonPort, v.QueueID)
	case SenderOK:
		fixed := v
		fixed.ESMTPArgs = nil
		return nonEmpty(v.Sender, v.IP, v.Name, v.Helo, v.Dir, v.QueueID) &&
			nonEmpty(v.ESMTPArgs...) && fits(fixed, v.ESMTPArgs)
	case RecipOK:
		fixed := v
		fixed.ESMTPArgs = nil
		return nonEmpty(v.Rcpt, v.Sender, v.IP, v.Name, v.FirstRcpt, v.Helo, v.Dir, v.QueueID,
			v.Mailer, v.Host, v.Addr) && nonEmpty(v.ESMTPArgs...) && fits(fixed, v.ESMTPArgs)
	case Scan:
		return v.QueueID != ""
	case Map:
		return v.Name != "" || v.Key == ""
	case Unknown:
		return nonEmpty(v.Args...) && (v.Cmd != "" || len(v.Args) > 0)
	}
	return true
}

func FuzzParseRequest(f *testing.F) {
	f.Add(" \t")
	f.Add("senderok a")
	f.Add("tick 007")
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseRequest(line)
		if err != nil {
			if err != ErrEmptyRequest || len(Fields(line)) != 0 {
				t.Fatalf("ParseRequest(%q): %v", line, err)
			}
			return
		}
		out := r.Line()
		if strings.IndexByte(out, '\n') != len(out)-1 {
			t.Fatalf("Line() of %#v = %q is not one line", r, out)
		}
		want := TypeOther
		switch r.(type) {
		case RelayOK:
			want = TypeRelayOK
		case SenderOK:
			want = TypeSenderOK
		case RecipOK:
			want = TypeRecipOK
		case Scan:
			want = TypeScan
		}
		if got := CommandType(out); got != want {
			t.Fatalf("CommandType(%q) = %v, want %v for %T", out, got, want, r)
		}
		again, err := ParseRequest(out)
		if err != nil {
			t.Fatalf("ParseRequest(%q) = %#v; its Line %q fails: %v", line, r, out, err)
		}
		if representable(r) && !reflect.DeepEqual(again, r) {
			t.Fatalf("ParseRequest(%q) = %#v; its Line %q re-parses as %#v", line, r, out, again)
		}
		// Whatever Line loses, it loses once: rendering and parsing
		// reaches a fixed point within a few rounds.
		cur := again
		for i := 0; ; i++ {
			next, err := ParseRequest(cur.Line())
			if err != nil {
				t.Fatalf("round %d: ParseRequest(%q): %v", i, cur.Line(), err)
			}
			if reflect.DeepEqual(next, cur) {
				break
			}
			if i == 16 {
				t.Fatalf("no fixed point for %q: %q", line, cur.Line())
			}
			cur = next
		}
	})
}

func FuzzParseMapReply(f *testing.F) {
	f.Add("OK a%20b\n")
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseMapReply(line)
		if err != nil {
			if !IsBadReply(err) || strings.TrimSuffix(line, "\n") != "" {
				t.Fatalf("ParseMapReply(%q): %v", line, err)
			}
			return
		}
		again, err := ParseMapReply(r.Line())
		if err != nil || again != r {
			t.Fatalf("ParseMapReply(%q) = %+v; its Line %q re-parses as %+v, %v", line, r, r.Line(), again, err)
		}
		// What the multiplexor sends to Sendmail (§10.1).
		if body := strings.TrimSuffix(line, "\n"); strings.Contains(body, " ") {
			if got, want := r.Code+" "+r.Value, Decode(body); got != want {
				t.Fatalf("ParseMapReply(%q): code+value %q, decoded line %q", line, got, want)
			}
		}
	})
}
