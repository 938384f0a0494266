package filter

import (
	"regexp"
	"time"

	"github.com/mdgo/md/proto"
	"github.com/mdgo/md/worker/filter/dnscheck"
	"github.com/mdgo/md/worker/filter/spf"
)

// DNS returns the request's resolver (package dnscheck), made on first use
// from Config.DNS with MdSyslog as its log: every DNS function of a request
// shares its answers. Like the rest of Context, not for concurrent first
// use; the Resolver itself is safe for concurrent use.
func (c *Context) DNS() *dnscheck.Resolver {
	if c.dns == nil {
		var cfg dnscheck.Config
		if c.Config != nil {
			cfg = c.Config.DNS
		}
		if cfg.Log == nil {
			cfg.Log = c.MdSyslog
		}
		if cfg.OnQuery == nil && c.w != nil {
			cfg.OnQuery = c.w.opts.OnDNSQuery
		}
		c.dns = dnscheck.New(cfg)
	}
	return c.dns
}

// RelayIsBlacklisted is relay_is_blacklisted($addr, $domain): the address
// the blocklist domain lists addr with ("127.0.0.2"), or Values 0
// (dnscheck.Resolver.RelayIsBlacklisted).
func (c *Context) RelayIsBlacklisted(addr, domain string) dnscheck.ListedResult {
	start := time.Now()
	res := c.DNS().RelayIsBlacklisted(c.ctx(), addr, domain)
	c.noteListed(addr+" in "+domain, res, start)
	return res
}

// EmailIsBlacklisted is email_is_blacklisted($email, $domain,
// $hash_type) (dnscheck.Resolver.EmailIsBlacklisted).
func (c *Context) EmailIsBlacklisted(email, domain, hashType string) dnscheck.ListedResult {
	start := time.Now()
	res := c.DNS().EmailIsBlacklisted(c.ctx(), email, domain, hashType)
	c.noteListed(email+" in "+domain, res, start)
	return res
}

func (c *Context) noteListed(subject string, res dnscheck.ListedResult, start time.Time) {
	outcome, result := "not listed", proto.CallClean
	if res.Listed() {
		outcome, result = "listed "+res.Addr, proto.CallHit
	}
	c.noteCall("dnsbl", subject, outcome, result, start)
}

// RelayIsBlacklistedMulti is relay_is_blacklisted_multi($addr, $timeout,
// $answers_wanted, \@domains): every list asked at once, for up to timeout
// seconds (dnscheck.Resolver.RelayIsBlacklistedMulti); _multi_count and
// _multi_list are its Count and List.
func (c *Context) RelayIsBlacklistedMulti(addr string, timeout, answersWanted int, domains []string) dnscheck.MultiResult {
	start := time.Now()
	res := c.DNS().RelayIsBlacklistedMulti(c.ctx(), addr, time.Duration(timeout)*time.Second, answersWanted, domains)
	for _, d := range domains {
		o := res.Outcome[d]
		switch {
		case len(o.Addrs) > 0:
			c.noteCall("dnsbl", addr+" in "+d, "listed "+o.Addrs[0], proto.CallHit, start)
		case o.Code == "NXDOMAIN":
			c.noteCall("dnsbl", addr+" in "+d, "not listed", proto.CallClean, start)
		default:
			c.noteCall("dnsbl", addr+" in "+d, "no answer (SERVFAIL)", proto.CallError, start)
		}
	}
	return res
}

// GetMXIPAddresses is get_mx_ip_addresses($domain).
func (c *Context) GetMXIPAddresses(domain string) []string {
	return c.DNS().GetMXIPAddresses(c.ctx(), domain)
}

// MdGetBogusMXHosts is md_get_bogus_mx_hosts($domain).
func (c *Context) MdGetBogusMXHosts(domain string) []string {
	return c.DNS().MdGetBogusMXHosts(c.ctx(), domain)
}

// GetPTRRecord is get_ptr_record($ip): ok false where the original
// returns undef.
func (c *Context) GetPTRRecord(ip string) (string, bool) {
	return c.DNS().GetPTRRecord(c.ctx(), ip)
}

// MdGetDMARCRecord is md_get_dmarc_record($domain).
func (c *Context) MdGetDMARCRecord(domain string) (string, bool) {
	return c.DNS().MdGetDMARCRecord(c.ctx(), domain)
}

// MdDNSTxt is md_dns_txt($res, $name [, $filter]); filter nil matches
// any record.
func (c *Context) MdDNSTxt(name string, filter *regexp.Regexp) (string, bool) {
	return c.DNS().MdDNSTxt(c.ctx(), name, filter)
}

// spfTXTRE picks a domain's SPF record out of its TXT records.
var spfTXTRE = regexp.MustCompile(`(?i)^v=spf1\b`)

// MdSPFVerify is md_spf_verify($email, $relayip [, $helo]) (package spf):
// the SPF result codes and explanations of the MAIL FROM and HELO
// identities, and their records, with the request's resolver. A DNS server
// that does not answer gives "temperror" within its timeout, never a pass.
func (c *Context) MdSPFVerify(email, relayIP, helo string) spf.Result {
	start := time.Now()
	cfg := spf.Config{
		Lookup: c.DNS().Net(),
		Log:    c.MdSyslog,
		TXT:    func(domain string) (string, bool) { return c.MdDNSTxt(domain, spfTXTRE) },
	}
	res := spf.Verify(c.ctx(), cfg, email, relayIP, helo)
	result := proto.CallClean
	switch res.Code {
	case "fail", "softfail":
		result = proto.CallHit
	case "temperror", "permerror", "error":
		result = proto.CallError
	}
	c.noteCall("spf", email+" from "+relayIP, res.Code+": "+res.Explanation, result, start)
	return res
}
