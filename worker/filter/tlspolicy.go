package filter

import (
	"fmt"
	"strings"
	"time"

	"github.com/mdgo/md/proto"
	"github.com/mdgo/md/worker/filter/tlspolicy"
)

// MdCheckMTASTS is md_check_mta_sts($domain [, timeout => $s])
// (tlspolicy.CheckMTASTS) with the request's resolver; timeout 0 means 10
// s, port 0 means 443 (another only for a test or a local policy proxy).
func (c *Context) MdCheckMTASTS(domain string, timeout time.Duration, port int) (tlspolicy.Policy, bool) {
	start := time.Now()
	p, ok := tlspolicy.CheckMTASTS(c.ctx(), tlspolicy.Config{
		Resolver: c.DNS(), Timeout: timeout, Port: port, Log: c.MdSyslog, Version: MdVersion(),
	}, domain)
	outcome := "no policy"
	if ok {
		outcome = fmt.Sprintf("mode %s, mx %s", p.Mode, strings.Join(p.MX, " "))
	}
	c.noteCall("mta_sts", domain, outcome, proto.CallClean, start)
	return p, ok
}

// MdVerifySTSMX is md_verify_sts_mx($mx_host, $policy).
func (c *Context) MdVerifySTSMX(host string, p tlspolicy.Policy) bool {
	return tlspolicy.VerifySTSMX(host, p.MX)
}

// MdCheckDANETLSA is md_check_dane_tlsa($domain, $port).
func (c *Context) MdCheckDANETLSA(domain, port string) []tlspolicy.TLSA {
	start := time.Now()
	recs := tlspolicy.CheckDANETLSA(c.ctx(), c.DNS(), domain, port, c.MdSyslog)
	c.noteCall("dane", "_"+port+"._tcp."+domain, fmt.Sprintf("%d TLSA records", len(recs)), proto.CallClean, start)
	return recs
}

// MdVerifyDANECert is md_verify_dane_cert($cert_der, \@tlsa).
func (c *Context) MdVerifyDANECert(certDER []byte, records []tlspolicy.TLSA) bool {
	return tlspolicy.VerifyDANECert(certDER, records)
}
