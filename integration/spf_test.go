package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// spfZone covers every SPF result and the terms that reach them.
var spfZone = func() string {
	z := `$TTL 300
@ IN SOA ns.spf.test. hostmaster.spf.test. 1 3600 600 86400 300
@ IN NS ns.spf.test.
ns IN A 127.0.0.1
pass IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
fail IN TXT "v=spf1 -all"
softfail IN TXT "v=spf1 ~all"
neutral IN TXT "v=spf1 ?all"
default IN TXT "v=spf1 ip4:198.51.100.1"
none IN TXT "just text"
empty IN TXT "v=spf1"
permerror IN TXT "v=spf1 foo:bar -all"
twice IN TXT "v=spf1 -all"
twice IN TXT "v=spf1 +all"
include IN TXT "v=spf1 include:pass.spf.test -all"
includenone IN TXT "v=spf1 include:none.spf.test -all"
redirect IN TXT "v=spf1 redirect=pass.spf.test"
redirectnone IN TXT "v=spf1 redirect=nothing.spf.test"
mx IN TXT "v=spf1 mx -all"
mx IN MX 10 mail.mx.spf.test.
mail.mx IN A 203.0.113.5
a IN TXT "v=spf1 a:host.spf.test/24 -all"
host IN A 203.0.113.20
exists IN TXT "v=spf1 exists:%{i}.allow.spf.test -all"
192.0.2.7.allow IN A 127.0.0.2
ip6 IN TXT "v=spf1 ip6:2001:db8::/32 -all"
void IN TXT "v=spf1 a:v1.spf.test a:v2.spf.test a:v3.spf.test -all"
macro IN TXT "v=spf1 include:%{l}.users.spf.test -all"
alice.users IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
ptr IN TXT "v=spf1 ptr -all"
mail.ptr IN A 192.0.2.7
split IN TXT "v=spf1 ip4:192.0.2.0/24 " "-all"
helo IN TXT "v=spf1 a -all"
helo IN A 192.0.2.7
limit IN TXT "v=spf1 include:l1.spf.test -all"
`
	for i := 1; i <= 21; i++ {
		z += fmt.Sprintf("l%d IN TXT \"v=spf1 include:l%d.spf.test -all\"\n", i, i+1)
	}
	return z + "l22 IN TXT \"v=spf1 +all\"\n"
}()

const spfReverseZone = `$TTL 300
@ IN SOA ns.spf.test. hostmaster.spf.test. 1 3600 600 86400 300
@ IN NS ns.spf.test.
7 IN PTR mail.ptr.spf.test.
`

// spfCases are (sender, relay IP) pairs, each checked with HELO
// helo.spf.test too.
var spfCases = [][2]string{
	{"a@pass.spf.test", "192.0.2.7"}, {"a@pass.spf.test", "198.51.100.9"},
	{"a+tag@pass.spf.test", "192.0.2.7"}, {"pass.spf.test", "192.0.2.7"},
	{"a@fail.spf.test", "192.0.2.7"}, {"a@softfail.spf.test", "192.0.2.7"},
	{"a@neutral.spf.test", "192.0.2.7"}, {"a@default.spf.test", "192.0.2.7"},
	{"a@none.spf.test", "192.0.2.7"}, {"a@nothing.spf.test", "192.0.2.7"},
	{"a@empty.spf.test", "192.0.2.7"}, {"a@permerror.spf.test", "192.0.2.7"},
	{"a@twice.spf.test", "192.0.2.7"}, {"a@include.spf.test", "192.0.2.7"},
	{"a@includenone.spf.test", "192.0.2.7"}, {"a@redirect.spf.test", "192.0.2.7"},
	{"a@redirectnone.spf.test", "192.0.2.7"}, {"a@mx.spf.test", "203.0.113.5"},
	{"a@mx.spf.test", "203.0.113.6"}, {"a@a.spf.test", "203.0.113.30"},
	{"a@a.spf.test", "203.0.114.30"}, {"a@exists.spf.test", "192.0.2.7"},
	{"a@exists.spf.test", "192.0.2.8"}, {"a@ip6.spf.test", "2001:db8::5"},
	{"a@ip6.spf.test", "2001:db9::5"}, {"a@void.spf.test", "192.0.2.7"},
	{"alice@macro.spf.test", "192.0.2.7"}, {"bob@macro.spf.test", "192.0.2.7"},
	{"a@ptr.spf.test", "192.0.2.7"}, {"a@ptr.spf.test", "192.0.2.9"},
	{"a@split.spf.test", "192.0.2.7"}, {"a@limit.spf.test", "192.0.2.7"},
}

// TestSPFAgainstMailSPF: md_spf_verify through md-worker test against a real
// NSD, compared case by case with Perl's Mail::SPF (the library
// MIMEDefang's md_spf_verify uses) asking the same server with the same
// lookup limit, for the MAIL FROM and the HELO identity; then, with the
// server hung, a temporary error within the timeout, never a pass.
func TestSPFAgainstMailSPF(t *testing.T) {
	harness.RequireProgram(t, "/usr/bin/perl", "perl")
	requirePerlModules(t, "libmail-spf-perl", "Mail::SPF")
	dir := harness.NewTestDir(t)
	ns := harness.StartNSD(t, harness.NSDOptions{Dir: dir, Zones: map[string]string{"spf.test.": spfZone, "2.0.192.in-addr.arpa.": spfReverseZone}})
	t.Setenv("MD_DNS_SERVERS", ns.Addr)

	// Mail::SPF's codes.
	var in strings.Builder
	const helo = "helo.spf.test"
	for _, c := range spfCases {
		sender := c[0]
		if at := strings.LastIndexByte(sender, '@'); at >= 0 {
			if plus := strings.LastIndexByte(sender[:at], '+'); plus >= 0 {
				sender = sender[:plus] + sender[at:] // md_spf_verify drops a +tag
			}
		}
		fmt.Fprintf(&in, "mfrom %s %s\nhelo %s %s\n", sender, c[1], helo, c[1])
	}
	cmd := exec.Command("perl", harness.Testdata(t, "spfcheck.pl"), strconv.Itoa(ns.Port))
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("spfcheck.pl: %v\n%s", err, out)
	}
	perl := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(perl) != 2*len(spfCases) {
		t.Fatalf("spfcheck.pl answered %d lines for %d checks:\n%s", len(perl), 2*len(spfCases), out)
	}

	// md-worker's, from one md-worker test run.
	var src strings.Builder
	src.WriteString("local cases = {\n")
	for _, c := range spfCases {
		fmt.Fprintf(&src, "  {%q, %q},\n", c[0], c[1])
	}
	src.WriteString(`}
function filter_begin(e)
  for i, c in ipairs(cases) do
    local code, expl, helo_code = md_spf_verify(c[1], c[2], "` + helo + `")
    local t = md_spf_verify(c[1], c[2], "` + helo + `", true)
    action_add_header("X-SPF-" .. i, code .. " " .. t.dns_lookups .. " " .. tostring(helo_code) .. " " .. t.helo_dns_lookups)
  end
end
`)
	filter := filepath.Join(dir, "spf.lua")
	if err := os.WriteFile(filter, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	msg := &harness.Message{From: "tester@" + harness.Domain, To: "alice@" + harness.Domain, Subject: "spf", Body: "hello\n"}
	r := runMDWorkerTest(t, dir, filter, msg)
	codes := map[string]int{}
	for i, c := range spfCases {
		want := perl[2*i] + " " + perl[2*i+1]
		codes[strings.Fields(perl[2*i])[0]]++
		if line := fmt.Sprintf("X-SPF-%d: %s\n", i+1, want); !strings.Contains(r.out, line) {
			t.Errorf("%s from %s: md-worker does not agree with Mail::SPF (mfrom code and DNS terms, helo code and DNS terms) = %s", c[0], c[1], want)
		}
	}
	t.Logf("Mail::SPF's results over %d senders: %v", len(spfCases), codes)
	for _, code := range []string{"pass", "fail", "softfail", "neutral", "none", "permerror"} {
		if codes[code] == 0 {
			t.Errorf("no case gives %s: the zone no longer covers it", code)
		}
	}
	if t.Failed() {
		t.Logf("md-worker test:\n%s", r.out)
	}

	// A hung server: temperror within the timeout, never a pass.
	ns.Hang(t)
	defer ns.Resume(t)
	hung := filepath.Join(dir, "hung.lua")
	if err := os.WriteFile(hung, []byte(`function filter_begin(e)
  local code = md_spf_verify("a@pass.spf.test", "192.0.2.7")
  action_add_header("X-SPF-Hung", code)
end
`), 0o644); err != nil {
		t.Fatal(err)
	}
	r = runMDWorkerTest(t, dir, hung, msg)
	if !strings.Contains(r.out, "X-SPF-Hung: temperror\n") {
		t.Errorf("hung server: no temperror:\n%s", r.out)
	}
	if limit := harness.Scale(20 * time.Second); r.elapsed > limit {
		t.Errorf("hung server: md-worker test took %v, more than %v", r.elapsed, limit)
	}
}
