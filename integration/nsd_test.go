package integration

import (
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mdgo/md/integration/internal/harness"
)

// The DNS server of the DNS checks' tests: harness.StartNSD runs Debian's
// nsd with the zones a test writes. TestNSDHarness checks the harness
// itself: the records come back over UDP and TCP, a missing name is an
// authoritative NXDOMAIN, a zone nsd does not serve is REFUSED, and Hang
// and Resume stop and restart the answers.

const nsdDNSBLZone = `$TTL 300
@          IN SOA ns.dnsbl.test. hostmaster.dnsbl.test. 1 3600 600 86400 300
@          IN NS  ns.dnsbl.test.
ns         IN A   127.0.0.1
2.0.0.127  IN A   127.0.0.2
2.0.0.127  IN TXT "127.0.0.2 is listed: test entry"
`

const nsdExampleZone = `$TTL 300
@          IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300
@          IN NS  ns.example.test.
ns         IN A   127.0.0.1
@          IN MX  10 mx.example.test.
mx         IN A   127.0.0.1
@          IN TXT "v=spf1 ip4:127.0.0.0/8 " "-all"
`

// nsdClientTimeout is the test client's timeout for one query: long enough
// for a loaded machine (scaled), short enough that a query of the hung
// server fails quickly.
var nsdClientTimeout = harness.Scale(500 * time.Millisecond)

func nsdQuery(t *testing.T, n *harness.NSD, proto, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: proto, Timeout: nsdClientTimeout}
	m := new(dns.Msg).SetQuestion(name, qtype)
	r, _, err := c.Exchange(m, n.Addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", proto, name, dns.TypeToString[qtype], err)
	}
	return r
}

func TestNSDHarness(t *testing.T) {
	dir := harness.NewTestDir(t)
	start := time.Now()
	n := harness.StartNSD(t, harness.NSDOptions{Dir: dir, Zones: map[string]string{
		"dnsbl.test.":  nsdDNSBLZone,
		"example.test": nsdExampleZone, // StartNSD adds the trailing dot
	}})
	t.Logf("nsd answering at %s after %v", n.Addr, time.Since(start).Round(time.Millisecond))

	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			r := nsdQuery(t, n, proto, "2.0.0.127.dnsbl.test.", dns.TypeA)
			if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1 {
				t.Fatalf("A 2.0.0.127.dnsbl.test.: want one authoritative answer, got:\n%v", r)
			}
			if a, ok := r.Answer[0].(*dns.A); !ok || !a.A.Equal(net.IPv4(127, 0, 0, 2)) || a.Hdr.Ttl != 300 {
				t.Errorf("A 2.0.0.127.dnsbl.test.: got %v, want 127.0.0.2 with TTL 300", r.Answer[0])
			}

			r = nsdQuery(t, n, proto, "2.0.0.127.dnsbl.test.", dns.TypeTXT)
			if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1 {
				t.Fatalf("TXT 2.0.0.127.dnsbl.test.: want one authoritative answer, got:\n%v", r)
			}
			if txt, ok := r.Answer[0].(*dns.TXT); !ok || !slices.Equal(txt.Txt, []string{"127.0.0.2 is listed: test entry"}) {
				t.Errorf("TXT 2.0.0.127.dnsbl.test.: got %v", r.Answer[0])
			}

			r = nsdQuery(t, n, proto, "example.test.", dns.TypeMX)
			if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1 {
				t.Fatalf("MX example.test.: want one authoritative answer, got:\n%v", r)
			}
			if mx, ok := r.Answer[0].(*dns.MX); !ok || mx.Preference != 10 || mx.Mx != "mx.example.test." {
				t.Errorf("MX example.test.: got %v, want 10 mx.example.test.", r.Answer[0])
			}

			r = nsdQuery(t, n, proto, "example.test.", dns.TypeTXT)
			if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1 {
				t.Fatalf("TXT example.test.: want one authoritative answer, got:\n%v", r)
			}
			// Two character-strings, kept apart (an SPF checker joins them).
			if txt, ok := r.Answer[0].(*dns.TXT); !ok || !slices.Equal(txt.Txt, []string{"v=spf1 ip4:127.0.0.0/8 ", "-all"}) {
				t.Errorf("TXT example.test.: got %v, want the two strings %q %q", r.Answer[0], "v=spf1 ip4:127.0.0.0/8 ", "-all")
			}

			// Not listed: an authoritative NXDOMAIN with the zone's SOA.
			r = nsdQuery(t, n, proto, "3.0.0.127.dnsbl.test.", dns.TypeA)
			if r.Rcode != dns.RcodeNameError || !r.Authoritative || len(r.Answer) != 0 {
				t.Errorf("A 3.0.0.127.dnsbl.test.: want an authoritative NXDOMAIN, got:\n%v", r)
			}
			if len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA {
				t.Errorf("A 3.0.0.127.dnsbl.test.: want the SOA in the authority section, got %v", r.Ns)
			}

			// A zone nsd does not serve.
			r = nsdQuery(t, n, proto, "www.example.com.", dns.TypeA)
			if r.Rcode != dns.RcodeRefused || r.Authoritative || len(r.Answer) != 0 {
				t.Errorf("A www.example.com.: want REFUSED, got:\n%v", r)
			}
		})
	}

	// A hung server: the query times out, over UDP and over TCP.
	n.Hang(t)
	for _, proto := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: proto, Timeout: nsdClientTimeout}
		began := time.Now()
		r, _, err := c.Exchange(new(dns.Msg).SetQuestion("2.0.0.127.dnsbl.test.", dns.TypeA), n.Addr)
		var ne net.Error
		if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("%s query of the hung nsd: want a timeout, got %v, %v", proto, r, err)
		} else {
			t.Logf("%s query of the hung nsd timed out after %v: %v", proto, time.Since(began).Round(time.Millisecond), err)
		}
	}
	n.Resume(t)
	for _, proto := range []string{"udp", "tcp"} {
		r := nsdQuery(t, n, proto, "2.0.0.127.dnsbl.test.", dns.TypeA)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Errorf("%s A 2.0.0.127.dnsbl.test. after Resume: got:\n%v", proto, r)
		}
	}

	// A second server in the same directory, without zones: it answers
	// REFUSED, and Terminate stops it even while it hangs.
	n2 := harness.StartNSD(t, harness.NSDOptions{Dir: dir})
	if n2.Addr == n.Addr || n2.Dir == n.Dir {
		t.Fatalf("two nsd in one directory share %s or %s", n2.Addr, n2.Dir)
	}
	if r := nsdQuery(t, n2, "udp", "example.test.", dns.TypeMX); r.Rcode != dns.RcodeRefused {
		t.Errorf("MX example.test. of the nsd without zones: want REFUSED, got:\n%v", r)
	}
	n2.Hang(t)
	took := n2.Terminate(harness.Scale(harness.StopTimeout))
	if n2.Running() {
		t.Errorf("the hung nsd still runs after Terminate")
	}
	t.Logf("the hung nsd terminated in %v (%v)", took.Round(time.Millisecond), n2.Err())

	// The first one hung at the end: the cleanup must resume it to stop it.
	n.Hang(t)
}
