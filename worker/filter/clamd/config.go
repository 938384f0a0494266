package clamd

import (
	"context"
	"net"
	"time"
)

// DefaultSock is $ClamdSock's default: @SPOOLDIR@/clamd.sock with
// MIMEDefang's spool directory.
const DefaultSock = "/var/spool/MIMEDefang/clamd.sock"

// The original's timeouts in message_contains_virus_clamd: IO::Select's
// can_write(30) before PING and can_read(60) for its answer.
const (
	DefaultWriteTimeout = 30 * time.Second
	DefaultReadTimeout  = 60 * time.Second
)

// DefaultChunkSize is the largest INSTREAM chunk the client sends.
const DefaultChunkSize = 64 << 10

// maxReply bounds what is read of one reply.
const maxReply = 64 << 10

// Mode is how the bytes reach clamd.
type Mode string

// The modes of Config.Mode.
const (
	// Instream sends each body over the socket ("zINSTREAM", then chunks
	// of a 4-byte big-endian length and the data, then a zero length).
	// clamd needs no access to md-worker's files and may run on another
	// host; its StreamMaxLength (25 MB by default) bounds each body, and
	// a longer one gives clamd's "INSTREAM size limit exceeded" error.
	Instream Mode = "INSTREAM"
	// Scan sends "zSCAN <path>": clamd opens the file or the Work
	// directory itself, as the original does. clamd's user must be able
	// to read md-worker's working directory.
	Scan Mode = "SCAN"
	// Multiscan is Scan with "zMULTISCAN": clamd scans a directory's
	// files in parallel.
	Multiscan Mode = "MULTISCAN"
)

// Config configures the client. The zero value is the original's
// behaviour, but for Mode: $ClamdSock's default, 30 s to connect and to
// write each step, 60 s to wait for each answer, the system's dialer,
// nothing logged, and INSTREAM.
type Config struct {
	// Sock is $ClamdSock, the clamd to use when a call names none: a
	// Unix socket path, or host:port for TCP when it contains a ':' (as
	// the original decides). "" means DefaultSock.
	Sock string
	// Mode is how the bytes reach clamd; "" means Instream. An unknown
	// mode fails every call with the swerr outcome.
	Mode Mode
	// WriteTimeout bounds connecting and every write (the command, each
	// INSTREAM chunk). Zero means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// ReadTimeout bounds the wait for each answer (PONG, a scan's
	// reply). Zero means DefaultReadTimeout.
	ReadTimeout time.Duration
	// ChunkSize is the largest INSTREAM chunk. Zero means
	// DefaultChunkSize.
	ChunkSize int
	// Dial opens the connection ("unix", path or "tcp", host:port). Nil
	// means a net.Dialer. The context it gets carries WriteTimeout as its
	// deadline, under the caller's.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Log receives the lines the original writes with md_syslog, with
	// their priority ("err", "info"), and the further detail md-worker
	// adds on failures the original does not log. Nil discards them.
	// Package filter passes Context.MdSyslog, which adds the queue ID.
	Log func(priority, msg string)
}

// withDefaults returns cfg with its zero fields replaced by the defaults
// documented on Config.
func (cfg Config) withDefaults() Config {
	if cfg.Sock == "" {
		cfg.Sock = DefaultSock
	}
	if cfg.Mode == "" {
		cfg.Mode = Instream
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = DefaultChunkSize
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
