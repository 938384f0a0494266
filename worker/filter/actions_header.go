package filter

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mdgo/md/worker/internal/spooldir"
)

// Header edits act on the top-level header through the milter (RESULTS
// lines); they never touch the parsed message, so later checks in the same
// scan do not see them, except through the *Now variants, which also
// rewrite INPUTMSG. Header names are given without the colon.

// ActionAddHeader is action_add_header($hdr, $val): "H<hdr> <val>",
// appending a header. No context check: from Sender and Recipient it
// is applied at end of message; outside a working directory it is
// refused.
func (c *Context) ActionAddHeader(name, value string) bool {
	return c.WriteResultLine('H', name, value)
}

// ActionInsertHeader is action_insert_header($hdr, $val, $pos):
// "N<hdr> <pos> <val>", inserting at position pos (0 = before all
// headers; Perl's default). No context check.
func (c *Context) ActionInsertHeader(name, value string, pos int) bool {
	return c.WriteResultLine('N', name, strconv.Itoa(pos), value)
}

// ActionChangeHeader is action_change_header($hdr, $val, $idx):
// "I<hdr> <idx> <val>", replacing the idx-th occurrence (1 is Perl's
// default); the milter adds the header when there is none. Message
// context only.
func (c *Context) ActionChangeHeader(name, value string, idx int) bool {
	if !c.inMessageContext("action_change_header") {
		return false
	}
	return c.WriteResultLine('I', name, strconv.Itoa(idx), value)
}

// ActionDeleteHeader is action_delete_header($hdr, $idx): "J<hdr> <idx>",
// deleting the idx-th occurrence (1 is Perl's default). Message context
// only.
func (c *Context) ActionDeleteHeader(name string, idx int) bool {
	if !c.inMessageContext("action_delete_header") {
		return false
	}
	return c.WriteResultLine('J', name, strconv.Itoa(idx))
}

// ActionDeleteAllHeaders is action_delete_all_headers($hdr): it counts the
// lines of the working directory's HEADERS file that start, compared
// case-insensitively, with name + ":" and writes "J<hdr> <n>" ...
// "J<hdr> 1", highest index first. Only headers present on arrival are
// seen. Message context only; false when HEADERS cannot be read.
func (c *Context) ActionDeleteAllHeaders(name string) bool {
	if !c.inMessageContext("action_delete_all_headers") {
		return false
	}
	f, err := os.Open(filepath.Join(c.CWD, "HEADERS"))
	if err != nil {
		return false
	}
	defer f.Close()
	prefix := strings.ToLower(name + ":")
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<30)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) >= len(prefix) && strings.ToLower(string(line[:len(prefix)])) == prefix {
			n++
		}
	}
	for ; n > 0; n-- {
		c.WriteResultLine('J', name, strconv.Itoa(n))
	}
	return true
}

// ActionAddHeaderNow is action_add_header_now($hdr, $val): as
// ActionAddHeader, and the header is also appended to the header block
// of INPUTMSG so that later content checks in the same scan see it.
// Message context only.
func (c *Context) ActionAddHeaderNow(name, value string) bool {
	if !c.inMessageContext("action_add_header_now") {
		return false
	}
	if err := c.rewriteInputHeaders(func(h []string) []string {
		return append(h, name+": "+value+"\n")
	}); err != nil {
		c.Logf("action_add_header_now: %v", err)
		return false
	}
	return c.ActionAddHeader(name, value)
}

// ActionInsertHeaderNow is action_insert_header_now($hdr, $val, $pos): as
// ActionInsertHeader, and the header is inserted into INPUTMSG at logical
// header index pos, clamped to [0, number of headers]. Message context
// only.
func (c *Context) ActionInsertHeaderNow(name, value string, pos int) bool {
	if !c.inMessageContext("action_insert_header_now") {
		return false
	}
	if err := c.rewriteInputHeaders(func(h []string) []string {
		p := max(0, min(pos, len(h)))
		h = append(h, "")
		copy(h[p+1:], h[p:])
		h[p] = name + ": " + value + "\n"
		return h
	}); err != nil {
		c.Logf("action_insert_header_now: %v", err)
		return false
	}
	return c.ActionInsertHeader(name, value, pos)
}

// ActionChangeHeaderNow is action_change_header_now($hdr, $val, $idx): as
// ActionChangeHeader, and the idx-th header called name (folded
// continuation lines included) is replaced in INPUTMSG; unlike the
// milter it is not added when missing. Message context only.
func (c *Context) ActionChangeHeaderNow(name, value string, idx int) bool {
	if !c.inMessageContext("action_change_header_now") {
		return false
	}
	if err := c.rewriteInputHeaders(func(h []string) []string {
		if i := nthHeader(h, name, idx); i >= 0 {
			h[i] = name + ": " + value + "\n"
		}
		return h
	}); err != nil {
		c.Logf("action_change_header_now: %v", err)
		return false
	}
	return c.ActionChangeHeader(name, value, idx)
}

// ActionDeleteHeaderNow is action_delete_header_now($hdr, $idx): as
// ActionDeleteHeader, and the idx-th header called name is removed from
// INPUTMSG. Message context only.
func (c *Context) ActionDeleteHeaderNow(name string, idx int) bool {
	if !c.inMessageContext("action_delete_header_now") {
		return false
	}
	if err := c.rewriteInputHeaders(func(h []string) []string {
		if i := nthHeader(h, name, idx); i >= 0 {
			h = append(h[:i], h[i+1:]...)
		}
		return h
	}); err != nil {
		c.Logf("action_delete_header_now: %v", err)
		return false
	}
	return c.ActionDeleteHeader(name, idx)
}

// ActionDeleteAllHeadersNow is action_delete_all_headers_now($hdr): as
// ActionDeleteAllHeaders, and every header called name is removed from
// INPUTMSG. Message context only.
func (c *Context) ActionDeleteAllHeadersNow(name string) bool {
	if !c.inMessageContext("action_delete_all_headers_now") {
		return false
	}
	if err := c.rewriteInputHeaders(func(h []string) []string {
		out := h[:0]
		for _, l := range h {
			if !headerIs(l, name) {
				out = append(out, l)
			}
		}
		return out
	}); err != nil {
		c.Logf("action_delete_all_headers_now: %v", err)
		return false
	}
	return c.ActionDeleteAllHeaders(name)
}

func headerIs(logical, name string) bool {
	n, _, ok := strings.Cut(logical, ":")
	return ok && strings.EqualFold(strings.TrimRight(n, " \t"), name)
}

// nthHeader returns the index of the idx-th (1-based) logical header
// called name, or -1.
func nthHeader(h []string, name string, idx int) int {
	if idx < 1 {
		idx = 1
	}
	for i, l := range h {
		if headerIs(l, name) {
			idx--
			if idx == 0 {
				return i
			}
		}
	}
	return -1
}

// rewriteInputHeaders splits the header block of INPUTMSG into logical
// headers (a line starting with space or tab continues the previous one),
// lets edit change them, and writes header block and unchanged body to a
// temporary file renamed over INPUTMSG.
func (c *Context) rewriteInputHeaders(edit func([]string) []string) error {
	path := filepath.Join(c.CWD, "INPUTMSG")
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var hdrs []string
	rest := raw
	for len(rest) > 0 {
		end := bytes.IndexByte(rest, '\n')
		line := rest
		if end >= 0 {
			line = rest[:end+1]
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && len(hdrs) > 0 {
			hdrs[len(hdrs)-1] += string(line)
		} else {
			hdrs = append(hdrs, string(line))
		}
		rest = rest[len(line):]
	}
	hdrs = edit(hdrs)
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	var b bytes.Buffer
	for _, h := range hdrs {
		b.WriteString(h)
	}
	b.Write(rest)
	if err := os.WriteFile(tmp, b.Bytes(), spooldir.FileMode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
