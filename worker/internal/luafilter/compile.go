package luafilter

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// SyntaxError is a filter file that does not parse or compile.
type SyntaxError struct {
	File string
	Line int // 0 when the parser stopped at the end of the file
	Msg  string
}

func (e *SyntaxError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: at end of file: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// compiled is a parsed and compiled filter file: compiled once, loaded into
// every worker's state.
type compiled struct {
	path  string
	src   string
	chunk []ast.Stmt
	proto *lua.FunctionProto
}

// compileFile reads, parses and compiles a filter. Its error is a
// *SyntaxError for a bad file, an *os.PathError when it cannot be read.
func compileFile(path string) (*compiled, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("luafilter: %w", err)
	}
	return compileSource(path, string(data))
}

func compileSource(name, src string) (*compiled, error) {
	chunk, err := parse.Parse(strings.NewReader(src), name)
	if err != nil {
		return nil, syntaxError(name, err)
	}
	proto, err := lua.Compile(chunk, name)
	if err != nil {
		return nil, syntaxError(name, err)
	}
	return &compiled{path: name, src: src, chunk: chunk, proto: proto}, nil
}

// syntaxError turns a gopher-lua parse or compile error into a SyntaxError.
func syntaxError(name string, err error) *SyntaxError {
	var pe *parse.Error
	if errors.As(err, &pe) {
		line := pe.Pos.Line
		if line < 0 {
			line = 0
		}
		msg := pe.Message
		if line == 0 && msg == "syntax error" {
			msg = "syntax error: unexpected end of file (a block without its 'end'?)"
		}
		if pe.Token != "" && line > 0 {
			msg = fmt.Sprintf("%s near '%s'", msg, pe.Token)
		}
		return &SyntaxError{File: name, Line: line, Msg: msg}
	}
	var ce *lua.CompileError
	if errors.As(err, &ce) {
		return &SyntaxError{File: name, Line: ce.Line, Msg: ce.Message}
	}
	return &SyntaxError{File: name, Msg: strings.TrimSpace(err.Error())}
}

// topLevelStart matches a line that most likely starts a new top-level
// statement: a function definition in column 0.
var topLevelStart = regexp.MustCompile(`^(local\s+)?function\s`)

// syntaxErrors returns every syntax error it can find in src, not only the
// first: after an error it blanks the text up to the next function
// definition that starts in column 0 (keeping line numbers) and parses
// again. An error that only shows at the end of the file (a missing "end")
// stops the search.
func syntaxErrors(name, src string) []error {
	var errs []error
	lines := strings.SplitAfter(src, "\n")
	for {
		_, err := compileSource(name, strings.Join(lines, ""))
		if err == nil {
			return errs
		}
		se := err.(*SyntaxError)
		errs = append(errs, se)
		if se.Line == 0 || se.Line > len(lines) {
			return errs
		}
		next := -1
		for i := se.Line; i < len(lines); i++ { // lines[se.Line] is the line after the error
			if topLevelStart.MatchString(lines[i]) {
				next = i
				break
			}
		}
		if next < 0 {
			return errs
		}
		for i := 0; i < next; i++ {
			lines[i] = "\n"
		}
	}
}
