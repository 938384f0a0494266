package proto

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
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
		chunks := golden.ReadSocat(t, f)
		for i := 0; i < len(chunks); i++ {
			c := chunks[i]
			where := fmt.Sprintf("%s chunk %d", filepath.Base(f), i)
			if c.Dir != '>' {
				t.Errorf("%s: reply without a request: %q", where, c.Data)
				continue
			}
			r := checkRequest(t, where, c.Data)
			if r == nil {
				continue
			}
			seen[r.Command()] = true
			if i+1 < len(chunks) && chunks[i+1].Dir == '<' {
				i++
				checkReply(t, where, r, chunks[i].Data)
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
