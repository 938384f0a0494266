package filter

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mdgo/md/proto"
	"github.com/mdgo/md/worker/internal/spooldir"
	"github.com/mdgo/md/worker/message"
)

// tooManyParts is the bounce text of a message over MaxMIMEParts.
const tooManyParts = "Message contained too many MIME parts.  We do not accept such complicated messages."

// tooDeep is the bounce text of a message nested deeper than md-worker
// parses (message.DefaultMaxDepth): the original's answer to a message too
// complicated to filter, in the original's words. It is a permanent
// failure, not a temporary one: the message will never be shorter, and a
// tempfail would only make the sending MTA try for days before it bounces.
const tooDeep = "Message contained MIME parts nested too deeply.  We do not accept such complicated messages."

// Scan filters the message in the working directory dir: mimedefang.pl's
// handle_scan and do_scan (docs/reference/filter-api.md §2.3). It reads COMMANDS (which must
// end in F), parses INPUTMSG, runs Begin, the part walk (Filter,
// Multipart), the warnings, End, writes NEWBODY with its M, I, J and C
// lines when the body changed, runs Wrapup and ends RESULTS with F.
//
// A non-nil error means the scan failed and the milter must tempfail: the
// server answers "error: <msg>". RESULTS then has no F line, so the milter
// ignores whatever lines were already written. The error is logged with
// the queue ID.
func (w *Worker) Scan(parent context.Context, dir string) error {
	c := w.NewContext(parent)
	err := w.scan(c, dir)
	if err != nil {
		c.Logf("%v", err)
	}
	return err
}

// completeHooks run in signal_complete before F is written (sender and
// admin notifications live in other files and register here).
var completeHooks []func(c *Context) error

// onComplete registers a hook run at the end of every scan, before F.
func onComplete(fn func(c *Context) error) { completeHooks = append(completeHooks, fn) }

func (w *Worker) scan(c *Context, dir string) (err error) {
	defer func() {
		if cerr := c.closeResults(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if dir == "" {
		return errors.New("Cannot chdir(): no working directory given")
	}
	if !filepath.IsAbs(dir) {
		if abs, aerr := filepath.Abs(dir); aerr == nil {
			dir = abs
		}
	}
	// 1. chdir, $CWD; handle_scan's tmp/ and $TMPDIR.
	back, err := w.enterDir(c, dir)
	defer back()
	if err != nil {
		return fmt.Errorf("Cannot chdir(%s): %v", dir, err)
	}
	if st, serr := os.Stat(dir); serr != nil || !st.IsDir() {
		return fmt.Errorf("Cannot chdir(%s): not a directory", dir)
	}
	tmp := filepath.Join(dir, "tmp")
	if os.Mkdir(tmp, spooldir.DirMode) == nil || isDir(tmp) {
		if old, had := os.LookupEnv("TMPDIR"); had {
			defer os.Setenv("TMPDIR", old)
		} else {
			defer os.Unsetenv("TMPDIR")
		}
		os.Setenv("TMPDIR", tmp)
	}

	// 2. COMMANDS, F required.
	w.pushStatus(c, "Reading COMMANDS")
	if err := c.readCommands(true); err != nil {
		return err
	}
	w.popStatus(c)

	// 3. Message context, $MsgID.
	c.inMessage = true
	defer func() { c.inMessage = false }()
	switch {
	case c.QueueID != "":
		c.MsgID = c.QueueID
	case c.MessageID != "":
		c.MsgID = c.MessageID
	default:
		c.MsgID = proto.NoQueue
	}
	if c.QueueID == "" {
		c.QueueID = proto.NoQueue
	}
	if c.MessageID == "" {
		c.MessageID = proto.NoQueue
	}

	// 4. Work/.
	work := filepath.Join(dir, "Work")
	if err := os.Mkdir(work, spooldir.DirMode); err != nil {
		return fmt.Errorf("Cannot mkdir(Work): %v", err)
	}

	// 5, 6. Parse INPUTMSG.
	raw, err := os.ReadFile(filepath.Join(dir, "INPUTMSG"))
	if err != nil {
		return fmt.Errorf("couldn't open INPUTMSG: %v", err)
	}
	c.inputSize = len(raw)
	w.pushStatus(c, "Parsing Message")
	msg, err := message.Parse(raw, message.Limits{MaxParts: c.Config.MaxMIMEParts})
	w.popStatus(c)
	if err != nil {
		if c.Config.MaxMIMEParts > 0 && errors.Is(err, message.ErrTooManyParts) {
			c.ActionBounce(tooManyParts, "", "")
			return w.complete(c)
		}
		if errors.Is(err, message.ErrTooDeep) {
			c.Logf("bouncing the message without calling the filter: %v", err)
			c.ActionBounce(tooDeep, "", "")
			return w.complete(c)
		}
		return fmt.Errorf("Couldn't parse MIME in INPUTMSG: %v", err)
	}
	for _, e := range msg.Errors() {
		c.Logf("MIME repair: %s", e)
	}
	for _, f := range msg.ExtraTopFields() {
		n, _ := strconv.Atoi(f.Value)
		c.Logf("MIME repair: deleting %s header %d of the message: only the first is read", f.Name, n)
		c.ActionDeleteHeader(f.Name, n)
	}
	if del, ct, changeCT := msg.TopNameEdits(); len(del) > 0 || changeCT {
		c.Logf("MIME repair: the message header names a file on the message's own container, which the filter never sees: taking the name off")
		for _, f := range del {
			n, _ := strconv.Atoi(f.Value)
			c.ActionDeleteHeader(f.Name, n)
		}
		if changeCT {
			c.ActionChangeHeader("Content-Type", ct, 1)
		}
	}
	repaired := msg.RepairedParts()
	for _, p := range repaired {
		_, why := p.Repaired()
		c.Logf("MIME repair: part %s (%s) rewritten as the filter reads it: %s", strconv.Quote(p.Type()), quoteNames(p.Names()), why)
	}
	c.Message = msg

	// 7. make_multipart.
	top := msg.Top()
	c.WasMultipart = msg.WasMultipart()
	if c.Config.WriteWorkParts {
		if err := c.writeWork(work, top); err != nil {
			return fmt.Errorf("Cannot write parts to Work: %v", err)
		}
	}

	// 8. Extra Subject headers.
	if c.SubjectCount > 1 {
		c.Logf("Message contains %d Subject: headers.  Deleting all but the first", c.SubjectCount)
		for i := c.SubjectCount; i > 1; i-- {
			c.ActionDeleteHeader("Subject", i)
		}
	}

	// 9. filter_begin.
	if w.cb.Begin != nil {
		w.pushStatus(c, "In filter_begin")
		if err := call(c, "filter_begin", func() error { return w.cb.Begin(c, top) }); err != nil {
			return err
		}
		w.popStatus(c)
		if c.terminateAndDiscard {
			c.WriteResultLine('D', "")
			c.Logf("filter_begin set TerminateAndDiscard flag.  Don't panic; it's most likely a message being streamed.")
			return w.complete(c)
		}
	}

	// 10. The part walk.
	rebuilt := top.ShallowCopy()
	c.inFilter = true
	w.pushStatus(c, "In rebuild loop")
	var kids []*message.Part
	for _, p := range top.Parts() {
		if kids, err = w.rebuild(c, kids, p); err != nil {
			return err
		}
	}
	rebuilt.SetParts(kids)
	w.popStatus(c)

	// 11. Warnings.
	if len(c.warnings) > 0 {
		c.changed = true
		w.insertWarnings(c, rebuilt)
	}
	c.inFilter = false

	// 12. filter_end.
	if w.cb.End != nil {
		c.inFilterEnd = true
		w.pushStatus(c, "In filter_end")
		err := call(c, "filter_end", func() error { return w.cb.End(c, rebuilt) })
		c.inFilterEnd = false
		if err != nil {
			return err
		}
		w.popStatus(c)
	}

	// 13. replace_entire_message.
	if c.rebuild && c.replaceEntire != nil {
		rebuilt = c.replaceEntire
		c.replaceEntire = nil
	}

	// 14. NEWBODY, M, I, J, C. A message with a part whose header
	// needed a repair is always rewritten, so that what is delivered is
	// what the filter saw (message.Part.Repaired).
	if c.changed || c.rebuild || len(repaired) > 0 {
		rebuilt = message.AddParts(rebuilt, c.added)
		rebuilt = message.Collapse(rebuilt)
		if err := c.writeNewBody(rebuilt); err != nil {
			return err
		}
	}

	// 15. filter_wrapup.
	if w.cb.Wrapup != nil {
		c.inWrapup = true
		w.pushStatus(c, "In filter_wrapup")
		err := call(c, "filter_wrapup", func() error { return w.cb.Wrapup(c, rebuilt) })
		c.inWrapup = false
		if err != nil {
			return err
		}
		w.popStatus(c)
	}

	// 16. signal_complete.
	return w.complete(c)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// writeNewBody writes NEWBODY and the M, I, J and C lines (docs/reference/filter-api.md §2.3 step 14).
func (c *Context) writeNewBody(top *message.Part) error {
	f, err := os.OpenFile(filepath.Join(c.CWD, "NEWBODY"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, spooldir.FileMode)
	if err != nil {
		return fmt.Errorf("Can't open NEWBODY: %v", err)
	}
	c.w.pushStatus(c, "Writing new body")
	rw, err := c.Message.WriteBody(f, top)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	c.w.popStatus(c)
	if err != nil {
		return fmt.Errorf("Can't write NEWBODY: %v", err)
	}
	if rw.ContentType != "" {
		c.WriteResultLine('M', rw.ContentType)
	}
	for _, h := range rw.Headers {
		c.ActionChangeHeader(h.Name, h.Value, 1)
	}
	if rw.BecameMultipart {
		c.ActionDeleteHeader("Content-Transfer-Encoding", 1)
	}
	c.WriteResultLine('C', "")
	return c.err
}

// complete is signal_complete: hooks (notifications), the actions summary,
// F. Nothing is written after a failure or once the deadline passed, so a
// late or failed scan never leaves a RESULTS with F.
func (w *Worker) complete(c *Context) error {
	if c.err != nil {
		return c.err
	}
	for _, h := range completeHooks {
		if err := h(c); err != nil {
			return err
		}
	}
	if len(c.actions) > 0 {
		keys := make([]string, 0, len(c.actions))
		for k := range c.actions {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			b.WriteString(" " + k + "=" + strconv.Itoa(c.actions[k]))
		}
		// As mimedefang.pl: to syslog at debug, under the worker's own tag
		// (log parsers look for it there); stderr only without syslog.
		c.MdSyslog("debug", "filter: "+b.String())
	}
	if err := c.Err(); err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	if !c.WriteResultLine('F', "") {
		if c.err != nil {
			return c.err
		}
		return errors.New("could not write F to RESULTS")
	}
	return c.closeResults()
}

// rebuild is rebuild_entity: it decides the fate of part p and appends
// what stays to out.
func (w *Worker) rebuild(c *Context, out []*message.Part, p *message.Part) ([]*message.Part, error) {
	typ := p.Type()
	fname := p.FileName()
	ext := ""
	if i := strings.LastIndex(fname, "."); i >= 0 {
		ext = fname[i:]
	}
	p.EnsureContentType()
	c.action, c.replacement = actAccept, nil
	cb, name, status := w.cb.Filter, "filter", "In filter routine"
	if p.IsMultipart() {
		cb, name, status = w.cb.Multipart, "filter_multipart", "In filter_multipart routine"
	}
	if cb != nil {
		w.pushStatus(c, status)
		if err := call(c, name, func() error { return cb(c, p, fname, ext, typ) }); err != nil {
			return out, err
		}
		w.popStatus(c)
	}
	switch c.action {
	case actDrop:
		c.changed = true
		return out, nil
	case actReplace:
		c.changed = true
		return append(out, c.replacement), nil
	}
	if !p.IsMultipart() {
		return append(out, p), nil
	}
	// a kept container: its children are visited in turn
	sub := p.ShallowCopy()
	var kids []*message.Part
	for _, k := range p.Parts() {
		var err error
		if kids, err = w.rebuild(c, kids, k); err != nil {
			return out, err
		}
	}
	sub.SetParts(kids)
	return append(out, sub), nil
}

// insertWarnings is the warnings step of do_scan (docs/reference/filter-api.md §4.1).
func (w *Worker) insertWarnings(c *Context, rebuilt *message.Part) {
	text := c.Config.Warning() + strings.Join(c.warnings, "\n")
	did := false
	if c.Config.AddWarningsInline {
		ruler := strings.Repeat("=", 75)
		esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(text)
		if c.AppendTextBoilerplate(rebuilt, ruler+"\n"+text, false) {
			did = true
		}
		if c.AppendHTMLBoilerplate(rebuilt, "<hr>\n<pre>\n"+esc+"</pre>", false) {
			did = true
		}
	}
	if did {
		return
	}
	if c.WasMultipart && c.Config.Stupidity.NoMultipleInlines && c.Config.WarningLocation == 0 {
		leaf := rebuilt
		for len(leaf.Parts()) > 0 {
			leaf = leaf.Parts()[0]
		}
		if strings.EqualFold(mediaType(leaf.Header("Content-Type")), "text/plain") {
			leaf.SetHeader("Content-Type", setParam(leaf.Header("Content-Type"), "name", "MESSAGE.TXT"))
			leaf.SetHeader("Content-Disposition", setParam("inline", "filename", "MESSAGE.TXT"))
			leaf.SetHeader("Content-Description", "MESSAGE.TXT")
		}
	}
	c.warningCounter++
	c.ActionAddPart(textPlainFor(text), "-suggest", []byte(text), "warning"+strconv.Itoa(c.warningCounter)+".txt", "inline", c.Config.WarningLocation)
}

// textPlainFor is the Content-Type of a warning part holding text:
// text/plain, with charset=utf-8 when the text is UTF-8 beyond ASCII (a
// quoted file name, a filter's own words). mimedefang.pl declares no
// charset, so such text reached mail clients as us-ascii.
func textPlainFor(text string) string {
	for i := 0; i < len(text); i++ {
		if text[i] >= 0x80 {
			if utf8.ValidString(text) {
				return "text/plain; charset=utf-8"
			}
			break
		}
	}
	return "text/plain"
}

// mediaType returns the type/subtype of a Content-Type value, lower-cased.
func mediaType(v string) string {
	t, _, _ := strings.Cut(v, ";")
	return strings.ToLower(strings.TrimSpace(t))
}

// setParam sets parameter name of a header value to val as MIME-tools'
// mime_attr("Content-Type.name" => val) does: the value is parsed into its
// first field and parameters, and written back as the first field followed
// by every parameter, sorted by name, as `; name="value"`.
func setParam(v, name, val string) string {
	first, params, err := mime.ParseMediaType(v)
	if err != nil {
		first, _, _ = strings.Cut(v, ";")
		first, params = strings.TrimSpace(first), map[string]string{}
	}
	params[strings.ToLower(name)] = val
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(first)
	for _, k := range keys {
		b.WriteString("; " + k + "=" + quoteParam(params[k]))
	}
	return b.String()
}

// writeWork fills Work/ with one decoded file per leaf, named by position
// (never by the message's file names), for virus scanners. Leaves already
// written (bodyPath) are left as they are. The files are mode 0640 less
// the umask: group-readable under -G, for a clamd that SCANs them.
func (c *Context) writeWork(work string, top *message.Part) error {
	n := 0
	var werr error
	message.Walk(top, func(p *message.Part, _ int) bool {
		if werr != nil || p.IsMultipart() {
			return werr == nil
		}
		n++
		if _, ok := c.workFiles[p]; ok {
			return true
		}
		path := filepath.Join(work, "part-"+strconv.Itoa(n)+".bin")
		if werr = writePart(path, p); werr == nil {
			c.rememberWorkFile(p, path)
		}
		return werr == nil
	})
	return werr
}

// readCommands applies COMMANDS to the Context (read_commands_file).
func (c *Context) readCommands(needF bool) error {
	cmds, err := spooldir.ReadCommands(c.CWD, needF, c.w.lookupAddr)
	if err != nil {
		if errors.Is(err, spooldir.ErrNoF) {
			c.Logf("COMMANDS file from mimedefang did not terminate with 'F' -- check disk space in spool directory")
			return errors.New("COMMANDS file did not end with F")
		}
		return fmt.Errorf("Cannot open COMMANDS file from mimedefang: %v", err)
	}
	for _, u := range cmds.Unknown {
		c.Logf("Unknown command %s from mimedefang", u)
	}
	keep := c.Recipients
	if cmds.Sender != "" {
		c.Sender = cmds.Sender
	}
	c.SenderESMTPArgs = append(c.SenderESMTPArgs, cmds.SenderESMTPArgs...)
	for k, v := range cmds.SendmailMacros {
		c.SendmailMacros[k] = v
	}
	if cmds.QueueID != "" {
		c.QueueID = cmds.QueueID
	}
	if cmds.RealRelayHostname != "" || cmds.WasResent {
		c.RelayHostname = cmds.RelayHostname
	}
	if cmds.RealRelayHostname != "" {
		c.RealRelayHostname = cmds.RealRelayHostname
	}
	if cmds.RealRelayAddr != "" || cmds.WasResent {
		c.RelayAddr = cmds.RelayAddr
	}
	if cmds.RealRelayAddr != "" {
		c.RealRelayAddr = cmds.RealRelayAddr
	}
	c.WasResent = c.WasResent || cmds.WasResent
	if cmds.Helo != "" {
		c.Helo = cmds.Helo
	}
	if cmds.MIMEDefangID != "" {
		c.MIMEDefangID = cmds.MIMEDefangID
	}
	c.Recipients = append(append([]string(nil), cmds.Recipients...), keep...)
	for r, m := range cmds.RecipientMailers {
		c.RecipientMailers[r] = Mailer{Mailer: m[0], Host: m[1], Addr: m[2]}
	}
	for r, a := range cmds.RecipientESMTPArgs {
		c.RecipientESMTPArgs[r] = append(c.RecipientESMTPArgs[r], a...)
	}
	if cmds.SubjectCount > 0 {
		if c.SubjectCount == 0 {
			c.Subject = cmds.Subject
		}
		c.SubjectCount += cmds.SubjectCount
	}
	if cmds.MessageID != "" {
		c.MessageID = cmds.MessageID
	}
	c.SuspiciousCharsInHeaders = c.SuspiciousCharsInHeaders || cmds.SuspiciousHeaders
	c.SuspiciousCharsInBody = c.SuspiciousCharsInBody || cmds.SuspiciousBody
	return nil
}

// ReadCommandsFile is read_commands_file(): it fills the per-message
// fields from the working directory's COMMANDS file. Useful in Sender and
// Recipient, where only the request's own fields are set; Recipients then
// holds the earlier recipients followed by the current one. An F line is
// not required.
func (c *Context) ReadCommandsFile() error {
	if !c.inWorkingDir() {
		return errors.New("filter: read_commands_file: no working directory")
	}
	return c.readCommands(false)
}

// quoteNames renders a part's file names for the log.
func quoteNames(names []string) string {
	if len(names) == 0 {
		return "no file name"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return "names " + strings.Join(q, ", ")
}
