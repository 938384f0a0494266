package proto

import (
	"errors"
	"strconv"
	"strings"
)

// Request is one request line: a milter→multiplexor request (docs/reference/protocol.md §3.2)
// or a multiplexor→worker command (§6.3). The concrete types are Free,
// RelayOK, HeloOK, SenderOK, RecipOK, Scan, Map, Tick, Ping and Unknown.
type Request interface {
	// Line renders the request exactly as the original sends it: the
	// command name and every argument percent-encoded with the wide set
	// (Encode), separated by single spaces, ending in "\n". Empty fields
	// that have a stand-in (§3.2) are replaced by it first.
	Line() string
	// Command is the command name in lower case, as a worker dispatches
	// on it (mimedefang.pl calls handle_<Command>).
	Command() string
}

// The stand-ins the milter substitutes for empty fields (docs/reference/protocol.md §3.2).
const (
	UnknownField = "UNKNOWN" // missing IP, myip, HELO, sender, recipient, first recipient
	NoQueue      = "NOQUEUE" // missing queue ID
)

// maxCheckLine is the longest senderok/recipok line, without its "\n", that
// the milter builds: an ESMTP argument is appended only while the line stays
// within it (utils.c: MXSenderOK, MXRecipientOK; SMALLBUF-2).
const maxCheckLine = 16382

// Free asks the multiplexor how many workers are free ("free\n", §3.2). The
// reply is FreeReply. The multiplexor answers it itself; it never reaches a
// worker.
type Free struct{}

// RelayOK is the connect-time check, "relayok ip name client_port myip
// daemon_port qid" (§3.2), answered by a CheckReply. The ports are decimal
// text as sent (%u); the worker passes them to filter_relay unparsed.
type RelayOK struct {
	IP         string // empty → UNKNOWN
	Name       string // empty → the IP
	ClientPort string // empty → 0
	MyIP       string // empty → UNKNOWN
	DaemonPort string // empty → 0
	QueueID    string // empty → NOQUEUE
}

// HeloOK is the HELO check, "helook ip name helo client_port myip
// daemon_port qid" (§3.2), answered by a CheckReply.
type HeloOK struct {
	IP         string // empty → UNKNOWN
	Name       string // empty → the IP
	Helo       string // empty → UNKNOWN
	ClientPort string // empty → 0
	MyIP       string // empty → UNKNOWN
	DaemonPort string // empty → 0
	QueueID    string // empty → NOQUEUE
}

// SenderOK is the MAIL FROM check, "senderok sender ip name helo dir qid
// [esmtp_arg...]" (§3.2), answered by a CheckReply.
//
// Dir has no stand-in: an empty Dir is written as an empty word, which a
// worker's split swallows, so the milter must always supply it. Empty ESMTP
// arguments are left out, since no worker could see them anyway, and Line
// stops adding arguments at the first one that would take the line past
// 16382 bytes, as the milter does.
type SenderOK struct {
	Sender    string // empty → UNKNOWN
	IP        string // empty → UNKNOWN
	Name      string // empty → the IP
	Helo      string // empty → UNKNOWN
	Dir       string // absolute working directory; no stand-in
	QueueID   string // empty → NOQUEUE
	ESMTPArgs []string
}

// RecipOK is the RCPT TO check, "recipok rcpt sender ip name first_rcpt helo
// dir qid mailer host addr [esmtp_arg...]" (§3.2), answered by a CheckReply.
// Dir and ESMTPArgs behave as in SenderOK.
type RecipOK struct {
	Rcpt      string // empty → UNKNOWN
	Sender    string // empty → UNKNOWN
	IP        string // empty → UNKNOWN
	Name      string // empty → the IP
	FirstRcpt string // empty → UNKNOWN
	Helo      string // empty → UNKNOWN
	Dir       string // absolute working directory; no stand-in
	QueueID   string // empty → NOQUEUE
	Mailer    string // {rcpt_mailer}; empty → ?
	Host      string // {rcpt_host}; empty → ?
	Addr      string // {rcpt_addr}; empty → ?
	ESMTPArgs []string
}

// Scan asks for the message in Dir to be filtered, "scan qid dir" (§3.2,
// §6.3). The only successful reply is ScanOK. An empty Dir is written as an
// empty trailing word.
type Scan struct {
	QueueID string // empty → NOQUEUE
	Dir     string
}

// Map is a SOCKETMAP lookup the multiplexor passes to a worker, "map name
// key" (§6.3, §10.1), answered by a MapReply. Neither field has a stand-in:
// the multiplexor sends what Sendmail sent, even when that is empty.
type Map struct {
	Name string
	Key  string
}

// Tick is the multiplexor's periodic "tick n" (§6.3, §7.11). A worker
// answers TickReply(n); the multiplexor ignores the answer.
type Tick struct {
	N int
}

// Ping is "ping", which a worker answers with PingReply (§6.4.3).
type Ping struct{}

// Unknown is any other command, as a worker sees it: Cmd is the decoded,
// ASCII-lower-cased first word and Args the decoded remaining words (nil
// when there are none). mimedefang.pl hands such commands to a filter's
// handle_<cmd> or filter_unknown_cmd, and otherwise answers
// "error: Unknown command".
//
// Cmd is "" when the line starts with white space, because mimedefang.pl's
// split(/\s+/) then yields an empty first word. Line writes Cmd even when it
// is empty, and leaves out empty Args, which cannot be represented.
type Unknown struct {
	Cmd  string
	Args []string
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// builder joins encoded words with single spaces.
type builder struct{ b strings.Builder }

func (w *builder) word(s string) {
	if w.b.Len() > 0 {
		w.b.WriteByte(' ')
	}
	w.b.WriteString(Encode(s))
}

// esmtp appends the ESMTP arguments the way MXSenderOK and MXRecipientOK do:
// each only while the line stays within maxCheckLine bytes, stopping at the
// first one that does not fit.
func (w *builder) esmtp(args []string) {
	for _, a := range args {
		if a == "" {
			continue
		}
		e := Encode(a)
		if w.b.Len()+1+len(e) > maxCheckLine {
			return
		}
		w.b.WriteByte(' ')
		w.b.WriteString(e)
	}
}

func (w *builder) line() string {
	w.b.WriteByte('\n')
	return w.b.String()
}

func words(ws ...string) string {
	var w builder
	for _, s := range ws {
		w.word(s)
	}
	return w.line()
}

func (Free) Command() string     { return "free" }
func (RelayOK) Command() string  { return "relayok" }
func (HeloOK) Command() string   { return "helook" }
func (SenderOK) Command() string { return "senderok" }
func (RecipOK) Command() string  { return "recipok" }
func (Scan) Command() string     { return "scan" }
func (Map) Command() string      { return "map" }
func (Tick) Command() string     { return "tick" }
func (Ping) Command() string     { return "ping" }
func (r Unknown) Command() string {
	return r.Cmd
}

// Line returns "free\n".
func (Free) Line() string { return "free\n" }

// Line renders the request with the stand-ins applied (see RelayOK).
func (r RelayOK) Line() string {
	ip := or(r.IP, UnknownField)
	return words("relayok", ip, or(r.Name, ip), or(r.ClientPort, "0"), or(r.MyIP, UnknownField),
		or(r.DaemonPort, "0"), or(r.QueueID, NoQueue))
}

// Line renders the request with the stand-ins applied (see HeloOK).
func (r HeloOK) Line() string {
	ip := or(r.IP, UnknownField)
	return words("helook", ip, or(r.Name, ip), or(r.Helo, UnknownField), or(r.ClientPort, "0"),
		or(r.MyIP, UnknownField), or(r.DaemonPort, "0"), or(r.QueueID, NoQueue))
}

// Line renders the request with the stand-ins applied (see SenderOK).
func (r SenderOK) Line() string {
	var w builder
	ip := or(r.IP, UnknownField)
	for _, s := range []string{"senderok", or(r.Sender, UnknownField), ip, or(r.Name, ip),
		or(r.Helo, UnknownField), r.Dir, or(r.QueueID, NoQueue)} {
		w.word(s)
	}
	w.esmtp(r.ESMTPArgs)
	return w.line()
}

// Line renders the request with the stand-ins applied (see RecipOK).
func (r RecipOK) Line() string {
	var w builder
	ip := or(r.IP, UnknownField)
	for _, s := range []string{"recipok", or(r.Rcpt, UnknownField), or(r.Sender, UnknownField), ip,
		or(r.Name, ip), or(r.FirstRcpt, UnknownField), or(r.Helo, UnknownField), r.Dir,
		or(r.QueueID, NoQueue), or(r.Mailer, "?"), or(r.Host, "?"), or(r.Addr, "?")} {
		w.word(s)
	}
	w.esmtp(r.ESMTPArgs)
	return w.line()
}

// Line renders "scan qid dir\n".
func (r Scan) Line() string { return words("scan", or(r.QueueID, NoQueue), r.Dir) }

// Line renders "map name key\n" as the multiplexor builds it.
func (r Map) Line() string { return words("map", r.Name, r.Key) }

// Line renders "tick n\n".
func (r Tick) Line() string { return "tick " + strconv.Itoa(r.N) + "\n" }

// Line returns "ping\n".
func (Ping) Line() string { return "ping\n" }

// Line renders the command and its non-empty arguments.
func (r Unknown) Line() string {
	var b strings.Builder
	b.WriteString(Encode(r.Cmd))
	for _, a := range r.Args {
		if a != "" {
			b.WriteByte(' ')
			b.WriteString(Encode(a))
		}
	}
	b.WriteByte('\n')
	return b.String()
}

// ErrEmptyRequest is returned by ParseRequest for a line with no words.
var ErrEmptyRequest = errors.New("proto: empty request line")

// perlSplit is mimedefang.pl's split(/\s+/, $line) followed by
// percent-decoding every word: runs of white space separate words, a
// leading run yields an empty first word, and trailing empty words are
// dropped.
func perlSplit(line string) []string {
	var out []string
	i := 0
	for i < len(line) {
		j := i
		for j < len(line) && !isSpace(line[j]) {
			j++
		}
		out = append(out, Decode(line[i:j]))
		for j < len(line) && isSpace(line[j]) {
			j++
		}
		i = j
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// asciiLower is Perl's lc on a byte string: only A-Z change.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// ParseRequest parses one request line as mimedefang.pl's server loop does
// (docs/reference/protocol.md §6.4.2): the line, with or without its "\n", is split on runs
// of white space, every word is percent-decoded, and the first word,
// lower-cased (ASCII only), names the command. Missing trailing fields come
// back empty and surplus ones are ignored, as the worker's handlers do.
// Anything that is not one of the typed requests is returned as Unknown;
// so is a tick whose argument is not a decimal integer, which keeps the
// argument. Only a line with no words at all is an error (ErrEmptyRequest).
//
// ParseRequest follows the worker, not the multiplexor: the multiplexor
// matches its own commands ("free", "scan ", ...) exactly and
// case-sensitively on the raw bytes (§8.1), and classifies requests with
// CommandType.
func ParseRequest(line string) (Request, error) {
	w := perlSplit(line)
	if len(w) == 0 {
		return nil, ErrEmptyRequest
	}
	cmd, args := asciiLower(w[0]), w[1:]
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	rest := func(i int) []string {
		if i < len(args) {
			return append([]string(nil), args[i:]...)
		}
		return nil
	}
	switch cmd {
	case "free":
		return Free{}, nil
	case "ping":
		return Ping{}, nil
	case "relayok":
		return RelayOK{IP: arg(0), Name: arg(1), ClientPort: arg(2), MyIP: arg(3),
			DaemonPort: arg(4), QueueID: arg(5)}, nil
	case "helook":
		return HeloOK{IP: arg(0), Name: arg(1), Helo: arg(2), ClientPort: arg(3),
			MyIP: arg(4), DaemonPort: arg(5), QueueID: arg(6)}, nil
	case "senderok":
		return SenderOK{Sender: arg(0), IP: arg(1), Name: arg(2), Helo: arg(3), Dir: arg(4),
			QueueID: arg(5), ESMTPArgs: rest(6)}, nil
	case "recipok":
		return RecipOK{Rcpt: arg(0), Sender: arg(1), IP: arg(2), Name: arg(3),
			FirstRcpt: arg(4), Helo: arg(5), Dir: arg(6), QueueID: arg(7), Mailer: arg(8),
			Host: arg(9), Addr: arg(10), ESMTPArgs: rest(11)}, nil
	case "scan":
		return Scan{QueueID: arg(0), Dir: arg(1)}, nil
	case "map":
		return Map{Name: arg(0), Key: arg(1)}, nil
	case "tick":
		// mimedefang.pl: $tick_no ||= 0, so a missing or empty
		// argument is 0.
		if arg(0) == "" {
			return Tick{}, nil
		}
		if n, err := strconv.Atoi(arg(0)); err == nil {
			return Tick{N: n}, nil
		}
	}
	return Unknown{Cmd: cmd, Args: rest(0)}, nil
}

// RequestType is the multiplexor's classification of a request, used for
// worker scheduling and the load statistics (docs/reference/protocol.md §7.2, §8.3.3). The
// values are those of the original's *_CMD constants.
type RequestType int

// The request types.
const (
	// TypeNone is the type of the last command of a worker that has not
	// run one yet (NO_CMD). CommandType never returns it.
	TypeNone     RequestType = -2
	TypeOther    RequestType = -1
	TypeScan     RequestType = 0
	TypeRelayOK  RequestType = 1
	TypeSenderOK RequestType = 2
	TypeRecipOK  RequestType = 3
)

// NumTrackedTypes is the number of types with load statistics: TypeScan
// through TypeRecipOK, which can index an array.
const NumTrackedTypes = 4

func (t RequestType) String() string {
	switch t {
	case TypeNone:
		return "none"
	case TypeOther:
		return "other"
	case TypeScan:
		return "scan"
	case TypeRelayOK:
		return "relayok"
	case TypeSenderOK:
		return "senderok"
	case TypeRecipOK:
		return "recipok"
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// CommandType classifies a raw request line exactly as the multiplexor's
// cmd_to_number does: by the case-sensitive prefixes "relayok ",
// "senderok ", "recipok " and "scan ". Everything else is TypeOther,
// including helook (docs/reference/protocol.md §14 item 16), upper-case names, and a name
// not followed by a space.
func CommandType(line string) RequestType {
	switch {
	case strings.HasPrefix(line, "relayok "):
		return TypeRelayOK
	case strings.HasPrefix(line, "senderok "):
		return TypeSenderOK
	case strings.HasPrefix(line, "recipok "):
		return TypeRecipOK
	case strings.HasPrefix(line, "scan "):
		return TypeScan
	}
	return TypeOther
}
