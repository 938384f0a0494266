package smtpcheck

import (
	"bufio"
	"regexp"
	"strings"
	"testing"
)

// FuzzReplies feeds arbitrary server output to both reply readers: they
// never panic, ReadReply always gives a verdict with a three-digit code,
// and a Continue comes only from a 1xx-3xx code (so garbage never passes a
// recipient).
func FuzzReplies(f *testing.F) {
	for _, s := range []string{
		"250 2.1.5 Ok\r\n",
		"550-5.1.1 first\r\n550 5.1.1 <bad@example.com>: User unknown\r\n",
		"250-mx.example Hello\r\n250-SIZE 1000\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n",
		"421 4.3.2 Service not available\r\n",
		"garbage\r\n354\r\n",
		"650 weird",
		"",
	} {
		f.Add(s)
	}
	code := regexp.MustCompile(`^\d\d\d$`)
	f.Fuzz(func(t *testing.T, in string) {
		r := New(Config{}).ReadReply(bufio.NewReader(strings.NewReader(in)), "<r>", "srv")
		switch {
		case r.Verdict != Continue && r.Verdict != TempFail && r.Verdict != Reject:
			t.Fatalf("verdict %q", r.Verdict)
		case !code.MatchString(r.Code):
			t.Fatalf("code %q", r.Code)
		case r.Verdict == Continue && !strings.ContainsRune("123", rune(r.Code[0])):
			t.Fatalf("%q continues on code %s", in, r.Code)
		}
		res, exts := ReadExtensions(bufio.NewReader(strings.NewReader(in)), "srv")
		if res.Verdict == Continue && !strings.HasPrefix(res.Code, "2") || exts == nil {
			t.Fatalf("%q: extensions %#v %v", in, res, exts)
		}
	})
}
