package spool

import "strconv"

// SetQueueID records the MTA queue ID (macro i), as set_queueid does at every
// callback (docs/reference/protocol.md §13.4). An empty qid (macro not supplied) changes
// nothing. A qid that differs from the stored one replaces it and makes a
// new `Q` line due at the next AddRecipient, WriteQueueID or Finish.
func (w *WorkingDir) SetQueueID(qid string) {
	if qid == "" || qid == w.qid {
		return
	}
	w.qid = qid
	w.qidWritten = false
}

// QueueID returns the last queue ID recorded, "" if none is known.
func (w *WorkingDir) QueueID() string { return w.qid }

// WriteQueueID writes the `Q` line if the queue ID is known and not written
// yet. The original does this first thing in every RCPT TO callback, before
// the recipient check, so a recipient that is then rejected still leaves the
// `Q` line behind.
func (w *WorkingDir) WriteQueueID() error {
	if w.qid == "" || w.qidWritten {
		return nil
	}
	w.cmd.QueueID(w.qid)
	if err := w.flushCommands(); err != nil {
		return err
	}
	w.qidWritten = true
	return nil
}

// AddRecipient writes the `R` line (and its `r` lines) of an accepted
// recipient, preceded by a pending `Q` line. Only recipients the milter
// accepts get an `R` line.
func (w *WorkingDir) AddRecipient(r Recipient) error {
	if err := w.WriteQueueID(); err != nil {
		return err
	}
	w.cmd.Recipient(r)
	return w.flushCommands()
}

// Header records one header as the original's header callback does
// (docs/reference/protocol.md §5.2, §5.3); the lines reach the files, in this order, at
// EndOfHeaders (or once 64 KiB are kept, or at Body or Finish if the MTA
// sent no end of headers), so that the files hold the same bytes as the
// original's when the scan reads them:
//
//   - INPUTMSG gets "name: value\n". A CR followed by LF is dropped (kept
//     with Options.KeepFoldCR), so a folded value keeps its LF line breaks;
//     a bare CR becomes a space and marks the header suspicious.
//   - HEADERS gets the same line with every CR and LF deleted.
//   - COMMANDS gets `!` if the header was suspicious, `U` for a Subject and
//     `X` for a Message-ID (names compared ASCII case-insensitively, values
//     unfolded), and `J` for a valid IP-validation header.
//
// Only the first Content-Type header reaches INPUTMSG and HEADERS; later ones
// are counted (ContentTypeHeaders) and otherwise skipped, and a skipped
// header never produces `!`. value is the value without its leading space,
// as libmilter delivers it.
func (w *WorkingDir) Header(name, value string) error {
	if w.closed {
		return ErrClosed
	}
	write := true
	if asciiEqualFold(name, "content-type") {
		w.contentTypes++
		write = w.contentTypes == 1
	} else if asciiEqualFold(name, "mime-version") {
		w.sawMIMEVersion = true
	}

	suspicious := false
	if write {
		var s1, s2 bool
		w.pendInput, s1 = appendHeaderText(w.pendInput, name, w.opts.KeepFoldCR)
		w.pendInput = append(w.pendInput, ':', ' ')
		w.pendInput, s2 = appendHeaderText(w.pendInput, value, w.opts.KeepFoldCR)
		w.pendInput = append(w.pendInput, '\n')
		suspicious = s1 || s2

		w.pendHeaders = appendChomped(w.pendHeaders, name)
		w.pendHeaders = append(w.pendHeaders, ':', ' ')
		w.pendHeaders = appendChomped(w.pendHeaders, value)
		w.pendHeaders = append(w.pendHeaders, '\n')
	}

	name, value = chomp(name), chomp(value)
	if suspicious {
		w.cmd.SuspiciousHeader()
	}
	if asciiEqualFold(name, "subject") {
		w.cmd.Subject(value)
	} else if asciiEqualFold(name, "message-id") {
		w.cmd.MessageID(value)
	}
	if w.opts.ValidateHeader != "" && name == w.opts.ValidateHeader {
		if ip, ok := parseDottedQuad(value); ok {
			w.cmd.RelayAddr(ip)
			w.sawValidation = true
		}
	}
	if len(w.pendInput)+len(w.pendHeaders)+w.cmd.Len() >= maxPending {
		return w.flushPending()
	}
	return nil
}

// maxPending bounds what Header keeps in memory before it writes.
const maxPending = 64 << 10

// flushPending writes what Header has kept: its lines of INPUTMSG,
// HEADERS and COMMANDS, each file in one write. Header keeps them until
// the end of the headers (nobody reads the files before that: the sender
// and recipient checks come earlier, the scan later), so that a message
// costs three writes for all its headers instead of two or three for each.
func (w *WorkingDir) flushPending() error {
	if len(w.pendInput) > 0 {
		err := w.write(&w.inputMsg, w.pendInput)
		w.pendInput = w.pendInput[:0]
		if err != nil {
			return err
		}
	}
	if len(w.pendHeaders) > 0 {
		err := w.write(&w.headers, w.pendHeaders)
		w.pendHeaders = w.pendHeaders[:0]
		if err != nil {
			return err
		}
	}
	return w.flushCommands()
}

// EndOfHeaders closes HEADERS and writes the blank line that separates the
// headers from the body in INPUTMSG, as eoh does. It also resets the body's
// suspicious-character state.
func (w *WorkingDir) EndOfHeaders() error {
	if w.closed {
		return ErrClosed
	}
	w.pendInput = append(w.pendInput, '\n')
	if err := w.flushPending(); err != nil {
		return err
	}
	if err := closeFile(&w.headers); err != nil {
		return err
	}
	w.body.suspicious = false
	w.body.lastWasCR = false
	return nil
}

// Body appends one body chunk to INPUTMSG, as the body callback does
// (docs/reference/protocol.md §5.2): CRLF becomes LF; a bare CR is kept, or dropped with
// Options.StripBareCR, and marks the body suspicious; a NUL marks it
// suspicious. A CR at the end of a chunk is held back: dropped if the next
// chunk starts with LF, otherwise written (unless -c) and marked suspicious;
// a CR at the end of the last chunk is lost. An empty chunk changes nothing.
// The chunk goes through a fixed-size buffer and is on disk when Body
// returns; memory use does not grow with the message.
func (w *WorkingDir) Body(chunk []byte) error {
	if w.closed {
		return ErrClosed
	}
	if len(chunk) == 0 {
		return nil
	}
	if err := w.flushPending(); err != nil {
		return err
	}
	f, err := w.get(&w.inputMsg)
	if err != nil {
		return err
	}
	if err := w.body.write(f, chunk); err != nil {
		return wrap(InputMsgFile, err)
	}
	return w.put(&w.inputMsg)
}

// Finish does the COMMANDS part of eom and closes the files: it writes `Q`
// if the queue ID is known and not written yet, `?` if the body was
// suspicious, and `F`. A CR held back from the last body chunk is dropped.
// The directory is then complete for the scan request.
func (w *WorkingDir) Finish() error {
	if w.closed {
		return ErrClosed
	}
	if err := w.flushPending(); err != nil {
		return err
	}
	if w.qid != "" && !w.qidWritten {
		w.cmd.QueueID(w.qid)
		w.qidWritten = true
	}
	if w.body.suspicious {
		w.cmd.SuspiciousBody()
	}
	w.cmd.End()
	err := w.flushCommands()
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	w.body.suspicious = false
	w.body.lastWasCR = false
	return err
}

// ContentTypeHeaders returns how many Content-Type headers were seen; the
// milter deletes all but the first at end of message (docs/reference/protocol.md §5.6).
func (w *WorkingDir) ContentTypeHeaders() int { return w.contentTypes }

// SawMIMEVersion reports whether a MIME-Version header was seen (the `M`
// result adds one otherwise).
func (w *WorkingDir) SawMIMEVersion() bool { return w.sawMIMEVersion }

// SawValidationHeader reports whether a valid IP-validation header was seen
// (a `J` line was written); the milter deletes the first one at end of
// message.
func (w *WorkingDir) SawValidationHeader() bool { return w.sawValidation }

// SuspiciousBody reports whether the body so far held a bare CR or a NUL.
func (w *WorkingDir) SuspiciousBody() bool { return w.body.suspicious }

// appendHeaderText appends s as safe_append_header does: a CR before LF is
// dropped (kept if keepFoldCR), any other CR becomes a space and makes the
// result suspicious.
func appendHeaderText(b []byte, s string, keepFoldCR bool) ([]byte, bool) {
	suspicious := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' {
			if i+1 < len(s) && s[i+1] == '\n' {
				if !keepFoldCR {
					continue
				}
			} else {
				suspicious = true
				c = ' '
			}
		}
		b = append(b, c)
	}
	return b, suspicious
}

// appendChomped appends s without any CR or LF (utils.c: chomp).
func appendChomped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '\r' && c != '\n' {
			b = append(b, c)
		}
	}
	return b
}

func chomp(s string) string {
	if !hasCRLF(s) {
		return s
	}
	return string(appendChomped(make([]byte, 0, len(s)), s))
}

func hasCRLF(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' || s[i] == '\n' {
			return true
		}
	}
	return false
}

// asciiEqualFold is strcasecmp == 0 in the C locale: only ASCII letters fold.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// parseDottedQuad accepts what sscanf(s, "%d.%d.%d.%d") with every number in
// 0..255 accepts, and returns the address re-printed with %d: each number may
// be preceded by white space and a sign, the dots must follow the digits
// directly, and anything after the fourth number is ignored.
func parseDottedQuad(s string) (string, bool) {
	var q [4]int32
	i := 0
	for k := 0; k < 4; k++ {
		if k > 0 {
			if i >= len(s) || s[i] != '.' {
				return "", false
			}
			i++
		}
		n, next, ok := scanInt(s, i)
		if !ok || n < 0 || n > 255 {
			return "", false
		}
		q[k], i = n, next
	}
	b := make([]byte, 0, 15)
	for k, n := range q {
		if k > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendInt(b, int64(n), 10)
	}
	return string(b), true
}

// scanInt is one glibc scanf %d conversion starting at s[i]: white space is
// skipped, an optional sign and at least one decimal digit are read, the
// value saturates like strtol (64-bit long) and is then narrowed to int.
func scanInt(s string, i int) (int32, int, bool) {
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	var v uint64
	overflow := false
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		d := uint64(s[i] - '0')
		if v > (1<<63-d)/10 {
			overflow = true
		} else {
			v = v*10 + d
		}
		i++
	}
	if i == start {
		return 0, i, false
	}
	var l int64
	switch {
	case overflow && neg:
		l = -1 << 63
	case overflow:
		l = 1<<63 - 1
	case neg:
		l = -int64(v)
	case v > 1<<63-1:
		l = 1<<63 - 1
	default:
		l = int64(v)
	}
	return int32(l), i, true
}

func isCSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}
