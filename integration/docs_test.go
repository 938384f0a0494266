package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mdgo/md/integration/internal/harness"
)

// helpSource is one option table of docs/admin.md and the --help output it
// documents.
type helpSource struct {
	section string   // the heading of the table in docs/admin.md, without "### "
	bin     string   // binary in MD_BIN_DIR
	args    []string // arguments that print the help
}

var helpSources = []helpSource{
	{"md-milterd options", "md-milterd", []string{"--help"}},
	{"md-multiplexor options", "md-multiplexor", []string{"--help"}},
	{"md-mx-ctrl options", "md-mx-ctrl", []string{"-h"}},
	{"md-worker options", "md-worker", []string{"--help"}},
	{"md-worker check options", "md-worker", []string{"check", "--help"}},
	{"md-worker test options", "md-worker", []string{"test", "--help"}},
}

// helpOption is one option as --help lists it.
type helpOption struct {
	letter  string // "x" for -x, "" when the option has no letter
	long    string // "max-workers" for --max-workers, "" when it has none
	arg     string // the argument's type or name, "" for a switch
	def     string // the default --help states, "" when none
	meaning string
}

var (
	// cobra: "  -x, --max-workers int   maximum ... (default 2)" or
	// "      --metrics-listen string   ..."
	cobraFlag = regexp.MustCompile(`^\s+(?:-([A-Za-z]), )?--([a-z0-9-]+)(?: ([a-zA-Z]+))?\s{2,}(.*)$`)
	// md-mx-ctrl: "-s path         -- Specify path to multiplexor socket"
	ctrlFlag   = regexp.MustCompile(`^-([A-Za-z])(?: ([a-z]+))?\s+-- (.*)$`)
	defaultTxt = regexp.MustCompile(`\s*\(default:? ([^)]*)\)$`)
	// an option named in the first two cells of a table row
	optionCell = regexp.MustCompile("^`(--?[A-Za-z0-9-]+)`$")
)

// parseHelp returns the options a --help output lists.
func parseHelp(out string) []helpOption {
	var opts []helpOption
	for _, line := range strings.Split(out, "\n") {
		var o helpOption
		if m := cobraFlag.FindStringSubmatch(line); m != nil {
			o = helpOption{letter: m[1], long: m[2], arg: m[3], meaning: strings.TrimSpace(m[4])}
		} else if m := ctrlFlag.FindStringSubmatch(line); m != nil {
			o = helpOption{letter: m[1], arg: m[2], meaning: strings.TrimSpace(m[3])}
		} else {
			continue
		}
		if m := defaultTxt.FindStringSubmatch(o.meaning); m != nil {
			o.def = m[1]
			o.meaning = strings.TrimSpace(strings.TrimSuffix(o.meaning, m[0]))
		}
		opts = append(opts, o)
	}
	return opts
}

// docSection returns the lines under "### heading" up to the next heading.
func docSection(doc, heading string) ([]string, bool) {
	var lines []string
	in := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "#") {
			if in {
				break
			}
			in = strings.TrimSpace(strings.TrimLeft(line, "#")) == heading
			continue
		}
		if in {
			lines = append(lines, line)
		}
	}
	return lines, in
}

// tableCells splits a markdown table row into trimmed cells.
func tableCells(line string) []string {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "|") {
		return nil
	}
	line = strings.Trim(line, "|")
	cells := strings.Split(line, "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}

// TestAdminDocOptions runs every binary's --help and fails when an option
// (its long name or its letter) has no row in its table in docs/admin.md,
// or when a table names an option the binary no longer has. With
// MD_DOCS_TABLES=FILE it also writes the tables generated from --help to
// FILE, to paste into docs/admin.md after a change.
func TestAdminDocOptions(t *testing.T) {
	docPath := filepath.Join(harness.ModuleRoot(t), "..", "docs", "admin.md")
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	var generated strings.Builder
	for _, src := range helpSources {
		t.Run(strings.ReplaceAll(src.section, " ", "_"), func(t *testing.T) {
			bin := harness.MDBinary(t, src.bin)
			// md-mx-ctrl -h, like the original, prints its usage and then
			// tries the default socket; only the usage matters here.
			out, _ := exec.Command(bin, src.args...).CombinedOutput()
			opts := parseHelp(string(out))
			if len(opts) == 0 {
				t.Fatalf("%s %s lists no options:\n%s", src.bin, strings.Join(src.args, " "), out)
			}
			writeTable(&generated, src, opts)
			lines, ok := docSection(doc, src.section)
			if !ok {
				t.Fatalf("docs/admin.md has no heading %q", src.section)
			}
			var rows [][]string
			for _, l := range lines {
				if c := tableCells(l); len(c) >= 2 {
					rows = append(rows, c)
				}
			}
			known := map[string]bool{}
			for _, o := range opts {
				if o.letter != "" {
					known["-"+o.letter] = true
				}
				if o.long != "" {
					known["--"+o.long] = true
				}
				if !hasRow(rows, o) {
					t.Errorf("docs/admin.md, %q: no table row with %s", src.section, optionNames(o))
				}
			}
			for _, r := range rows {
				for _, c := range r[:2] {
					if m := optionCell.FindStringSubmatch(c); m != nil && !known[m[1]] {
						t.Errorf("docs/admin.md, %q: %s is not in `%s %s`", src.section, m[1], src.bin, strings.Join(src.args, " "))
					}
				}
			}
		})
	}
	if path := os.Getenv("MD_DOCS_TABLES"); path != "" {
		if err := os.WriteFile(path, []byte(generated.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// hasRow reports whether a row names o by both its letter and its long name
// (each in a cell of its own).
func hasRow(rows [][]string, o helpOption) bool {
	for _, r := range rows {
		has := map[string]bool{}
		for _, c := range r {
			has[c] = true
		}
		if (o.letter == "" || has["`-"+o.letter+"`"]) && (o.long == "" || has["`--"+o.long+"`"]) {
			return true
		}
	}
	return false
}

func optionNames(o helpOption) string {
	var n []string
	if o.letter != "" {
		n = append(n, "`-"+o.letter+"`")
	}
	if o.long != "" {
		n = append(n, "`--"+o.long+"`")
	}
	return strings.Join(n, " and ")
}

// writeTable writes the markdown table of one --help output.
func writeTable(b *strings.Builder, src helpSource, opts []helpOption) {
	fmt.Fprintf(b, "### %s\n\n| letter | long name | argument | default | meaning |\n|---|---|---|---|---|\n", src.section)
	cell := func(s string) string {
		if s == "" {
			return ""
		}
		return "`" + s + "`"
	}
	for _, o := range opts {
		letter, long := "", ""
		if o.letter != "" {
			letter = "`-" + o.letter + "`"
		}
		if o.long != "" {
			long = "`--" + o.long + "`"
		}
		meaning := strings.NewReplacer("|", `\|`, "<", `\<`).Replace(o.meaning)
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", letter, long, o.arg, cell(strings.Trim(o.def, `"`)), meaning)
	}
	b.WriteString("\n")
}
