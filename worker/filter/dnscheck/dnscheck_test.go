package dnscheck

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/worker/filter/dnscheck/dnstest"
	"github.com/miekg/dns"
)

func startZoneServer(t *testing.T, records ...string) *dnstest.Server {
	return dnstest.Start(t, records...)
}

func resolverFor(zs *dnstest.Server) *Resolver {
	return New(Config{Servers: []string{zs.Addr}, Timeout: 300 * time.Millisecond})
}

func TestBlocklists(t *testing.T) {
	sum := md5.Sum([]byte("spammer@example.org"))
	zs := startZoneServer(t,
		"2.0.0.127.dnsbl.test. A 127.0.0.2",
		"2.0.0.127.dnsbl.test. A 127.0.0.4",
		"2.0.0.127.other.test. A 127.0.0.3",
		"3.0.0.127.dnsbl.test. TXT \"no address\"",
		hex.EncodeToString(sum[:])+".hashbl.test. A 127.0.1.2",
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.dnsbl.test. A 127.0.0.6",
	)
	r := resolverFor(zs)
	ctx := context.Background()
	for _, c := range []struct {
		addr, domain string
		want         []any
	}{
		{"127.0.0.2", "dnsbl.test", []any{"127.0.0.2"}},
		{"127.0.0.9", "dnsbl.test", []any{0}},
		{"127.0.0.3", "dnsbl.test", []any{0}}, // an answer without an address
		{"127.0.0.2", "servfail.test", []any{0}},
		{"2001:db8::1", "dnsbl.test", []any{"127.0.0.6"}},
	} {
		if got := r.RelayIsBlacklisted(ctx, c.addr, c.domain).Values(); !slices.Equal(got, c.want) {
			t.Errorf("relay_is_blacklisted(%s, %s) = %v, want %v", c.addr, c.domain, got, c.want)
		}
	}
	if got := r.EmailIsBlacklisted(ctx, "spammer@example.org", "hashbl.test", "md5").Values(); !slices.Equal(got, []any{"127.0.1.2"}) {
		t.Errorf("email_is_blacklisted md5 = %v", got)
	}
	if got := r.EmailIsBlacklisted(ctx, "spammer@example.org", "hashbl.test", "SHA1").Values(); !slices.Equal(got, []any{0}) {
		t.Errorf("email_is_blacklisted sha1 = %v", got)
	}
	var logged []string
	r.cfg.Log = func(p, m string) { logged = append(logged, p+": "+m) }
	if got := r.EmailIsBlacklisted(ctx, "x@y", "hashbl.test", "SHA256").Values(); !slices.Equal(got, []any{0}) || len(logged) != 1 {
		t.Errorf("email_is_blacklisted sha256 = %v, logged %q", got, logged)
	}

	// The cache: the same question is asked once.
	before := zs.Queries()
	r.RelayIsBlacklisted(ctx, "127.0.0.2", "dnsbl.test")
	if zs.Queries() != before {
		t.Error("a cached question was asked again")
	}
}

func TestBlocklistsMulti(t *testing.T) {
	zs := startZoneServer(t,
		"2.0.0.127.dnsbl.test. A 127.0.0.2",
		"2.0.0.127.dnsbl.test. A 127.0.0.4",
		"2.0.0.127.other.test. A 127.0.0.3",
	)
	r := New(Config{Servers: []string{zs.Addr}, Timeout: 5 * time.Second})
	domains := []string{"dnsbl.test", "none.test", "servfail.test", "hang.test", "other.test"}
	start := time.Now()
	m := r.RelayIsBlacklistedMulti(context.Background(), "127.0.0.2", time.Second, 0, domains)
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("took %v with a 1 s timeout", took)
	}
	want := map[string]MultiOutcome{
		"dnsbl.test":    {Addrs: []string{"127.0.0.2", "127.0.0.4"}},
		"none.test":     {Code: "NXDOMAIN"},
		"servfail.test": {Code: "SERVFAIL"},
		"hang.test":     {Code: "SERVFAIL"},
		"other.test":    {Addrs: []string{"127.0.0.3"}},
	}
	for d, w := range want {
		if g := m.Outcome[d]; g.Code != w.Code || !slices.Equal(g.Addrs, w.Addrs) {
			t.Errorf("%s: %+v, want %+v", d, g, w)
		}
	}
	if m.Count() != 2 || !slices.Equal(m.List(), []string{"dnsbl.test", "other.test"}) {
		t.Errorf("count %d, list %v", m.Count(), m.List())
	}
	// Enough answers: it does not wait for the hung list.
	r2 := New(Config{Servers: []string{zs.Addr}, Timeout: 5 * time.Second})
	start = time.Now()
	m = r2.RelayIsBlacklistedMulti(context.Background(), "127.0.0.2", 10*time.Second, 1, []string{"hang.test", "dnsbl.test"})
	if took := time.Since(start); took > 4*time.Second || m.Count() != 1 {
		t.Errorf("answers_wanted 1: took %v, count %d", took, m.Count())
	}
}

func TestMXAndPTR(t *testing.T) {
	zs := startZoneServer(t,
		"example.test. MX 10 mx1.example.test.",
		"example.test. MX 20 mx2.example.test.",
		"mx1.example.test. A 192.0.2.10",
		"mx2.example.test. A 10.0.0.5",
		"nullmx.test. MX 0 .",
		"literal.test. MX 10 198.51.100.7.",
		"nomx.test. A 203.0.113.9",
		"10.2.0.192.in-addr.arpa. PTR mx1.example.test.",
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. PTR v6.example.test.",
	)
	r := resolverFor(zs)
	ctx := context.Background()
	for _, c := range []struct {
		domain string
		want   []string
	}{
		{"example.test", []string{"192.0.2.10", "10.0.0.5"}},
		{"nullmx.test", []string{"0.0.0.0"}},
		{"literal.test", []string{"198.51.100.7"}},
		{"nomx.test", []string{"203.0.113.9"}},
		{"nothing.test", nil},
	} {
		if got := r.GetMXIPAddresses(ctx, c.domain); !slices.Equal(got, c.want) {
			t.Errorf("get_mx_ip_addresses(%s) = %v, want %v", c.domain, got, c.want)
		}
	}
	if got := r.MdGetBogusMXHosts(ctx, "example.test"); !slices.Equal(got, []string{"10.0.0.5"}) {
		t.Errorf("md_get_bogus_mx_hosts = %v", got)
	}
	if got, ok := r.GetPTRRecord(ctx, "192.0.2.10"); got != "mx1.example.test" || !ok {
		t.Errorf("get_ptr_record v4 = %q %v", got, ok)
	}
	if got, ok := r.GetPTRRecord(ctx, "2001:db8::1"); got != "v6.example.test" || !ok {
		t.Errorf("get_ptr_record v6 = %q %v", got, ok)
	}
	if got, ok := r.GetPTRRecord(ctx, "192.0.2.99"); ok {
		t.Errorf("get_ptr_record without a record = %q", got)
	}
}

func TestTXTAndDMARC(t *testing.T) {
	zs := startZoneServer(t,
		`_dmarc.example.test. TXT "v=DMARC1; p=reject"`,
		`_dmarc.alias.test. CNAME _dmarc.example.test.`,
		`multi.test. TXT "unrelated"`,
		`multi.test. TXT "v=spf1 " "-all"`,
	)
	r := resolverFor(zs)
	ctx := context.Background()
	for _, c := range []struct {
		domain, want string
		ok           bool
	}{
		{"example.test", "v=DMARC1; p=reject", true},
		{"a.b.example.test", "v=DMARC1; p=reject", true}, // walks up
		{"alias.test", "v=DMARC1; p=reject", true},       // through the CNAME
		{"nothing.test", "", false},
	} {
		if got, ok := r.MdGetDMARCRecord(ctx, c.domain); got != c.want || ok != c.ok {
			t.Errorf("md_get_dmarc_record(%s) = %q %v, want %q %v", c.domain, got, ok, c.want, c.ok)
		}
	}
	if got, ok := r.MdDNSTxt(ctx, "multi.test", regexp.MustCompile(`^v=spf1\b`)); got != "v=spf1 -all" || !ok {
		t.Errorf("md_dns_txt with a filter = %q %v", got, ok)
	}
	if got, ok := r.MdDNSTxt(ctx, "multi.test", nil); got != "unrelated" || !ok {
		t.Errorf("md_dns_txt = %q %v", got, ok)
	}
}

func TestNoServer(t *testing.T) {
	t.Setenv(EnvServers, "")
	old := ResolvConf
	ResolvConf = "/nonexistent/resolv.conf"
	defer func() { ResolvConf = old }()
	r := New(Config{})
	if _, err := r.Query(context.Background(), "x.test", dns.TypeA); err == nil || !strings.Contains(err.Error(), "no name server") {
		t.Errorf("no server: %v", err)
	}
	t.Setenv(EnvServers, "127.0.0.1:5353, [::1]")
	if got := New(Config{}).Servers(); !slices.Equal(got, []string{"127.0.0.1:5353", "[::1]:53"}) {
		t.Errorf("$%s servers %v", EnvServers, got)
	}
}

// TestAddressHelpers: the pure helpers, with the original's answers
// (including its quirks: class E only up to 247, nothing checked in
// is_public_ip6_address beyond two prefixes).
func TestAddressHelpers(t *testing.T) {
	for in, want := range map[string]string{
		"::":              "0000:0000:0000:0000:0000:0000:0000:0000",
		"2001:db8::1":     "2001:0db8:0000:0000:0000:0000:0000:0001",
		"::1":             "0000:0000:0000:0000:0000:0000:0000:0001",
		"fe80::":          "fe80:0000:0000:0000:0000:0000:0000:0000",
		"1::2::3":         "1::2::3",
		"1:2:3:4:5:6:7:8": "0001:0002:0003:0004:0005:0006:0007:0008",
	} {
		if got := ExpandIPv6Address(in); got != want {
			t.Errorf("expand_ipv6_address(%s) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"192.0.2.1":   "1.2.0.192",
		"2001:db8::1": "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2",
	} {
		if got := ReverseIPAddressForRBL(in); got != want {
			t.Errorf("reverse_ip_address_for_rbl(%s) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]bool{
		"8.8.8.8": true, "10.1.2.3": false, "172.16.0.1": false, "172.32.0.1": true, "192.168.1.1": false,
		"127.0.0.1": false, "169.254.1.1": false, "224.0.0.1": false, "240.0.0.1": false, "248.0.0.1": true,
		"0.0.0.0": false, "255.255.255.255": false, "1.2.3": false, "1.2.3.256": false, "a.b.c.d": false, "0.1.2.3": true,
	} {
		if got := IsPublicIP4Address(in); got != want {
			t.Errorf("is_public_ip4_address(%s) = %v, want %v", in, got, want)
		}
	}
	for in, want := range map[string]bool{"2001:db8::1": true, "fd00::1": false, "FE80::1": false, "::1": true} {
		if got := IsPublicIP6Address(in); got != want {
			t.Errorf("is_public_ip6_address(%s) = %v, want %v", in, got, want)
		}
	}
}
