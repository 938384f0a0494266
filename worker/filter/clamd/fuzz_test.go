package clamd

import (
	"context"
	"strings"
	"testing"
)

// FuzzReplies feeds arbitrary daemon output to the reply parser and to the
// mapping of a scan's reply to a Result: they never panic, a Found names a
// virus, and garbage never passes mail: the ok outcome comes only from a
// reply whose every line ends in ": OK", and every other reply is a virus
// or a tempfail.
func FuzzReplies(f *testing.F) {
	for _, s := range []string{
		"stream: OK\x00",
		"stream: Eicar-Signature FOUND\x00",
		"/w/Work/part-1.bin: OK\n/w/Work: OK\n",
		"/root: File path check failure: Permission denied. ERROR\x00/root: OK\x00",
		"INSTREAM size limit exceeded. ERROR\x00",
		"UNKNOWN COMMAND\x00",
		"PONG\x00",
		"stream: \x00OK",
		": OK",
		"",
	} {
		f.Add([]byte(s))
	}
	s := New(Config{}).session(context.Background(), "sock", "daemon")
	f.Fuzz(func(t *testing.T, in []byte) {
		r := ParseReply(in)
		lines := replyLines(in)
		switch r.Status {
		case Clean:
			if len(lines) == 0 {
				t.Fatalf("%q: clean without a line", in)
			}
			for _, l := range lines {
				if !strings.HasSuffix(l, ": OK") {
					t.Fatalf("%q: clean with line %q", in, l)
				}
			}
		case Found:
			if r.Virus == "" {
				t.Fatalf("%q: found without a name", in)
			}
		case Error, Unknown:
		default:
			t.Fatalf("%q: status %d", in, r.Status)
		}
		res := s.result(exchange{reply: in})
		switch {
		case res.Category == OK && r.Status != Clean:
			t.Fatalf("%q (%v) passes as clean", in, r.Status)
		case res.Category == OK && (res.Code != 0 || res.Action != "ok"):
			t.Fatalf("%q: %#v", in, res)
		case res.Category == Virus && (res.Code != 1 || res.Action != "quarantine" || res.VirusName == ""):
			t.Fatalf("%q: %#v", in, res)
		case res.Category != OK && res.Category != Virus && (res.Code != 999 || res.Action != "tempfail"):
			t.Fatalf("%q: %#v", in, res)
		}
		IsPong(in)
	})
}
