package proto

// The two escape sets of the original (docs/reference/protocol.md §2.1). Both escape control
// bytes, space, DEL, 8-bit bytes and '%'. The wide set, used on every socket
// and in RESULTS, also escapes the three quoting characters \ ' ".
// The narrow set is used only for the COMMANDS file.

const hexDigits = "0123456789ABCDEF"

func escapeNarrow(c byte) bool { return c <= 0x20 || c >= 0x7F || c == '%' }

func escapeWide(c byte) bool {
	return escapeNarrow(c) || c == '\\' || c == '\'' || c == '"'
}

func encode(s string, esc func(byte) bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if esc(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if esc(c) {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

// Encode percent-encodes s with the wide byte set (P-wide): bytes <= 0x20,
// >= 0x7F and % \ ' " become %XX with upper-case hex. This is the encoding of
// every request argument, every reply field and every RESULTS argument.
func Encode(s string) string { return encode(s, escapeWide) }

// EncodeCommands percent-encodes s with the narrow byte set (P-narrow) used in
// the COMMANDS file: bytes <= 0x20, >= 0x7F and % only. Backslash and quotes
// are left alone, as the original milter does (docs/reference/protocol.md §14 item 1).
func EncodeCommands(s string) string { return encode(s, escapeNarrow) }

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Decode reverses either encoding in one pass: % followed by two hex digits of
// either case becomes that byte; any other % is copied unchanged. It never
// fails, so a garbled line decodes to something rather than to nothing, as in
// the original.
func Decode(s string) string {
	i := 0
	for i < len(s) && s[i] != '%' {
		i++
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b = append(b, hi<<4|lo)
				i += 2
				continue
			}
		}
		b = append(b, c)
	}
	return string(b)
}
