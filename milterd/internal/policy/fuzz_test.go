package policy

import (
	"strings"
	"testing"
)

// FuzzSetReply checks the reply policy on any filter text: it never panics
// and always yields a valid code and DSN of the class and 1 to 31 lines
// without control bytes.
//
//	go test -run='^$' -fuzz='^FuzzSetReply$' -fuzztime=30s ./internal/policy
func FuzzSetReply(f *testing.F) {
	f.Add(byte('5'), "554", "5.7.1", "Message rejected by lab policy: forbidden subject marker")
	f.Add(byte('4'), "4\x0099", "4.1234.1", "a\n\nb\n\r\x00c")
	f.Fuzz(func(t *testing.T, class byte, code, dsn, text string) {
		if class != '4' {
			class = '5'
		}
		c, d, lines := SetReply(class, code, dsn, text)
		if !validCode(c, class) || !validDSN(d, class) {
			t.Fatalf("code %q dsn %q for class %c", c, d, class)
		}
		if len(lines) == 0 || len(lines) > MaxReplyLines {
			t.Fatalf("%d lines", len(lines))
		}
		for _, l := range lines {
			if strings.IndexFunc(l, func(r rune) bool { return r < ' ' || r >= 0x7f }) >= 0 {
				t.Fatalf("control or 8-bit byte in %q", l)
			}
		}
	})
}
