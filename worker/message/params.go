package message

import (
	"sort"
	"strconv"
	"strings"
)

// This file is MIME::Field::ParamVal's parse_params, reproduced rule for
// rule because MIMEDefang's idea of a file name or a type is whatever that
// parser makes of a header, broken headers included.

// paramSet is one parsed field: params maps lower-cased names to values;
// "_" is the field's first token. A name present with ok false is Perl's
// undef (a value the parser could not read).
type paramSet struct {
	vals    map[string]string
	undef   map[string]bool
	encoded map[string]bool // RFC 2231 value with a charset, rewritten as an encoded word

	// What the normalized writer and the name collector need besides
	// MIME-tools' reading (repair.go):
	order    []string             // parameter names in order of first appearance
	lost     map[string][]string  // values a later one overrode (name twice, name and name*)
	repeated bool                 // some parameter was given more than once
	ext      map[string][3]string // RFC 2231 charset, language and decoded value
}

// noteParam records name in order, and a value it overrides.
func (ps *paramSet) noteParam(name string) {
	old, seen := ps.vals[name]
	if !seen {
		ps.order = append(ps.order, name)
		return
	}
	ps.repeated = true
	if ps.lost == nil {
		ps.lost = map[string][]string{}
	}
	ps.lost[name] = append(ps.lost[name], old)
}

// paramMIMETools returns what mime_attr("<field>.<name>") returns: the value
// and whether it is defined.
func paramMIMETools(raw, name string) (string, bool) {
	ps := parseParams(raw)
	name = strings.ToLower(name)
	v, ok := ps.vals[name]
	return v, ok && !ps.undef[name]
}

// paramDecoded is paramMIMETools with RFC 2231 charset values decoded to UTF-8.
func paramDecoded(raw, name string) (string, bool) {
	ps := parseParams(raw)
	name = strings.ToLower(name)
	v, ok := ps.vals[name]
	if !ok || ps.undef[name] {
		return "", false
	}
	if ps.encoded[name] {
		v = decodeWordsUTF8(v)
	}
	return v, true
}

// firstToken is parse_params' "_" value: the field's first token.
func firstToken(raw string) string {
	s := raw
	if strings.IndexByte(s, '\n') >= 0 {
		s = strings.ReplaceAll(s, "\n", "")
	}
	i := skipSPCZ(s, 0)
	j := i
	for j < len(s) && isFirstChar(s[j]) {
		j++
	}
	return s[i:j]
}

// effectiveType is MIME::Head mime_type for a Content-Type value: the first
// token in lower case, or def when it is empty. A value of "0" is false in
// Perl and also gives def.
func effectiveType(raw, def string) string {
	v := firstToken(raw)
	if v == "" || v == "0" {
		return def
	}
	return strings.ToLower(v)
}

func isPerlSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// skipSPCZ matches (?:\s|\([^\)]*\))* at i.
func skipSPCZ(s string, i int) int {
	for i < len(s) {
		switch {
		case isPerlSpace(s[i]):
			i++
		case s[i] == '(':
			j := strings.IndexByte(s[i+1:], ')')
			if j < 0 {
				return i
			}
			i += j + 2
		default:
			return i
		}
	}
	return i
}

const tspecials = `()<>@,;:\/[]?="`

func isTokenChar(c byte) bool {
	return c > ' ' && c < 0x80 && strings.IndexByte(tspecials, c) < 0
}

func isParamNameChar(c byte) bool {
	return c >= 0x20 && c < 0x80 && c != ' ' && c != ':' && c != '='
}

func isFirstChar(c byte) bool {
	return !isPerlSpace(c) && c != ';' && c >= 0x20 && c < 0x80
}

func parseParams(raw string) paramSet {
	ps := paramSet{vals: make(map[string]string, 2)}
	s := raw
	if strings.IndexByte(s, '\n') >= 0 {
		s = strings.ReplaceAll(s, "\n", "")
	}
	s = strings.TrimRightFunc(s, func(r rune) bool { return r < 0x80 && isPerlSpace(byte(r)) })
	i := skipSPCZ(s, 0)
	j := i
	for j < len(s) && isFirstChar(s[j]) {
		j++
	}
	ps.vals["_"] = s[i:j]
	i = skipSPCZ(s, j)

	type piece struct {
		num string
		val string
	}
	var order []string
	var pieces map[string][]piece
	var enc map[string]bool
	for {
		// \G[^;]*(\;$SPCZ)+
		k := strings.IndexByte(s[i:], ';')
		if k < 0 {
			break
		}
		i += k
		for i < len(s) && s[i] == ';' {
			i = skipSPCZ(s, i+1)
		}
		// \G($PARAMNAME)\s*=\s*
		j := i
		for j < len(s) && isParamNameChar(s[j]) {
			j++
		}
		if j == i {
			break
		}
		name := strings.ToLower(s[i:j])
		for j < len(s) && isPerlSpace(s[j]) {
			j++
		}
		if j >= len(s) || s[j] != '=' {
			break
		}
		j++
		for j < len(s) && isPerlSpace(s[j]) {
			j++
		}
		i = j
		val, defined, n, ok := paramValue(s, i)
		if !ok {
			break
		}
		i = n
		if base, num, star, ok := splitStarName(name); ok {
			if pieces == nil {
				pieces = map[string][]piece{}
				enc = map[string]bool{}
			}
			if star {
				val = percentDecode(val)
				enc[base] = true
			}
			if _, seen := pieces[base]; !seen {
				order = append(order, base)
			}
			// Perl's hash slot concatenates repeated numbers.
			merged := false
			for x := range pieces[base] {
				if pieces[base][x].num == num {
					pieces[base][x].val += val
					merged = true
					ps.repeated = true
				}
			}
			if !merged {
				pieces[base] = append(pieces[base], piece{num, val})
			}
			continue
		}
		ps.noteParam(name)
		ps.vals[name] = val
		if !defined {
			if ps.undef == nil {
				ps.undef = map[string]bool{}
			}
			ps.undef[name] = true
		} else if ps.undef != nil {
			delete(ps.undef, name)
		}
	}
	for _, base := range order {
		ps2 := pieces[base]
		sort.SliceStable(ps2, func(a, b int) bool { return perlNum(ps2[a].num) < perlNum(ps2[b].num) })
		var b strings.Builder
		for _, p := range ps2 {
			b.WriteString(p.val)
		}
		v := b.String()
		if ps.undef != nil {
			delete(ps.undef, base)
		}
		ps.noteParam(base)
		if enc[base] {
			if cs, lang, rest, hasEnc := rfc2231Split(v); hasEnc {
				if ps.ext == nil {
					ps.ext = map[string][3]string{}
				}
				ps.ext[base] = [3]string{cs, lang, rest}
				v = "=?" + cs
				if lang != "" {
					v += "*" + lang
				}
				v += "?Q?" + qEncodeParam(rest) + "?="
				if ps.encoded == nil {
					ps.encoded = map[string]bool{}
				}
				ps.encoded[base] = true
			} else {
				v = rest
			}
		}
		ps.vals[base] = v
	}
	return ps
}

// paramValue matches (?:$QUOTED_STRING|($ENCTOKEN)|($TOKEN)|($BADTOKEN)) at i.
func paramValue(s string, i int) (val string, defined bool, next int, ok bool) {
	if i >= len(s) {
		return "", false, i, false
	}
	if s[i] == '"' {
		// "([^\\"]*(?:\\.(?:[^\\"]*))*)"
		var b strings.Builder
		j := i + 1
		for j < len(s) {
			c := s[j]
			if c == '"' {
				return b.String(), true, j + 1, true
			}
			if c == '\\' {
				if j+1 >= len(s) {
					break
				}
				b.WriteByte(s[j+1])
				j += 2
				continue
			}
			b.WriteByte(c)
			j++
		}
		// Unterminated: fall through to the other alternatives.
	}
	if n := matchEncToken(s, i); n > 0 {
		return s[i : i+n], true, i + n, true
	}
	j := i
	for j < len(s) && isTokenChar(s[j]) {
		j++
	}
	if j > i {
		return s[i:j], true, j, true
	}
	// $BADTOKEN: [^;]+, then trimmed to its leading token.
	j = i
	for j < len(s) && s[j] != ';' {
		j++
	}
	if j == i {
		return "", false, i, false
	}
	bad := strings.TrimFunc(s[i:j], func(r rune) bool { return r < 0x80 && isPerlSpace(byte(r)) })
	k := 0
	for k < len(bad) && isTokenChar(bad[k]) {
		k++
	}
	if k == 0 {
		return "", false, j, true
	}
	return bad[:k], true, j, true
}

// matchEncToken matches =\?[^?]*\?[A-Za-z]\?[^?]+\?= at i and returns its length.
func matchEncToken(s string, i int) int {
	if !strings.HasPrefix(s[i:], "=?") {
		return 0
	}
	j := i + 2
	k := strings.IndexByte(s[j:], '?')
	if k < 0 {
		return 0
	}
	j += k + 1
	if j+1 >= len(s) || !isAlpha(s[j]) || s[j+1] != '?' {
		return 0
	}
	j += 2
	k = strings.IndexByte(s[j:], '?')
	if k <= 0 || j+k+1 >= len(s) || s[j+k+1] != '=' {
		return 0
	}
	return j + k + 2 - i
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// splitStarName matches ^([^*]+)(?:\*([^*]+))?(\*)?\z on a name containing '*'.
func splitStarName(name string) (base, num string, star, ok bool) {
	if !strings.Contains(name, "*") {
		return "", "", false, false
	}
	parts := strings.Split(name, "*")
	switch {
	case len(parts) == 2 && parts[0] != "" && parts[1] == "":
		return parts[0], "0", true, true // name*
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return parts[0], parts[1], false, true // name*1
	case len(parts) == 3 && parts[0] != "" && parts[1] != "" && parts[2] == "":
		return parts[0], parts[1], true, true // name*1*
	}
	return "", "", false, false
}

// perlNum is Perl's numeric value of a string: its leading decimal digits.
func perlNum(s string) int {
	s = strings.TrimLeft(s, " \t")
	j := 0
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	n, _ := strconv.Atoi(s[:j])
	return n
}

func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// rfc2231Split is ParamVal's rfc2231decode: charset'lang'value.
func rfc2231Split(v string) (cs, lang, rest string, hasEnc bool) {
	a := strings.IndexByte(v, '\'')
	if a < 0 {
		return "", "", v, false
	}
	b := strings.IndexByte(v[a+1:], '\'')
	if b < 0 {
		return v[:a], "", v[a+1:], true
	}
	return v[:a], v[a+1 : a+1+b], v[a+2+b:], true
}

// qEncodeParam is the Q encoding ParamVal applies before wrapping an RFC 2231
// value into an encoded word: [=?_\x00-\x1F\x7F-\xFF] as =XX, space as _.
func qEncodeParam(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '=' || c == '?' || c == '_' || c < 0x20 || c >= 0x7f:
			b.WriteString("=" + strings.ToUpper(strconv.FormatUint(uint64(c)>>4, 16)) + strings.ToUpper(strconv.FormatUint(uint64(c)&15, 16)))
		case c == ' ':
			b.WriteByte('_')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
