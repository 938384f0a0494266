// Package bimi is MIMEDefang 3.7's BIMI functions (Mail::MIMEDefang::BIMI,
// docs/reference/filter-api.md §4.11): md_bimi_get_selector, md_bimi_lookup
// and md_bimi_verify, as the original computes them without Mail::BIMI
// (which Debian does not package): the TXT record <selector>._bimi.<domain>
// and its l= and a= tags; a pass needs a DMARC pass at an enforcing policy
// and a logo URL. It never imports package filter.
package bimi

import (
	"context"
	"regexp"
	"strings"
)

// LookupTXT returns a name's TXT records, each record's strings joined
// (dnscheck.NetAPI.LookupTXT); any error means no record.
type LookupTXT func(ctx context.Context, name string) ([]string, error)

var selectorRE = regexp.MustCompile(`\A[A-Za-z0-9-]+\z`)

// ValidSelector is _validate_selector: "" means "default"; a selector with
// other characters than letters, digits and '-' is logged and replaced by
// "default".
func ValidSelector(sel string, log func(priority, msg string)) string {
	if sel == "" {
		return "default"
	}
	if !selectorRE.MatchString(sel) {
		if log != nil {
			log("err", "md_bimi: invalid selector '"+sel+"', using 'default'")
		}
		return "default"
	}
	return sel
}

var (
	versionRE = regexp.MustCompile(`(?i)\bv=BIMI1\b`)
	selTagRE  = regexp.MustCompile(`(?i)\bs=([A-Za-z0-9-]+)`)
	startRE   = regexp.MustCompile(`(?i)^v=BIMI1\b`)
	logoRE    = regexp.MustCompile(`\bl=([^;]+)`)
	vmcRE     = regexp.MustCompile(`\ba=([^;]+)`)
)

// SelectorFromHeader is md_bimi_get_selector on the value of a
// BIMI-Selector field ("v=BIMI1; s=brand1;"): the selector, or "default".
func SelectorFromHeader(value string) string {
	value = strings.TrimSuffix(value, "\n")
	if versionRE.MatchString(value) {
		if m := selTagRE.FindStringSubmatch(value); m != nil {
			return m[1]
		}
	}
	return "default"
}

// Record is a BIMI record: md_bimi_lookup's hash.
type Record struct {
	Version   string // always BIMI1
	Logo, VMC string // l= and a=, trailing blanks removed
	HasLogo   bool
	HasVMC    bool
	Raw       string
}

// Lookup is md_bimi_lookup($domain [, $selector]): the first TXT record of
// <selector>._bimi.<domain> that starts with v=BIMI1, or ok false.
func Lookup(ctx context.Context, lookup LookupTXT, domain, selector string, log func(priority, msg string)) (Record, bool) {
	selector = ValidSelector(selector, log)
	if domain == "" {
		if log != nil {
			log("err", "md_bimi_lookup: domain is required")
		}
		return Record{}, false
	}
	txts, err := lookup(ctx, selector+"._bimi."+domain)
	if err != nil {
		return Record{}, false
	}
	for _, txt := range txts {
		if !startRE.MatchString(txt) {
			continue
		}
		r := Record{Version: "BIMI1", Raw: txt}
		if m := logoRE.FindStringSubmatch(txt); m != nil {
			r.Logo, r.HasLogo = strings.TrimRight(m[1], " \t\r\n\f\v"), true
		}
		if m := vmcRE.FindStringSubmatch(txt); m != nil {
			r.VMC, r.HasVMC = strings.TrimRight(m[1], " \t\r\n\f\v"), true
		}
		return r, true
	}
	return Record{}, false
}

// Verify is md_bimi_verify($domain, $dmarc_result, $dmarc_policy [,
// $selector]): "pass" when DMARC passed at policy quarantine or reject and
// the domain's BIMI record has a logo URL, else "fail".
func Verify(ctx context.Context, lookup LookupTXT, domain, dmarcResult, dmarcPolicy, selector string, log func(priority, msg string)) string {
	selector = ValidSelector(selector, log)
	if domain == "" || !strings.EqualFold(dmarcResult, "pass") {
		return "fail"
	}
	if p := strings.ToLower(dmarcPolicy); p != "quarantine" && p != "reject" {
		return "fail"
	}
	r, ok := Lookup(ctx, lookup, domain, selector, log)
	if !ok || r.Logo == "" {
		return "fail"
	}
	return "pass"
}
