package golden

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"testing"
)

// Chunk is one write a socat -v proxy recorded: its direction ('>' from the
// client, the milter; '<' the reply) and its bytes.
type Chunk struct {
	Dir  byte
	Data string
}

var socatHeader = regexp.MustCompile(`^([<>]) \S+ \S+\s+length=(\d+) from=\d+ to=\d+$`)

// ReadSocat reads a socat -v transcript (transcripts/*.socat.txt): a header
// line per chunk, followed by exactly length bytes. A malformed file fails
// tb.
func ReadSocat(tb testing.TB, path string) []Chunk {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var out []Chunk
	for len(b) > 0 {
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			tb.Fatalf("%s: trailing bytes without a header: %q", path, b)
		}
		m := socatHeader.FindSubmatch(b[:nl])
		if m == nil {
			tb.Fatalf("%s: not a socat header: %q", path, b[:nl])
		}
		n, _ := strconv.Atoi(string(m[2]))
		b = b[nl+1:]
		if n > len(b) {
			tb.Fatalf("%s: chunk of %d bytes, only %d left", path, n, len(b))
		}
		out = append(out, Chunk{Dir: m[1][0], Data: string(b[:n])})
		b = b[n:]
	}
	return out
}
