package spf

import "blitiri.com.ar/go/spf"

// Config configures Verify.
type Config struct {
	// Lookup answers the DNS questions (dnscheck.Resolver.Net() in
	// package filter). Nil: Go's resolver.
	Lookup spf.DNSResolver
	// MaxLookups bounds the terms that query DNS; 0 means 20, MIMEDefang's
	// setting (max_dns_interactive_terms).
	MaxLookups uint
	// Log receives the original's md_syslog lines. Nil discards.
	Log func(priority, msg string)
	// TXT returns the first TXT record of a domain that starts with
	// "v=spf1", for the record values (md_dns_txt in the original). Nil:
	// none are reported.
	TXT func(domain string) (string, bool)
}

// DefaultMaxLookups is MIMEDefang's limit of DNS-querying terms.
const DefaultMaxLookups = 20

func (c Config) withDefaults() Config {
	if c.MaxLookups == 0 {
		c.MaxLookups = DefaultMaxLookups
	}
	if c.Log == nil {
		c.Log = func(string, string) {}
	}
	return c
}
