package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mdgo/md/milterd/internal/rawfile"
)

// File and directory names inside the spool (docs/reference/protocol.md §5.1, §5.2, §5.7).
const (
	// DirPrefix starts the name of every working directory.
	DirPrefix = "mdefang-"
	// NoDeleteFile, when it exists in the spool directory, keeps every
	// working directory from being removed.
	NoDeleteFile = "DO-NOT-DELETE-WORK-DIRS"

	CommandsFile = "COMMANDS"
	HeadersFile  = "HEADERS"
	InputMsgFile = "INPUTMSG"
	ResultsFile  = "RESULTS"
	NewBodyFile  = "NEWBODY"
)

// Options are the milter's command-line settings that shape the working
// directory. The zero value (apart from SpoolDir) is the original's default.
type Options struct {
	// SpoolDir is the directory in which working directories are created
	// (-z). Required.
	SpoolDir string
	// GroupReadable is -G: directories 0750 and files 0640 instead of 0700
	// and 0600. The modes are set explicitly, whatever the process umask.
	GroupReadable bool
	// StripBareCR is -c: a bare CR in the body is dropped instead of kept.
	// Either way the body is marked suspicious.
	StripBareCR bool
	// ConserveDescriptors is -C: files are opened and closed in every call
	// instead of being held open for the whole message.
	ConserveDescriptors bool
	// ValidateHeader is the IP-validation header name read from the key file
	// (docs/reference/protocol.md §13.3); "" turns the `J` line off.
	ValidateHeader string
	// KeepFoldCR writes CRLF where a header value delivered by the MTA holds
	// CRLF (at fold points), as MIMEDefang up to 3.6 (Debian's 3.3 included)
	// did. The default drops the CR, as MIMEDefang does since commit 977f1a8
	// (docs/reference/protocol.md §14 item 31), so that INPUTMSG has LF line ends only.
	// Postfix delivers folded headers with LF alone, so with Postfix both
	// settings write the same bytes.
	KeepFoldCR bool
	// Debug is -d: Cleanup never removes a directory.
	Debug bool
	// KeepFailed is -k: Cleanup keeps the directory of a message whose
	// filter failed (see MarkFilterFailed).
	KeepFailed bool
}

// DirMode is the permission of working directories: 0700, or 0750 with -G.
func (o Options) DirMode() fs.FileMode {
	if o.GroupReadable {
		return 0o750
	}
	return 0o700
}

// FileMode is the permission of the files the milter writes: 0600, or 0640
// with -G.
func (o Options) FileMode() fs.FileMode {
	if o.GroupReadable {
		return 0o640
	}
	return 0o600
}

// DirName returns the working directory's name: mdefang-<qid> when the queue
// ID is known at MAIL FROM, mdefang-<mxid> otherwise. A queue ID learnt later
// does not rename the directory.
func DirName(m *MailFrom) string {
	if m.QueueID != "" {
		return DirPrefix + m.QueueID
	}
	return DirPrefix + m.ID
}

// ErrClosed is returned by a write to a WorkingDir after Finish, Close,
// Cleanup or Remove.
var ErrClosed = errors.New("spool: working directory closed")

// spoolFile is one of the files the milter appends to, opened lazily as
// get_fd does and closed after every call under -C (put_fd).
type spoolFile struct {
	name    string
	f       *os.File
	created bool
}

// WorkingDir is one message's working directory while the milter writes it.
// Its methods follow the milter callbacks; they are not safe for concurrent
// use (one milter session drives one WorkingDir).
type WorkingDir struct {
	opts Options
	path string

	inputMsg, headers, commands spoolFile

	cmd         Commands   // COMMANDS lines not written yet
	pendInput   []byte     // INPUTMSG header lines not written yet (Header)
	pendHeaders []byte     // HEADERS lines not written yet (Header)
	body        bodyWriter // body line-end conversion and its buffer
	qid         string
	qidWritten  bool

	contentTypes   int
	sawMIMEVersion bool
	sawValidation  bool
	filterFailed   bool

	closed  bool
	cleaned bool
}

// Create does what envfrom does (docs/reference/protocol.md §4.3, §5.1): it creates the
// working directory DirName(m) inside opts.SpoolDir with mode
// opts.DirMode(), creates an empty HEADERS file and writes the MAIL FROM
// batch of COMMANDS (Commands.MailFrom).
//
// If the directory already exists, Create fails with an error for which
// errors.Is(err, fs.ErrExist) holds, and the caller tempfails the MAIL FROM;
// it never reuses or retries a name. If a later step fails, the directory is
// removed again.
func Create(opts Options, m MailFrom) (*WorkingDir, error) {
	if opts.SpoolDir == "" {
		return nil, errors.New("spool: no spool directory")
	}
	w := &WorkingDir{
		opts:     opts,
		path:     filepath.Join(opts.SpoolDir, DirName(&m)),
		inputMsg: spoolFile{name: InputMsgFile},
		headers:  spoolFile{name: HeadersFile},
		commands: spoolFile{name: CommandsFile},
		qid:      m.QueueID,
		body:     bodyWriter{strip: opts.StripBareCR},
	}
	if err := os.Mkdir(w.path, opts.DirMode()); err != nil {
		return nil, fmt.Errorf("spool: could not create directory: %w", err)
	}
	if err := os.Chmod(w.path, opts.DirMode()); err != nil {
		_ = rawfile.RemoveAll(w.path)
		return nil, fmt.Errorf("spool: %w", err)
	}
	// Even a message without headers has a HEADERS file.
	if _, err := w.get(&w.headers); err != nil {
		_ = w.Remove()
		return nil, err
	}
	if err := w.put(&w.headers); err != nil {
		_ = w.Remove()
		return nil, err
	}
	w.cmd.Reset()
	w.cmd.MailFrom(&m)
	if m.QueueID != "" {
		w.qidWritten = true
	}
	if err := w.flushCommands(); err != nil {
		_ = w.Remove()
		return nil, err
	}
	return w, nil
}

// Path returns the directory's full path, as sent in senderok, recipok and
// scan requests.
func (w *WorkingDir) Path() string { return w.path }

func (w *WorkingDir) get(sf *spoolFile) (*os.File, error) {
	if w.closed {
		return nil, ErrClosed
	}
	if sf.f != nil {
		return sf.f, nil
	}
	mode := w.opts.FileMode()
	f, err := rawfile.Open(filepath.Join(w.path, sf.name), os.O_CREATE|os.O_APPEND|os.O_RDWR, mode)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if !sf.created {
		if err := f.Chmod(mode); err != nil {
			f.Close()
			return nil, fmt.Errorf("spool: %w", err)
		}
		sf.created = true
	}
	sf.f = f
	return f, nil
}

func (w *WorkingDir) put(sf *spoolFile) error {
	if !w.opts.ConserveDescriptors {
		return nil
	}
	return closeFile(sf)
}

func closeFile(sf *spoolFile) error {
	if sf.f == nil {
		return nil
	}
	err := sf.f.Close()
	sf.f = nil
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// write appends b to a file in one write call, as write_dbuf does.
func (w *WorkingDir) write(sf *spoolFile, b []byte) error {
	f, err := w.get(sf)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		return wrap(sf.name, err)
	}
	return w.put(sf)
}

// flushCommands appends the lines built in w.cmd to COMMANDS, if any.
func (w *WorkingDir) flushCommands() error {
	if w.cmd.Len() == 0 {
		return nil
	}
	err := w.write(&w.commands, w.cmd.Bytes())
	w.cmd.Reset()
	return err
}

// Close closes the files without removing anything. Later writes fail with
// ErrClosed. It is safe to call more than once.
func (w *WorkingDir) Close() error {
	w.closed = true
	var first error
	for _, sf := range []*spoolFile{&w.inputMsg, &w.headers, &w.commands} {
		if err := closeFile(sf); err != nil && first == nil {
			first = err
		}
	}
	w.body.buf = nil
	return first
}

// MarkFilterFailed records that the filter failed (scan error, missing
// RESULTS ...), so that Cleanup keeps the directory under -k. The original
// sets this flag after its cleanup in some paths (docs/reference/protocol.md §14 item 28);
// the caller decides whether to call this before Cleanup.
func (w *WorkingDir) MarkFilterFailed() { w.filterFailed = true }

// Disposition says what Cleanup did with the directory, so that the caller
// can log the original's lines (docs/reference/protocol.md §5.7).
type Disposition int

const (
	// Removed: the directory was removed.
	Removed Disposition = iota
	// KeptDebug: kept because of -d (Options.Debug).
	KeptDebug
	// KeptNoDeleteFile: kept because <SpoolDir>/DO-NOT-DELETE-WORK-DIRS exists.
	KeptNoDeleteFile
	// KeptFilterFailed: kept because of -k and a failed filter.
	KeptFilterFailed
	// AlreadyCleaned: an earlier Cleanup or Remove already dealt with it;
	// nothing was done.
	AlreadyCleaned
)

func (d Disposition) String() string {
	switch d {
	case Removed:
		return "removed"
	case KeptDebug:
		return "kept (-d)"
	case KeptNoDeleteFile:
		return "kept (" + NoDeleteFile + ")"
	case KeptFilterFailed:
		return "kept (filter failed, -k)"
	case AlreadyCleaned:
		return "already cleaned"
	}
	return fmt.Sprintf("Disposition(%d)", int(d))
}

// Cleanup does what the original's cleanup does: it closes the files, then
// removes the directory recursively (without following symbolic links)
// unless -d is on, <SpoolDir>/DO-NOT-DELETE-WORK-DIRS exists, or -k is on and
// the filter failed. Only the first call acts; later calls return
// AlreadyCleaned. A close error is returned alongside the disposition (the
// original then tempfails).
func (w *WorkingDir) Cleanup() (Disposition, error) {
	if w.cleaned {
		_ = w.Close()
		return AlreadyCleaned, nil
	}
	w.cleaned = true
	err := w.Close()
	d := Removed
	switch {
	case w.opts.Debug:
		d = KeptDebug
	case exists(filepath.Join(w.opts.SpoolDir, NoDeleteFile)):
		d = KeptNoDeleteFile
	case w.opts.KeepFailed && w.filterFailed:
		d = KeptFilterFailed
	default:
		if rerr := rawfile.RemoveAll(w.path); rerr != nil && err == nil {
			err = fmt.Errorf("spool: failed to clean up %s: %w", w.path, rerr)
		}
	}
	return d, err
}

// Remove closes the files and removes the directory unconditionally, as the
// original does with a leftover directory at the next MAIL FROM of the same
// connection (docs/reference/protocol.md §5.1). Removing a directory that is already gone is
// not an error.
func (w *WorkingDir) Remove() error {
	err := w.Close()
	w.cleaned = true
	if rerr := rawfile.RemoveAll(w.path); rerr != nil {
		return fmt.Errorf("spool: failed to remove %s: %w", w.path, rerr)
	}
	return err
}

func wrap(file string, err error) error { return fmt.Errorf("spool: %s: %w", file, err) }

func exists(path string) bool {
	_, err := os.Stat(path) // access(F_OK) follows symbolic links too
	return err == nil
}
