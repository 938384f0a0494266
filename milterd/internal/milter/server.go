package milter

import (
	"fmt"
	"log/slog"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/mdgo/md/milterd/internal/mxclient"
	"github.com/mdgo/md/milterd/internal/spool"
)

// Version is the MIMEDefang version md-milterd stands in for (the Debian
// original it is tested against); it makes the default X-Scanned-By text
// and the -v output.
const Version = "3.3"

// DefaultScannedBy is the original's default X-Scanned-By text.
const DefaultScannedBy = "MIMEDefang " + Version

// bodyChunk is the size of the replace-body chunks, as smfi_replacebody
// calls in the original.
const bodyChunk = 4096

// Config is the milter's behaviour, from the command line.
type Config struct {
	// Spool shapes the working directories (-z, -G, -c, -C, -d, -k).
	Spool spool.Options
	// MX talks to the multiplexor (-m).
	MX *mxclient.Client
	// RelayCheck, HeloCheck, SenderCheck and RecipCheck are -r, -H, -s
	// and -t.
	RelayCheck, HeloCheck, SenderCheck, RecipCheck bool
	// NoFreeCheck is -q: no `free` request at connect.
	NoFreeCheck bool
	// ReservedForLoopback is -R; -1 (the default) means none.
	ReservedForLoopback int
	// LoopbackAddr is -L: a client address reported as 127.0.0.1.
	LoopbackAddr string
	// ScannedBy is the X-Scanned-By text (-x, -X); "" means no header.
	ScannedBy string
	// ExtraMacros are the -a macro names, without braces.
	ExtraMacros []string
	// NoRcptRej is -N: do not ask to see recipients the MTA rejected.
	NoRcptRej bool
	// MyIPAddress is the host's own address (§13.1), "" when unknown.
	MyIPAddress string
	// FilterTime is -T: log the filter time at end of message.
	FilterTime bool
	// Logger receives the log lines. Nil means slog.Default().
	Logger *slog.Logger
	// Metrics, when set, counts sessions, messages, multiplexor requests
	// and failures.
	Metrics *Metrics
	// Stopping, when set, is closed as md-milterd begins to shut down: a
	// session sleeping through a delay the filter asked for answers at
	// once instead of holding up the shutdown.
	Stopping <-chan struct{}
}

func (c *Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

// Macros returns the macro names the milter asks the MTA for, in symbol form
// ("{daemon_name}", "i"): the 23 standard ones and the -a ones (§13.5).
func (c *Config) Macros() []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range append(spool.StandardMacros(), c.ExtraMacros...) {
		s := spool.MacroSymbol(n)
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Protocol returns the protocol flags the milter asks for: no reply at every
// stage where it has no decision to make (the stages without a configured
// check, and header, end-of-headers, body, DATA and unknown commands), and
// SMFIP_RCPT_REJ unless -N. A failure at a no-reply stage is remembered and
// answered at the next stage that replies (end of message at the latest).
func (c *Config) Protocol() gomilter.OptProtocol {
	p := gomilter.OptNoHeaderReply | gomilter.OptNoEOHReply | gomilter.OptNoBodyReply |
		gomilter.OptNoDataReply | gomilter.OptNoUnknownReply
	if !c.RelayCheck && c.NoFreeCheck {
		p |= gomilter.OptNoConnReply
	}
	if !c.HeloCheck {
		p |= gomilter.OptNoHeloReply
	}
	if !c.SenderCheck {
		p |= gomilter.OptNoMailReply
	}
	if !c.RecipCheck {
		p |= gomilter.OptNoRcptReply
	}
	if !c.NoRcptRej {
		p |= gomilter.OptRcptRej
	}
	return p
}

// actions are the modifications the milter may make (§13.5): everything
// the original registers; the negotiation keeps what the MTA offers.
const actions = gomilter.OptAddHeader | gomilter.OptChangeBody | gomilter.OptAddRcpt |
	gomilter.OptRemoveRcpt | gomilter.OptChangeHeader | gomilter.OptQuarantine |
	gomilter.OptChangeFrom | gomilter.OptSetMacros

// negotiate accepts whatever subset of our actions and protocol flags the
// MTA offers, instead of go-milter's default of refusing the connection.
func negotiate(mtaVersion, milterVersion uint32, mtaActions, milterActions gomilter.OptAction,
	mtaProtocol, milterProtocol gomilter.OptProtocol, offered gomilter.DataSize) (uint32, gomilter.OptAction, gomilter.OptProtocol, gomilter.DataSize, error) {
	v := mtaVersion
	if v > milterVersion {
		v = milterVersion
	}
	if v < 2 {
		return 0, 0, 0, 0, fmt.Errorf("milter: MTA protocol version %d unsupported", mtaVersion)
	}
	p := milterProtocol & mtaProtocol
	if v < 6 {
		p &^= gomilter.OptNoReplies | gomilter.OptRcptRej
	}
	return v, milterActions & mtaActions, p, offered, nil
}

// ServerOptions returns the go-milter server options of the configuration:
// the session factory, actions, protocol flags, negotiation, macro requests
// and the given timeouts (zero leaves go-milter's default).
func (c *Config) ServerOptions(readTimeout, writeTimeout time.Duration) []gomilter.Option {
	opts := []gomilter.Option{
		gomilter.WithMilter(func() gomilter.Milter {
			c.Metrics.sessionStart() // Cleanup, always called, ends it
			return newSession(c)
		}),
		gomilter.WithActions(actions),
		gomilter.WithProtocols(c.Protocol()),
		gomilter.WithNegotiationCallback(negotiate),
	}
	macros := c.Macros()
	for _, st := range []gomilter.MacroStage{gomilter.StageConnect, gomilter.StageHelo, gomilter.StageMail,
		gomilter.StageRcpt, gomilter.StageData, gomilter.StageEOH, gomilter.StageEOM} {
		opts = append(opts, gomilter.WithMacroRequest(st, macros))
	}
	if readTimeout > 0 {
		opts = append(opts, gomilter.WithReadTimeout(readTimeout))
	}
	if writeTimeout > 0 {
		opts = append(opts, gomilter.WithWriteTimeout(writeTimeout))
	}
	return opts
}

// NewServer returns a go-milter server running one session per MTA
// connection; call Serve with a listener.
func NewServer(c *Config, readTimeout, writeTimeout time.Duration) *gomilter.Server {
	return gomilter.NewServer(c.ServerOptions(readTimeout, writeTimeout)...)
}
