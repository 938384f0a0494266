package results

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/mdgo/md/milterd/internal/policy"
	"github.com/mdgo/md/milterd/internal/rawfile"
	"github.com/mdgo/md/proto"
)

// Load reads dir/RESULTS and makes its Plan, as the original does at end of
// message after a successful scan (mimedefang.c: eom):
//
//   - RESULTS missing or not openable: tempfail, filter failed ("Filter did
//     not create RESULTS file");
//   - larger than MaxSize: tempfail, filter failed;
//   - a read error: tempfail;
//   - otherwise Parse, where each C line that counts also checks that
//     dir/NEWBODY can be opened; if it cannot, processing stops there with
//     a tempfail and the filter has failed. ReplaceBody actions name
//     dir/NEWBODY.
func Load(dir string, env Env) Plan {
	var p Plan
	f, err := rawfile.Open(filepath.Join(dir, "RESULTS"), os.O_RDONLY, 0)
	if err != nil {
		p.note(slog.LevelWarn, "Filter did not create RESULTS file")
		return p.fail(true)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		p.note(slog.LevelWarn, "Unable to stat RESULTS file: %v", err)
		return p.fail(true)
	}
	if st.Size() > MaxSize {
		p.note(slog.LevelWarn, "RESULTS file is unreasonably large - %d byes; max is %d bytes", st.Size(), MaxSize)
		return p.fail(true)
	}
	// readn reads st_size bytes, or fewer if the file shrank.
	buf := make([]byte, st.Size())
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		p.note(slog.LevelWarn, "Error reading RESULTS file: %v", err)
		return p.fail(false)
	}
	body := filepath.Join(dir, "NEWBODY")
	return parse(buf[:n], env, body, func() error {
		nb, err := rawfile.Open(body, os.O_RDONLY, 0)
		if err != nil {
			return err
		}
		return nb.Close()
	})
}

// Parse makes the Plan for the content of a RESULTS file. It is Load
// without the file system: content over MaxSize is a tempfail, and C lines
// become ReplaceBody actions with an empty Value, without checking NEWBODY.
func Parse(results []byte, env Env) Plan {
	return parse(results, env, "", nil)
}

// fail is a tempfail with the MTA's default reply and no actions.
func (p *Plan) fail(filterFailed bool) Plan {
	p.Disposition = TempFail
	p.Reply = nil
	p.Actions = nil
	p.FilterFailed = p.FilterFailed || filterFailed
	return *p
}

func parse(data []byte, env Env, bodyPath string, openBody func() error) Plan {
	var p Plan
	if len(data) > MaxSize {
		p.note(slog.LevelWarn, "RESULTS file is unreasonably large - %d byes; max is %d bytes", len(data), MaxSize)
		return p.fail(true)
	}
	// The original holds the file as a C string.
	if i := bytes.IndexByte(data, 0); i >= 0 {
		data = data[:i]
	}

	// First pass: any line, anywhere, starting with T, D or B.
	for rest := data; len(rest) > 0; {
		if c := rest[0]; c == 'T' || c == 'D' || c == 'B' {
			p.Rejecting = true
			break
		}
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		rest = rest[i+1:]
	}

	// Second pass, in file order, up to the first F, B, T or D.
	lineNo := 0
	for rest := data; len(rest) > 0 && !p.SawF; {
		lineNo++
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if len(line) > MaxLine {
			p.note(slog.LevelWarn, "Overlong line in RESULTS file - %d chars (max %d)", len(line), MaxLine+1)
			rep := policy.NewReply('5', "554", "5.4.0", "Overlong line in RESULTS file")
			p.Disposition, p.Reply = Reject, &rep
			return p
		}
		if len(line) == 0 {
			// The C code switches on the terminating NUL.
			p.note(slog.LevelWarn, "Unknown command '' in RESULTS file")
			continue
		}
		letter, arg := line[0], string(line[1:])
		switch letter {
		case 'B', 'T':
			f := proto.SplitN(arg, 3)
			class, disp, verb := byte('5'), Reject, "Bouncing"
			if letter == 'T' {
				class, disp, verb = '4', TempFail, "Tempfailing"
			}
			p.note(slog.LevelDebug, "%s because filter instructed us to", verb)
			rep := policy.NewReply(class, field(f, 0), field(f, 1), field(f, 2))
			p.Disposition, p.Reply = disp, &rep
			return p
		case 'D':
			p.note(slog.LevelDebug, "Discarding because filter instructed us to")
			p.Disposition = Discard
			return p
		case 'C':
			if p.Rejecting {
				break
			}
			if openBody != nil {
				if err := openBody(); err != nil {
					p.note(slog.LevelWarn, "Could not open %s for reading: %v", bodyPath, err)
					p.Disposition, p.FilterFailed = TempFail, true
					return p
				}
			}
			p.add(Action{Kind: ReplaceBody, Line: lineNo, Value: bodyPath})
		case 'M':
			if p.Rejecting {
				break
			}
			if v := foldLF(decode(arg)); v != "" {
				p.add(Action{Kind: ChangeHeader, Line: lineNo, Name: "Content-Type", Index: 1, Value: v})
			}
			if !env.SeenMIMEVersion {
				p.add(Action{Kind: ChangeHeader, Line: lineNo, Name: "MIME-Version", Index: 1, Value: "1.0"})
			}
		case 'H':
			if f := proto.SplitN(arg, 2); !p.Rejecting && len(f) == 2 {
				p.add(Action{Kind: AddHeader, Line: lineNo, Name: decode(f[0]), Value: noCR(decode(f[1]))})
			}
		case 'N', 'I':
			if f := proto.SplitN(arg, 3); !p.Rejecting && len(f) == 3 {
				a := Action{Kind: InsertHeader, Line: lineNo, Name: decode(f[0]), Value: noCR(decode(f[2]))}
				idx, ok := scanInt(decode(f[1]))
				if letter == 'N' && (!ok || idx < 0) {
					idx = 0
				}
				if letter == 'I' {
					a.Kind = ChangeHeader
					if !ok || idx < 1 {
						idx = 1
					}
				}
				a.Index = int(idx)
				p.add(a)
			}
		case 'J':
			if f := proto.SplitN(arg, 2); !p.Rejecting && len(f) == 2 {
				idx, ok := scanInt(decode(f[1]))
				if !ok || idx < 1 {
					idx = 1
				}
				p.add(Action{Kind: DeleteHeader, Line: lineNo, Name: decode(f[0]), Index: int(idx)})
			}
		case 'R', 'S', 'f':
			if p.Rejecting {
				break
			}
			kind := map[byte]Kind{'R': AddRecipient, 'S': DeleteRecipient, 'f': ChangeSender}[letter]
			p.add(Action{Kind: kind, Line: lineNo, Value: decode(arg)})
		case 'Q':
			p.add(Action{Kind: Quarantine, Line: lineNo, Value: decode(arg)})
		case 'F':
			p.SawF = true
		default:
			p.note(slog.LevelWarn, "Unknown command '%s' in RESULTS file", line[:1])
		}
	}
	if !p.SawF {
		p.note(slog.LevelError, "RESULTS file did not finish with 'F' line: Tempfailing")
		p.Disposition = TempFail
		return p
	}

	// After RESULTS (§5.6).
	if env.ScannedBy != "" && !p.Rejecting {
		v := env.ScannedBy
		if env.MyIP != "" {
			// snprintf into SMALLBUF.
			v = env.ScannedBy + " on " + env.MyIP
			if len(v) > MaxLine+1 {
				v = v[:MaxLine+1]
			}
		}
		p.add(Action{Kind: AddHeader, Name: "X-Scanned-By", Value: v})
	}
	if env.ValidateHeader != "" && env.ValidatePresent {
		p.add(Action{Kind: DeleteHeader, Name: env.ValidateHeader, Index: 1})
	}
	if n := env.ContentTypeHeaders; n > 1 {
		p.note(slog.LevelWarn, "WARNING: %d Content-Type headers found -- deleting all but first", n)
		for j := 2; j <= n; j++ {
			p.add(Action{Kind: DeleteHeader, Name: "Content-Type", Index: j})
		}
	}
	p.Disposition = Accept
	return p
}

// add appends an action, unless libmilter would refuse it: an empty header
// name, recipient, sender or quarantine reason makes the smfi_* call return
// MI_FAILURE, which the original logs and ignores.
func (p *Plan) add(a Action) {
	empty := false
	switch a.Kind {
	case AddHeader, InsertHeader, ChangeHeader, DeleteHeader:
		empty = a.Name == ""
	case AddRecipient, DeleteRecipient, ChangeSender, Quarantine:
		empty = a.Value == ""
	}
	if empty {
		p.note(slog.LevelWarn, "%s returned MI_FAILURE", a.Kind.smfiName())
		return
	}
	p.Actions = append(p.Actions, a)
}

// field is the i-th split field, decoded; a missing one (NULL in the
// original) is empty.
func field(f []string, i int) string {
	if i < len(f) {
		return decode(f[i])
	}
	return ""
}

// decode is percent_decode on a C string: a decoded NUL ends it.
func decode(s string) string {
	d := proto.Decode(s)
	if i := strings.IndexByte(d, 0); i >= 0 {
		return d[:i]
	}
	return d
}

// noCR is remove_carriage_return.
func noCR(s string) string { return foldLF(strings.ReplaceAll(s, "\r", "")) }

// foldLF makes every line end inside a header value a fold: a LF not
// followed by a blank gets a tab after it, and line ends at the very end
// go. The original passes such a value to the MTA as it is, and a filter
// that copies a decoded file name or subject into a header ("a\nX-Evil:
// 1") would add a header line of the sender's choosing to the delivered
// message (docs/compatibility.md).
func foldLF(s string) string {
	s = strings.TrimRight(s, "\n")
	if !strings.Contains(s, "\n") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] == '\n' && s[i+1] != ' ' && s[i+1] != '\t' {
			b.WriteByte('\t')
		}
	}
	return b.String()
}
