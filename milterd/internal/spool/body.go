package spool

import (
	"bytes"
	"io"
)

// bodyBufSize bounds the memory one WorkingDir uses for the body, whatever
// the size of the message or of its chunks.
const bodyBufSize = 16 << 10

// bodyWriter converts body chunks as mimedefang.c: body does and writes them
// through a fixed buffer, flushed at the end of every chunk.
type bodyWriter struct {
	strip      bool // -c: drop bare CRs
	lastWasCR  bool // the previous chunk ended with a CR, held back
	suspicious bool // a bare CR or a NUL was seen since EndOfHeaders
	buf        []byte
}

func (b *bodyWriter) write(out io.Writer, chunk []byte) error {
	if len(chunk) == 0 {
		return nil
	}
	if b.buf == nil {
		b.buf = make([]byte, 0, bodyBufSize)
	}
	if b.lastWasCR && chunk[0] != '\n' {
		b.suspicious = true
		if !b.strip {
			b.buf = append(b.buf, '\r')
		}
	}
	b.lastWasCR = false

	p := chunk
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\r')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		if bytes.IndexByte(seg, 0) >= 0 {
			b.suspicious = true
		}
		if err := b.put(out, seg); err != nil {
			return err
		}
		if i < 0 {
			break
		}
		switch {
		case i == len(p)-1:
			b.lastWasCR = true
		case p[i+1] == '\n':
			// CRLF: the CR is dropped.
		default:
			b.suspicious = true
			if !b.strip {
				if err := b.put(out, p[i:i+1]); err != nil {
					return err
				}
			}
		}
		p = p[i+1:]
	}
	if len(b.buf) > 0 {
		return b.flush(out)
	}
	return nil
}

func (b *bodyWriter) put(out io.Writer, seg []byte) error {
	for len(seg) > 0 {
		n := copy(b.buf[len(b.buf):cap(b.buf)], seg)
		b.buf = b.buf[:len(b.buf)+n]
		seg = seg[n:]
		if len(b.buf) == cap(b.buf) {
			if err := b.flush(out); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *bodyWriter) flush(out io.Writer) error {
	_, err := out.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}
