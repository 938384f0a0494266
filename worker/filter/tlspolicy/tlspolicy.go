// Package tlspolicy is MIMEDefang 3.7's TLS policy functions
// (Mail::MIMEDefang::TLSPolicy, docs/reference/filter-api.md §4.11):
// md_check_mta_sts (RFC 8461: the _mta-sts TXT record, then the policy file
// over HTTPS), md_verify_sts_mx, md_check_dane_tlsa (RFC 6698 TLSA records)
// and md_verify_dane_cert. DNS goes through package dnscheck's resolver;
// the policy host is resolved through it too, so a site's resolver decides
// where the policy comes from. It never imports package filter.
package tlspolicy

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/mdgo/md/worker/filter/dnscheck"
)

// Config configures md_check_mta_sts.
type Config struct {
	// Resolver answers the DNS questions and resolves the policy host.
	Resolver *dnscheck.Resolver
	// Timeout bounds the HTTPS fetch (default 10 s, the original's).
	Timeout time.Duration
	// Port is the policy host's HTTPS port (default 443; another only for
	// a test or a local policy proxy).
	Port int
	// RootCAs verify the policy host's certificate (nil: the system's).
	RootCAs *x509.CertPool
	// Log receives the original's md_syslog lines. Nil discards.
	Log func(priority, msg string)
	// Version is sent in the User-Agent, as "MIMEDefang/<version>".
	Version string
}

// Policy is an MTA-STS policy: md_check_mta_sts's hash.
type Policy struct {
	ID        string // the TXT record's id=
	HasID     bool
	Mode      string // enforce, testing, none
	MaxAge    int
	HasMaxAge bool
	MX        []string
}

var (
	stsVersionRE = regexp.MustCompile(`(?i)\bv=STSv1\b`)
	stsIDRE      = regexp.MustCompile(`(?i)\bid=([^;]+)`)
	versionRE    = regexp.MustCompile(`(?i)^version\s*:\s*(.+)`)
	modeRE       = regexp.MustCompile(`(?i)^mode\s*:\s*(\w+)`)
	maxAgeRE     = regexp.MustCompile(`(?i)^max_age\s*:\s*(\d+)`)
	mxRE         = regexp.MustCompile(`(?i)^mx\s*:\s*(.+)`)
)

// maxPolicySize bounds the policy file read (RFC 8461 §3.3 suggests 64 KiB).
const maxPolicySize = 64 << 10

// CheckMTASTS is md_check_mta_sts($domain [, timeout => $s]): the policy of
// domain, when its _mta-sts TXT record says v=STSv1 and
// https://mta-sts.<domain>/.well-known/mta-sts.txt has a mode; else ok
// false (a failed fetch is logged, as the original logs it).
func CheckMTASTS(ctx context.Context, cfg Config, domain string) (Policy, bool) {
	log := cfg.Log
	if log == nil {
		log = func(string, string) {}
	}
	if domain == "" {
		log("err", "md_check_mta_sts: domain is required")
		return Policy{}, false
	}
	txt, ok := cfg.Resolver.MdDNSTxt(ctx, "_mta-sts."+domain, nil)
	if !ok || !stsVersionRE.MatchString(txt) {
		return Policy{}, false
	}
	var p Policy
	if m := stsIDRE.FindStringSubmatch(txt); m != nil {
		p.ID, p.HasID = strings.TrimRight(m[1], " \t\r\n\f\v"), true
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	port := cfg.Port
	if port == 0 {
		port = 443
	}
	host := "mta-sts." + domain
	url := "https://" + host + "/.well-known/mta-sts.txt"
	client := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: cfg.RootCAs, ServerName: host},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				ips, err := cfg.Resolver.Net().LookupIPAddr(ctx, host)
				if err != nil {
					return nil, err
				}
				var d net.Dialer
				var last error
				for _, ip := range ips {
					c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.IP.String(), strconv.Itoa(port)))
					if err == nil {
						return c, nil
					}
					last = err
				}
				return nil, last
			},
			// The policy must come from the host itself (RFC 8461 §3.3).
			Proxy: nil,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Policy{}, false
	}
	req.Header.Set("User-Agent", "MIMEDefang/"+cfg.Version)
	resp, err := client.Do(req)
	if err != nil {
		log("warning", fmt.Sprintf("md_check_mta_sts: HTTP fetch failed for %s: %v", url, err))
		return Policy{}, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		log("warning", fmt.Sprintf("md_check_mta_sts: HTTP fetch failed for %s: %s", url, resp.Status))
		return Policy{}, false
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPolicySize))
	if err != nil || len(body) == 0 {
		return Policy{}, false
	}
	p.MX = []string{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := versionRE.FindStringSubmatch(line); m != nil {
			if strings.ToLower(m[1]) != "stsv1" {
				return Policy{}, false
			}
		} else if m := modeRE.FindStringSubmatch(line); m != nil {
			p.Mode = strings.ToLower(m[1])
		} else if m := maxAgeRE.FindStringSubmatch(line); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil {
				p.MaxAge, p.HasMaxAge = n, true
			}
		} else if m := mxRE.FindStringSubmatch(line); m != nil {
			p.MX = append(p.MX, strings.TrimRight(m[1], " \t"))
		}
	}
	if p.Mode == "" {
		return Policy{}, false
	}
	return p, true
}

// VerifySTSMX is md_verify_sts_mx($mx_host, $policy): whether host
// matches one of the policy's mx patterns ("*.example.com" matches one
// label), case-insensitively, trailing dots ignored.
func VerifySTSMX(host string, mx []string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, pat := range mx {
		p := strings.TrimSuffix(strings.ToLower(pat), ".")
		if rest, ok := strings.CutPrefix(p, "*."); ok {
			if label, tail, ok := strings.Cut(host, "."); ok && label != "" && tail == rest {
				return true
			}
		} else if host == p {
			return true
		}
	}
	return false
}

// TLSA is one TLSA record: md_check_dane_tlsa's hash.
type TLSA struct {
	Usage, Selector, MatchingType int
	CertData                      string // hex, lower case
}

// CheckDANETLSA is md_check_dane_tlsa($domain, $port): the TLSA records of
// _<port>._tcp.<domain>, none on any failure.
func CheckDANETLSA(ctx context.Context, r *dnscheck.Resolver, domain, port string, log func(priority, msg string)) []TLSA {
	if log == nil {
		log = func(string, string) {}
	}
	if domain == "" {
		log("err", "md_check_dane_tlsa: domain is required")
		return nil
	}
	if port == "" || strings.Trim(port, "0123456789") != "" {
		log("err", "md_check_dane_tlsa: numeric port is required")
		return nil
	}
	m, err := r.Query(ctx, "_"+port+"._tcp."+domain, dns.TypeTLSA)
	if err != nil || m.Rcode != dns.RcodeSuccess {
		return nil
	}
	var out []TLSA
	for _, rr := range m.Answer {
		if t, ok := rr.(*dns.TLSA); ok {
			out = append(out, TLSA{int(t.Usage), int(t.Selector), int(t.MatchingType), strings.ToLower(t.Certificate)})
		}
	}
	return out
}

// VerifyDANECert is md_verify_dane_cert($cert_der, \@tlsa): whether the
// DER certificate matches one of the records (selector 0: the whole
// certificate, 1: its public key; matching type 0: exact, 1: SHA-256, 2:
// SHA-512).
func VerifyDANECert(certDER []byte, records []TLSA) bool {
	if len(certDER) == 0 {
		return false
	}
	for _, rec := range records {
		var material []byte
		switch rec.Selector {
		case 0:
			material = certDER
		case 1:
			cert, err := x509.ParseCertificate(certDER)
			if err != nil {
				continue
			}
			material = cert.RawSubjectPublicKeyInfo
		default:
			continue
		}
		var computed string
		switch rec.MatchingType {
		case 0:
			computed = hex.EncodeToString(material)
		case 1:
			s := sha256.Sum256(material)
			computed = hex.EncodeToString(s[:])
		case 2:
			s := sha512.Sum512(material)
			computed = hex.EncodeToString(s[:])
		default:
			continue
		}
		if strings.EqualFold(computed, rec.CertData) {
			return true
		}
	}
	return false
}
