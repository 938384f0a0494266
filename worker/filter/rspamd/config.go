package rspamd

import (
	"context"
	"net"
	"net/http"
	"time"
)

// DefaultURL is rspamd_check's default: rspamd's normal worker on this
// host.
const DefaultURL = "http://127.0.0.1:11333"

// DefaultTimeout bounds the whole exchange (connecting, sending the
// message, rspamd's scan and its answer). The original sets none
// (LWP::UserAgent's default is 180 s); 60 s keeps a hung rspamd well
// inside the request's deadline (MD_WORKER_TIMEOUT, 100 s).
const DefaultTimeout = 60 * time.Second

// UserAgent is the original's user agent.
const UserAgent = "MIMEDefang"

// maxReply bounds what is read of rspamd's answer.
const maxReply = 16 << 20

// Config configures the client. The zero value is the original's
// rspamd_check: DefaultURL, user agent MIMEDefang, with DefaultTimeout,
// the system's dialer, nothing logged.
type Config struct {
	// URL is the rspamd used when a call names none ("" means
	// DefaultURL): scheme, host and port, and a path prefix if rspamd is
	// behind a proxy; "/checkv2" is appended.
	URL string
	// Timeout bounds the whole exchange. Zero means DefaultTimeout.
	Timeout time.Duration
	// Dial opens the TCP connection. Nil means a net.Dialer. Ignored
	// when Transport is set.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Transport, when set, carries the request instead of an
	// http.Transport built on Dial (tests; a proxy).
	Transport http.RoundTripper
	// Log receives the original's md_syslog lines with their priority
	// and md-worker's detail on failures. Nil discards them. Package
	// filter passes Context.MdSyslog.
	Log func(priority, msg string)
}

// withDefaults returns cfg with its zero fields replaced by the defaults
// documented on Config.
func (cfg Config) withDefaults() Config {
	if cfg.URL == "" {
		cfg.URL = DefaultURL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Transport == nil {
		dial := cfg.Dial
		if dial == nil {
			var d net.Dialer
			dial = d.DialContext
		}
		cfg.Transport = &http.Transport{DialContext: dial, DisableKeepAlives: true, Proxy: nil}
	}
	if cfg.Log == nil {
		cfg.Log = func(string, string) {}
	}
	return cfg
}
