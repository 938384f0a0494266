package dkim

import (
	"regexp"
	"strings"
)

// Mail::DKIM::TextWrap and KeyValueList::wrap, as Mail::DKIM folds a
// signature it makes: Signature::prettify before the header hash (b= and
// bh= break anywhere, h= before a colon or at a blank, the other tags at a
// blank) and Signature::prettify_safe after signing (only b= breaks). Text
// accumulates until a flush or a break point; a piece that would end past
// column 72 goes on a new line ("\r\n\t", column 8), except the first piece
// written.

type breakRule int

const (
	breakNone  breakRule = iota // undef: buffer until a flush
	breakAny                    // qr/./
	breakSpace                  // qr/\s/
)

type textWrap struct {
	out         strings.Builder
	cur         int
	mayBreak    bool
	soft, word  string
	brk         breakRule
	breakColon  bool // BreakBefore qr/[:]/
	noBuffering bool
	noSwallow   bool // Swallow undef (during a flush)
}

const (
	wrapMargin    = 72
	wrapSeparator = "\r\n\t"
)

// column is _calculate_new_column: a tab advances to the next multiple of
// 8, CR and LF return to 0.
func column(cur int, text string) int {
	for _, c := range []byte(text) {
		switch c {
		case '\t':
			cur = (cur/8 + 1) * 8
		case '\r', '\n':
			cur = 0
		default:
			cur++
		}
	}
	return cur
}

func isPerlSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\f', '\v':
		return true
	}
	return false
}

// next cuts the next piece off w.word, as add's three alternatives do.
func (w *textWrap) next() (string, bool) {
	if w.breakColon {
		// s/^(.+?)([:])/$2/s
		if i := strings.IndexByte(w.word[min(1, len(w.word)):], ':'); i >= 0 {
			i++
			piece := w.word[:i]
			w.word = w.word[i:]
			return piece, true
		}
	}
	switch w.brk {
	case breakAny:
		piece := w.word[:1]
		w.word = w.word[1:]
		return piece, true
	case breakSpace:
		for i := 0; i < len(w.word); i++ {
			if isPerlSpace(w.word[i]) {
				piece := w.word[:i+1]
				w.word = w.word[i+1:]
				return piece, true
			}
		}
	}
	if w.noBuffering {
		piece := w.word
		w.word = ""
		return piece, true
	}
	return "", false
}

func (w *textWrap) add(text string) {
	w.word += text
	for len(w.word) > 0 {
		piece, ok := w.next()
		if !ok {
			return
		}
		next := ""
		if !w.noSwallow && len(piece) > 0 && isPerlSpace(piece[len(piece)-1]) {
			next = piece[len(piece)-1:]
			piece = piece[:len(piece)-1]
		}
		toPrint := w.soft + piece
		newPos := column(w.cur, toPrint)
		if newPos > wrapMargin && w.mayBreak {
			if sep := column(w.cur, wrapSeparator); sep < w.cur {
				w.out.WriteString(wrapSeparator)
				w.soft, w.cur = "", sep
				w.word = piece + next + w.word
				continue
			}
		}
		w.out.WriteString(toPrint)
		w.soft, w.cur, w.mayBreak = next, newPos, true
	}
}

func (w *textWrap) flush() {
	w.noBuffering, w.noSwallow = true, true
	w.add("")
	w.noBuffering, w.noSwallow = false, false
}

var (
	blanksRE     = regexp.MustCompile(`\s+`)
	listColonsRE = regexp.MustCompile(`\s*:\s*`)
)

// trimPerl is s/^\s|\s$//g: one blank off each end.
func trimPerl(s string) string {
	if len(s) > 0 && isPerlSpace(s[0]) {
		s = s[1:]
	}
	if len(s) > 0 && isPerlSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// wrapTags is KeyValueList::wrap over raw tags (each " name=value"),
// Start the prefix's length: safe is prettify_safe (names preserved, only
// b= folded), otherwise prettify.
func wrapTags(raws []string, start int, safe bool) string {
	w := &textWrap{cur: start}
	for i, raw := range raws {
		w.brk, w.breakColon = breakNone, false
		if i > 0 {
			w.add(";")
		}
		name, value, _ := strings.Cut(raw, "=")
		tag := strings.TrimSpace(name)
		if !safe {
			w.flush()
			name = " " + strings.TrimRightFunc(strings.TrimLeftFunc(name, isSpaceRune), isSpaceRune)
		}
		w.add(name + "=")
		kind := "preserve"
		switch {
		case tag == "b" || !safe && tag == "bh":
			kind = "b64"
		case !safe && tag == "h":
			kind = "list"
		case !safe:
			kind = ""
		}
		switch kind {
		case "b64":
			value = blanksRE.ReplaceAllString(value, "")
			w.flush()
			w.brk = breakAny
		case "list":
			value = trimPerl(blanksRE.ReplaceAllString(value, " "))
			value = listColonsRE.ReplaceAllString(value, ":")
			w.flush()
			w.brk, w.breakColon = breakSpace, true
		case "":
			value = trimPerl(blanksRE.ReplaceAllString(value, " "))
			w.flush()
			w.brk = breakSpace
		}
		w.add(value)
	}
	w.flush()
	return w.out.String()
}

func isSpaceRune(r rune) bool { return r < 0x80 && isPerlSpace(byte(r)) }
