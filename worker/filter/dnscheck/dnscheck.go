package dnscheck

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"net"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// firstA returns the first A record's address of an answer, following
// the CNAMEs in it as gethostbyname does, or "".
func firstA(m *dns.Msg) string {
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			return a.A.String()
		}
	}
	return ""
}

// RelayIsBlacklisted is relay_is_blacklisted($addr, $domain): the first
// address the blocklist domain lists for addr (e.g. "127.0.0.2"), or ""
// when it lists none or cannot be asked (Values: 0, as the original).
func (r *Resolver) RelayIsBlacklisted(ctx context.Context, addr, domain string) ListedResult {
	m, err := r.Query(ctx, ReverseIPAddressForRBL(addr)+"."+domain, dns.TypeA)
	if !answered(m, err) {
		return ListedResult{}
	}
	return ListedResult{Addr: firstA(m)}
}

// EmailIsBlacklisted is email_is_blacklisted($email, $domain, $hash_type):
// the address a hash blocklist lists for the MD5 or SHA1 hex digest of
// email (hashType "MD5" or "SHA1", any case), or "". Another hash type logs
// the original's warning and gives "".
func (r *Resolver) EmailIsBlacklisted(ctx context.Context, email, domain, hashType string) ListedResult {
	var hashed string
	switch strings.ToUpper(hashType) {
	case "MD5":
		s := md5.Sum([]byte(email))
		hashed = hex.EncodeToString(s[:])
	case "SHA1":
		s := sha1.Sum([]byte(email))
		hashed = hex.EncodeToString(s[:])
	default:
		r.cfg.Log("Warning", "Invalid or unsupported hash type in email_is_blacklisted call")
		return ListedResult{}
	}
	m, err := r.Query(ctx, hashed+"."+domain, dns.TypeA)
	if !answered(m, err) {
		return ListedResult{}
	}
	return ListedResult{Addr: firstA(m)}
}

// RelayIsBlacklistedMulti is relay_is_blacklisted_multi($addr, $timeout,
// $answers_wanted, \@domains): it asks every blocklist at once and waits
// up to timeout (at least one second, as the original's select) for the
// answers, or until answersWanted lists (when > 0) have listed addr. Each
// domain's outcome is "NXDOMAIN" (not listed), "SERVFAIL" (a server
// failure, no answer in time, or an answer without an address: the
// original's reading), or the addresses listed.
func (r *Resolver) RelayIsBlacklistedMulti(ctx context.Context, addr string, timeout time.Duration, answersWanted int, domains []string) MultiResult {
	res := MultiResult{Domains: domains, Outcome: make(map[string]MultiOutcome, len(domains))}
	for _, d := range domains {
		res.Outcome[d] = MultiOutcome{Code: "SERVFAIL"}
	}
	if timeout < time.Second {
		timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rev := ReverseIPAddressForRBL(addr)
	type reply struct {
		domain string
		out    MultiOutcome
	}
	replies := make(chan reply, len(domains))
	var wg sync.WaitGroup
	for _, d := range domains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := r.Query(ctx, rev+"."+d, dns.TypeA)
			if err != nil {
				return // no answer: SERVFAIL stays
			}
			out := MultiOutcome{Code: "SERVFAIL"}
			switch code := rcode(m, nil); code {
			case "SERVFAIL", "NXDOMAIN":
				out.Code = code
			default:
				for _, rr := range m.Answer {
					if a, ok := rr.(*dns.A); ok {
						out.Code = ""
						out.Addrs = append(out.Addrs, a.A.String())
					}
				}
			}
			replies <- reply{d, out}
		}()
	}
	go func() { wg.Wait(); close(replies) }()
	positive := 0
	for {
		select {
		case rep, ok := <-replies:
			if !ok {
				return res
			}
			res.Outcome[rep.domain] = rep.out
			if len(rep.out.Addrs) > 0 {
				positive++
				if answersWanted > 0 && positive >= answersWanted {
					return res
				}
			}
		case <-ctx.Done():
			return res
		}
	}
}

// GetMXIPAddresses is get_mx_ip_addresses($domain): the IPv4 addresses of
// domain's MX hosts, in the order of the answer, "0.0.0.0" for a null MX
// ("." and the like), an MX written as an address taken as it is; without
// MX records, domain's own A records.
func (r *Resolver) GetMXIPAddresses(ctx context.Context, domain string) []string {
	m, err := r.Query(ctx, domain, dns.TypeMX)
	if !answered(m, err) {
		if m, err = r.Query(ctx, domain, dns.TypeA); !answered(m, err) {
			return nil
		}
	}
	var out []string
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.MX:
			host := rr.Mx
			switch host {
			case "", ".", "0", "0 ", "0 .", "0.":
				out = append(out, "0.0.0.0")
				continue
			}
			if ip := dottedQuad(host); ip != "" {
				out = append(out, ip)
				continue
			}
			m2, err := r.Query(ctx, host, dns.TypeA)
			if !answered(m2, err) {
				continue
			}
			for _, rr2 := range m2.Answer {
				if a, ok := rr2.(*dns.A); ok {
					out = append(out, a.A.String())
				}
			}
		case *dns.A:
			out = append(out, rr.A.String())
		}
	}
	return out
}

var quadRE = regexp.MustCompile(`^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.?$`)

// dottedQuad returns host as an address when it looks like one.
func dottedQuad(host string) string {
	m := quadRE.FindStringSubmatch(host)
	if m == nil {
		return ""
	}
	ip := net.ParseIP(m[1] + "." + m[2] + "." + m[3] + "." + m[4])
	if ip == nil {
		return ""
	}
	return ip.String()
}

// MdGetBogusMXHosts is md_get_bogus_mx_hosts($domain): the MX addresses
// of domain (GetMXIPAddresses) that are not public IPv4 addresses.
func (r *Resolver) MdGetBogusMXHosts(ctx context.Context, domain string) []string {
	var out []string
	for _, ip := range r.GetMXIPAddresses(ctx, domain) {
		if !IsPublicIP4Address(ip) {
			out = append(out, ip)
		}
	}
	return out
}

// GetPTRRecord is get_ptr_record($ip): the first record of the reverse
// lookup of ip, without its trailing dot, or ok false. An IPv6 address is
// looked up under ip6.arpa; the original asks under in-addr.arpa, where no
// IPv6 name is (docs/compatibility.md).
func (r *Resolver) GetPTRRecord(ctx context.Context, ip string) (string, bool) {
	zone := ".in-addr.arpa"
	if strings.Contains(ip, ":") {
		zone = ".ip6.arpa"
	}
	m, err := r.Query(ctx, ReverseIPAddressForRBL(ip)+zone, dns.TypePTR)
	if !answered(m, err) {
		return "", false
	}
	return strings.TrimSuffix(rdstring(m.Answer[0]), "."), true
}

// MdGetDMARCRecord is md_get_dmarc_record($domain): the first answer to
// the TXT query for _dmarc.<domain> (through a CNAME), its outer quotes
// removed as the original does. Without an answer it asks again one label
// up while the domain has more than one dot (as the original, which walks
// up to the last two labels instead of the organizational domain).
func (r *Resolver) MdGetDMARCRecord(ctx context.Context, domain string) (string, bool) {
	for {
		m, err := r.Query(ctx, "_dmarc."+domain, dns.TypeTXT)
		if answered(m, err) {
			a := m.Answer[0]
			if c, ok := a.(*dns.CNAME); ok {
				m2, err := r.Query(ctx, c.Target, dns.TypeTXT)
				if !answered(m2, err) {
					return "", false
				}
				a = m2.Answer[0]
			}
			s := strings.TrimRight(rdstring(a), "\n")
			s = strings.TrimPrefix(s, `"`)
			s = strings.TrimSuffix(s, `"`)
			return s, true
		}
		if strings.Count(domain, ".") <= 1 {
			return "", false
		}
		_, domain, _ = strings.Cut(domain, ".")
	}
}

// MdDNSTxt is md_dns_txt($res, $name [, $filter]): the text of the first
// TXT record of name (its strings joined) that filter matches (nil: any),
// or ok false.
func (r *Resolver) MdDNSTxt(ctx context.Context, name string, filter *regexp.Regexp) (string, bool) {
	m, err := r.Query(ctx, name, dns.TypeTXT)
	if !answered(m, err) {
		return "", false
	}
	for _, rr := range m.Answer {
		t, ok := rr.(*dns.TXT)
		if !ok {
			continue
		}
		txt := strings.Join(t.Txt, "")
		if filter != nil && !filter.MatchString(txt) {
			continue
		}
		return txt, true
	}
	return "", false
}

// rdstring is a record's data in presentation form, as Net::DNS's
// rdstring gives it.
func rdstring(rr dns.RR) string {
	return strings.TrimPrefix(rr.String(), rr.Header().String())
}
