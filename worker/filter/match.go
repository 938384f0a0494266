package filter

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/mdgo/md/worker/message"
)

// File name and archive matching (Mail::MIMEDefang::Utils).
//
// The regular expressions are Go RE2 syntax (regexp package), not Perl
// syntax, and are matched case-insensitively, as the Perl functions use
// /$regexp/i. RE2 covers the usual bad-file-name patterns such as
// `\.(exe|com|bat|scr)\.*$`; lookarounds and backreferences are not
// supported and make the functions return an error. One difference in
// anchors: `$` matches only at the very end, never before a final "\n".

// Limits on what the archive listings read. A listing stops (and reports
// no match) at these bounds, so that a hostile archive cannot make the
// worker spin or fill memory.
const (
	// maxArchiveEntries is the most member names examined per archive.
	maxArchiveEntries = 100000
	// maxTarStream is the most bytes of a compressed tar stream's
	// decompressed data read to find the member headers.
	maxTarStream = 256 << 20
)

var reCache struct {
	sync.Mutex
	m map[string]*regexp.Regexp
}

// compileI compiles re case-insensitively, caching a bounded number of
// patterns (filters use the same few patterns for every part).
func compileI(re string) (*regexp.Regexp, error) {
	reCache.Lock()
	defer reCache.Unlock()
	if r, ok := reCache.m[re]; ok {
		return r, nil
	}
	r, err := regexp.Compile("(?i)" + re)
	if err != nil {
		return nil, fmt.Errorf("filter: bad regular expression %q: %w", re, err)
	}
	if reCache.m == nil || len(reCache.m) >= 256 {
		reCache.m = map[string]*regexp.Regexp{}
	}
	reCache.m[re] = r
	return r, nil
}

// partNames returns what re_match compares: the Content-Disposition
// filename and the Content-Type name of p that are defined, in that order,
// each as MIME-tools parses it and MIME::Words decodes it (encoded words
// become the bytes of their charset, even an unknown or empty one). Beyond
// mimedefang.pl, every other name a mail client could take from the part
// follows (message.Part.Names: repeated fields and parameters, malformed
// fields), and each name also as Windows saves it: trailing dots and
// blanks dropped ("invoice.exe. " is "invoice.exe"), and as a reader
// written in C takes it: up to a NUL ("invoice.exe\x00.txt" is
// "invoice.exe"), so that a pattern anchored at the end of the name cannot
// be dodged.
func partNames(p *message.Part) []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, v := range p.Names() {
		n := message.DecodeMIMEWords(v)
		out = append(out, n)
		if w := windowsName(n); w != n {
			out = append(out, w)
		}
		// A reader written in C ends the name at a NUL.
		if i := strings.IndexByte(n, 0); i >= 0 {
			out = append(out, windowsName(n[:i]))
		}
	}
	return out
}

// MatchNames returns every name that ReMatch and ReMatchExt look at for p
// (see partNames): the file names any mail client could take from the
// part, and each as Windows would save it. A compiled filter that checks
// names itself should check all of them, not only fname.
func MatchNames(p *message.Part) []string { return partNames(p) }

// windowsName is the name Windows gives a file: trailing dots and spaces
// are dropped.
func windowsName(n string) string {
	return strings.TrimRight(n, ". ")
}

// TakeStabAtFilename is takeStabAtFilename($entity): the MIME-decoded
// Content-Disposition filename of p, else its Content-Type name, else "".
func TakeStabAtFilename(p *message.Part) string {
	if p == nil {
		return ""
	}
	return p.FileName()
}

// ReMatch is re_match($entity, $regexp): true when the MIME-decoded
// Content-Disposition filename or Content-Type name of p matches re
// (RE2, case-insensitive). The Content-Description header is not looked
// at (mimedefang-filter(5) says it is; the code does not). The error
// reports a bad regular expression.
func ReMatch(p *message.Part, re string) (bool, error) {
	r, err := compileI(re)
	if err != nil {
		return false, err
	}
	for _, n := range partNames(p) {
		if r.MatchString(n) {
			return true, nil
		}
	}
	return false, nil
}

var lastExtRE = regexp.MustCompile(`(\.[^.]*)$`)

// ReMatchExt is re_match_ext($entity, $regexp): like ReMatch, but only
// the extension of each name (from its last ".", inclusive) is matched; a
// name without a dot does not match.
func ReMatchExt(p *message.Part, re string) (bool, error) {
	r, err := compileI(re)
	if err != nil {
		return false, err
	}
	for _, n := range partNames(p) {
		if m := lastExtRE.FindString(n); m != "" && r.MatchString(m) {
			return true, nil
		}
	}
	return false, nil
}

// ReMatchInZipDirectory is re_match_in_zip_directory($zipname, $regexp):
// true when the full name of any member of the zip archive at path
// matches re. Only the central directory is read, nothing is
// decompressed; at most 100000 names are examined. A file that is not a
// readable zip archive gives false, as Archive::Zip's silenced read
// errors do. The error reports a bad regular expression.
func ReMatchInZipDirectory(path, re string) (bool, error) {
	r, err := compileI(re)
	if err != nil {
		return false, err
	}
	zr, err := zip.OpenReader(path)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return false, nil
	}
	defer zr.Close()
	for i, f := range zr.File {
		if i >= maxArchiveEntries {
			break
		}
		if r.MatchString(f.Name) {
			return true, nil
		}
	}
	return false, nil
}

// ReMatchInTarDirectory is re_match_in_tgz_directory($tarname, $regexp)
// (MIMEDefang after 3.3; 3.3 has no tar matcher): true when the name of
// any member of the tar archive at path matches re.
//
// The original runs tar with options chosen from the file name's
// extension; here the compression is recognised from the content
// instead (gzip, bzip2, or none), because the decoded bodies the worker
// writes to Work/ do not carry the attachment's name. The archive is
// read in pure Go: no external tar is run. Members are matched by their
// full name (the original matches the last white-space separated field
// of "tar tv"'s line, i.e. the name's last word). At most 100000 members
// and, for compressed archives, 256 MiB of decompressed data are
// examined. Unreadable, truncated or differently compressed files (xz,
// zstd, lzip) give false. The error reports a bad regular expression.
func ReMatchInTarDirectory(path, re string) (bool, error) {
	r, err := compileI(re)
	if err != nil {
		return false, err
	}
	f, err := os.Open(path)
	if err != nil {
		return false, nil
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, _ := br.Peek(3)
	var src io.Reader
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		gz, err := gzip.NewReader(br)
		if err != nil {
			return false, nil
		}
		defer gz.Close()
		src = io.LimitReader(gz, maxTarStream)
	case bytes.HasPrefix(magic, []byte("BZh")):
		src = io.LimitReader(bzip2.NewReader(br), maxTarStream)
	default:
		// An uncompressed tar: the file itself, so that tar skips
		// member data by seeking.
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return false, nil
		}
		src = f
	}
	tr := tar.NewReader(src)
	for i := 0; i < maxArchiveEntries; i++ {
		h, err := tr.Next()
		if err != nil {
			return false, nil
		}
		if r.MatchString(h.Name) {
			return true, nil
		}
	}
	return false, nil
}
