package message

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/ianaindex"
)

// wordToken is one piece of MIME::Words decode_mimewords output: decoded
// bytes and the charset ("" with raw true for text outside encoded words).
type wordToken struct {
	data    string
	charset string
	raw     bool
}

// decodeMIMEWords is MIME::Words' decode_mimewords in list context.
func decodeMIMEWords(s string) []wordToken {
	s = collapseWordGaps(s)
	var toks []wordToken
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "=?") {
			if cs, enc, data, n := matchEncodedWord(s[i:]); n > 0 {
				var dec string
				if enc == 'q' {
					dec = decodeWordQ(data)
				} else {
					dec = string(perlDecodeBase64(data))
				}
				toks = append(toks, wordToken{data: dec, charset: cs})
				i += n
				continue
			}
			toks = append(toks, wordToken{data: "=?", raw: true})
			i += 2
			continue
		}
		j := strings.Index(s[i:], "=?")
		if j < 0 {
			j = len(s) - i
		}
		toks = append(toks, wordToken{data: s[i : i+j], raw: true})
		i += j
	}
	return toks
}

// collapseWordGaps removes blanks between adjacent encoded words:
// s{(\?\=)\s*(\=\?)}{$1$2}gs.
func collapseWordGaps(s string) string {
	if !strings.Contains(s, "?=") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "?=") {
			j := i + 2
			for j < len(s) && isPerlSpace(s[j]) {
				j++
			}
			if j > i+2 && strings.HasPrefix(s[j:], "=?") {
				b.WriteString("?=")
				i = j
				continue
			}
			b.WriteString("?=")
			i += 2
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// matchEncodedWord matches =\?([^?]*)\?([bq])\?([^?]+)\?= (b and q in either case).
func matchEncodedWord(s string) (charset string, enc byte, data string, n int) {
	rest := s[2:]
	k := strings.IndexByte(rest, '?')
	if k < 0 || k+2 >= len(rest) || rest[k+2] != '?' {
		return "", 0, "", 0
	}
	e := rest[k+1] | 0x20
	if e != 'b' && e != 'q' {
		return "", 0, "", 0
	}
	body := rest[k+3:]
	m := strings.IndexByte(body, '?')
	if m <= 0 || m+1 >= len(body) || body[m+1] != '=' {
		return "", 0, "", 0
	}
	return rest[:k], e, body[:m], 2 + k + 3 + m + 2
}

func decodeWordQ(s string) string {
	s = strings.ReplaceAll(s, "_", " ")
	if !strings.Contains(s, "=") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '=' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// perlDecodeBase64 is MIME::Base64's decode_base64: characters outside the
// alphabet are skipped, '=' ends the data, a trailing group of two or three
// characters yields one or two bytes.
func perlDecodeBase64(s string) []byte {
	var out []byte
	var c [4]int
	const eq = 64
	i := 0
	for i < len(s) {
		n := 0
		for n < 4 && i < len(s) {
			v := b64val(s[i])
			i++
			if v >= 0 {
				c[n] = v
				n++
			}
		}
		if n < 4 {
			if n < 2 {
				break
			}
			if n == 2 {
				c[2] = eq
			}
			c[3] = eq
		}
		if c[0] == eq || c[1] == eq {
			break
		}
		out = append(out, byte(c[0]<<2|(c[1]&0x30)>>4))
		if c[2] == eq {
			break
		}
		out = append(out, byte((c[1]&0x0f)<<4|(c[2]&0x3c)>>2))
		if c[3] == eq {
			break
		}
		out = append(out, byte((c[2]&0x03)<<6|c[3]))
	}
	return out
}

func b64val(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	case c == '=':
		return 64
	}
	return -1
}

// decodeWordsUTF8 is what takeStabAtFilename does to a parameter value:
// MIME::WordDecoder's UTF-8 decoder (every token converted from its charset
// to UTF-8, text outside encoded words read as US-ASCII; bytes that do not
// convert become the text \xHH, Encode's FB_PERLQQ; a token in a charset
// that cannot be found is dropped), then decode_mimewords once more in scalar
// context.
func decodeWordsUTF8(s string) string {
	var b strings.Builder
	for _, t := range decodeMIMEWords(s) {
		cs := "US-ASCII"
		if !t.raw {
			cs = strings.ToUpper(t.charset)
			if k := strings.IndexByte(cs, '*'); k >= 0 && isWordRest(cs[k+1:]) {
				cs = cs[:k]
			}
		}
		b.WriteString(toUTF8(t.data, cs))
	}
	out := b.String()
	if !strings.Contains(out, "=?") {
		return out
	}
	b.Reset()
	for _, t := range decodeMIMEWords(out) {
		if t.raw {
			b.WriteString(t.data)
			continue
		}
		for i := 0; i < len(t.data); i++ { // bytes joined to characters: Latin-1
			b.WriteRune(rune(t.data[i]))
		}
	}
	return b.String()
}

func isWordRest(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isAlpha(c) || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func perlQQ(b *strings.Builder, c byte) {
	const hexd = "0123456789ABCDEF"
	b.WriteString(`\x`)
	b.WriteByte(hexd[c>>4])
	b.WriteByte(hexd[c&15])
}

// toUTF8 converts data from charset cs (upper case) to UTF-8 as Encode's
// decode with FB_PERLQQ does; "" means the charset is unknown.
func toUTF8(data, cs string) string {
	var b strings.Builder
	switch cs {
	case "US-ASCII", "ASCII", "ANSI_X3.4-1968":
		for i := 0; i < len(data); i++ {
			if data[i] >= 0x80 {
				perlQQ(&b, data[i])
			} else {
				b.WriteByte(data[i])
			}
		}
		return b.String()
	case "UTF-8", "UTF8":
		for i := 0; i < len(data); {
			r, n := utf8.DecodeRuneInString(data[i:])
			if r == utf8.RuneError && n <= 1 {
				perlQQ(&b, data[i])
				i++
				continue
			}
			b.WriteString(data[i : i+n])
			i += n
		}
		return b.String()
	case "ISO-8859-1", "LATIN1", "ISO8859-1", "ISO_8859-1":
		for i := 0; i < len(data); i++ {
			b.WriteRune(rune(data[i]))
		}
		return b.String()
	}
	if cs == "" {
		return ""
	}
	enc, err := ianaindex.MIME.Encoding(cs)
	if err != nil || enc == nil {
		return ""
	}
	out, err := enc.NewDecoder().String(data)
	if err != nil {
		return ""
	}
	return out
}

// DecodeMIMEWords is MIME::Words' decode_mimewords in scalar context, as
// MIMEDefang's re_match uses it: every encoded word becomes the bytes of its
// charset (no conversion, whatever the charset, even an empty or unknown
// one); text outside encoded words is kept as it is.
func DecodeMIMEWords(s string) string {
	var b strings.Builder
	for _, t := range decodeMIMEWords(s) {
		b.WriteString(t.data)
	}
	return b.String()
}
