package proto

import (
	"fmt"
	"strconv"
	"strings"
)

// The replies other than check replies (reply.go): free, map, tick, ping and
// error lines.

// FreeReply is the multiplexor's answer to Free: the number of free workers
// as "%d\n" (docs/reference/protocol.md §8.2).
func FreeReply(n int) string { return strconv.Itoa(n) + "\n" }

// ParseFreeReply reads a reply to Free as the milter does
// (utils.c: MXCheckFreeWorkers, sscanf "%d"): optional leading white space,
// an optional sign and digits; anything may follow. A reply with no number
// is an error wrapping ErrBadReply, which the milter treats as a tempfail;
// so is a number that does not fit in an int. A negative count is returned
// as is; the milter then tempfails too.
func ParseFreeReply(raw string) (int, error) {
	s := strings.TrimLeft(raw, " \t\n\v\f\r")
	end := 0
	if end < len(s) && (s[end] == '-' || s[end] == '+') {
		end++
	}
	digits := end
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == digits {
		return 0, fmt.Errorf("%w: %q", ErrBadReply, strings.TrimRight(raw, "\n"))
	}
	n, err := strconv.Atoi(s[:end])
	if err != nil {
		return 0, fmt.Errorf("%w: %q: %w", ErrBadReply, s[:end], err)
	}
	return n, nil
}

// The answer codes of a map reply, the ones Sendmail's SOCKETMAP
// understands (docs/reference/protocol.md §10.1). mimedefang.pl answers
// "PERM Invalid code from filter_map: ..." for any other.
const (
	MapOK       = "OK"
	MapNotFound = "NOTFOUND"
	MapTemp     = "TEMP"
	MapTimeout  = "TIMEOUT"
	MapPerm     = "PERM"
)

// MapReply is a worker's answer to Map: "CODE pct(value)\n" (reference
// §6.4.3, mimedefang.pl: handle_map). Value is decoded.
type MapReply struct {
	Code  string // one of MapOK ... MapPerm, written unencoded
	Value string
}

// Line renders the reply as mimedefang.pl prints it: the code, one space,
// the wide-encoded value and "\n". An empty value leaves the space, as in
// "NOTFOUND \n". The code is encoded too, which changes nothing for the
// five valid codes.
//
// mimedefang.pl writes two of its own PERM texts without encoding them
// ("PERM No filter_map function defined"); Line encodes their spaces
// instead. Both read the same after the multiplexor's decoding.
func (r MapReply) Line() string { return Encode(r.Code) + " " + Encode(r.Value) + "\n" }

// ParseMapReply parses a worker's map reply. One trailing "\n" is removed;
// the code is everything up to the first space, the value the rest (empty
// when there is no space), and both are decoded. The code is not checked:
// the multiplexor passes whatever the worker sent on to Sendmail,
// percent-decoding the whole line (§10.1 step 7), which equals
// r.Code + " " + r.Value when the line has a space. Only an empty line is
// an error.
func ParseMapReply(line string) (MapReply, error) {
	line = strings.TrimSuffix(line, "\n")
	if line == "" {
		return MapReply{}, fmt.Errorf("%w: empty map reply", ErrBadReply)
	}
	code, val, _ := strings.Cut(line, " ")
	return MapReply{Code: Decode(code), Value: Decode(val)}, nil
}

// TickReply is mimedefang.pl's answer to Tick when filter_tick is defined:
// "tock n\n". (Without filter_tick it answers
// ErrorReply("tick n: filter_tick undefined").) The multiplexor ignores
// the answer, but a worker must still send exactly one line.
func TickReply(n int) string { return "tock " + strconv.Itoa(n) + "\n" }

// PingReply is the answer to Ping.
const PingReply = "PONG\n"

// ErrorReply renders a worker's or multiplexor's error line,
// "error: msg\n". The text is not encoded; every control byte in it (a
// file name from a request may carry any) becomes a space, so that the
// reply stays one line (a second line would be taken as the answer to the
// next request, docs/reference/protocol.md §14 item 6), a NUL does not cut it
// short for the C milter, and the logs that quote it get no control bytes.
// The milter treats any such reply to a check or scan as a tempfail.
func ErrorReply(msg string) string {
	return "error: " + strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, msg) + "\n"
}
