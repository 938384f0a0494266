package spf

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/worker/filter/dnscheck"
	"github.com/mdgo/md/worker/filter/dnscheck/dnstest"
)

// TestVerify: every result code against a stand-in name server, the
// original's argument handling, and the list it returns.
func TestVerify(t *testing.T) {
	zs := dnstest.Start(t,
		`pass.test. TXT "v=spf1 ip4:192.0.2.0/24 -all"`,
		`fail.test. TXT "v=spf1 -all"`,
		`softfail.test. TXT "v=spf1 ~all"`,
		`neutral.test. TXT "v=spf1 ?all"`,
		`default.test. TXT "v=spf1 ip4:198.51.100.1"`,
		`none.test. TXT "just text"`,
		`permerror.test. TXT "v=spf1 foo:bar -all"`,
		`twice.test. TXT "v=spf1 -all"`,
		`twice.test. TXT "v=spf1 +all"`,
		`include.test. TXT "v=spf1 include:pass.test -all"`,
		`mx.test. TXT "v=spf1 mx -all"`,
		`mx.test. MX 10 mail.mx.test.`,
		`mail.mx.test. A 203.0.113.5`,
		`temp.test. TXT "v=spf1 include:servfail.test -all"`,
		`hung.test. TXT "v=spf1 include:x.hang.test -all"`,
		`helo.example.test. TXT "v=spf1 a -all"`,
		`helo.example.test. A 192.0.2.7`,
	)
	r := dnscheck.New(dnscheck.Config{Servers: []string{zs.Addr}, Timeout: 300 * time.Millisecond})
	cfg := Config{Lookup: r.Net(), TXT: func(d string) (string, bool) {
		return r.MdDNSTxt(context.Background(), d, regexp.MustCompile(`(?i)^v=spf1\b`))
	}}
	for _, c := range []struct {
		email, ip, want string
	}{
		{"a@pass.test", "192.0.2.7", "pass"},
		{"<a+tag@pass.test>", "192.0.2.7", "pass"},
		{"a@pass.test", "198.51.100.9", "fail"},
		{"a@fail.test", "192.0.2.7", "fail"},
		{"a@softfail.test", "192.0.2.7", "softfail"},
		{"a@neutral.test", "192.0.2.7", "neutral"},
		{"a@default.test", "192.0.2.7", "neutral"},
		{"a@none.test", "192.0.2.7", "none"},
		{"a@nxdomain.test", "192.0.2.7", "none"},
		{"a@permerror.test", "192.0.2.7", "permerror"},
		{"a@twice.test", "192.0.2.7", "permerror"},
		{"a@include.test", "192.0.2.7", "pass"},
		{"a@mx.test", "203.0.113.5", "pass"},
		{"a@mx.test", "203.0.113.6", "fail"},
		{"a@temp.test", "192.0.2.7", "temperror"},
		{"a@hung.test", "192.0.2.7", "temperror"},
		{"pass.test", "192.0.2.7", "pass"}, // no '@': postmaster@pass.test
	} {
		res := Verify(context.Background(), cfg, c.email, c.ip, "")
		if res.Code != c.want {
			t.Errorf("md_spf_verify(%s, %s) = %s (%s), want %s", c.email, c.ip, res.Code, res.Explanation, c.want)
		}
	}
	for email, want := range map[string]int{"a@pass.test": 0, "a@include.test": 1, "a@mx.test": 1, "a@fail.test": 0} {
		ip := "192.0.2.7"
		if email == "a@mx.test" {
			ip = "203.0.113.5"
		}
		if got := Verify(context.Background(), cfg, email, ip, "").DNSLookups; got != want {
			t.Errorf("%s: %d DNS-interactive terms, want %d", email, got, want)
		}
	}
	res := Verify(context.Background(), cfg, "a@pass.test", "192.0.2.7", "helo.example.test")
	want := []any{"pass", res.Explanation, "pass", res.HeloExplanation, "v=spf1 ip4:192.0.2.0/24 -all", "v=spf1 a -all"}
	if got := res.Values(); !slices.Equal(got, want) {
		t.Errorf("with helo: %q, want %q", got, want)
	}
	if !strings.HasPrefix(res.Explanation, "pass.test: Sender 192.0.2.7 is authorized to use 'a@pass.test' in 'mfrom' identity") {
		t.Errorf("explanation %q", res.Explanation)
	}
	res = Verify(context.Background(), cfg, "a@none.test", "192.0.2.7", "")
	if got := res.Values(); len(got) != 5 || got[0] != "none" || got[2] != nil || got[3] != nil || got[4] != nil {
		t.Errorf("without helo, without record: %q", got)
	}
	if got := Verify(context.Background(), cfg, "<>", "192.0.2.7", "").Values(); !slices.Equal(got, []any{"invalid", "Invalid mail from parameter"}) {
		t.Errorf("empty sender: %q", got)
	}
}
