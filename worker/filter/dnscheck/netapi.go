package dnscheck

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/miekg/dns"
)

// NetAPI is the Resolver behind the lookup methods of *net.Resolver
// (LookupTXT, LookupMX, LookupIPAddr, LookupAddr), the interface the SPF,
// DKIM and DMARC libraries take: their questions go to the same servers,
// timeouts and per-request cache as the rest. Errors are *net.DNSError: a
// name without records (NXDOMAIN, or none of the type) IsNotFound, no
// answer in time IsTimeout, a server failure IsTemporary.
type NetAPI struct{ R *Resolver }

// Net returns the Resolver behind the net.Resolver lookup methods.
func (r *Resolver) Net() NetAPI { return NetAPI{r} }

func (n NetAPI) lookup(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	m, err := n.R.Query(ctx, name, qtype)
	derr := &net.DNSError{Name: name, Server: strings.Join(n.R.servers, ",")}
	switch {
	case errors.Is(err, ErrTimeout):
		derr.Err, derr.IsTimeout = "i/o timeout", true
		return nil, derr
	case err != nil:
		derr.Err, derr.IsTemporary = err.Error(), true
		return nil, derr
	case m.Rcode == dns.RcodeNameError:
		derr.Err, derr.IsNotFound = "no such host", true
		return nil, derr
	case m.Rcode != dns.RcodeSuccess:
		derr.Err, derr.IsTemporary = "server answered "+rcode(m, nil), true
		return nil, derr
	}
	var out []dns.RR
	for _, rr := range m.Answer {
		if rr.Header().Rrtype == qtype {
			out = append(out, rr)
		}
	}
	if len(out) == 0 {
		derr.Err, derr.IsNotFound = "no such host", true
		return nil, derr
	}
	return out, nil
}

// LookupTXT returns name's TXT records, each record's strings joined.
func (n NetAPI) LookupTXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := n.lookup(ctx, name, dns.TypeTXT)
	var out []string
	for _, rr := range rrs {
		out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return out, err
}

// LookupMX returns name's MX records.
func (n NetAPI) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	rrs, err := n.lookup(ctx, name, dns.TypeMX)
	var out []*net.MX
	for _, rr := range rrs {
		mx := rr.(*dns.MX)
		out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
	}
	return out, err
}

// LookupIPAddr returns host's IPv4 and IPv6 addresses; not found only when
// it has neither.
func (n NetAPI) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	var out []net.IPAddr
	var firstErr error
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		rrs, err := n.lookup(ctx, host, qt)
		if err != nil {
			if firstErr == nil || !err.(*net.DNSError).IsNotFound {
				firstErr = err
			}
			continue
		}
		for _, rr := range rrs {
			switch rr := rr.(type) {
			case *dns.A:
				out = append(out, net.IPAddr{IP: rr.A})
			case *dns.AAAA:
				out = append(out, net.IPAddr{IP: rr.AAAA})
			}
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	return nil, firstErr
}

// LookupAddr returns the names of addr's PTR records.
func (n NetAPI) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	rev, err := dns.ReverseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: err.Error(), Name: addr}
	}
	rrs, err := n.lookup(ctx, rev, dns.TypePTR)
	var out []string
	for _, rr := range rrs {
		out = append(out, rr.(*dns.PTR).Ptr)
	}
	return out, err
}
