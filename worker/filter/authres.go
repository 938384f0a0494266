package filter

import (
	"strings"
	"time"

	"github.com/mdgo/md/proto"
	"github.com/mdgo/md/worker/filter/authres"
	"github.com/mdgo/md/worker/filter/bimi"
	"github.com/mdgo/md/worker/message"
)

// MdOrgDomain is md_org_domain($domain) (authres.OrgDomain): the
// organizational domain from the public suffix list.
func (c *Context) MdOrgDomain(domain string) string { return authres.OrgDomain(domain) }

// MdBIMIGetSelector is md_bimi_get_selector($entity): the s= of the
// entity's BIMI-Selector field, or "default".
func (c *Context) MdBIMIGetSelector(p *message.Part) string {
	if p == nil {
		return "default"
	}
	return bimi.SelectorFromHeader(p.Header("BIMI-Selector"))
}

// MdBIMILookup is md_bimi_lookup($domain [, $selector]) (bimi.Lookup).
func (c *Context) MdBIMILookup(domain, selector string) (bimi.Record, bool) {
	return bimi.Lookup(c.ctx(), c.DNS().Net().LookupTXT, domain, selector, c.MdSyslog)
}

// MdBIMIVerify is md_bimi_verify($domain, $dmarc_result, $dmarc_policy [,
// $selector]) (bimi.Verify): "pass" or "fail".
func (c *Context) MdBIMIVerify(domain, dmarcResult, dmarcPolicy, selector string) string {
	start := time.Now()
	res := bimi.Verify(c.ctx(), c.DNS().Net().LookupTXT, domain, dmarcResult, dmarcPolicy, selector, c.MdSyslog)
	c.noteCall("bimi", domain, res+" (dmarc "+dmarcResult+", p="+dmarcPolicy+")", proto.CallClean, start)
	return res
}

// MdAuthres is md_authres($email, $relayip, $serverdomain, $helo [,
// $bimi_domain]): the value of an Authentication-Results field from
// md_dkim_verify and md_spf_verify (and, with bimiDomain, BIMI after a
// relaxed DMARC alignment check), lines separated by "\n\t"; ok false when
// there is nothing to report.
func (c *Context) MdAuthres(email, relayIP, serverDomain, helo, bimiDomain string) (string, bool) {
	if email == "" && relayIP == "" && serverDomain == "" {
		c.MdSyslog("err", "Cannot calculate Authentication-Results header without email address, relay ip and server domain name")
		return "", false
	}
	dk := c.MdDKIMVerify()
	spf := c.MdSPFVerify(email, relayIP, helo)
	in := authres.Inputs{
		ServerDomain: serverDomain,
		DKIMResult:   dk.Result, DKIMDomain: dk.Domain, DKIMB: dk.B, DKIMKeySize: dk.KeySize, DKIMHasKey: dk.HasKey,
		SPFCode: spf.Code, HasSPF: spf.Code != "",
		HeloSPFCode: spf.HeloCode, HasHeloSPF: spf.HasHelo,
		Email: email, RelayIP: relayIP, Helo: helo,
	}
	if bimiDomain != "" {
		policy := "none"
		if rec, ok := c.MdGetDMARCRecord(bimiDomain); ok {
			policy = authres.DMARCPolicy(rec)
		}
		// Relaxed alignment: a DKIM pass or an SPF pass for the
		// From domain's organization.
		dmarc := "fail"
		org := authres.OrgDomain(bimiDomain)
		if dk.Result == "pass" && dk.HasKey && authres.OrgDomain(dk.Domain) == org {
			dmarc = "pass"
		}
		if dmarc != "pass" && spf.Code == "pass" {
			if _, d, ok := strings.Cut(email, "@"); ok && authres.OrgDomain(d) == org {
				dmarc = "pass"
			}
		}
		in.BIMIDomain = bimiDomain
		in.BIMIResult = c.MdBIMIVerify(bimiDomain, dmarc, policy, "")
	}
	return authres.Format(in)
}
