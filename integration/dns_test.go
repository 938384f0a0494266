package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// dnsZones are the zones of the DNS checks' tests: a blocklist with listed
// and unlisted addresses (IPv4 and IPv6), a hash blocklist, a domain with
// MX hosts (one on a private address), PTR records and DMARC.
var dnsZones = map[string]string{
	"dnsbl.test.": `$TTL 300
@ IN SOA ns.dnsbl.test. hostmaster.dnsbl.test. 1 3600 600 86400 300
@ IN NS ns.dnsbl.test.
ns IN A 127.0.0.1
2.0.0.127 IN A 127.0.0.2
2.0.0.127 IN TXT "listed for testing"
10.113.0.203 IN A 127.0.0.4
10.113.0.203 IN A 127.0.0.10
1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2 IN A 127.0.0.6
; md5("spammer@example.test")
5866eefaeb00f4b394c5ebde989a0411 IN A 127.0.1.2
`,
	"other.test.": `$TTL 300
@ IN SOA ns.other.test. hostmaster.other.test. 1 3600 600 86400 300
@ IN NS ns.other.test.
ns IN A 127.0.0.1
2.0.0.127 IN A 127.0.0.3
`,
	"example.test.": `$TTL 300
@ IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300
@ IN NS ns.example.test.
@ IN MX 10 mx1.example.test.
@ IN MX 20 mx2.example.test.
@ IN TXT "unrelated"
@ IN TXT "v=spf1 ip4:192.0.2.0/24 " "-all"
ns IN A 127.0.0.1
mx1 IN A 192.0.2.10
mx2 IN A 10.0.0.5
_dmarc IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.test"
nomx IN A 203.0.113.9
`,
	"2.0.192.in-addr.arpa.": `$TTL 300
@ IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300
@ IN NS ns.example.test.
10 IN PTR mx1.example.test.
`,
}

// dnsFilter is a Lua filter that asks every DNS function and writes each
// answer into a header, X-DNS-<name>.
const dnsFilter = `
local function H(name, v) action_add_header("X-DNS-" .. name, tostring(v)) end
function filter_begin(e)
  H("Listed", relay_is_blacklisted("127.0.0.2", "dnsbl.test"))
  H("Unlisted", relay_is_blacklisted("127.0.0.9", "dnsbl.test"))
  H("Listed6", relay_is_blacklisted("2001:db8::1", "dnsbl.test"))
  H("Email", email_is_blacklisted("spammer@example.test", "dnsbl.test", "MD5"))
  local m = relay_is_blacklisted_multi("203.0.113.10", 5, 0, {"dnsbl.test", "other.test", "unserved.test"})
  H("Multi", table.concat(m["dnsbl.test"], ",") .. " " .. m["other.test"] .. " " .. m["unserved.test"])
  H("Count", relay_is_blacklisted_multi_count("127.0.0.2", 5, 0, {"dnsbl.test", "other.test", "unserved.test"}))
  H("List", table.concat(relay_is_blacklisted_multi_list("127.0.0.2", 5, 0, {"dnsbl.test", "other.test"}), ","))
  H("MX", table.concat(get_mx_ip_addresses("example.test"), ","))
  H("NoMX", table.concat(get_mx_ip_addresses("nomx.example.test"), ","))
  H("Bogus", table.concat(md_get_bogus_mx_hosts("example.test"), ","))
  H("PTR", get_ptr_record("192.0.2.10"))
  H("DMARC", md_get_dmarc_record("mail.example.test"))
  H("SPF", md_dns_txt(nil, "example.test", "^v=spf1"))
end
`

// TestDNSChecks: every DNS function through md-worker test against a real
// authoritative server (NSD) named by $MD_DNS_SERVERS; then, with the
// server hung, the blocklist answers "not listed" (0) and the _multi form
// "SERVFAIL" within its timeout instead of holding the worker.
func TestDNSChecks(t *testing.T) {
	dir := harness.NewTestDir(t)
	ns := harness.StartNSD(t, harness.NSDOptions{Dir: dir, Zones: dnsZones})
	t.Setenv("MD_DNS_SERVERS", ns.Addr)
	filter := filepath.Join(dir, "dns.lua")
	if err := os.WriteFile(filter, []byte(dnsFilter), 0o644); err != nil {
		t.Fatal(err)
	}
	msg := &harness.Message{From: "tester@" + harness.Domain, To: "alice@" + harness.Domain, Subject: "dns checks", Body: "hello\n"}
	r := runMDWorkerTest(t, dir, filter, msg)
	for name, want := range map[string]string{
		"Listed":   "127.0.0.2",
		"Unlisted": "0",
		"Listed6":  "127.0.0.6",
		"Email":    "127.0.1.2",
		"Multi":    "127.0.0.4,127.0.0.10 NXDOMAIN SERVFAIL", // REFUSED by NSD: no address, SERVFAIL as the original reads it
		"Count":    "2",
		"List":     "dnsbl.test,other.test",
		"MX":       "192.0.2.10,10.0.0.5",
		"NoMX":     "203.0.113.9",
		"Bogus":    "10.0.0.5",
		"PTR":      "mx1.example.test",
		"DMARC":    "v=DMARC1; p=reject; rua=mailto:dmarc@example.test",
		"SPF":      "v=spf1 ip4:192.0.2.0/24 -all",
	} {
		if line := "X-DNS-" + name + ": " + want; !strings.Contains(r.out, line+"\n") {
			t.Errorf("md-worker test does not print %q:\n%s", line, r.out)
		}
	}
	for _, want := range []string{"call:      dnsbl (127.0.0.2 in dnsbl.test): listed 127.0.0.2", "call:      dnsbl (127.0.0.9 in dnsbl.test): not listed"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("md-worker test does not show %q:\n%s", want, r.out)
		}
	}

	ns.Hang(t)
	defer ns.Resume(t)
	hung := filepath.Join(dir, "hung.lua")
	src := `function filter_begin(e)
  action_add_header("X-DNS-Hung", tostring(relay_is_blacklisted("127.0.0.2", "dnsbl.test")))
  local m = relay_is_blacklisted_multi("127.0.0.2", 2, 0, {"dnsbl.test", "other.test"})
  action_add_header("X-DNS-Hung-Multi", m["dnsbl.test"] .. " " .. m["other.test"])
end
`
	if err := os.WriteFile(hung, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r = runMDWorkerTest(t, dir, hung, msg)
	for _, want := range []string{"X-DNS-Hung: 0\n", "X-DNS-Hung-Multi: SERVFAIL SERVFAIL\n"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("hung server: md-worker test does not print %q:\n%s", want, r.out)
		}
	}
	// One query's timeout (5 s) and the multi's 2 s, with room for a
	// loaded machine: never the request's 100 s.
	if limit := harness.Scale(20 * time.Second); r.elapsed > limit {
		t.Errorf("hung server: md-worker test took %v, more than %v", r.elapsed, limit)
	}
}

// TestDNSStackMetrics: the whole stack, Postfix → md-milterd →
// md-multiplexor → md-worker, with a filter that bounces a client listed
// on a DNSBL served by a real NSD: the message is refused with the filter's
// reply, and md-multiplexor's /metrics counts the blocklist call and the
// DNS query by type and outcome.
func TestDNSStackMetrics(t *testing.T) {
	dir := harness.NewTestDir(t)
	ns := harness.StartNSD(t, harness.NSDOptions{Dir: dir, Zones: map[string]string{"dnsbl.test.": zoneHead("dnsbl.test") + "1.0.0.127 IN A 127.0.0.2\n"}})
	t.Setenv("MD_DNS_SERVERS", ns.Addr)
	filter := filepath.Join(dir, "dnsbl.lua")
	if err := os.WriteFile(filter, []byte(`function filter_begin(e)
  local listed = relay_is_blacklisted(RelayAddr, "dnsbl.test")
  if listed ~= 0 then
    action_bounce("Your address is listed (" .. listed .. ")")
  end
end
`), 0o644); err != nil {
		t.Fatal(err)
	}
	stack, metrics := startStackWithMetrics(t, filter)
	msg := &harness.Message{From: "tester@" + harness.Domain, To: "alice@" + harness.Domain, Subject: "from a listed client", Body: "hello\n"}
	res := stack.Send(t, msg)
	if res.Stage != harness.StageMessage || res.Reply.Code != 554 || !strings.Contains(res.Reply.String(), "Your address is listed (127.0.0.2)") {
		t.Errorf("listed client: %s reply %q, want 554 ... Your address is listed (127.0.0.2)", res.Stage, res.Reply)
	}
	expectIntegrationCalls(t, metrics, "dnsbl", map[string]float64{"hit": 1})
	const series = `mimedefang_multiplexor_dns_queries_total{outcome="NOERROR",type="A"}`
	var m harness.Metrics
	if err := harness.Await(20*time.Second, func() bool { m = harness.ScrapeMetrics(t, metrics); return m[series] == 1 }); err != nil {
		t.Errorf("%v: %s is %v, want 1", err, series, m[series])
	}
	if n := m[`mimedefang_multiplexor_dns_query_duration_seconds_count{type="A"}`]; n != 1 {
		t.Errorf("dns_query_duration_seconds_count{type=\"A\"} = %v, want 1", n)
	}
}
