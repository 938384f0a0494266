package dnscheck

import (
	"os"
	"strings"
	"time"
)

// Config configures a Resolver. The zero value is the original's
// behaviour: the system's resolvers, as Net::DNS::Resolver->new reads them.
type Config struct {
	// Servers are the name servers asked, in order, each "host:port" (or
	// "host", port 53). Empty: $MD_DNS_SERVERS, else /etc/resolv.conf.
	Servers []string
	// Timeout bounds each query to one server (default 5 s, Net::DNS's
	// retransmission interval); the request's deadline bounds the whole
	// call.
	Timeout time.Duration
	// Log receives the original's md_syslog lines. Nil discards.
	Log func(priority, msg string)
	// OnQuery, when set, is told of every query sent (not of answers
	// served from the cache): its type, outcome ("NOERROR", "NXDOMAIN",
	// "SERVFAIL", "timeout", "error" ...) and wall time.
	OnQuery func(qtype, outcome string, took time.Duration)
}

// EnvServers names the environment variable that lists the name servers
// when Config.Servers is empty.
const EnvServers = "MD_DNS_SERVERS"

// ResolvConf is where the system's name servers are read from.
var ResolvConf = "/etc/resolv.conf"

// DefaultTimeout is Config.Timeout's default.
const DefaultTimeout = 5 * time.Second

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if len(c.Servers) == 0 {
		if v := os.Getenv(EnvServers); v != "" {
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					c.Servers = append(c.Servers, s)
				}
			}
		}
	}
	if c.Log == nil {
		c.Log = func(string, string) {}
	}
	return c
}
