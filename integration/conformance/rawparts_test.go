package conformance

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
	"strconv"
	"strings"
)

// rawLeaf is a leaf part as bytes on the wire: its type, its transfer
// encoding, its body exactly as it stands in the message, and the SHA-256 of
// its decoded content.
type rawLeaf struct {
	path    string
	typ     string
	body    []byte
	decoded [sha256.Size]byte
}

// rawLeaves lists the leaf parts of a message (headers, blank line, body)
// without re-encoding anything: a small boundary splitter, so the bytes of
// each leaf body can be compared between INPUTMSG and NEWBODY.
func rawLeaves(msg []byte) []rawLeaf {
	hs, body := splitMessage(msg)
	var out []rawLeaf
	walkRaw("0", hs, body, &out, 0)
	return out
}

func headerValue(hs []header, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h.name, name) {
			return unfold(h.value)
		}
	}
	return ""
}

func walkRaw(path string, hs []header, body []byte, out *[]rawLeaf, depth int) {
	typ, params, err := mime.ParseMediaType(headerValue(hs, "Content-Type"))
	if err != nil || typ == "" {
		typ = "text/plain"
	}
	if strings.HasPrefix(typ, "multipart/") && params["boundary"] != "" && depth < 20 {
		for i, part := range splitMultipart(body, params["boundary"]) {
			phs, pbody := splitMessage(part)
			if len(part) > 0 && part[0] == '\n' {
				phs, pbody = nil, part[1:]
			}
			walkRaw(path+"."+strconv.Itoa(i+1), phs, pbody, out, depth+1)
		}
		return
	}
	*out = append(*out, rawLeaf{
		path:    path,
		typ:     typ,
		body:    body,
		decoded: sha256.Sum256(decodeBody(body, headerValue(hs, "Content-Transfer-Encoding"))),
	})
}

// splitMultipart returns the body parts between the delimiter lines of a
// multipart body. The line break before a delimiter belongs to the
// delimiter (RFC 2046), so it is not part of the preceding part.
func splitMultipart(body []byte, boundary string) [][]byte {
	delim := []byte("--" + boundary)
	var parts [][]byte
	start := -1
	pos := 0
	for pos <= len(body) {
		end := bytes.IndexByte(body[pos:], '\n')
		lineEnd := len(body)
		next := len(body) + 1
		if end >= 0 {
			lineEnd = pos + end
			next = lineEnd + 1
		}
		line := bytes.TrimRight(body[pos:lineEnd], " \t\r")
		if bytes.HasPrefix(line, delim) {
			rest := line[len(delim):]
			if len(rest) == 0 || bytes.Equal(rest, []byte("--")) {
				if start >= 0 {
					stop := pos - 1
					if stop < start {
						stop = start
					}
					parts = append(parts, body[start:stop])
				}
				if len(rest) == 2 {
					return parts
				}
				start = next
				if start > len(body) {
					start = len(body)
				}
			}
		}
		pos = next
	}
	if start >= 0 && start < len(body) {
		parts = append(parts, body[start:])
	}
	return parts
}

func decodeBody(body []byte, cte string) []byte {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, body)
		d, _ := base64.RawStdEncoding.DecodeString(strings.TrimRight(string(clean), "="))
		return d
	case "quoted-printable":
		d, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		return d
	}
	return body
}
