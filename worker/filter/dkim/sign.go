package dkim

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"regexp"
	"strings"
)

// SignOptions are md_dkim_sign's arguments after the key file.
type SignOptions struct {
	Algorithm string // "rsa-sha256", "rsa-sha1", "ed25519-sha256"; "" means rsa-sha1, the original's default
	Method    string // "relaxed/simple", "relaxed", "simple/simple" ...; "" means relaxed/simple
	Domain    string // "" means example.org, Mail::DKIM's default
	Selector  string // "" means default
	Headers   string // colon-separated field names signed besides the default list
	NoWrap    bool   // the b= value on one line (wrap 0)
}

// DefaultHeaders is Mail::DKIM's list of the fields it signs when present.
var DefaultHeaders = []string{"From", "Sender", "Reply-To", "Subject", "Date",
	"Message-ID", "To", "Cc", "MIME-Version",
	"Content-Type", "Content-Transfer-Encoding", "Content-ID", "Content-Description",
	"Resent-Date", "Resent-From", "Resent-Sender", "Resent-To", "Resent-cc",
	"Resent-Message-ID",
	"In-Reply-To", "References",
	"List-Id", "List-Help", "List-Unsubscribe", "List-Subscribe",
	"List-Post", "List-Owner", "List-Archive"}

const sigPrefix = "DKIM-Signature:"

// Sign is md_dkim_sign($keyfile, ...) on msg (INPUTMSG, LF or CRLF line
// ends) with key: it returns the header's name and value, the value's folds
// written "\n\t", as MIMEDefang returns them.
func Sign(key crypto.Signer, msg []byte, o SignOptions) (name, value string, err error) {
	if o.Algorithm == "" {
		o.Algorithm = "rsa-sha1"
	}
	if o.Method == "" {
		o.Method = "relaxed/simple"
	}
	if o.Domain == "" {
		o.Domain = "example.org"
	}
	if o.Selector == "" {
		o.Selector = "default"
	}
	newHash, err := algorithmHash(o.Algorithm, key)
	if err != nil {
		return "", "", err
	}
	hc, bc, ok := strings.Cut(strings.ToLower(o.Method), "/")
	if !ok {
		bc = "simple"
	}
	if !validCanon(hc) || !validCanon(bc) {
		return "", "", fmt.Errorf("unsupported canonicalization %q", o.Method)
	}
	fields, body := splitMessage(msg)

	// h=: the message's field names (lower case) that are wanted.
	h := signedNames(fields, o.Headers)

	bh := newHash()
	bh.Write(canonBody(bc == "relaxed", body))
	raws := []string{
		" v=1",
		" a=" + o.Algorithm,
		" c=" + o.Method,
		" d=" + o.Domain,
		" h=" + strings.Join(h, ":"),
		" s=" + o.Selector,
		" bh=" + base64.StdEncoding.EncodeToString(bh.Sum(nil)),
	}

	// Mail::DKIM folds the tags (prettify) before hashing them, when
	// TextWrap is loaded (wrap on).
	if !o.NoWrap {
		raws = strings.Split(wrapTags(raws, len(sigPrefix), false), ";")
	}

	// The header hash: the signed fields from the bottom up, then the
	// signature with an empty b=, without its CRLF.
	hh := newHash()
	hashFields(hh, fields, h, hc == "relaxed")
	hh.Write([]byte(canonHeader(hc == "relaxed", sigPrefix+strings.Join(append(raws, " b="), ";"))))
	sig, err := signDigest(key, o.Algorithm, hh.Sum(nil))
	if err != nil {
		return "", "", err
	}
	raws = append(raws, " b="+base64.StdEncoding.EncodeToString(sig))

	tags := strings.Join(raws, ";")
	if !o.NoWrap {
		tags = wrapTags(raws, len(sigPrefix), true)
	}
	full := sigPrefix + tags
	full = strings.ReplaceAll(full, "\r\n", "\n")
	full = strings.TrimSuffix(full, "\n")
	// The original's /^(.*):\s(.*)$/s: the last colon followed by a blank.
	for i := len(full) - 2; i >= 0; i-- {
		if full[i] == ':' && isPerlSpace(full[i+1]) {
			return full[:i], full[i+2:], nil
		}
	}
	return "", "", fmt.Errorf("no header name in %q", full)
}

var (
	fieldNameRE = regexp.MustCompile(`(?s)^([^:]+?)\s*:(.*)`)
	hashNameRE  = regexp.MustCompile(`^([^\s:]+)\s*:`)
)

func validCanon(c string) bool { return c == "simple" || c == "relaxed" }

// algorithmHash checks that key can sign with algorithm and returns its
// hash.
func algorithmHash(algorithm string, key crypto.Signer) (func() hash.Hash, error) {
	_, isRSA := key.(*rsa.PrivateKey)
	_, isEd := key.(ed25519.PrivateKey)
	switch strings.ToLower(algorithm) {
	case "rsa-sha256":
		if isRSA {
			return sha256.New, nil
		}
	case "rsa-sha1":
		if isRSA {
			return sha1.New, nil
		}
	case "ed25519-sha256":
		if isEd {
			return sha256.New, nil
		}
	default:
		return nil, fmt.Errorf("unsupported algorithm %s", algorithm)
	}
	return nil, fmt.Errorf("a %T key cannot sign %s", key, algorithm)
}

func signDigest(key crypto.Signer, algorithm string, digest []byte) ([]byte, error) {
	switch strings.ToLower(algorithm) {
	case "rsa-sha256":
		return key.Sign(rand.Reader, digest, crypto.SHA256)
	case "rsa-sha1":
		return key.Sign(rand.Reader, digest, crypto.SHA1)
	}
	// RFC 8463: Ed25519 signs the SHA-256 hash, as a message.
	return key.Sign(rand.Reader, digest, crypto.Hash(0))
}

// splitMessage reads msg as md_dkim_sign feeds Mail::DKIM: every line, its
// LF or CRLF end removed, ends in CRLF; the header fields (each with its
// continuation lines and final CRLF) end at the first empty line.
func splitMessage(msg []byte) (fields []string, body []byte) {
	var buf bytes.Buffer
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		buf.Write(line)
		buf.WriteString("\r\n")
	}
	all := buf.Bytes()
	for len(all) > 0 {
		if bytes.HasPrefix(all, []byte("\r\n")) {
			return fields, all[2:]
		}
		// A field ends at a CRLF followed by anything but a blank.
		end := -1
		for i := 1; i+2 < len(all); i++ {
			if all[i] == '\r' && all[i+1] == '\n' && all[i+2] != ' ' && all[i+2] != '\t' {
				end = i + 2
				break
			}
		}
		if end < 0 {
			// The last field of a message without a body.
			fields = append(fields, strings.TrimSuffix(string(all), "\r\n")+"\r\n")
			return fields, nil
		}
		fields = append(fields, string(all[:end]))
		all = all[end:]
	}
	return fields, nil
}

// hashFields writes into h the fields names lists, canonicalized, each
// name taking the bottom-most field of that name not yet taken (RFC 6376
// §5.4.2; a name without such a field adds nothing).
func hashFields(h io.Writer, fields, names []string, relaxed bool) {
	unused := append([]string(nil), fields...)
	for _, name := range names {
		for i := len(unused) - 1; i >= 0; i-- {
			m := hashNameRE.FindStringSubmatch(unused[i])
			if m == nil || strings.ToLower(m[1]) != name {
				continue
			}
			f := strings.TrimSuffix(unused[i], "\r\n")
			unused = append(unused[:i], unused[i+1:]...)
			io.WriteString(h, canonHeader(relaxed, f)+"\r\n")
			break
		}
	}
}
