package smtpcheck

import (
	"context"
	"net"
	"os"
	"time"
)

// DefaultTimeout is IO::Socket's Timeout of md_check_against_smtp_server:
// the bound on connecting and on every step of the dialogue.
const DefaultTimeout = 25 * time.Second

// DefaultPort is the port Check uses when it is given 0.
const DefaultPort = 25

// Config configures the call-out. The zero value is the original's
// behaviour: 25 s per step, the system's dialer, this host's name from
// os.Hostname, nothing logged.
type Config struct {
	// Timeout bounds connecting, the TLS handshake, every command
	// written and every reply awaited. Zero means DefaultTimeout. The
	// context given to Check bounds the whole call as well.
	Timeout time.Duration
	// HostName is this host's name: a banner whose text starts with it
	// means the server is this host (a verification loop), unless the
	// server is 127.0.0.1 or ::1. "" means os.Hostname. Package filter
	// sets it to get_host_name() ($PrivateMyHostName when the filter
	// sets it).
	HostName string
	// Dial opens the TCP connection ("tcp", "host:port"). Nil means a
	// net.Dialer. The context it gets carries Timeout as its deadline.
	// Tests set it to reach a local listener whatever the server's name.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Log receives the lines the original writes with md_syslog, with
	// their priority ("debug", "info", "warning"). Nil discards them.
	// Package filter passes Context.MdSyslog, which adds the queue ID.
	Log func(priority, msg string)
}

// withDefaults returns cfg with its zero fields replaced by the defaults
// documented on Config.
func (cfg Config) withDefaults() Config {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.HostName == "" {
		cfg.HostName, _ = os.Hostname()
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = d.DialContext
	}
	if cfg.Log == nil {
		cfg.Log = func(string, string) {}
	}
	return cfg
}
