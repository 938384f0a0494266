package mxctrl

import (
	"bufio"
	"errors"
	"io"
	"os"
	"time"

	"github.com/mdgo/md/proto"
)

// Usage is the text -h prints on standard error before the multiplexor's
// own list of commands.
const Usage = "Usage: md-mx-ctrl [options] command\n\n" +
	"Options:\n" +
	"-h              -- Display help\n" +
	"-s path         -- Specify path to multiplexor socket\n" +
	"-i              -- Read commands from stdin\n"

// Controller runs md-mx-ctrl. The zero value is not usable: set the three
// streams, or use ForProcess. The other fields are dependencies that tests
// set and a real process leaves nil.
type Controller struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	// Exchange sends one request and returns the reply; nil means the
	// package's Exchange over a UNIX-domain socket.
	Exchange func(socket, request string, limit int) (string, error)
	// Now is the clock of the JSON timestamps; nil means time.Now.
	Now func() time.Time
	// Hostname names the host in JSON output; nil means os.Hostname.
	Hostname func() (string, error)
	// LookupEnv reads POSIXLY_CORRECT; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// BrokenPipe is called when writing a request fails with EPIPE, before
	// the error is reported; ForProcess sets it to DieOfSIGPIPE, which is
	// what happens to the original. Nil reports the error, as the
	// original does when started with SIGPIPE ignored.
	BrokenPipe func()
}

// ForProcess returns a Controller on the process's standard streams that
// behaves like the original program in every respect, dying of SIGPIPE
// included.
func ForProcess() *Controller {
	return &Controller{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, BrokenPipe: DieOfSIGPIPE}
}

// session is one run: where output and errors go, and which socket.
type session struct {
	c      *Controller
	out    *bufio.Writer // standard output, flushed after each command
	errw   io.Writer     // the error stream: stderr, or out under -i
	socket string
}

// Main runs md-mx-ctrl with the argument vector argv (argv[0] is the program
// name, used in option diagnostics) and returns the exit status:
//
//   - 0 after -h, after -i (whatever its commands did), and when a command
//     succeeded;
//   - 1 after a bad option, with no command, on a socket error, and on a
//     reply that status, barstatus, jsonstatus, load1 or jsonload1 rejects.
//
// Usage and the multiplexor's help go to standard error; so do error
// messages, except under -i, where they go to standard output. Standard
// output is buffered and flushed after each command and at the end, so that
// it comes after everything written to standard error, as with C stdio.
func (c *Controller) Main(argv []string) int {
	prog := "md-mx-ctrl"
	var args []string
	if len(argv) > 0 {
		prog, args = argv[0], argv[1:]
	}
	lookup := c.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	_, posix := lookup("POSIXLY_CORRECT")
	o := ParseArgs(args, posix)

	s := &session{c: c, out: bufio.NewWriterSize(c.Stdout, 64<<10), errw: c.Stderr, socket: o.SocketPath()}
	defer s.out.Flush()
	if o.Interactive {
		s.errw = s.out
	}

	switch {
	case o.Problem != "":
		io.WriteString(c.Stderr, prog+": "+o.Problem+"\n")
		s.usage()
		return 1
	case o.Help:
		s.usage()
		return 0
	case !o.Interactive && len(o.Command) == 0:
		s.usage()
		return 1
	case o.Interactive:
		s.interactive()
		return 0
	}
	return s.run(BuildCommand(o.Command))
}

// usage prints Usage and, if the socket answers, the multiplexor's help.
func (s *session) usage() {
	io.WriteString(s.c.Stderr, Usage)
	reply, err := s.exchange("help\n", MaxRawReply)
	if err != nil {
		return
	}
	io.WriteString(s.c.Stderr, "\nPossible commands:\n"+proto.CString(reply))
}

// interactive runs one command per line of standard input. Lines are read
// as C fgets reads them into the original's buffer: up to and including a
// newline, at most MaxCommand-1 bytes, and only up to a NUL byte matters.
func (s *session) interactive() {
	in := bufio.NewReaderSize(s.c.Stdin, 64<<10)
	line := make([]byte, 0, 256)
	for {
		line = line[:0]
		var err error
		for len(line) < MaxCommand-1 {
			var b byte
			if b, err = in.ReadByte(); err != nil {
				break
			}
			line = append(line, b)
			if b == '\n' {
				break
			}
		}
		if err != nil && (!errors.Is(err, io.EOF) || len(line) == 0) {
			return
		}
		s.run(proto.CString(string(line)))
		s.out.Flush()
	}
}

// run carries out one command line and returns its exit status.
func (s *session) run(line string) int {
	p := PlanFor(line)
	reply, err := s.exchange(p.Send, p.Limit())
	if err != nil {
		return 1
	}
	var at Stamp
	if p.Kind == JSONStatus || p.Kind == JSONLoad1 {
		at = s.stamp()
	}
	r := Format(p, reply, at)
	io.WriteString(s.errw, r.Errout)
	s.out.WriteString(r.Stdout)
	if r.Failed {
		return 1
	}
	return 0
}

// exchange sends one request and reports a failure on the error stream.
func (s *session) exchange(request string, limit int) (string, error) {
	ex := s.c.Exchange
	if ex == nil {
		ex = Exchange
	}
	reply, err := ex(s.socket, request, limit)
	if err == nil {
		return reply, nil
	}
	if IsBrokenPipe(err) && s.c.BrokenPipe != nil {
		s.c.BrokenPipe()
	}
	var te *TransportError
	if errors.As(err, &te) {
		io.WriteString(s.errw, te.Message())
	} else {
		io.WriteString(s.errw, "ERROR MXCommand: "+err.Error()+"\n")
	}
	return "", err
}

// stamp is the time and host name for JSON output.
func (s *session) stamp() Stamp {
	now, host := s.c.Now, s.c.Hostname
	if now == nil {
		now = time.Now
	}
	if host == nil {
		host = os.Hostname
	}
	h, _ := host()
	return Stamp{Time: now(), Hostname: h}
}
