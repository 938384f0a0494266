package filter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mdgo/md/proto"
	"github.com/mdgo/md/worker/filter/dkim"
)

// WorkerOptions configure a Worker. The zero value is usable: logs go to
// stderr, nothing changes the process's working directory, no status tags.
type WorkerOptions struct {
	// Log receives one line per log message ("<qid>: text\n"). Nil means
	// os.Stderr, which the multiplexor logs.
	Log io.Writer
	// StatusTags, when set, receives mimedefang.pl's status tags
	// ("-serveru" mode writes them to fd 3).
	StatusTags io.Writer
	// Chdir makes the worker chdir into the working directory during
	// senderok, recipok and scan and back to the spool directory after,
	// as mimedefang.pl does, so that filters can use relative paths.
	// Tests leave it off; the worker itself only uses absolute paths.
	Chdir bool
	// LookupAddr resolves the address of a COMMANDS J line to a host
	// name. Nil uses the system resolver.
	LookupAddr func(ip string) (string, bool)
	// OnCall, when set, receives every call of a network integration
	// (clamd, spamd, rspamd, the SMTP call-out) once it has returned:
	// `md-worker test` prints them.
	OnCall func(IntegrationCall)
	// OnDNSQuery, when set, is told of every DNS query the DNS functions
	// send (not of answers from the request's cache): its type, outcome
	// (the response code, or "timeout" / "error") and wall time. It may
	// be called from several goroutines at once.
	OnDNSQuery func(qtype, outcome string, took time.Duration)
}

// Worker runs requests for one filter in one process: the state that
// mimedefang.pl keeps across requests (the filter, its Config, the log).
// Requests are handled one at a time; a Worker is not safe for concurrent
// requests.
type Worker struct {
	cb   *Callbacks
	cfg  *Config
	opts WorkerOptions

	logMu sync.Mutex
	tags  []string

	// callMu makes OnCall's calls one at a time (CheckAll's checks run
	// concurrently).
	callMu sync.Mutex

	// The virus scanners initialize_virus_scanner_routines chose, once
	// per worker as in mimedefang.pl.
	virusInit     bool
	virusScanners []virusScanner

	// dkimKeys holds the DKIM private keys md_dkim_sign has read: once
	// per worker, again only when the file changes.
	dkimKeys dkim.KeyCache
}

// NewWorker returns a Worker for the filter cb with configuration cfg (nil:
// DefaultConfig). As mimedefang.pl does after loading the filter, an unset
// GeneralWarning is fixed now from AdminName, AdminAddress and URL.
func NewWorker(cb *Callbacks, cfg *Config, opts WorkerOptions) *Worker {
	if cb == nil {
		cb = &Callbacks{}
	}
	if cfg == nil {
		cfg = DefaultConfig()
	}
	if cfg.GeneralWarning == nil {
		cfg.SetGeneralWarning(cfg.Warning())
	}
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	return &Worker{cb: cb, cfg: cfg, opts: opts}
}

// Config returns the worker's configuration.
func (w *Worker) Config() *Config { return w.cfg }

// Callbacks returns the worker's filter.
func (w *Worker) Callbacks() *Callbacks { return w.cb }

func (w *Worker) callbacks() *Callbacks {
	if w == nil || w.cb == nil {
		return &Callbacks{}
	}
	return w.cb
}

func (w *Worker) logLine(msg string) {
	w.logMu.Lock()
	defer w.logMu.Unlock()
	io.WriteString(w.opts.Log, msg+"\n")
}

// NewContext returns a fresh Context for one request: every per-message
// variable at its reset value (init_globals), CWD the spool directory.
func (w *Worker) NewContext(parent context.Context) *Context {
	if parent == nil {
		parent = context.Background()
	}
	return &Context{
		Context:            parent,
		Config:             w.cfg,
		w:                  w,
		QueueID:            proto.NoQueue,
		MsgID:              proto.NoQueue,
		MessageID:          proto.NoQueue,
		CWD:                w.cfg.SpoolDir,
		spoolDir:           w.cfg.SpoolDir,
		RecipientMailers:   map[string]Mailer{},
		RecipientESMTPArgs: map[string][]string{},
		SendmailMacros:     map[string]string{},
	}
}

// PanicError is the error a callback's panic is turned into.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("filter: callback panicked: %v", e.Value) }

// call runs fn, turning a panic into a *PanicError and noting a passed
// deadline: a callback that returns after the deadline fails the request
// even when it returned no error.
func call(c *Context, name string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", name, err)
		} else if c.err != nil {
			err = c.err
		} else if cerr := c.Err(); cerr != nil {
			err = fmt.Errorf("%s: %w", name, cerr)
		}
	}()
	return fn()
}

// Initialize runs filter_initialize once, before the first request.
func (w *Worker) Initialize(parent context.Context) error {
	if w.cb.Initialize == nil {
		return nil
	}
	c := w.NewContext(parent)
	return call(c, "filter_initialize", func() error { return w.cb.Initialize(c) })
}

// Cleanup runs filter_cleanup at EOF and returns the exit status (0 when
// undefined).
func (w *Worker) Cleanup(parent context.Context) (int, error) {
	if w.cb.Cleanup == nil {
		return 0, nil
	}
	c := w.NewContext(parent)
	status := 0
	err := call(c, "filter_cleanup", func() error {
		var err error
		status, err = w.cb.Cleanup(c)
		return err
	})
	return status, err
}

// Validate runs filter_validate for "-validate" and returns the exit
// status; without filter_validate it prints mimedefang.pl's complaint to
// the log and returns 1.
func (w *Worker) Validate(parent context.Context) int {
	if w.cb.Validate == nil {
		w.logLine("ERROR: You must define a function called filter_validate in your filter\nto use the -validate argument.")
		return 1
	}
	c := w.NewContext(parent)
	status := 0
	if err := call(c, "filter_validate", func() error {
		var err error
		status, err = w.cb.Validate(c)
		return err
	}); err != nil {
		w.logLine(err.Error())
		return 1
	}
	return status
}

// Handle answers one request line of the server protocol (mimedefang.pl's
// do_main_loop body) and returns the reply, one line ending in "\n". The
// line is split on white space and percent-decoded, the command
// lower-cased; built-in commands come first (ping, scan, relayok, helook,
// senderok, recipok, map, tick), then Callbacks.Handlers, then UnknownCmd,
// else "error: Unknown command". A callback error, panic or deadline gives
// "error: <msg>"; the details are logged with the queue ID. An empty line
// gets "error: Unknown command" as well.
func (w *Worker) Handle(parent context.Context, line string) string {
	c := w.NewContext(parent)
	reply, err := w.handle(c, line)
	if err != nil {
		c.Logf("%v", err)
		var pe *PanicError
		if errors.As(err, &pe) {
			c.Logf("%s", pe.Stack)
		}
		return proto.ErrorReply(err.Error())
	}
	return reply
}

func (w *Worker) handle(c *Context, line string) (string, error) {
	line = strings.TrimSuffix(line, "\n")
	req, err := proto.ParseRequest(line)
	if err != nil {
		return proto.ErrorReply("Unknown command"), nil
	}
	switch r := req.(type) {
	case proto.Ping:
		return proto.PingReply, nil
	case proto.Scan:
		return w.handleScan(c, r)
	case proto.RelayOK:
		return w.handleRelay(c, r)
	case proto.HeloOK:
		return w.handleHelo(c, r)
	case proto.SenderOK:
		return w.handleSender(c, r)
	case proto.RecipOK:
		return w.handleRecipient(c, r)
	case proto.Map:
		return w.handleMap(c, r)
	case proto.Tick:
		return w.handleTick(c, strconv.Itoa(r.N), r.N)
	case proto.Unknown:
		if r.Cmd == "tick" {
			// A tick whose argument is not an integer: Perl passes
			// the string on and echoes it.
			arg := ""
			if len(r.Args) > 0 {
				arg = r.Args[0]
			}
			return w.handleTick(c, arg, 0)
		}
		return w.handleUnknown(c, r.Cmd, r.Args)
	}
	// free and anything else typed that a worker has no handler for.
	return w.handleUnknown(c, req.Command(), nil)
}

func (w *Worker) handleRelay(c *Context, r proto.RelayOK) (string, error) {
	c.RelayAddr, c.RelayHostname, c.QueueID, c.MsgID = r.IP, r.Name, r.QueueID, r.QueueID
	if w.cb.Relay == nil {
		return undefinedAnswer, nil
	}
	var a Answer
	err := call(c, "filter_relay", func() error {
		var err error
		a, err = w.cb.Relay(c, RelayRequest{IP: r.IP, Name: r.Name, Port: r.ClientPort, MyIP: r.MyIP, MyPort: r.DaemonPort, QueueID: r.QueueID})
		return err
	})
	if err != nil {
		return "", err
	}
	return w.answer(c, a, "filter_relay", "relay "+r.IP), nil
}

func (w *Worker) handleHelo(c *Context, r proto.HeloOK) (string, error) {
	c.RelayAddr, c.RelayHostname, c.Helo, c.QueueID, c.MsgID = r.IP, r.Name, r.Helo, r.QueueID, r.QueueID
	if w.cb.Helo == nil {
		return undefinedAnswer, nil
	}
	var a Answer
	err := call(c, "filter_helo", func() error {
		var err error
		a, err = w.cb.Helo(c, HeloRequest{IP: r.IP, Name: r.Name, Helo: r.Helo, Port: r.ClientPort, MyIP: r.MyIP, MyPort: r.DaemonPort, QueueID: r.QueueID})
		return err
	})
	if err != nil {
		return "", err
	}
	return w.answer(c, a, "filter_helo", "helo "+r.Helo), nil
}

// enterDir makes dir the request's working directory (and, with Chdir,
// the process's). It returns a function restoring the spool directory.
func (w *Worker) enterDir(c *Context, dir string) (func(), error) {
	if dir == "" {
		return func() {}, errors.New("no working directory given")
	}
	c.CWD = dir
	if !w.opts.Chdir {
		return func() {}, nil
	}
	if err := os.Chdir(dir); err != nil {
		return func() {}, err
	}
	return func() { _ = os.Chdir(w.cfg.SpoolDir) }, nil
}

func (w *Worker) handleSender(c *Context, r proto.SenderOK) (string, error) {
	c.CWD, c.QueueID, c.ESMTPArgs = r.Dir, r.QueueID, r.ESMTPArgs
	if w.cb.Sender == nil {
		return undefinedAnswer, nil
	}
	back, err := w.enterDir(c, r.Dir)
	defer back()
	if err != nil {
		// mimedefang.pl answers TEMPFAIL and then runs the filter and
		// answers again; one answer keeps the stream in step.
		return Answer{Verdict: TempFail, Msg: fmt.Sprintf("could not chdir(%s): %v", r.Dir, err)}.Reply(), nil
	}
	c.MsgID, c.Sender, c.RelayAddr, c.RelayHostname, c.Helo = r.QueueID, r.Sender, r.IP, r.Name, r.Helo
	var a Answer
	err = call(c, "filter_sender", func() error {
		var err error
		a, err = w.cb.Sender(c, SenderRequest{Sender: r.Sender, IP: r.IP, Name: r.Name, Helo: r.Helo, ESMTPArgs: r.ESMTPArgs})
		return err
	})
	if cerr := c.closeResults(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	return w.answer(c, a, "filter_sender", "sender "+r.Sender), nil
}

func (w *Worker) handleRecipient(c *Context, r proto.RecipOK) (string, error) {
	c.CWD, c.QueueID, c.MsgID, c.ESMTPArgs = r.Dir, r.QueueID, r.QueueID, r.ESMTPArgs
	if w.cb.Recipient == nil {
		return undefinedAnswer, nil
	}
	back, err := w.enterDir(c, r.Dir)
	defer back()
	if err != nil {
		return Answer{Verdict: TempFail, Msg: fmt.Sprintf("could not chdir(%s): %v", r.Dir, err)}.Reply(), nil
	}
	c.Recipients = []string{r.Rcpt}
	c.Sender, c.RelayAddr, c.RelayHostname, c.Helo = r.Sender, r.IP, r.Name, r.Helo
	c.RecipientMailers[r.Rcpt] = Mailer{Mailer: r.Mailer, Host: r.Host, Addr: r.Addr}
	var a Answer
	err = call(c, "filter_recipient", func() error {
		var err error
		a, err = w.cb.Recipient(c, RecipientRequest{Rcpt: r.Rcpt, Sender: r.Sender, IP: r.IP, Name: r.Name,
			First: r.FirstRcpt, Helo: r.Helo, Mailer: r.Mailer, Host: r.Host, Addr: r.Addr, ESMTPArgs: r.ESMTPArgs})
		return err
	})
	if cerr := c.closeResults(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	return w.answer(c, a, "filter_recipient", "recipient "+r.Rcpt), nil
}

// answer formats a check answer and logs DISCARD (info) as
// send_filter_answer does.
func (w *Worker) answer(c *Context, a Answer, who, what string) string {
	switch a.Verdict.ProtoVerdict() {
	case proto.Discard:
		c.Logf("%s said DISCARD: Discarding this message", who)
	}
	return a.Reply()
}

var mapCodes = map[string]bool{"OK": true, "NOTFOUND": true, "TEMP": true, "TIMEOUT": true, "PERM": true}

func (w *Worker) handleMap(c *Context, r proto.Map) (string, error) {
	if w.cb.Map == nil {
		c.Logf("No filter_map function defined")
		return "PERM No filter_map function defined\n", nil
	}
	var code, val string
	err := call(c, "filter_map", func() error {
		var err error
		code, val, err = w.cb.Map(c, r.Name, r.Key)
		return err
	})
	if err != nil {
		return "", err
	}
	if !mapCodes[code] {
		c.Logf("Invalid code from filter_map: %s", code)
		return "PERM Invalid code from filter_map: " + proto.Encode(code) + "\n", nil
	}
	return code + " " + proto.Encode(val) + "\n", nil
}

func (w *Worker) handleTick(c *Context, arg string, n int) (string, error) {
	if arg == "" {
		arg = "0"
	}
	if w.cb.Tick == nil {
		return proto.ErrorReply("tick " + arg + ": filter_tick undefined"), nil
	}
	if err := call(c, "filter_tick", func() error { return w.cb.Tick(c, n) }); err != nil {
		return "", err
	}
	// Perl prints the argument raw; every control byte (a decoded CR or
	// LF would split the reply) becomes a space, as in error replies.
	return "tock " + strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, arg) + "\n", nil
}

var okOrError = regexp.MustCompile(`^(ok|error:)$`)

func (w *Worker) handleUnknown(c *Context, cmd string, args []string) (string, error) {
	if h := w.cb.Handlers[cmd]; h != nil {
		var reply string
		err := call(c, "handle_"+cmd, func() error {
			var err error
			reply, err = h(c, args)
			return err
		})
		if err != nil {
			return "", err
		}
		reply = strings.NewReplacer("\r", " ", "\n", " ").Replace(strings.TrimSuffix(reply, "\n"))
		return reply + "\n", nil
	}
	if w.cb.UnknownCmd == nil {
		return proto.ErrorReply("Unknown command"), nil
	}
	var out []string
	err := call(c, "filter_unknown_cmd", func() error {
		var err error
		out, err = w.cb.UnknownCmd(c, cmd, args)
		return err
	})
	if err != nil {
		return "", err
	}
	if len(out) == 0 {
		out = []string{"error:"}
	} else if !okOrError.MatchString(out[0]) {
		out[0] = "error:"
	}
	enc := make([]string, len(out))
	for i, s := range out {
		enc[i] = proto.Encode(s)
	}
	return strings.Join(enc, " ") + "\n", nil
}

func (w *Worker) handleScan(c *Context, r proto.Scan) (string, error) {
	// Log lines before COMMANDS is read carry the request's queue ID.
	c.MsgID = r.QueueID
	if err := w.scan(c, r.Dir); err != nil {
		return "", err
	}
	return proto.ScanOK, nil
}

// pushStatus and popStatus are push_status_tag / pop_status_tag.
func (w *Worker) pushStatus(c *Context, tag string) {
	if w.opts.StatusTags == nil {
		return
	}
	w.tags = append(w.tags, tag)
	if tag != "" {
		tag = "> " + tag
	}
	w.setStatus(c, len(w.tags), tag)
}

func (w *Worker) popStatus(c *Context) {
	if w.opts.StatusTags == nil {
		return
	}
	if len(w.tags) > 0 {
		w.tags = w.tags[:len(w.tags)-1]
	}
	tag := "no_tag"
	if len(w.tags) > 0 && w.tags[0] != "" {
		tag = w.tags[0]
	}
	w.setStatus(c, len(w.tags), "< "+tag)
}

func (w *Worker) setStatus(c *Context, depth int, tag string) {
	if tag == "" {
		io.WriteString(w.opts.StatusTags, "\n")
		return
	}
	b := []byte(tag)
	for i, ch := range b {
		if ch <= 0x20 || ch >= 0x7f {
			b[i] = ' '
		}
	}
	s := strconv.Itoa(depth) + ": " + string(b)
	if c.MsgID != "" && c.MsgID != proto.NoQueue {
		s += " " + c.MsgID
	}
	io.WriteString(w.opts.StatusTags, proto.Encode(s)+"\n")
}

// lookupAddr resolves a J-line address.
func (w *Worker) lookupAddr(ip string) (string, bool) {
	if w.opts.LookupAddr != nil {
		return w.opts.LookupAddr(ip)
	}
	names, err := net.LookupAddr(ip)
	if err != nil || len(names) == 0 {
		return "", false
	}
	return strings.TrimSuffix(names[0], "."), true
}
