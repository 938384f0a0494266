package proto

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mdgo/md/internal/golden"
)

// goldenDir finds the captured transcripts of the original programs
// (testdata/golden/transcripts at the top of the repository).
func goldenDir(t *testing.T) string {
	t.Helper()
	return golden.Dir(t, "transcripts")
}

// A socat chunk: direction ('>' milter→multiplexor, '<' reply) and bytes.
type chunk struct {
	dir  byte
	data string
}

var socatHeader = regexp.MustCompile(`^([<>]) \S+ \S+\s+length=(\d+) from=\d+ to=\d+$`)

// readSocat reads a socat -v transcript: a header line per chunk, followed
// by exactly length bytes.
func readSocat(t *testing.T, path string) []chunk {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []chunk
	for len(b) > 0 {
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			t.Fatalf("%s: trailing bytes without a header: %q", path, b)
		}
		m := socatHeader.FindSubmatch(b[:nl])
		if m == nil {
			t.Fatalf("%s: not a socat header: %q", path, b[:nl])
		}
		n, _ := strconv.Atoi(string(m[2]))
		b = b[nl+1:]
		if n > len(b) {
			t.Fatalf("%s: chunk of %d bytes, only %d left", path, n, len(b))
		}
		out = append(out, chunk{dir: m[1][0], data: string(b[:n])})
		b = b[n:]
	}
	return out
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	r := bufio.NewReader(f)
	for {
		l, err := r.ReadString('\n')
		if l != "" {
			out = append(out, l)
		}
		if err != nil {
			return out
		}
	}
}

// checkRequest asserts that a captured request line parses and renders
// back byte for byte.
func checkRequest(t *testing.T, where, line string) Request {
	t.Helper()
	r, err := ParseRequest(line)
	if err != nil {
		t.Errorf("%s: ParseRequest(%q): %v", where, line, err)
		return nil
	}
	if _, ok := r.(Unknown); ok {
		t.Errorf("%s: %q parsed as Unknown", where, line)
	}
	if got := r.Line(); got != line {
		t.Errorf("%s: round trip changed the bytes:\n got %q\nwant %q", where, got, line)
	}
	return r
}

// checkReply asserts that a captured reply to r is understood and renders
// back byte for byte.
func checkReply(t *testing.T, where string, r Request, reply string) {
	t.Helper()
	switch r.(type) {
	case Free:
		n, err := ParseFreeReply(reply)
		if err != nil || FreeReply(n) != reply {
			t.Errorf("%s: free reply %q: %d, %v", where, reply, n, err)
		}
	case Scan:
		if reply != ScanOK {
			t.Errorf("%s: scan reply %q, want %q", where, reply, ScanOK)
		}
	case RelayOK, HeloOK, SenderOK, RecipOK:
		c, err := ParseCheckReply(reply)
		if err != nil {
			t.Errorf("%s: ParseCheckReply(%q): %v", where, reply, err)
			return
		}
		if got := c.Line(); got != reply {
			t.Errorf("%s: check reply round trip: got %q, want %q", where, got, reply)
		}
	default:
		t.Errorf("%s: unexpected request %T", where, r)
	}
}

func TestGoldenMilterTranscripts(t *testing.T) {
	dir := goldenDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.milter-mx.socat.txt"))
	if len(files) == 0 {
		t.Fatalf("no *.milter-mx.socat.txt in %s", dir)
	}
	seen := map[string]bool{}
	for _, f := range files {
		chunks := readSocat(t, f)
		for i := 0; i < len(chunks); i++ {
			c := chunks[i]
			where := fmt.Sprintf("%s chunk %d", filepath.Base(f), i)
			if c.dir != '>' {
				t.Errorf("%s: reply without a request: %q", where, c.data)
				continue
			}
			r := checkRequest(t, where, c.data)
			if r == nil {
				continue
			}
			seen[r.Command()] = true
			if i+1 < len(chunks) && chunks[i+1].dir == '<' {
				i++
				checkReply(t, where, r, chunks[i].data)
			}
		}
	}
	for _, cmd := range []string{"free", "relayok", "helook", "senderok", "recipok", "scan"} {
		if !seen[cmd] {
			t.Errorf("no %s request in the transcripts", cmd)
		}
	}
}

func TestGoldenWorkerTranscripts(t *testing.T) {
	dir := goldenDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.mx-to-worker.txt"))
	if len(files) == 0 {
		t.Fatalf("no *.mx-to-worker.txt in %s", dir)
	}
	for _, f := range files {
		reqs := readLines(t, f)
		replies := readLines(t, strings.Replace(f, ".mx-to-worker.txt", ".worker-to-mx.txt", 1))
		if len(reqs) != len(replies) {
			t.Errorf("%s: %d requests but %d replies", filepath.Base(f), len(reqs), len(replies))
		}
		for i, line := range reqs {
			where := fmt.Sprintf("%s line %d", filepath.Base(f), i+1)
			r := checkRequest(t, where, line)
			if r != nil && i < len(replies) {
				checkReply(t, where, r, replies[i])
			}
		}
	}
}
