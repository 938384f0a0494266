package mxctrl

import (
	"strings"

	"github.com/mdgo/md/proto"
)

// MaxCommand is the size of the original's command buffer (SMALLBUF): a
// built command line is at most MaxCommand-1 bytes, and -i reads lines of at
// most MaxCommand-1 bytes.
const MaxCommand = 262144

// Reply size limits, the sizes of the original's reply buffers: replies
// printed as they are (and the help text shown by -h) are cut at
// MaxRawReply bytes, replies that are reformatted at MaxFormattedReply.
const (
	MaxRawReply       = 262144
	MaxFormattedReply = 4096
)

// BuildCommand turns command-line words into the request line: each word
// percent-encoded with the wide set (proto.Encode), joined with single
// spaces, ended with "\n". `md-mx-ctrl load1 60` sends "load1 60\n";
// `md-mx-ctrl "load1 60"` sends "load1%2060\n", which matches nothing.
//
// The line is kept within the original's buffer of MaxCommand bytes the
// way the original does it: an escape is never split, a word that does not
// fit is cut short, and a line that fills the buffer is sent without its
// newline.
func BuildCommand(words []string) string {
	const buflen = MaxCommand
	var b strings.Builder
	for i, w := range words {
		b.WriteString(fitEncoded(proto.Encode(w), buflen-b.Len()))
		if b.Len() >= buflen-1 {
			return b.String()[:buflen-1]
		}
		if i < len(words)-1 {
			b.WriteByte(' ')
		}
	}
	b.WriteByte('\n')
	return b.String()
}

// fitEncoded returns the longest prefix of the encoded word enc, ending on
// an escape boundary, that leaves room for a terminator in outlen bytes.
func fitEncoded(enc string, outlen int) string {
	limit := outlen - 1
	if len(enc) <= limit {
		return enc
	}
	n := 0
	for n < len(enc) {
		step := 1
		if enc[n] == '%' {
			step = 3 // proto.Encode escapes every '%', so this is an escape
		}
		if n+step > limit {
			break
		}
		n += step
	}
	return enc[:n]
}

// Kind says how a user command is carried out.
type Kind int

// The ways a command is carried out (docs/reference/protocol.md §9.2).
const (
	// Raw prints the reply unchanged, plus a newline if it lacks one.
	Raw Kind = iota
	// Decoded prints the reply percent-decoded, plus a newline if it
	// lacks one. Every command the table does not know is Decoded.
	Decoded
	// Status prints one line per worker (§9.3.1).
	Status
	// BarStatus prints the busy and queue bars (§9.3.2).
	BarStatus
	// JSONStatus prints the worker states as JSON (§9.3.3).
	JSONStatus
	// Load prints the load table over 10 s .. 10 min (§9.3.4).
	Load
	// Load1 prints the statistics over one window (§9.3.5).
	Load1
	// JSONLoad1 prints the load1 statistics as JSON (§9.3.6).
	JSONLoad1
	// HLoad prints the load table over 1 h .. 24 h (§9.3.7).
	HLoad
)

// Plan is what one user command turns into.
type Plan struct {
	// Send is the request written to the socket.
	Send string
	// Kind says how the reply is printed.
	Kind Kind
	// Labels name the columns of Load and HLoad tables.
	Labels Labels
}

// Limit is the number of reply bytes the command reads.
func (p Plan) Limit() int {
	if p.Kind == Raw || p.Kind == Decoded {
		return MaxRawReply
	}
	return MaxFormattedReply
}

// Labels name what a load table counts: Count heads the count column and
// the rate column (Count+"/Sec"), Unit the time column ("Avg ms/"+Unit).
type Labels struct {
	Count, Unit string
}

// The labels of the four load families.
var (
	scanLabels     = Labels{"Msgs", "Scan"}
	relayokLabels  = Labels{"Conn", "Conn"}
	senderokLabels = Labels{"MAIL", "MAIL"}
	recipokLabels  = Labels{"RCPT", "RCPT"}
)

// exact maps whole command lines, newline included, to their plans.
var exact = map[string]Plan{
	"status\n":            {Send: "status\n", Kind: Status},
	"barstatus\n":         {Send: "status\n", Kind: BarStatus},
	"jsonstatus\n":        {Send: "status\n", Kind: JSONStatus},
	"rawstatus\n":         {Send: "status\n", Kind: Raw},
	"reread\n":            {Send: "reread\n", Kind: Raw},
	"msgs\n":              {Send: "msgs\n", Kind: Raw},
	"rawload\n":           {Send: "load\n", Kind: Raw},
	"rawload-relayok\n":   {Send: "load-relayok\n", Kind: Raw},
	"rawload-senderok\n":  {Send: "load-senderok\n", Kind: Raw},
	"rawload-recipok\n":   {Send: "load-recipok\n", Kind: Raw},
	"rawhload\n":          {Send: "hload\n", Kind: Raw},
	"rawhload-relayok\n":  {Send: "hload-relayok\n", Kind: Raw},
	"rawhload-senderok\n": {Send: "hload-senderok\n", Kind: Raw},
	"rawhload-recipok\n":  {Send: "hload-recipok\n", Kind: Raw},
	"load\n":              {Send: "load\n", Kind: Load, Labels: scanLabels},
	"load-relayok\n":      {Send: "load-relayok\n", Kind: Load, Labels: relayokLabels},
	"load-senderok\n":     {Send: "load-senderok\n", Kind: Load, Labels: senderokLabels},
	"load-recipok\n":      {Send: "load-recipok\n", Kind: Load, Labels: recipokLabels},
	"hload\n":             {Send: "hload\n", Kind: HLoad, Labels: scanLabels},
	"hload-relayok\n":     {Send: "hload-relayok\n", Kind: HLoad, Labels: relayokLabels},
	"hload-senderok\n":    {Send: "hload-senderok\n", Kind: HLoad, Labels: senderokLabels},
	"hload-recipok\n":     {Send: "hload-recipok\n", Kind: HLoad, Labels: recipokLabels},
}

// PlanFor maps one command line to its plan (docs/reference/protocol.md §9.2).
// The line is compared as a whole, newline included, so "status" without a
// newline (the last line of -i input at EOF) is not the status command: it
// is sent as it is and its reply decoded. Three prefixes take an argument:
// "rawload1 N" sends "load1 N", "load1 N" is formatted, and "jsonload1 N"
// sends "load1 N" and formats it as JSON.
func PlanFor(line string) Plan {
	if p, ok := exact[line]; ok {
		return p
	}
	switch {
	case strings.HasPrefix(line, "rawload1 "):
		return Plan{Send: line[len("raw"):], Kind: Raw}
	case strings.HasPrefix(line, "load1 "):
		return Plan{Send: line, Kind: Load1}
	case strings.HasPrefix(line, "jsonload1 "):
		return Plan{Send: line[len("json"):], Kind: JSONLoad1}
	}
	return Plan{Send: line, Kind: Decoded}
}
