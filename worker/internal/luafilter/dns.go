package luafilter

import (
	"regexp"
	"time"

	"github.com/mdgo/md/worker/filter/dkim"
	"github.com/mdgo/md/worker/filter/tlspolicy"
	"github.com/mdgo/md/worker/message"
	lua "github.com/yuin/gopher-lua"
)

// The DNS functions (worker/filter/dnscheck). Perl lists become arrays;
// relay_is_blacklisted_multi's hash a table domain → "SERVFAIL",
// "NXDOMAIN" or an array of addresses. The Perl functions' optional
// Net::DNS::Resolver argument is accepted and ignored: md-worker's resolver
// is the worker's (Config.DNS, $MD_DNS_SERVERS).

func bindRelayIsBlacklisted(f *Filter, L *lua.LState) int {
	c := f.context(L)
	return pushValues(L, c.RelayIsBlacklisted(checkText(L, 1), checkText(L, 2)).Values())
}

func bindEmailIsBlacklisted(f *Filter, L *lua.LState) int {
	c := f.context(L)
	return pushValues(L, c.EmailIsBlacklisted(checkText(L, 1), checkText(L, 2), checkText(L, 3)).Values())
}

// multiArgs reads (addr, timeout, answers_wanted, {domain, ...}).
func multiArgs(L *lua.LState) (addr string, timeout, wanted int, domains []string) {
	addr, timeout, wanted = checkText(L, 1), checkInt(L, 2), checkInt(L, 3)
	tbl := L.CheckTable(4)
	for i := 1; i <= tbl.Len(); i++ {
		domains = append(domains, lua.LVAsString(tbl.RawGetInt(i)))
	}
	return addr, timeout, wanted, domains
}

func bindRelayIsBlacklistedMulti(f *Filter, L *lua.LState) int {
	c := f.context(L)
	res := c.RelayIsBlacklistedMulti(multiArgs(L))
	out := L.NewTable()
	for _, d := range res.Domains {
		o := res.Outcome[d]
		if o.Code != "" {
			out.RawSetString(d, lua.LString(o.Code))
			continue
		}
		out.RawSetString(d, f.stringArray(o.Addrs))
	}
	L.Push(out)
	return 1
}

func bindRelayIsBlacklistedMultiCount(f *Filter, L *lua.LState) int {
	c := f.context(L)
	L.Push(lua.LNumber(c.RelayIsBlacklistedMulti(multiArgs(L)).Count()))
	return 1
}

func bindRelayIsBlacklistedMultiList(f *Filter, L *lua.LState) int {
	c := f.context(L)
	L.Push(f.stringArray(c.RelayIsBlacklistedMulti(multiArgs(L)).List()))
	return 1
}

func bindGetMXIPAddresses(f *Filter, L *lua.LState) int {
	L.Push(f.stringArray(f.context(L).GetMXIPAddresses(checkText(L, 1))))
	return 1
}

func bindMdGetBogusMXHosts(f *Filter, L *lua.LState) int {
	L.Push(f.stringArray(f.context(L).MdGetBogusMXHosts(checkText(L, 1))))
	return 1
}

// stringOrNil pushes s, or nil (Perl's undef) when ok is false.
func stringOrNil(L *lua.LState) func(s string, ok bool) int {
	return func(s string, ok bool) int { return pushStringOrNil(L, s, ok) }
}

func pushStringOrNil(L *lua.LState, s string, ok bool) int {
	if !ok {
		L.Push(lua.LNil)
	} else {
		L.Push(lua.LString(s))
	}
	return 1
}

func bindGetPTRRecord(f *Filter, L *lua.LState) int {
	return stringOrNil(L)(f.context(L).GetPTRRecord(checkText(L, 1)))
}

func bindMdGetDMARCRecord(f *Filter, L *lua.LState) int {
	return stringOrNil(L)(f.context(L).MdGetDMARCRecord(checkText(L, 1)))
}

// bindMdDNSTxt is md_dns_txt(res, name [, filter]): res is ignored (pass
// nil); filter is a regular expression (Go syntax, as re_match's).
func bindMdDNSTxt(f *Filter, L *lua.LState) int {
	c := f.context(L)
	name := checkText(L, 2)
	var re *regexp.Regexp
	if s := optText(L, 3); s != "" {
		var err error
		if re, err = regexp.Compile(s); err != nil {
			L.ArgError(3, "not a regular expression: "+err.Error())
		}
	}
	return stringOrNil(L)(c.MdDNSTxt(name, re))
}

// pureBoolS is a pure function of a string returning Perl's 1 or 0.
func pureBoolS(fn func(string) bool) binding {
	return func(f *Filter, L *lua.LState) int {
		L.Push(perlBool(fn(checkText(L, 1))))
		return 1
	}
}

// bindMdSPFVerify is md_spf_verify(email, relayip [, helo]): the list form
// (code, explanation, helo_code, helo_explanation, record[, helo_record]).
//
// With a true fourth argument it returns the table form instead (Perl's
// scalar context): {code =, local_explanation =, helo_code =,
// helo_local_explanation =, record =, helo_record =}, absent keys for
// undef, and dns_lookups / helo_dns_lookups, the DNS-interactive terms
// each check evaluated.
func bindMdSPFVerify(f *Filter, L *lua.LState) int {
	c := f.context(L)
	res := c.MdSPFVerify(checkText(L, 1), checkText(L, 2), optText(L, 3))
	if !perlTrue(L.Get(4)) {
		return pushValues(L, res.Values())
	}
	t := L.NewTable()
	set := func(k string, v string, ok bool) {
		if ok {
			t.RawSetString(k, lua.LString(v))
		}
	}
	set("code", res.Code, true)
	set("local_explanation", res.Explanation, true)
	set("helo_code", res.HeloCode, res.HasHelo)
	set("helo_local_explanation", res.HeloExplanation, res.HasHelo)
	set("record", res.Record, res.HasRecord)
	set("helo_record", res.HeloRecord, res.HasHeloRecord)
	if res.Code != "invalid" {
		t.RawSetString("dns_lookups", lua.LNumber(res.DNSLookups))
	}
	if res.HasHelo {
		t.RawSetString("helo_dns_lookups", lua.LNumber(res.HeloDNSLookups))
	}
	L.Push(t)
	return 1
}

// bindMdDKIMSign is md_dkim_sign(keyfile [, algorithm, method, domain,
// selector, headers, wrap]): nil arguments take the original's defaults;
// wrap false or 0 writes the b= value on one line. Returns name, value, or
// nothing.
func bindMdDKIMSign(f *Filter, L *lua.LState) int {
	c := f.context(L)
	o := dkim.SignOptions{
		Algorithm: optText(L, 2), Method: optText(L, 3), Domain: optText(L, 4),
		Selector: optText(L, 5), Headers: optText(L, 6),
	}
	if w := L.Get(7); w != lua.LNil {
		o.NoWrap = !perlTrue(w)
	}
	return pushValues(L, c.MdDKIMSign(checkText(L, 1), o).Values())
}

func bindMdDKIMVerify(f *Filter, L *lua.LState) int {
	return pushValues(L, f.context(L).MdDKIMVerify().Values())
}

func bindMdOrgDomain(f *Filter, L *lua.LState) int {
	L.Push(lua.LString(f.context(L).MdOrgDomain(optText(L, 1))))
	return 1
}

func bindMdBIMIGetSelector(f *Filter, L *lua.LState) int {
	c := f.context(L)
	var p *message.Part
	if L.Get(1) != lua.LNil {
		p = f.checkPart(L, 1)
	}
	L.Push(lua.LString(c.MdBIMIGetSelector(p)))
	return 1
}

// bindMdBIMILookup is md_bimi_lookup(domain [, selector]): a table
// {version =, l =, a =, raw =}, or nil.
func bindMdBIMILookup(f *Filter, L *lua.LState) int {
	r, ok := f.context(L).MdBIMILookup(checkText(L, 1), optText(L, 2))
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	t := L.NewTable()
	t.RawSetString("version", lua.LString(r.Version))
	t.RawSetString("raw", lua.LString(r.Raw))
	if r.HasLogo {
		t.RawSetString("l", lua.LString(r.Logo))
	}
	if r.HasVMC {
		t.RawSetString("a", lua.LString(r.VMC))
	}
	L.Push(t)
	return 1
}

func bindMdBIMIVerify(f *Filter, L *lua.LState) int {
	L.Push(lua.LString(f.context(L).MdBIMIVerify(optText(L, 1), optText(L, 2), optText(L, 3), optText(L, 4))))
	return 1
}

// bindMdAuthres is md_authres(email, relayip, serverdomain, helo [,
// bimi_domain]): the field's value, or nil.
func bindMdAuthres(f *Filter, L *lua.LState) int {
	return stringOrNil(L)(f.context(L).MdAuthres(optText(L, 1), optText(L, 2), optText(L, 3), optText(L, 4), optText(L, 5)))
}

// bindMdCheckMTASTS is md_check_mta_sts(domain [, {timeout = s, port =
// n}]): a table {id =, mode =, max_age =, mx = {...}}, or nil.
func bindMdCheckMTASTS(f *Filter, L *lua.LState) int {
	c := f.context(L)
	var timeout time.Duration
	port := 0
	if opts, ok := L.Get(2).(*lua.LTable); ok {
		if n, ok := opts.RawGetString("timeout").(lua.LNumber); ok {
			timeout = time.Duration(float64(n) * float64(time.Second))
		}
		if n, ok := opts.RawGetString("port").(lua.LNumber); ok {
			port = int(n)
		}
	}
	p, ok := c.MdCheckMTASTS(checkText(L, 1), timeout, port)
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	t := L.NewTable()
	if p.HasID {
		t.RawSetString("id", lua.LString(p.ID))
	}
	t.RawSetString("mode", lua.LString(p.Mode))
	if p.HasMaxAge {
		t.RawSetString("max_age", lua.LNumber(p.MaxAge))
	}
	t.RawSetString("mx", f.stringArray(p.MX))
	L.Push(t)
	return 1
}

// bindMdVerifySTSMX is md_verify_sts_mx(host, policy): 1 or 0.
func bindMdVerifySTSMX(f *Filter, L *lua.LState) int {
	c := f.context(L)
	var p tlspolicy.Policy
	if t, ok := L.Get(2).(*lua.LTable); ok {
		if mx, ok := t.RawGetString("mx").(*lua.LTable); ok {
			for i := 1; i <= mx.Len(); i++ {
				p.MX = append(p.MX, lua.LVAsString(mx.RawGetInt(i)))
			}
		}
	}
	L.Push(perlBool(c.MdVerifySTSMX(optText(L, 1), p)))
	return 1
}

// bindMdCheckDANETLSA is md_check_dane_tlsa(domain, port): an array of
// {usage =, selector =, matching_type =, cert_data =}, empty when none.
func bindMdCheckDANETLSA(f *Filter, L *lua.LState) int {
	c := f.context(L)
	port := L.Get(2)
	recs := c.MdCheckDANETLSA(checkText(L, 1), lua.LVAsString(port))
	out := L.NewTable()
	for _, r := range recs {
		t := L.NewTable()
		t.RawSetString("usage", lua.LNumber(r.Usage))
		t.RawSetString("selector", lua.LNumber(r.Selector))
		t.RawSetString("matching_type", lua.LNumber(r.MatchingType))
		t.RawSetString("cert_data", lua.LString(r.CertData))
		out.Append(t)
	}
	L.Push(out)
	return 1
}

// bindMdVerifyDANECert is md_verify_dane_cert(cert_der, tlsa): 1 or 0.
func bindMdVerifyDANECert(f *Filter, L *lua.LState) int {
	c := f.context(L)
	var recs []tlspolicy.TLSA
	if t, ok := L.Get(2).(*lua.LTable); ok {
		for i := 1; i <= t.Len(); i++ {
			r, ok := t.RawGetInt(i).(*lua.LTable)
			if !ok {
				continue
			}
			num := func(k string) int {
				if n, ok := r.RawGetString(k).(lua.LNumber); ok {
					return int(n)
				}
				return -1
			}
			recs = append(recs, tlspolicy.TLSA{Usage: num("usage"), Selector: num("selector"), MatchingType: num("matching_type"),
				CertData: lua.LVAsString(r.RawGetString("cert_data"))})
		}
	}
	L.Push(perlBool(c.MdVerifyDANECert([]byte(optText(L, 1)), recs)))
	return 1
}

// perlBool is Perl's 1 or 0.
func perlBool(b bool) lua.LNumber {
	if b {
		return 1
	}
	return 0
}
