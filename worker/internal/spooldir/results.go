package spooldir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mdgo/md/proto"
)

// MaxResultLine is the longest RESULTS line, without its "\n", that
// write_result_line writes; longer lines are truncated to it.
const MaxResultLine = 16382

// ResultLine renders one RESULTS line as Mail::MIMEDefang's
// write_result_line: the letter, then the arguments each percent-encoded
// (proto.Encode) and joined by single spaces, cut to MaxResultLine bytes,
// then "\n". truncated reports whether it was cut.
func ResultLine(letter byte, args ...string) (line string, truncated bool) {
	var b strings.Builder
	b.WriteByte(letter)
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(proto.Encode(a))
	}
	s := b.String()
	if len(s) > MaxResultLine {
		s, truncated = s[:MaxResultLine], true
	}
	return s + "\n", truncated
}

// Results appends lines to a working directory's RESULTS file. The file is
// opened for append on the first line (">>RESULTS") and each line is
// written with one write, so lines written in earlier requests of the same
// message (senderok, recipok) are kept and a crash never leaves half a
// line. A Results is not safe for concurrent use.
type Results struct {
	dir string
	f   *os.File
}

// NewResults returns a writer for dir/RESULTS. Nothing is created until
// the first Write.
func NewResults(dir string) *Results { return &Results{dir: dir} }

// Write appends one line (see ResultLine). truncated reports a line that
// was cut; the caller logs it.
func (r *Results) Write(letter byte, args ...string) (truncated bool, err error) {
	if r.f == nil {
		f, err := os.OpenFile(filepath.Join(r.dir, "RESULTS"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, FileMode)
		if err != nil {
			return false, fmt.Errorf("spooldir: could not open RESULTS file: %w", err)
		}
		r.f = f
	}
	line, truncated := ResultLine(letter, args...)
	if _, err := r.f.WriteString(line); err != nil {
		return truncated, fmt.Errorf("spooldir: could not write RESULTS line: %w", err)
	}
	return truncated, nil
}

// Close closes the file if it was opened.
func (r *Results) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	if err != nil {
		return fmt.Errorf("spooldir: closing RESULTS: %w", err)
	}
	return nil
}
