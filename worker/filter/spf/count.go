package spf

import (
	"context"
	"net"
	"strings"
	"sync"

	"blitiri.com.ar/go/spf"
)

// counter wraps the resolver of one check_host() and counts its
// DNS-interactive terms (include, a, mx, ptr, exists, redirect: RFC 7208
// §4.6.4), Mail::SPF's dns_interactive_terms_count, from the lookups the
// evaluation makes: every TXT lookup after the first (an include's or a
// redirect's record), every MX and PTR lookup, and every address lookup
// that is not of a host an MX or PTR lookup of the same check returned (an
// a or exists term).
type counter struct {
	spf.DNSResolver
	mu    sync.Mutex
	txts  int
	terms int
	hosts map[string]bool // names whose address lookups belong to an mx or ptr term
}

func newCounter(r spf.DNSResolver) *counter {
	if r == nil {
		r = net.DefaultResolver
	}
	return &counter{DNSResolver: r, hosts: map[string]bool{}}
}

func hostKey(name string) string { return strings.TrimSuffix(strings.ToLower(name), ".") }

// Terms is the count so far.
func (c *counter) Terms() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.terms
}

func (c *counter) LookupTXT(ctx context.Context, name string) ([]string, error) {
	c.mu.Lock()
	if c.txts++; c.txts > 1 {
		c.terms++
	}
	c.mu.Unlock()
	return c.DNSResolver.LookupTXT(ctx, name)
}

func (c *counter) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	mxs, err := c.DNSResolver.LookupMX(ctx, name)
	c.mu.Lock()
	c.terms++
	for _, mx := range mxs {
		c.hosts[hostKey(mx.Host)] = true
	}
	c.mu.Unlock()
	return mxs, err
}

func (c *counter) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	names, err := c.DNSResolver.LookupAddr(ctx, addr)
	c.mu.Lock()
	c.terms++
	for _, n := range names {
		c.hosts[hostKey(n)] = true
	}
	c.mu.Unlock()
	return names, err
}

func (c *counter) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	c.mu.Lock()
	if !c.hosts[hostKey(host)] {
		c.terms++
	}
	c.mu.Unlock()
	return c.DNSResolver.LookupIPAddr(ctx, host)
}
