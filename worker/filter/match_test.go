package filter

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/mdgo/md/worker/message"
)

// leaf parses a single-part message with the given MIME headers and
// returns its body part.
func leaf(t *testing.T, headers string) *message.Part {
	t.Helper()
	m, err := message.Parse([]byte(headers+"\nbody\n"), message.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return m.Top().Parts()[0]
}

func TestReMatch(t *testing.T) {
	for _, tc := range []struct {
		name, headers, re string
		match, ext        bool
	}{
		{"disposition filename", "Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"invoice.EXE\"\n", `\.exe$`, true, true},
		{"content-type name", "Content-Type: application/octet-stream; name=\"run.scr\"\n", `\.(exe|com|scr)$`, true, true},
		{"both, second matches", "Content-Type: application/octet-stream; name=\"x.bat\"\nContent-Disposition: attachment; filename=\"x.txt\"\n", `\.bat$`, true, true},
		{"no match", "Content-Type: application/octet-stream; name=\"report.pdf\"\n", `\.exe$`, false, false},
		{"encoded word", "Content-Type: application/octet-stream; name=\"=?UTF-8?B?ZXZpbC5leGU=?=\"\n", `^evil\.exe$`, true, false},
		{"encoded word ext", "Content-Type: application/octet-stream; name=\"=?UTF-8?B?ZXZpbC5leGU=?=\"\n", `^\.exe$`, false, true},
		{"rfc2231", "Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*=UTF-8''b%C3%A4d.exe\n", `^bäd\.exe$`, true, false},
		{"ext only: dotless name", "Content-Type: application/octet-stream; name=\"README\"\n", `README`, true, false},
		{"ext only: last dot", "Content-Type: application/octet-stream; name=\"a.exe.txt\"\n", `exe`, true, false},
		// Beyond mimedefang.pl: each name also as Windows saves it
		// (trailing dots and blanks dropped), so the extension is
		// ".exe" for re_match_ext too.
		{"trailing dots", "Content-Type: application/octet-stream; name=\"a.exe.\"\n", `\.exe\.*$`, true, true},
		{"NUL in the name", "Content-Type: application/octet-stream; name=\"invoice.exe\x00.txt\"\n", `\.exe$`, true, true},
		{"trailing blank", "Content-Type: application/octet-stream; name=\"document.exe \"\n", `\.exe$`, true, true},
		{"trailing dots and blanks", "Content-Type: application/octet-stream; name=\"document.exe. . \"\n", `^\.exe$`, false, true},
		// Every name of the part: two Content-Disposition fields, a
		// repeated parameter, a field MIME-tools skips as malformed.
		{"second disposition", "Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"safe.txt\"\nContent-Disposition: attachment; filename=\"evil.exe\"\n", `\.exe$`, true, true},
		{"repeated filename", "Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"evil.exe\"; filename=\"safe.txt\"\n", `\.exe$`, true, true},
		{"blank before colon", "Content-Type: text/plain\nContent-Disposition : attachment; filename=\"evil.exe\"\n", `\.exe$`, true, true},
		{"clsid", "Content-Type: application/octet-stream; name=\"x.{3050F4D8-98B5-11CF-BB82-00AA00BDCE0B}\"\n", `\{[^\}]+\}$`, true, true},
		{"content-description ignored", "Content-Type: text/plain\nContent-Description: evil.exe\n", `\.exe`, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := leaf(t, tc.headers)
			got, err := ReMatch(p, tc.re)
			if err != nil || got != tc.match {
				t.Errorf("ReMatch = %v, %v; want %v", got, err, tc.match)
			}
			got, err = ReMatchExt(p, tc.re)
			if err != nil || got != tc.ext {
				t.Errorf("ReMatchExt = %v, %v; want %v", got, err, tc.ext)
			}
		})
	}
	if _, err := ReMatch(leaf(t, "Content-Type: text/plain\n"), `(?<=a)b`); err == nil {
		t.Error("no error for a Perl-only pattern")
	}
	if got := TakeStabAtFilename(leaf(t, "Content-Type: text/plain; name=a.txt\nContent-Disposition: inline; filename=b.txt\n")); got != "b.txt" {
		t.Errorf("TakeStabAtFilename = %q", got)
	}
}

func writeZip(t *testing.T, names ...string) string {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("content of " + n))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "part-1.bin")
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReMatchInZipDirectory(t *testing.T) {
	z := writeZip(t, "docs/readme.txt", "bin/Setup.EXE")
	for _, tc := range []struct {
		re   string
		want bool
	}{
		{`\.exe$`, true},
		{`^bin/`, true},
		{`^setup\.exe$`, false}, // full member names
		{`\.scr$`, false},
	} {
		if got, err := ReMatchInZipDirectory(z, tc.re); err != nil || got != tc.want {
			t.Errorf("%s: %v, %v; want %v", tc.re, got, err, tc.want)
		}
	}
	notZip := filepath.Join(t.TempDir(), "x")
	os.WriteFile(notZip, []byte("PK\x03\x04 this is not really a zip"), 0o600)
	for _, p := range []string{notZip, filepath.Join(t.TempDir(), "missing")} {
		if got, err := ReMatchInZipDirectory(p, `.`); got || err != nil {
			t.Errorf("%s: %v, %v", p, got, err)
		}
	}
	if _, err := ReMatchInZipDirectory(z, `(`); err == nil {
		t.Error("no error for a bad pattern")
	}
}

// tarBZ2 is a bzip2-compressed tar of readme.txt and docs/Evil.EXE.
const tarBZ2 = "QlpoOTFBWSZTWRtulm4AAJV/gMmQAARAAf2AAgIJUG5mn0AIiCAAdBKSDRMmmmmNE8SaDMUEpIAAGgADQD6nmQGyBQAXPIiCCxgsiCtcxGQCCCgGNJ83/ZCwSkUCDXTiHmhGTYdy8oWXtXW9ro1jtpjF4zeXL+LYws2gpVhxCJL6MkMyzEQP4u5IpwoSA23SzcA="

func TestReMatchInTarDirectory(t *testing.T) {
	var plain bytes.Buffer
	tw := tar.NewWriter(&plain)
	for _, n := range []string{"readme.txt", "docs/Evil.EXE"} {
		body := []byte("data of " + n)
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write(body)
	}
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain.Bytes())
	zw.Close()
	bz, _ := base64.StdEncoding.DecodeString(tarBZ2)
	dir := t.TempDir()
	for name, data := range map[string][]byte{"plain": plain.Bytes(), "gzip": gz.Bytes(), "bzip2": bz} {
		t.Run(name, func(t *testing.T) {
			// No extension: the format is recognised from the content.
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				re   string
				want bool
			}{{`\.exe$`, true}, {`^docs/`, true}, {`\.com$`, false}} {
				if got, err := ReMatchInTarDirectory(p, tc.re); err != nil || got != tc.want {
					t.Errorf("%s: %v, %v; want %v", tc.re, got, err, tc.want)
				}
			}
		})
	}
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("\x1f\x8bnot gzip at all"), 0o600)
	if got, err := ReMatchInTarDirectory(junk, `.`); got || err != nil {
		t.Errorf("junk: %v, %v", got, err)
	}
}
