// Package authres is MIMEDefang 3.7's md_authres and md_org_domain
// (Mail::MIMEDefang::Authres, docs/reference/filter-api.md §4.11): the
// Authentication-Results field the original writes from the DKIM and SPF
// results (and BIMI, with DMARC alignment), and the organizational domain,
// taken from the public suffix list (golang.org/x/net/publicsuffix) where
// the original takes the last two labels. It never imports package filter.
package authres

import (
	"fmt"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// OrgDomain is md_org_domain($domain): the organizational domain of RFC
// 7489 §3.2, the public suffix plus one label ("mail.example.co.uk" is
// "example.co.uk", where the original says "co.uk"), lower case; a domain
// that is itself a public suffix, or has no dot, is returned lower-cased;
// "" gives "".
func OrgDomain(domain string) string {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	if domain == "" || !strings.Contains(domain, ".") {
		return domain
	}
	org, err := publicsuffix.EffectiveTLDPlusOne(domain)
	if err != nil {
		return domain
	}
	return org
}

// Inputs are what md_authres computes its field from.
type Inputs struct {
	ServerDomain string
	// DKIM: md_dkim_verify's result; shown when the key was fetched.
	DKIMResult, DKIMDomain, DKIMB string
	DKIMKeySize                   int
	DKIMHasKey                    bool
	// SPF: md_spf_verify's codes for the sender and the HELO name.
	SPFCode, HeloSPFCode string
	HasSPF, HasHeloSPF   bool
	Email, RelayIP, Helo string
	// BIMI, when a domain was given: its result.
	BIMIDomain, BIMIResult string
}

// Format writes the field's value as the original does: the server
// domain with "(MIMEDefang)", then dkim=, spf= (sender) and spf= (HELO)
// for the results it describes, and bimi=, each on its own line ("\n\t").
// ok is false when there is nothing to say (no SPF result and no DKIM key).
func Format(in Inputs) (string, bool) {
	if !in.HasSPF && !(in.DKIMHasKey && in.DKIMKeySize > 0) {
		return "", false
	}
	var b strings.Builder
	b.WriteString(in.ServerDomain + " (MIMEDefang);")
	if in.DKIMHasKey && in.DKIMKeySize > 0 {
		fmt.Fprintf(&b, "\n\tdkim=%s (%d-bit key) header.d=%s header.b=%s;", in.DKIMResult, in.DKIMKeySize, in.DKIMDomain, first8(in.DKIMB))
	}
	if in.HasSPF {
		b.WriteString(spfLine(in.SPFCode, in.Email, in.RelayIP, "smtp.mailfrom"))
	}
	if in.HasHeloSPF {
		b.WriteString(spfLine(in.HeloSPFCode, in.Helo, in.RelayIP, "smtp.helo"))
	}
	if in.BIMIDomain != "" {
		fmt.Fprintf(&b, "\n\tbimi=%s header.d=%s;", in.BIMIResult, in.BIMIDomain)
	}
	return strings.ReplaceAll(b.String(), "\r", ""), true
}

// first8 is Perl's substr($b, 0, 8).
func first8(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

func spfLine(code, who, ip, prop string) string {
	switch code {
	case "fail":
		return fmt.Sprintf("\n\tspf=fail (domain of %s does not designate %s as permitted sender) %s=%s;", who, ip, prop, who)
	case "pass":
		return fmt.Sprintf("\n\tspf=pass (domain of %s designates %s as permitted sender) %s=%s;", who, ip, prop, who)
	case "none":
		return fmt.Sprintf("\n\tspf=none (domain of %s doesn't specify if %s is a permitted sender) %s=%s;", who, ip, prop, who)
	}
	return ""
}

// DMARCPolicy is the p= of a DMARC record (lower case), "none" without.
func DMARCPolicy(record string) string {
	for _, tag := range strings.Split(record, ";") {
		name, value, ok := strings.Cut(strings.TrimSpace(tag), "=")
		if ok && strings.TrimSpace(name) == "p" {
			if v := strings.ToLower(strings.TrimSpace(value)); v != "" {
				return v
			}
		}
	}
	return "none"
}
