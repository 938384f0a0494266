package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// outcome is what the milter would do with one scan's RESULTS and NEWBODY,
// normalised so that the two implementations can be compared field by field.
type outcome struct {
	// Verdict is the first B, T or D line (decoded), or "" to deliver.
	Verdict string
	// Headers are the H, N, I and J lines for headers other than
	// Content-*, in file order (decoded, one string per line).
	Headers []string
	// Envelope are the R, S and f lines in file order.
	Envelope []string
	// Rewritten tells whether a C line asks for NEWBODY.
	Rewritten bool
	// Content are the top-level MIME-Version and Content-* headers of the
	// delivered message, after the M/I/J lines are applied, boundaries
	// replaced by a placeholder.
	Content []string
	// Tree is the dumptree.pl listing of the delivered message.
	Tree []string
	// Wire is the delivered message as bytes, every entity not copied
	// from INPUTMSG rendered in full (wireLayout), set by addWire.
	Wire []string

	// Not compared, kept for the report and the md-worker-only checks.
	results    string
	newBody    []byte
	hasNewBody bool
	final      []byte
}

// aspects are the compared fields, in report order.
var aspects = []string{"verdict", "headers", "envelope", "rewritten", "content", "tree", "wire"}

func (o *outcome) aspect(name string) []string {
	switch name {
	case "verdict":
		if o.Verdict == "" {
			return []string{"(deliver)"}
		}
		return []string{o.Verdict}
	case "headers":
		return o.Headers
	case "envelope":
		return o.Envelope
	case "rewritten":
		return []string{strconv.FormatBool(o.Rewritten)}
	case "content":
		return o.Content
	case "tree":
		return o.Tree
	case "wire":
		return o.Wire
	}
	panic("unknown aspect " + name)
}

// String renders the outcome as the test prints it (Wire is left out: see
// wireString).
func (o *outcome) String() string {
	var b strings.Builder
	v := o.Verdict
	if v == "" {
		v = "(deliver)"
	}
	fmt.Fprintf(&b, "verdict:   %s\n", v)
	fmt.Fprintf(&b, "rewritten: %v\n", o.Rewritten)
	for _, h := range o.Headers {
		fmt.Fprintf(&b, "header:    %s\n", h)
	}
	for _, e := range o.Envelope {
		fmt.Fprintf(&b, "envelope:  %s\n", e)
	}
	for _, c := range o.Content {
		fmt.Fprintf(&b, "content:   %s\n", c)
	}
	for _, t := range o.Tree {
		fmt.Fprintf(&b, "tree:      %s\n", t)
	}
	return b.String()
}

// wireString renders o.Wire for a log.
func (o *outcome) wireString() string {
	var b strings.Builder
	for _, w := range o.Wire {
		fmt.Fprintf(&b, "wire:      %s\n", w)
	}
	return b.String()
}

// percentDecode is MIMEDefang's tolerant decoder: %XX with two hex digits is
// decoded, everything else copied.
func percentDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			b.WriteByte(byte(v))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// errNoF reports a RESULTS file without its final F line, which the milter
// treats as a failed scan.
var errNoF = errors.New("RESULTS has no F line (the milter tempfails)")

// resultLine is one RESULTS line: its letter and decoded fields.
type resultLine struct {
	letter byte
	fields []string
}

func (r resultLine) String() string {
	return string(r.letter) + " " + strings.Join(r.fields, " | ")
}

func parseResults(data []byte) ([]resultLine, error) {
	var out []resultLine
	sawF := false
	for _, l := range strings.Split(string(data), "\n") {
		if l == "" {
			continue
		}
		rl := resultLine{letter: l[0]}
		if len(l) > 1 {
			for _, f := range strings.Split(l[1:], " ") {
				rl.fields = append(rl.fields, percentDecode(f))
			}
		}
		if rl.letter == 'F' {
			sawF = true
		}
		out = append(out, rl)
	}
	if !sawF {
		return out, errNoF
	}
	return out, nil
}

var boundaryRE = regexp.MustCompile(`(?i)(boundary=)("[^"]*"|[^;\s]+)`)

// normaliseContent replaces the MIME boundary, which each implementation
// chooses freely, and collapses folding white space.
func normaliseContent(v string) string {
	v = boundaryRE.ReplaceAllString(v, `${1}"<B>"`)
	return strings.Join(strings.Fields(unfold(v)), " ")
}

// applyEdits applies header lines to the original header list as the milter
// does at end of message (c:eom with libmilter semantics).
func applyEdits(hs []header, lines []resultLine) []header {
	out := append([]header{}, hs...)
	find := func(name string, idx int) int {
		n := 0
		for i, h := range out {
			if strings.EqualFold(h.name, name) {
				n++
				if n == idx {
					return i
				}
			}
		}
		return -1
	}
	hasMIMEVersion := find("MIME-Version", 1) >= 0
	for _, l := range lines {
		switch l.letter {
		case 'H':
			if len(l.fields) >= 2 {
				out = append(out, header{l.fields[0], strings.Join(l.fields[1:], " ")})
			}
		case 'N':
			if len(l.fields) >= 3 {
				pos, err := strconv.Atoi(l.fields[1])
				if err != nil || pos < 0 {
					pos = 0
				}
				if pos > len(out) {
					pos = len(out)
				}
				h := header{l.fields[0], strings.Join(l.fields[2:], " ")}
				out = append(out[:pos], append([]header{h}, out[pos:]...)...)
			}
		case 'I', 'M':
			var name, value string
			idx := 1
			if l.letter == 'M' {
				name, value = "Content-Type", strings.Join(l.fields, " ")
				if !hasMIMEVersion {
					out = append(out, header{"MIME-Version", "1.0"})
					hasMIMEVersion = true
				}
			} else if len(l.fields) >= 2 {
				name = l.fields[0]
				if n, err := strconv.Atoi(l.fields[1]); err == nil && n > 1 {
					idx = n
				}
				value = strings.Join(l.fields[2:], " ")
			} else {
				continue
			}
			i := find(name, idx)
			switch {
			case i >= 0 && value == "":
				out = append(out[:i], out[i+1:]...)
			case i >= 0:
				out[i].value = value
			case value != "":
				out = append(out, header{name, value})
			}
		case 'J':
			if len(l.fields) >= 1 {
				idx := 1
				if len(l.fields) >= 2 {
					if n, err := strconv.Atoi(l.fields[1]); err == nil && n > 1 {
						idx = n
					}
				}
				if i := find(l.fields[0], idx); i >= 0 {
					out = append(out[:i], out[i+1:]...)
				}
			}
		}
	}
	return out
}

// readOutcome reads RESULTS (and NEWBODY) from a scanned working directory and
// builds the message the milter would deliver, then lists its MIME tree with
// dumper (the path of dumptree.pl).
func readOutcome(dir, dumper string) (*outcome, error) {
	o, err := readDelivery(dir)
	if err != nil || o.Verdict != "" {
		return o, err
	}
	finalPath := filepath.Join(dir, "delivered.eml")
	cmd := exec.Command("perl", dumper, finalPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("dumptree.pl: %v: %s", err, stderr.String())
	}
	o.Tree = strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	return o, nil
}

// readDelivery is readOutcome without the tree: the verdict, the edits and,
// unless the verdict rejects, the delivered message, also written to
// delivered.eml in dir.
func readDelivery(dir string) (*outcome, error) {
	o := &outcome{}
	results, err := os.ReadFile(filepath.Join(dir, "RESULTS"))
	if err != nil {
		return nil, fmt.Errorf("no RESULTS: %w", err)
	}
	o.results = string(results)
	lines, err := parseResults(results)
	if err != nil {
		return nil, err
	}
	o.newBody, err = os.ReadFile(filepath.Join(dir, "NEWBODY"))
	o.hasNewBody = err == nil

	var headerLines []resultLine
	for _, l := range lines {
		switch l.letter {
		case 'B', 'T', 'D':
			if o.Verdict == "" {
				o.Verdict = string(l.letter) + strings.Join(l.fields, " ")
				if l.letter == 'D' {
					o.Verdict = "D"
				}
			}
		case 'C':
			o.Rewritten = true
		case 'H', 'N', 'I', 'J', 'M':
			headerLines = append(headerLines, l)
			if l.letter != 'M' && len(l.fields) > 0 && !strings.HasPrefix(strings.ToLower(l.fields[0]), "content-") {
				o.Headers = append(o.Headers, l.String())
			}
		case 'R', 'S', 'f':
			o.Envelope = append(o.Envelope, l.String())
		}
	}
	if o.Verdict != "" {
		// Rejecting mode: the milter skips every edit (§1.4 rule 1).
		o.Headers, o.Envelope, o.Rewritten = nil, nil, false
		return o, nil
	}

	input, err := os.ReadFile(filepath.Join(dir, "INPUTMSG"))
	if err != nil {
		return nil, err
	}
	hs, body := splitMessage(input)
	if o.Rewritten {
		if !o.hasNewBody {
			return nil, errors.New("RESULTS has a C line but there is no NEWBODY")
		}
		body = o.newBody
	} else {
		// Without C the milter ignores M and Content-* changes are plain
		// header edits; keep them, as the milter would apply them.
		var keep []resultLine
		for _, l := range headerLines {
			if l.letter != 'M' {
				keep = append(keep, l)
			}
		}
		headerLines = keep
	}
	final := applyEdits(hs, headerLines)
	var msg bytes.Buffer
	for _, h := range final {
		fmt.Fprintf(&msg, "%s: %s\n", h.name, h.value)
		n := strings.ToLower(h.name)
		if n == "mime-version" || strings.HasPrefix(n, "content-") {
			o.Content = append(o.Content, h.name+": "+normaliseContent(h.value))
		}
	}
	msg.WriteByte('\n')
	msg.Write(body)
	o.final = msg.Bytes()

	if err := os.WriteFile(filepath.Join(dir, "delivered.eml"), o.final, 0o600); err != nil {
		return nil, err
	}
	return o, nil
}
