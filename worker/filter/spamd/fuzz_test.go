package spamd

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParseReply: ParseReply never panics, and garbage never passes for a
// verdict: a reply it accepts begins with a SPAMD status line, and says
// spam only with a Spam header whose word is True or Yes and whose
// numbers are finite.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		"SPAMD/1.1 0 EX_OK\r\nContent-length: 7\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nreport\n",
		"SPAMD/1.1 0 EX_OK\nSpam: False ; -0.1 / 5.0\n\n",
		"SPAMD/1.5 0 PONG\r\n",
		"SPAMD/1.0 76 Bad header line\r\n",
		"HTTP/1.1 200 OK\r\n\r\n",
		"",
		"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1e999 / 5\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseReply(b)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(b, []byte("SPAMD/")) {
			t.Fatalf("accepted %q", b)
		}
		if r.IsSpam() && !(strings.EqualFold(r.Spam, "true") || strings.EqualFold(r.Spam, "yes")) {
			t.Fatalf("spam from %q", r.Spam)
		}
		if r.HasSpam && (r.Score != r.Score || r.Threshold != r.Threshold) {
			t.Fatalf("NaN from %q", b)
		}
		if r.ContentLength >= 0 && len(r.Body) != r.ContentLength {
			t.Fatalf("body %d, Content-length %d", len(r.Body), r.ContentLength)
		}
	})
}
