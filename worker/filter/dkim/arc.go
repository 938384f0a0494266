package dkim

// md_arc_sign (Mail::MIMEDefang::DKIM::ARC, MIMEDefang 3.7): an ARC set
// (RFC 8617) as Perl's Mail::DKIM::ARC::Signer writes it, byte for byte:
// which Authentication-Results fields it takes and how it joins them into
// the ARC-Authentication-Results, which earlier ARC fields make it skip
// the message, the ARC-Message-Signature (a DKIM signature with i= for v=,
// relaxed/relaxed, Mail::DKIM's tag order and folding) and the ARC-Seal
// over the ARC sets (Canonicalization::seal).

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ARCOptions are md_arc_sign's arguments after the key file.
type ARCOptions struct {
	// Algorithm: "" means rsa-sha256, the only one Mail::DKIM's ARC
	// signer takes (it dies on any other).
	Algorithm string
	// Chain is the seal's cv=: "pass", "fail", "none", or "ar" for the
	// arc= result of our Authentication-Results ("none" when they have
	// none). md_arc_sign requires it.
	Chain string
	// Domain is d=; "" means example.org, Mail::DKIM's default
	// (md_arc_sign requires a domain).
	Domain string
	// SrvID is the authserv-id of our Authentication-Results fields, in
	// lower case; "" means Domain.
	SrvID string
	// Selector is s=; "" means "default", md_arc_sign's default.
	Selector string
	// Headers are colon-separated field names signed in the
	// ARC-Message-Signature besides Mail::DKIM's default list.
	Headers string
	// Timestamp is Mail::DKIM::ARC::Signer's Timestamp: when not zero, the
	// t= of both new signatures. md_arc_sign passes none: the
	// ARC-Message-Signature has no t= and the ARC-Seal's is the time
	// ARCSign is given.
	Timestamp int64
}

// ARCField is a header field: its name and value, the value's folds
// written "\n\t".
type ARCField struct {
	Name, Value string
}

// ARCResult is the outcome of ARCSign.
type ARCResult struct {
	// Sealed: Mail::DKIM's result is "sealed" (else "skipped").
	Sealed bool
	// Details says why a message was skipped, in Mail::DKIM's words
	// ("No authentication results seen" ...).
	Details string
	// Fields are the new ARC-Seal, ARC-Message-Signature and
	// ARC-Authentication-Results, in that order (Signer's as_strings).
	Fields []ARCField
	// Warnings are the warnings Mail::DKIM gives on the way, which
	// md_arc_sign logs ("md_arc_sign: " and the warning).
	Warnings []string
}

// Map is md_arc_sign's hash: field name to value for a sealed message,
// else {error => details}. (MIMEDefang builds its hash by splitting each
// field at its last colon followed by a blank: an
// ARC-Authentication-Results holding ": " gets a wrong name there; here
// the names are always the three field names.)
func (r ARCResult) Map() map[string]string {
	if !r.Sealed {
		return map[string]string{"error": r.Details}
	}
	m := make(map[string]string, len(r.Fields))
	for _, f := range r.Fields {
		m[f.Name] = f.Value
	}
	return m
}

const (
	aarPrefix = "ARC-Authentication-Results:"
	amsPrefix = "ARC-Message-Signature:"
	asPrefix  = "ARC-Seal:"
	arPrefix  = "Authentication-Results:"
	// maxInstance is the largest i= MessageSignature::instance takes.
	maxInstance = 1024
)

var (
	aarInstanceRE = regexp.MustCompile(`^ARC-Authentication-Results:[\t\n\v\f\r ]*i=(\d+)`)
	arcResultRE   = regexp.MustCompile(`\barc=(none|pass|fail)`)
)

// ARCSign is md_arc_sign($keyfile, ...) on msg (INPUTMSG, LF or CRLF line
// ends) with key: the new ARC set when Mail::DKIM's signer would seal the
// message, else why not. now is the seal's time (when o.Timestamp is
// zero). An error is returned where Mail::DKIM dies (and md_arc_sign
// with it): an algorithm other than rsa-sha256, a chain value other than
// pass, fail, none or ar, a key that is not RSA, an earlier ARC-Seal or
// ARC-Message-Signature that is not a tag list; the result then holds only
// the warnings given before.
func ARCSign(key crypto.Signer, msg []byte, o ARCOptions, now time.Time) (ARCResult, error) {
	if o.Algorithm == "" {
		o.Algorithm = "rsa-sha256"
	}
	if o.Domain == "" {
		o.Domain = "example.org"
	}
	if o.SrvID == "" {
		o.SrvID = o.Domain
	}
	if o.Selector == "" {
		o.Selector = "default"
	}
	if o.Algorithm != "rsa-sha256" {
		return ARCResult{}, errors.New("Invalid signing algorithm")
	}
	switch o.Chain {
	case "pass", "fail", "none", "ar":
	default:
		return ARCResult{}, errors.New("Need a valid chain value")
	}
	if _, err := algorithmHash(o.Algorithm, key); err != nil {
		return ARCResult{}, err
	}
	chain := o.Chain

	// Signer::finish_header over the fields as they are, their final line
	// ends removed.
	fields, body := splitMessage(msg)
	hdrs := make([]string, len(fields))
	for i, f := range fields {
		hdrs[i] = strings.TrimRight(f, "\r\n")
	}
	var res ARCResult
	// warn is Perl's warn as md_arc_sign's handler logs it: without its
	// newlines and its "at FILE line N." (the trailing blank stays).
	warn := func(w string) { res.Warnings = append(res.Warnings, strings.ReplaceAll(w, "\n", "")) }
	skip := func(why string) (ARCResult, error) {
		res.Details = why
		return res, nil
	}
	var ar string
	var seals, sigs, aars perlArray
	for _, h := range hdrs {
		if strings.HasPrefix(h, arPrefix) {
			id, err := parseAuthServID(h)
			if err != nil {
				warn("Authentication-Results Header parse error: " + err.Error() + " " + h + " ")
				continue
			}
			if asciiLower(id) != o.SrvID {
				continue // not ours
			}
			// The results: after the first ';' and its blanks, without a
			// final ';' and blanks; a leading fold is kept, any other
			// leading blanks become one space.
			rest := h[len(arPrefix):]
			var val string
			if i := strings.IndexByte(rest, ';'); i >= 0 {
				val = strings.TrimLeft(rest[i+1:], " \t")
				q := len(strings.TrimRightFunc(val, isSpaceRune))
				if q > 0 && val[q-1] == ';' {
					q--
				}
				val = val[:q]
				if !strings.HasPrefix(val, "\r\n") {
					val = " " + strings.TrimLeftFunc(val, isSpaceRune)
				}
			} else {
				// Perl's undef $arval, substituted twice.
				w := "Use of uninitialized value $arval in substitution (s///) "
				warn(w)
				warn(w)
				val = " "
			}
			if ar != "" {
				ar += ";" + val
			} else {
				ar = id + ";" + val
			}
			if chain == "ar" {
				if m := arcResultRE.FindStringSubmatch(val); m != nil {
					chain = m[1]
				}
			}
			continue
		}
		if strings.HasPrefix(h, "ARC-") {
			if ar == "" {
				return skip("ARC header seen before Authentication-Results")
			}
			if chain == "ar" {
				return skip("No ARC result found in Authentication-Results")
			}
		}
		switch {
		case strings.HasPrefix(h, asPrefix), strings.HasPrefix(h, amsPrefix):
			what, arr, prefix := "ARC-Seal", &seals, asPrefix
			if strings.HasPrefix(h, amsPrefix) {
				what, arr, prefix = "ARC-Message-Signature", &sigs, amsPrefix
			}
			tags, err := parseSig(h[len(prefix):])
			if err != nil {
				return res, fmt.Errorf("%s: %v", what, err)
			}
			// Perl's $i: the i= tag (undef without one) as a subscript.
			i, hasI := tags.vals["i"]
			n, numeric, err := perlIndex(i)
			if err != nil {
				return res, fmt.Errorf("%s: %v", what, err)
			}
			const undef = "Use of uninitialized value $i in array element "
			switch {
			case !hasI:
				warn(undef)
			case !numeric:
				warn(`Argument "` + i + `" isn't numeric in array or hash lookup `)
			}
			if arr.has(n) {
				if !hasI {
					warn("Use of uninitialized value $i in concatenation (.) or string ")
				}
				return skip("Duplicate " + what + " " + i)
			}
			if !hasI {
				warn(undef)
			}
			if err := arr.put(n); err != nil {
				return res, fmt.Errorf("%s: %v", what, err)
			}
		case strings.HasPrefix(h, aarPrefix):
			m := aarInstanceRE.FindStringSubmatch(h)
			if m == nil {
				continue
			}
			n, _, err := perlIndex(m[1])
			if err != nil {
				return res, fmt.Errorf("ARC-Authentication-Results: %v", err)
			}
			if aars.has(n) {
				return skip("Duplicate ARC-Authentication-Results " + m[1])
			}
			if err := aars.put(n); err != nil {
				return res, err
			}
		}
	}
	if ar == "" {
		return skip("No authentication results seen")
	}
	if chain == "ar" {
		chain = "none"
	}
	if sigs.last() > seals.last() {
		return skip("More message signatures than seals")
	}
	if aars.last() > seals.last() {
		return skip("More authentication results than seals")
	}
	for i := 1; i <= seals.last(); i++ {
		if !seals.has(i) {
			return skip(fmt.Sprintf("Missing ARC-Seal %d", i))
		}
		if !sigs.has(i) {
			return skip(fmt.Sprintf("Missing Arc-Message-Signature %d", i))
		}
	}
	instance := max(seals.last()+1, 1)
	inst := strconv.Itoa(instance)

	// The signer has already put the new ARC-Authentication-Results on top
	// when making the ARC-Message-Signature dies (an i= past 1024, a ';'
	// in d=, s= or h=); md_arc_sign's eval goes on, and Mail::DKIM, asked
	// again at the end of the message, sees that field first.
	hNames := signedNames(fields, o.Headers)
	if instance > maxInstance || !tagValueOK(o.Domain) || !tagValueOK(o.Selector) || !tagValueOK(strings.Join(hNames, ":")) {
		return skip("ARC header seen before Authentication-Results")
	}

	aar := aarPrefix + " i=" + inst + "; " + ar
	all := append([]string{aar}, hdrs...)

	// The ARC-Message-Signature: relaxed/relaxed over the message with the
	// new ARC-Authentication-Results on top.
	bh := sha256.Sum256(canonBody(true, body))
	raws := []string{
		" i=" + inst,
		" a=" + o.Algorithm,
		" c=relaxed/relaxed",
		" d=" + o.Domain,
		" h=" + strings.Join(hNames, ":"),
		" s=" + o.Selector,
	}
	if o.Timestamp != 0 {
		raws = append(raws, " t="+strconv.FormatInt(o.Timestamp, 10))
	}
	raws = append(raws, " bh="+base64.StdEncoding.EncodeToString(bh[:]))
	raws = strings.Split(wrapTags(raws, len(amsPrefix), false), ";")
	hh := sha256.New()
	hashFields(hh, all, hNames, true)
	hh.Write([]byte(canonHeader(true, amsPrefix+strings.Join(append(raws, " b="), ";"))))
	sig, err := signDigest(key, o.Algorithm, hh.Sum(nil))
	if err != nil {
		return ARCResult{}, err
	}
	ams := amsPrefix + wrapTags(append(raws, " b="+base64.StdEncoding.EncodeToString(sig)), len(amsPrefix), true)
	all = append([]string{ams}, all...)

	// The ARC-Seal: Canonicalization::seal, the earlier sets when the
	// chain passes, then this set, then the seal with an empty b=.
	t := o.Timestamp
	if t == 0 {
		t = now.Unix()
	}
	raws = []string{
		" i=" + inst,
		" a=" + o.Algorithm,
		" cv=" + chain,
		" d=" + o.Domain,
		" s=" + o.Selector,
		" t=" + strconv.FormatInt(t, 10),
	}
	raws = strings.Split(wrapTags(raws, len(asPrefix), false), ";")
	sh := sha256.New()
	indexed := func(name string, n int) {
		for _, h := range all {
			if got, ok := arcInstance(h, name); ok && got == n {
				sh.Write([]byte(canonHeader(true, h) + "\r\n"))
				return
			}
		}
	}
	if chain == "pass" {
		for n := 1; n < instance; n++ {
			indexed("ARC-Authentication-Results", n)
			indexed("ARC-Message-Signature", n)
			indexed("ARC-Seal", n)
		}
	}
	indexed("ARC-Authentication-Results", instance)
	indexed("ARC-Message-Signature", instance)
	sh.Write([]byte(canonHeader(true, asPrefix+strings.Join(append(raws, " b="), ";"))))
	sig, err = signDigest(key, o.Algorithm, sh.Sum(nil))
	if err != nil {
		return ARCResult{}, err
	}
	as := asPrefix + wrapTags(append(raws, " b="+base64.StdEncoding.EncodeToString(sig)), len(asPrefix), true)

	res.Sealed = true
	for _, f := range []string{as, ams, aar} {
		// The name, and the value after the colon and one blank; no CR.
		// (MIMEDefang splits at the last colon followed by a blank, which
		// cuts results holding ": " in two: "(mx.test: domain of ...)".)
		name, value, _ := strings.Cut(f, ":")
		res.Fields = append(res.Fields, ARCField{name, strings.ReplaceAll(value[1:], "\r", "")})
	}
	return res, nil
}

// signedNames is Signer::headers: the names (lower case) of the fields of
// the message, in order, that are in Mail::DKIM's default list or extra.
func signedNames(fields []string, extra string) []string {
	wanted := append([]string(nil), DefaultHeaders...)
	if extra != "" {
		wanted = append(wanted, strings.Split(extra, ":")...)
	}
	var h []string
	for _, f := range fields {
		m := fieldNameRE.FindStringSubmatch(f)
		if m == nil {
			continue
		}
		n := asciiLower(m[1]) // Perl's lc, on bytes
		for _, w := range wanted {
			if asciiLower(w) == n {
				h = append(h, n)
				break
			}
		}
	}
	return h
}

// tagValueOK is what KeyValueList::set_tag accepts: no ';', and a CRLF
// only as a fold.
func tagValueOK(v string) bool {
	if strings.Contains(v, ";") {
		return false
	}
	for i := strings.Index(v, "\r\n"); i >= 0; {
		if i+2 >= len(v) || v[i+2] != ' ' && v[i+2] != '\t' {
			return false
		}
		j := strings.Index(v[i+2:], "\r\n")
		if j < 0 {
			break
		}
		i += 2 + j
	}
	return true
}

// arcInstance is Canonicalization::seal's match of a field named name
// (any case) with its instance: the i= tag that opens the value or follows
// a ';' and blanks, the last of them.
func arcInstance(h, name string) (int, bool) {
	if len(h) <= len(name) || !strings.EqualFold(h[:len(name)], name) || h[len(name)] != ':' {
		return 0, false
	}
	v := h[len(name)+1:]
	starts := []int{len(v) - len(strings.TrimLeftFunc(v, isSpaceRune))}
	for i := starts[0]; i < len(v); i++ {
		if v[i] == ';' {
			j := i + 1
			for j < len(v) && isPerlSpace(v[j]) {
				j++
			}
			starts = append(starts, j)
			i = j - 1
		}
	}
	for k := len(starts) - 1; k >= 0; k-- {
		s := v[starts[k]:]
		if len(s) < 3 || s[0] != 'i' && s[0] != 'I' || s[1] != '=' {
			continue
		}
		d := 2
		for d < len(s) && s[d] >= '0' && s[d] <= '9' {
			d++
		}
		if d == 2 {
			continue
		}
		n, err := strconv.Atoi(strings.TrimLeft(s[2:d], "0") + "0")
		if err != nil {
			return 0, false
		}
		return n / 10, true
	}
	return 0, false
}

// perlArray is what the signer learns from a Perl array indexed by
// instance: which elements are set, and $#array.
type perlArray struct {
	set map[int]bool
	top int // $#array when set is not nil
}

// last is $#array: -1 when empty.
func (a *perlArray) last() int {
	if a.set == nil {
		return -1
	}
	return a.top
}

// index is a Perl subscript: negative ones count from the end.
func (a *perlArray) index(i int) (int, bool) {
	if i < 0 {
		i += a.last() + 1
	}
	return i, i >= 0
}

func (a *perlArray) has(i int) bool {
	i, ok := a.index(i)
	return ok && a.set[i]
}

func (a *perlArray) put(i int) error {
	j, ok := a.index(i)
	if !ok {
		return fmt.Errorf("Modification of non-creatable array value attempted, subscript %d", i)
	}
	if a.set == nil {
		a.set, a.top = map[int]bool{}, j
	}
	a.set[j] = true
	a.top = max(a.top, j)
	return nil
}

// maxIndex bounds the instances read: Perl would grow an array that
// large, and die.
const maxIndex = 1 << 30

var perlNumRE = regexp.MustCompile(`^[\t\n\v\f\r ]*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?`)

// perlIndex is a tag value as a Perl array subscript: its leading number,
// truncated, or 0; numeric says whether it is all a number (else Perl
// warns).
func perlIndex(s string) (n int, numeric bool, err error) {
	num := perlNumRE.FindString(s)
	numeric = num != "" && strings.TrimRightFunc(s[len(num):], isSpaceRune) == ""
	if num == "" {
		return 0, false, nil
	}
	f, err := strconv.ParseFloat(strings.TrimLeftFunc(num, isSpaceRune), 64)
	if err != nil || f > maxIndex || f < -maxIndex {
		return 0, numeric, fmt.Errorf("instance %s out of range", s)
	}
	return int(f), numeric, nil
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// The authserv-id of an Authentication-Results field, as
// Mail::AuthenticationResults::Parser reads it: the signer skips a field
// the parser dies on, with a warning, so the whole field is parsed as the
// parser does, and its errors are the parser's.

type arToken struct {
	kind  byte // 'c' comment, ';' separator, 's' string, 'a' assignment
	value string
}

// tokenizeAR is Parser::tokenise.
func tokenizeAR(h string) ([]arToken, error) {
	h = strings.NewReplacer("\n", " ", "\r", " ").Replace(h)
	h = strings.TrimLeftFunc(h, isSpaceRune)
	if len(h) >= len(arPrefix) && strings.EqualFold(h[:len(arPrefix)], arPrefix) {
		h = h[len(arPrefix):]
	}
	var toks []arToken
	var last arToken // the last token that is not a comment (kind 0: none yet)
	for {
		h = strings.TrimLeftFunc(h, isSpaceRune)
		if h == "" {
			break
		}
		var tok arToken
		switch c := h[0]; {
		case c == '(':
			depth, i := 0, 0
			for i < len(h) {
				ch := h[i]
				i++
				if ch == '(' {
					depth++
				} else if ch == ')' {
					if depth--; depth == 0 {
						break
					}
				}
			}
			if depth != 0 {
				return nil, errors.New("Mismatched parens in comment")
			}
			tok, h = arToken{'c', h[1 : i-1]}, h[i:]
		case c == ';':
			tok, h = arToken{';', ";"}, h[1:]
		case c == '"':
			end := strings.IndexByte(h[1:], '"')
			if end < 0 {
				return nil, errors.New("Quoted string not closed")
			}
			tok, h = arToken{'s', h[1 : 1+end]}, h[2+end:]
		case c == '/' || c == '=' || c == '.' && last.kind != 'a':
			tok, h = arToken{'a', h[:1]}, h[1:]
		default:
			// Token::String: a value (after '=') or the first token ends
			// at a blank or ';' only.
			loose := last.kind == 0 || last.kind == 'a' && last.value == "="
			i := 0
			for ; i < len(h); i++ {
				ch := h[i]
				if isPerlSpace(ch) || ch == ';' || !loose && strings.IndexByte(`"(=/.`, ch) >= 0 {
					break
				}
			}
			if i == 0 {
				return nil, errors.New("Not a string")
			}
			tok, h = arToken{'s', h[:i]}, h[i:]
		}
		toks = append(toks, tok)
		if tok.kind != 'c' {
			last = tok
		}
	}
	if len(toks) == 0 {
		return nil, errors.New("Nothing to parse")
	}
	return toks, nil
}

// Header::Base's checks of keys and values.
func arKey(k string) error {
	if k == "" {
		return errors.New("Key cannot be empty")
	}
	if strings.Contains(k, `"`) {
		return errors.New("Invalid characters in key")
	}
	return nil
}

func arValue(v string) error {
	if strings.Contains(v, `"`) {
		return errors.New("Invalid characters in value")
	}
	return nil
}

// parseAuthServID is Parser::parse: the authserv-id ("" when the field
// has none), or the error the parser dies with.
func parseAuthServID(h string) (string, error) {
	toks, err := tokenizeAR(h)
	if err != nil {
		return "", err
	}
	// _parse_authservid: comments, then the id.
	id := ""
	for len(toks) > 0 {
		t := toks[0]
		toks = toks[1:]
		if t.kind == 's' {
			if err := arValue(t.value); err != nil {
				return "", err
			}
			id = t.value
			break
		}
		if t.kind != 'c' {
			return "", errors.New("Invalid AuthServ-ID")
		}
	}
	// Then a version or key=value pairs up to the first ';'.
	expecting := "key"
	var key string
	for len(toks) > 0 {
		t := toks[0]
		toks = toks[1:]
		if t.kind == ';' {
			break
		}
		switch t.kind {
		case 'a':
			if expecting != "assignment" {
				return "", errors.New("not expecting an assignment")
			}
			if t.value != "=" {
				return "", errors.New("unexpected token")
			}
			expecting = "value"
		case 's':
			switch expecting {
			case "key":
				key, expecting = t.value, "assignment"
			case "value":
				if err := arKey(key); err != nil {
					return "", err
				}
				if err := arValue(t.value); err != nil {
					return "", err
				}
				expecting = "key"
			default:
				return "", errors.New("not expecting a string")
			}
		}
	}
	if expecting != "key" && !isDigits(key) {
		if err := arKey(key); err != nil {
			return "", err
		}
	}
	// _parse_entry, for each ';'-separated result.
	for len(toks) > 0 {
		expecting, sub := "key", false
		for len(toks) > 0 {
			t := toks[0]
			toks = toks[1:]
			if t.kind == ';' {
				break
			}
			switch t.kind {
			case 'a':
				if expecting != "assignment" {
					return "", errors.New("not expecting an assignment")
				}
				switch t.value {
				case "=":
					expecting = "value"
				case ".":
					expecting = "keymod"
				case "/":
					expecting = "version"
				}
			case 's':
				switch expecting {
				case "key":
					if !sub && t.value == "none" {
						expecting = "no_more_after_none"
						break
					}
					if err := arKey(t.value); err != nil {
						return "", err
					}
					expecting = "assignment"
				case "keymod":
					// The key grows by ".value": it cannot become empty,
					// and a '"' cannot follow a '.'.
					expecting = "assignment"
				case "version":
					if !isDigits(t.value) {
						return "", errors.New("bad version token")
					}
					expecting = "assignment"
				case "value":
					if err := arValue(t.value); err != nil {
						return "", err
					}
					sub, expecting = true, "key"
				default:
					return "", errors.New("not expecting a string")
				}
			}
		}
	}
	return id, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
