package message

import (
	"errors"
)

// ErrTooManyParts is returned by Parse when the message has more MIME
// entities than Limits.MaxParts allows. It is MIMEDefang's "too many MIME
// parts" failure: with $MaxMIMEParts > 0 the worker bounces the message
// ("Message contained too many MIME parts.  We do not accept such
// complicated messages.") without calling any filter callback.
// Test with errors.Is.
var ErrTooManyParts = errors.New("message: too many MIME parts")

// ErrTooDeep is returned by Parse when multiparts and attached messages
// nest deeper than Limits.MaxDepth. MIME-tools has no such limit; it exists
// so that a hostile message cannot exhaust the worker's stack or memory;
// the worker can answer it as it answers ErrTooManyParts. Test with
// errors.Is.
var ErrTooDeep = errors.New("message: MIME structure nested too deeply")

// DefaultMaxDepth is the nesting limit used when Limits.MaxDepth is zero.
const DefaultMaxDepth = 64

// Limits bounds what Parse accepts.
type Limits struct {
	// MaxParts is MIMEDefang's $MaxMIMEParts: the largest number of MIME
	// entities (every part, container and attached message, the top
	// entity included, counted as MIME::Parser counts them) a message may
	// have. Zero or negative means no limit, as in MIMEDefang, where
	// only a value > 0 arms the parser's max_parts.
	MaxParts int
	// MaxDepth is the deepest nesting of multiparts and attached
	// messages accepted; the top entity is depth 0. Zero means
	// DefaultMaxDepth; negative means no limit.
	MaxDepth int
}

// Message is the parsed INPUTMSG: MIME-tools' parse plus make_multipart.
//
// A Message keeps the raw bytes it was parsed from and every Part slices
// into them; nothing is decoded until asked. The raw slice must not be
// modified while the Message is in use.
type Message struct {
	raw          []byte
	top          *Part // always a multipart container (make_multipart)
	orig         *Part // the entity parsed from raw: top itself, or its only child
	wasMultipart bool
	errs         []string
	hdrEnd       int // end of the message header's fields in raw
}

// Top returns the top-level entity. It is always a multipart container, as
// after MIME-tools' make_multipart: a single-part message is wrapped in a
// multipart/mixed whose only child is the original body part (with the
// original Content-* headers); see WasMultipart. The top entity's header
// holds the message's header fields (for a wrapped message: the non-Content
// fields plus a generated multipart/mixed Content-Type).
func (m *Message) Top() *Part { return m.top }

// WasMultipart reports whether the message was multipart before
// make_multipart, MIMEDefang's $WasMultiPart. It is true exactly when
// the top entity's effective type is multipart/* with a usable boundary.
func (m *Message) WasMultipart() bool { return m.wasMultipart }

// Errors lists, in order, the repairs Parse made on malformed MIME (a
// missing closing boundary, a multipart without boundary, bad base64, a
// header line without a colon ...). They are diagnostics for the log;
// an empty list means the message parsed cleanly. Body decoding problems
// found lazily by Part.Body are reported by Body, not here.
func (m *Message) Errors() []string { return m.errs }

// Raw returns the bytes the message was parsed from (INPUTMSG).
func (m *Message) Raw() []byte { return m.raw }

// RawBody returns the message body as it appears in raw: everything after
// the blank line that ends the top-level header.
func (m *Message) RawBody() []byte { return m.orig.body }
