package proto

import "strings"

// isSpace is C isspace in the "C" locale.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// SplitN splits line into at most n fields the way the original's
// split_on_space, split_on_space3 and split_on_space4 do: the first n-1 fields
// end at the next whitespace byte, and the last field is the rest of the line,
// keeping any further spaces. Missing fields are absent from the result.
func SplitN(line string, n int) []string {
	var out []string
	for len(out) < n-1 {
		i := 0
		for i < len(line) && !isSpace(line[i]) {
			i++
		}
		out = append(out, line[:i])
		if i == len(line) {
			return out
		}
		line = line[i+1:]
	}
	return append(out, line)
}

// Fields splits a line on runs of whitespace, dropping empty fields. This is
// mimedefang.pl's split(/\s+/) except for a line that starts with
// whitespace, where Perl yields an empty first field and Fields does not;
// ParseRequest reproduces the worker exactly.
func Fields(line string) []string {
	return strings.FieldsFunc(line, func(r rune) bool { return r < 0x80 && isSpace(byte(r)) })
}

// DecodeFields splits line with Fields and percent-decodes every word.
func DecodeFields(line string) []string {
	f := Fields(line)
	for i := range f {
		f[i] = Decode(f[i])
	}
	return f
}

// EncodeLine percent-encodes every argument with the wide set and joins them
// with single spaces, without a trailing newline.
func EncodeLine(args ...string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(Encode(a))
	}
	return b.String()
}
