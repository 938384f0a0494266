package workdir

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSplitMessage(t *testing.T) {
	for _, tc := range []struct {
		name, msg string
		headers   []Header
		body      string
	}{
		{"plain", "A: 1\nB:  2\n\nbody\n", []Header{{"A", "1"}, {"B", "2"}}, "body\n"},
		{"folded", "A: 1\n\tmore\n\nx", []Header{{"A", "1\n\tmore"}}, "x"},
		{"no blank line", "A: 1\nB: 2", []Header{{"A", "1"}, {"B", "2"}}, ""},
		{"body starts at a non-header", "A: 1\nnot a header\nrest\n", []Header{{"A", "1"}}, "not a header\nrest\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs, body := SplitMessage([]byte(tc.msg))
			if !reflect.DeepEqual(hs, tc.headers) || string(body) != tc.body {
				t.Errorf("SplitMessage = %q, %q; want %q, %q", hs, body, tc.headers, tc.body)
			}
		})
	}
}

func TestBuildMarksSuspiciousInput(t *testing.T) {
	dir := t.TempDir()
	raw := "Subject: a\rb\r\n\r\nnul\x00here\r\n"
	if err := Build(dir, []byte(raw), "m1", "Q1"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "COMMANDS"))
	if err != nil {
		t.Fatal(err)
	}
	cmds := string(b)
	for _, want := range []string{"\n!\n", "\n?\n", "Ua%20b\n", "\nF\n"} {
		if !strings.Contains(cmds, want) {
			t.Errorf("COMMANDS lacks %q:\n%s", want, cmds)
		}
	}
}
