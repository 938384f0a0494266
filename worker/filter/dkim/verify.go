package dkim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"hash"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// VerifyResult is md_dkim_verify's result.
type VerifyResult struct {
	// Result is Mail::DKIM's: "pass", "fail", "invalid" or "none", and
	// "temperror" when the key could not be fetched because DNS did not
	// answer (Mail::DKIM says "invalid" then; a temporary failure must
	// not read as a permanent one).
	Result string
	// Detail says why, as Mail::DKIM's result_detail does.
	Detail string
	// Domain (d=, lower case), KeySize (bits) and B (the b= tag as
	// written) of the signature the result is about, when its key was
	// fetched (HasKey).
	HasKey  bool
	Domain  string
	KeySize int
	B       string
}

// Values is the original's list: (result, domain, key size, b) when the
// signature's key was fetched, else (result, undef, 0, undef, undef).
func (r VerifyResult) Values() []any {
	if r.HasKey {
		return []any{r.Result, r.Domain, r.KeySize, r.B}
	}
	return []any{r.Result, nil, 0, nil, nil}
}

// maxSignatures is Mail::DKIM's $MAX_SIGNATURES_TO_PROCESS.
const maxSignatures = 50

// LookupTXT returns the TXT records of a name; a *net.DNSError that is
// IsNotFound for none, IsTimeout or IsTemporary when DNS did not answer.
type LookupTXT func(ctx context.Context, name string) ([]string, error)

// Verify is md_dkim_verify() on msg (INPUTMSG): it checks every
// DKIM-Signature field, in order, as Mail::DKIM's Verifier does (rsa-sha1
// and keys under 1024 bits included, as it accepts them), and reports the
// first signature's result unless a later one passes. now is the time
// expirations are checked against.
func Verify(ctx context.Context, msg []byte, lookup LookupTXT, now time.Time) VerifyResult {
	fields, body := splitMessage(msg)
	var best *VerifyResult
	n := 0
	for _, f := range fields {
		m := fieldNameRE.FindStringSubmatch(f)
		if m == nil || !strings.EqualFold(m[1], "DKIM-Signature") {
			continue
		}
		if n++; n > maxSignatures+1 {
			break
		}
		r := verifyOne(ctx, f, fields, body, lookup, now)
		if best == nil || r.Result == "pass" && best.Result != "pass" {
			best = &r
		}
	}
	if best == nil {
		return VerifyResult{Result: "none"}
	}
	return *best
}

// sigTags is a parsed DKIM-Signature: the prefix and raw tags as written,
// and each tag's value.
type sigTags struct {
	prefix string
	raws   []string
	vals   map[string]string
	bIndex int
}

var sigPrefixRE = regexp.MustCompile(`(?i)^DKIM-Signature:`)

// parseSig is Signature::parse (KeyValueList::parse).
func parseSig(field string) (*sigTags, error) {
	field = strings.TrimSuffix(field, "\r\n")
	s := &sigTags{prefix: sigPrefix, vals: map[string]string{}, bIndex: -1}
	if p := sigPrefixRE.FindString(field); p != "" {
		s.prefix, field = p, field[len(p):]
	}
	for _, raw := range strings.Split(field, ";") {
		s.raws = append(s.raws, raw)
		t := strings.TrimFunc(raw, isSpaceRune)
		if t == "" {
			continue
		}
		name, value, ok := strings.Cut(t, "=")
		if !ok {
			return nil, errors.New("syntax error")
		}
		name = strings.TrimRightFunc(name, isSpaceRune)
		value = strings.TrimLeftFunc(value, isSpaceRune)
		s.vals[name] = value
		if name == "b" {
			s.bIndex = len(s.raws) - 1
		}
	}
	return s, nil
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if isSpaceRune(r) {
			return -1
		}
		return r
	}, s)
}

func verifyOne(ctx context.Context, field string, fields []string, body []byte, lookup LookupTXT, now time.Time) VerifyResult {
	invalid := func(why string) VerifyResult { return VerifyResult{Result: "invalid", Detail: why} }
	sig, err := parseSig(field)
	if err != nil {
		return invalid(err.Error())
	}
	v := sig.vals
	switch ver, ok := v["v"]; {
	case !ok:
		return invalid("missing v tag")
	case ver != "1":
		return invalid("unsupported version " + ver)
	}
	algo := strings.ToLower(v["a"])
	var newHash func() hash.Hash
	var cryptoHash crypto.Hash
	switch algo {
	case "rsa-sha1":
		newHash, cryptoHash = sha1.New, crypto.SHA1
	case "rsa-sha256", "ed25519-sha256":
		newHash, cryptoHash = sha256.New, crypto.SHA256
	default:
		return invalid(strings.TrimSpace("unsupported algorithm " + v["a"]))
	}
	canon := strings.ToLower(v["c"])
	if canon == "" {
		canon = "simple/simple"
	}
	hc, bc, ok := strings.Cut(canon, "/")
	if !ok {
		bc = "simple"
	}
	if !validCanon(hc) || !validCanon(bc) {
		return invalid("unsupported canonicalization " + v["c"])
	}
	if q, ok := v["q"]; ok && q != "dns" && q != "dns/txt" {
		return invalid("unsupported query protocol, q=" + q)
	}
	if x, ok := v["x"]; ok {
		if t, err := strconv.ParseInt(x, 10, 64); err == nil && t < now.Unix() {
			return invalid("signature is expired")
		}
	}
	domain, ok := v["d"]
	if !ok {
		return invalid("missing d tag")
	}
	domain = strings.ToLower(domain)
	if domain == "" {
		return invalid("invalid domain in d tag")
	}
	selector, ok := v["s"]
	if !ok {
		return invalid("missing s tag")
	}
	if i, ok := v["i"]; ok {
		at := strings.LastIndexByte(i, '@')
		id := strings.ToLower(i[at+1:])
		if at < 0 || id != domain && !strings.HasSuffix(id, "."+domain) {
			return invalid("bad identity")
		}
	}

	// The public key.
	pub, keySize, detail, temp := fetchKey(ctx, lookup, selector, domain, algo)
	if pub == nil {
		if temp {
			return VerifyResult{Result: "temperror", Detail: "public key: " + detail}
		}
		return invalid("public key: " + detail)
	}
	res := VerifyResult{HasKey: true, Domain: domain, KeySize: keySize, B: v["b"]}

	// The body hash, over l= bytes when given.
	cb := canonBody(bc == "relaxed", body)
	if l, ok := v["l"]; ok {
		if n, err := strconv.Atoi(l); err == nil && n >= 0 && n < len(cb) {
			cb = cb[:n]
		}
	}
	bh := newHash()
	bh.Write(cb)
	want, err := base64.StdEncoding.DecodeString(stripSpace(v["bh"]))
	if err != nil || !bytes.Equal(bh.Sum(nil), want) {
		res.Result, res.Detail = "fail", "body has been altered"
		return res
	}

	// The header hash: the fields h= names, from the bottom up, then this
	// signature with its b= value removed.
	hh := newHash()
	hashFields(hh, fields, strings.Split(stripSpace(strings.ToLower(v["h"])), ":"), hc == "relaxed")
	raws := append([]string(nil), sig.raws...)
	if sig.bIndex >= 0 {
		name, _, _ := strings.Cut(raws[sig.bIndex], "=")
		raws[sig.bIndex] = name + "="
	}
	hh.Write([]byte(canonHeader(hc == "relaxed", sig.prefix+strings.Join(raws, ";"))))
	b, err := base64.StdEncoding.DecodeString(stripSpace(v["b"]))
	if err == nil {
		switch k := pub.(type) {
		case *rsa.PublicKey:
			err = rsa.VerifyPKCS1v15(k, cryptoHash, hh.Sum(nil), b)
		case ed25519.PublicKey:
			if !ed25519.Verify(k, hh.Sum(nil), b) {
				err = errors.New("signature mismatch")
			}
		}
	}
	if err != nil {
		res.Result, res.Detail = "fail", "signature is invalid"
		return res
	}
	res.Result = "pass"
	return res
}

// fetchKey reads the key record of selector._domainkey.domain, checks it
// against the signature's algorithm, and returns the key and its size in
// bits, or why not and whether the failure is temporary.
func fetchKey(ctx context.Context, lookup LookupTXT, selector, domain, algo string) (pub crypto.PublicKey, bits int, why string, temp bool) {
	txts, err := lookup(ctx, selector+"._domainkey."+domain)
	var derr *net.DNSError
	if err != nil {
		if errors.As(err, &derr) && !derr.IsNotFound {
			return nil, 0, "DNS error: " + derr.Err, true
		}
		return nil, 0, "not available", false
	}
	if len(txts) == 0 {
		return nil, 0, "not available", false
	}
	tags := map[string]string{}
	for _, t := range strings.Split(txts[0], ";") {
		t = strings.TrimFunc(t, isSpaceRune)
		if t == "" {
			continue
		}
		name, value, ok := strings.Cut(t, "=")
		if !ok {
			return nil, 0, "syntax error", false
		}
		tags[strings.TrimRightFunc(name, isSpaceRune)] = strings.TrimLeftFunc(value, isSpaceRune)
	}
	if ver, ok := tags["v"]; ok && ver != "DKIM1" {
		return nil, 0, "unsupported version", false
	}
	p, ok := tags["p"]
	if !ok {
		return nil, 0, "missing p= tag", false
	}
	if stripSpace(p) == "" {
		return nil, 0, "revoked", false
	}
	if h, ok := tags["h"]; ok {
		want := algo[strings.IndexByte(algo, '-')+1:]
		found := false
		for _, a := range strings.Split(h, ":") {
			if strings.EqualFold(strings.TrimSpace(a), want) {
				found = true
			}
		}
		if !found {
			return nil, 0, "does not support hash algorithm '" + want + "'", false
		}
	}
	if s, ok := tags["s"]; ok {
		found := false
		for _, a := range strings.Split(s, ":") {
			if a = strings.TrimSpace(a); a == "*" || a == "email" {
				found = true
			}
		}
		if !found {
			return nil, 0, "does not support email", false
		}
	}
	der, err := base64.StdEncoding.DecodeString(stripSpace(p))
	if err != nil {
		return nil, 0, "invalid data", false
	}
	k := strings.ToLower(tags["k"])
	if k == "" {
		k = "rsa"
	}
	switch {
	case k == "rsa" && strings.HasPrefix(algo, "rsa-"):
		key, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			if rk, err2 := x509.ParsePKCS1PublicKey(der); err2 == nil {
				return rk, (rk.N.BitLen() + 7) / 8 * 8, "", false
			}
			return nil, 0, "invalid data", false
		}
		rk, ok := key.(*rsa.PublicKey)
		if !ok {
			return nil, 0, "invalid data", false
		}
		return rk, (rk.N.BitLen() + 7) / 8 * 8, "", false
	case k == "ed25519" && algo == "ed25519-sha256":
		if len(der) != ed25519.PublicKeySize {
			return nil, 0, "invalid data", false
		}
		return ed25519.PublicKey(der), 256, "", false
	}
	return nil, 0, "unsupported key type", false
}
