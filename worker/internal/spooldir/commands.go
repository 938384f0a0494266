package spooldir

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mdgo/md/proto"
)

// ErrNoF is returned (wrapped) by ReadCommands with needF when COMMANDS has
// no F line, which mimedefang.pl treats as fatal (usually a full spool).
var ErrNoF = errors.New("spooldir: COMMANDS file did not end with F line")

// Commands is the content of a COMMANDS file, as read_commands_file turns
// it into globals. Fields keep their zero value when no line set them.
type Commands struct {
	MIMEDefangID       string               // i
	Sender             string               // S
	SenderESMTPArgs    []string             // s
	SendmailMacros     map[string]string    // =
	QueueID            string               // Q (the last one wins)
	RelayHostname      string               // H, or J's reverse name
	RealRelayHostname  string               // H
	RelayAddr          string               // I, or J
	RealRelayAddr      string               // I
	Helo               string               // E
	Recipients         []string             // R
	RecipientMailers   map[string][3]string // R: mailer, host, addr
	RecipientESMTPArgs map[string][]string  // r, for the latest R
	Subject            string               // first U
	SubjectCount       int                  // number of U lines
	MessageID          string               // X
	SuspiciousHeaders  bool                 // !
	SuspiciousBody     bool                 // ?
	// WasResent is true when a J line (a valid IP-validation header)
	// was seen; RelayAddr is then its address and RelayHostname its
	// reverse name, or "[addr]".
	WasResent bool
	// SawF is true when the F line was reached.
	SawF bool
	// Unknown lists the letters of lines that were not understood, for
	// the log.
	Unknown []string
}

// LookupAddr returns the reverse DNS name of ip, or false. ReadCommands
// uses it for J lines; nil means no lookup ("[ip]").
type LookupAddr func(ip string) (string, bool)

// ReadCommands reads dir/COMMANDS. With needF a file without F is an error
// wrapping ErrNoF (the fields read so far are still returned).
func ReadCommands(dir string, needF bool, lookup LookupAddr) (*Commands, error) {
	f, err := os.Open(filepath.Join(dir, "COMMANDS"))
	if err != nil {
		return nil, fmt.Errorf("spooldir: cannot open COMMANDS: %w", err)
	}
	defer f.Close()
	return ParseCommands(f, needF, lookup)
}

// ParseCommands parses a COMMANDS file from r, line by line, exactly as
// read_commands_file: each line minus its "\n" is percent-decoded as a
// whole, its first byte is the letter and the rest the argument; for R and
// = the raw (encoded) argument is split on white space and each field
// decoded on its own, a missing or empty mailer, host or addr of an R line
// becoming "?". Reading stops at F. Lines with another letter, and empty
// lines, are listed in Unknown.
func ParseCommands(r io.Reader, needF bool, lookup LookupAddr) (*Commands, error) {
	c := &Commands{
		SendmailMacros:     map[string]string{},
		RecipientMailers:   map[string][3]string{},
		RecipientESMTPArgs: map[string][]string{},
	}
	br := bufio.NewReader(r)
	lastRcpt := ""
	for {
		raw, err := br.ReadBytes('\n')
		if len(raw) == 0 && err != nil {
			if err != io.EOF {
				return c, fmt.Errorf("spooldir: reading COMMANDS: %w", err)
			}
			break
		}
		raw = bytes.TrimSuffix(raw, []byte("\n"))
		// Perl's chomp removes only the "\n"; a CR stays. The letter is
		// the first byte of the decoded line, the raw argument the raw
		// line after its first byte.
		dec := proto.Decode(string(raw))
		letter, arg, rawArg := byte(0), "", ""
		if len(dec) > 0 {
			letter, arg = dec[0], dec[1:]
		}
		if len(raw) > 0 {
			rawArg = string(raw[1:])
		}
		switch letter {
		case 'F':
			c.SawF = true
			return c, nil
		case 'i':
			c.MIMEDefangID = arg
		case 'S':
			c.Sender = arg
		case 's':
			c.SenderESMTPArgs = append(c.SenderESMTPArgs, arg)
		case '=':
			f := proto.Fields(rawArg)
			if len(f) >= 1 {
				v := ""
				if len(f) >= 2 {
					v = proto.Decode(f[1])
				}
				c.SendmailMacros[proto.Decode(f[0])] = v
			}
		case 'Q':
			c.QueueID = arg
		case 'H':
			c.RelayHostname, c.RealRelayHostname = arg, arg
		case 'I':
			c.RelayAddr, c.RealRelayAddr = arg, arg
		case 'E':
			c.Helo = arg
		case 'R':
			f := proto.Fields(rawArg)
			get := func(i int) string {
				if i < len(f) && f[i] != "" {
					return proto.Decode(f[i])
				}
				if i == 0 {
					return ""
				}
				return "?"
			}
			rcpt := get(0)
			c.Recipients = append(c.Recipients, rcpt)
			c.RecipientMailers[rcpt] = [3]string{get(1), get(2), get(3)}
			lastRcpt = rcpt
		case 'r':
			c.RecipientESMTPArgs[lastRcpt] = append(c.RecipientESMTPArgs[lastRcpt], arg)
		case 'U':
			if c.SubjectCount == 0 {
				c.Subject = arg
			}
			c.SubjectCount++
		case 'X':
			c.MessageID = arg
		case '!':
			c.SuspiciousHeaders = true
		case '?':
			c.SuspiciousBody = true
		case 'J':
			c.WasResent = true
			c.RelayAddr = arg
			c.RelayHostname = "[" + arg + "]"
			if lookup != nil {
				if name, ok := lookup(arg); ok {
					c.RelayHostname = name
				}
			}
		default:
			if len(dec) > 0 {
				c.Unknown = append(c.Unknown, dec[:1])
			} else {
				c.Unknown = append(c.Unknown, "")
			}
		}
		if err != nil {
			break
		}
	}
	if needF {
		return c, ErrNoF
	}
	return c, nil
}
