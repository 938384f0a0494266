package mxctrl

import "strings"

// DefaultSocket is the privileged control socket md-mx-ctrl talks to when
// -s is not given: SPOOLDIR/mimedefang-multiplexor.sock.
const DefaultSocket = "/var/spool/MIMEDefang/mimedefang-multiplexor.sock"

// Options is the result of parsing md-mx-ctrl's argument vector.
//
// Parsing stops at the first -h or at the first bad option, exactly as the
// original's getopt loop does (it calls usage and exits there), so Options
// then holds what had been parsed up to that point: `-s a -h` shows the help
// of socket a, `-h -s a` the help of the default socket.
type Options struct {
	// Socket is the -s path; empty when SocketSet is false.
	Socket string
	// SocketSet reports whether -s was given. An empty -s "" is a real
	// (if useless) socket path, not the default.
	SocketSet bool
	// Interactive is -i: read one command per line from standard input,
	// and send error messages to standard output.
	Interactive bool
	// Help is -h: print usage and the multiplexor's help, exit 0.
	Help bool
	// Problem is the getopt diagnostic for a bad option, without the
	// program-name prefix and newline, e.g. "invalid option -- 'x'".
	// When set, the program prints usage and exits 1.
	Problem string
	// Command holds the command words: the non-option arguments in order.
	Command []string
}

// SocketPath returns the socket to use: the -s path, or DefaultSocket.
func (o Options) SocketPath() string {
	if o.SocketSet {
		return o.Socket
	}
	return DefaultSocket
}

// ParseArgs parses args (the arguments after the program name) the way glibc
// getopt(argc, argv, "hs:i") does:
//
//   - Options and command words may be mixed; options are taken from
//     anywhere ("md-mx-ctrl status -s /x" uses socket /x), unless
//     posixlyCorrect is true (the POSIXLY_CORRECT environment variable),
//     in which case the first non-option ends option parsing.
//   - "--" ends option parsing; every later argument is a command word.
//     A lone "-" is a command word.
//   - Options cluster ("-is path"), and -s takes the rest of its cluster or,
//     if that is empty, the next argument whatever it looks like ("-s -i").
//
// As an extension the long forms --socket PATH, --socket=PATH,
// --interactive and --help are accepted. Any other argument starting with
// "--" is read as the original reads it, as a cluster of short options
// beginning with '-', which is an invalid option.
func ParseArgs(args []string, posixlyCorrect bool) Options {
	var o Options
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			o.Command = append(o.Command, args[i+1:]...)
			return o
		case len(a) < 2 || a[0] != '-':
			if posixlyCorrect {
				o.Command = append(o.Command, args[i:]...)
				return o
			}
			o.Command = append(o.Command, a)
			continue
		case a == "--help":
			o.Help = true
			return o
		case a == "--interactive":
			o.Interactive = true
			continue
		case a == "--socket":
			if i+1 >= len(args) {
				o.Problem = "option '--socket' requires an argument"
				return o
			}
			i++
			o.Socket, o.SocketSet = args[i], true
			continue
		case strings.HasPrefix(a, "--socket="):
			o.Socket, o.SocketSet = a[len("--socket="):], true
			continue
		}
		// A cluster of short options.
		for j := 1; j < len(a); j++ {
			switch c := a[j]; c {
			case 'h':
				o.Help = true
				return o
			case 'i':
				o.Interactive = true
			case 's':
				switch {
				case j+1 < len(a):
					o.Socket = a[j+1:]
				case i+1 < len(args):
					i++
					o.Socket = args[i]
				default:
					o.Problem = "option requires an argument -- 's'"
					return o
				}
				o.SocketSet = true
				j = len(a)
			default:
				o.Problem = "invalid option -- '" + string([]byte{c}) + "'"
				return o
			}
		}
	}
	return o
}
