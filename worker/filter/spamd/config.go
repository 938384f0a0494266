package spamd

import (
	"context"
	"net"
	"os/user"
	"sync"
	"time"
)

// The original's defaults in md_spamc_init.
const (
	DefaultHost = "localhost"
	DefaultPort = 783
)

// DefaultTimeout bounds connecting and each read and write: the default
// of Mail::SpamAssassin::Client's timeout option (which md_spamc_init
// does not set, so that the original waits for a hung spamd until the
// multiplexor kills the worker).
const DefaultTimeout = 30 * time.Second

// maxReply bounds what is read of one reply (PROCESS returns the whole
// message).
const maxReply = 64 << 20

// Config configures the client. The zero value is the original's
// md_spamc_init(): spamd at localhost port 783, the worker's login name
// as User, no size limit, DefaultTimeout, the system's dialer, nothing
// logged.
type Config struct {
	// Host is spamd's host name or address; "" means DefaultHost. A
	// value beginning with "/" is the path of spamd's Unix socket
	// (spamd --socketpath), an md-worker extension: the original's
	// md_spamc_init offers TCP only.
	Host string
	// Port is spamd's TCP port; 0 means DefaultPort.
	Port int
	// User is sent as the "User:" header, the user whose preferences
	// spamd applies; "" means the login name of the worker's user, as
	// md_spamc_init's getpwuid($<) (no header when it cannot be found).
	User string
	// MaxSize > 0 cuts the message to its first MaxSize bytes before it
	// is sent, as Mail::SpamAssassin::Client's max_size does (spamd then
	// scores the head of a long message). 0 sends it whole.
	MaxSize int
	// Timeout bounds connecting, writing the request and waiting for
	// the reply, each. Zero means DefaultTimeout.
	Timeout time.Duration
	// Dial opens the connection ("tcp", host:port or "unix", path). Nil
	// means a net.Dialer. The context it gets carries Timeout as its
	// deadline, under the caller's.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Log receives the lines the original writes with md_syslog, with
	// their priority, and md-worker's further detail on failures. Nil
	// discards them. Package filter passes Context.MdSyslog.
	Log func(priority, msg string)
}

// Network returns the network and address Dial is given for cfg.
func (cfg Config) Network() (network, addr string) {
	cfg = cfg.withDefaults()
	if len(cfg.Host) > 0 && cfg.Host[0] == '/' {
		return "unix", cfg.Host
	}
	return "tcp", net.JoinHostPort(cfg.Host, itoa(cfg.Port))
}

// loginName is getpwuid($<): the name of the user running the worker.
var loginName = sync.OnceValue(func() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
})

// withDefaults returns cfg with its zero fields replaced by the defaults
// documented on Config.
func (cfg Config) withDefaults() Config {
	if cfg.Host == "" {
		cfg.Host = DefaultHost
	}
	if cfg.Port <= 0 {
		cfg.Port = DefaultPort
	}
	if cfg.User == "" {
		cfg.User = loginName()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
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
