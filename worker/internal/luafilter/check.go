package luafilter

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"

	"github.com/mdgo/md/worker/filter"
)

// UnknownFunctionError is a call, anywhere in the file, to a global
// function that neither the engine nor the file defines: most often a
// MIMEDefang function md-worker does not provide (yet), or a typo. A call
// whose name the file also tests as a value (if spam_assassin_check then
// ... end) is taken as guarded and not reported.
type UnknownFunctionError struct {
	File string
	Line int
	Name string
}

func (e *UnknownFunctionError) Error() string {
	return fmt.Sprintf("%s:%d: call to unknown function %s", e.File, e.Line, e.Name)
}

// CheckTimeout bounds the file-scope code Check runs.
const CheckTimeout = 5 * time.Second

// Check reports every error it finds in the filter file at path, in file
// order, each naming file and line: all syntax errors (see syntaxErrors);
// then, for a file that parses, calls of unknown global functions, and the
// error of running its file-scope code in a fresh sandbox (an unknown
// function called at file scope, error(), an endless loop). Nil means the
// filter loads.
func Check(path string) []error { return check(path, Options{}) }

func check(path string, opts Options) []error {
	data, err := os.ReadFile(path)
	if err != nil {
		return []error{fmt.Errorf("luafilter: %w", err)}
	}
	src := string(data)
	if errs := syntaxErrors(path, src); len(errs) > 0 {
		return errs
	}
	prog, err := compileSource(path, src)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, u := range unknownCalls(prog, opts.UnsafeLibs) {
		errs = append(errs, u)
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = CheckTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	f, err := load(prog, filter.DefaultConfig(), opts)
	if err != nil {
		// A call of an unknown function at file scope is already
		// reported, by name, above.
		var re *RuntimeError
		dup := false
		if errors.As(err, &re) {
			for _, e := range errs {
				u := e.(*UnknownFunctionError)
				dup = dup || re.Where == fmt.Sprintf("%s:%d", u.File, u.Line)
			}
		}
		if !dup {
			errs = append(errs, err)
		}
	} else {
		f.Close()
	}
	return errs
}

// unknownCalls walks the chunk and returns the calls of global names that
// are neither defined by a fresh sandbox (bindings, standard library) nor
// assigned, declared local or used as a value anywhere in the file.
func unknownCalls(prog *compiled, unsafe bool) []*UnknownFunctionError {
	w := &walker{known: map[string]bool{}}
	w.stmts(prog.chunk)

	L := newState(unsafe, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer L.Close()
	L.G.Global.ForEach(func(k, _ lua.LValue) {
		if s, ok := k.(lua.LString); ok {
			w.known[string(s)] = true
		}
	})
	for name := range bindings {
		w.known[name] = true
	}
	for _, v := range configVars {
		w.known[v.name] = true
	}

	var out []*UnknownFunctionError
	for _, c := range w.calls {
		if !w.known[c.name] {
			out = append(out, &UnknownFunctionError{File: prog.path, Line: c.line, Name: c.name})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return out
}

type call struct {
	name string
	line int
}

// walker collects global calls and every name the file defines or reads.
type walker struct {
	calls []call
	known map[string]bool
}

func (w *walker) stmts(ss []ast.Stmt) {
	for _, s := range ss {
		w.stmt(s)
	}
}

func (w *walker) stmt(s ast.Stmt) {
	switch s := s.(type) {
	case *ast.AssignStmt:
		for _, e := range s.Lhs {
			if id, ok := e.(*ast.IdentExpr); ok {
				w.known[id.Value] = true
			} else {
				w.expr(e)
			}
		}
		w.exprs(s.Rhs)
	case *ast.LocalAssignStmt:
		for _, n := range s.Names {
			w.known[n] = true
		}
		w.exprs(s.Exprs)
	case *ast.FuncCallStmt:
		w.expr(s.Expr)
	case *ast.DoBlockStmt:
		w.stmts(s.Stmts)
	case *ast.WhileStmt:
		w.expr(s.Condition)
		w.stmts(s.Stmts)
	case *ast.RepeatStmt:
		w.stmts(s.Stmts)
		w.expr(s.Condition)
	case *ast.IfStmt:
		w.expr(s.Condition)
		w.stmts(s.Then)
		w.stmts(s.Else)
	case *ast.NumberForStmt:
		w.known[s.Name] = true
		w.exprs([]ast.Expr{s.Init, s.Limit, s.Step})
		w.stmts(s.Stmts)
	case *ast.GenericForStmt:
		for _, n := range s.Names {
			w.known[n] = true
		}
		w.exprs(s.Exprs)
		w.stmts(s.Stmts)
	case *ast.FuncDefStmt:
		if id, ok := s.Name.Func.(*ast.IdentExpr); ok && s.Name.Receiver == nil {
			w.known[id.Value] = true
		} else {
			w.expr(s.Name.Func)
			w.expr(s.Name.Receiver)
		}
		w.expr(s.Func)
	case *ast.ReturnStmt:
		w.exprs(s.Exprs)
	}
}

func (w *walker) exprs(es []ast.Expr) {
	for _, e := range es {
		w.expr(e)
	}
}

func (w *walker) expr(e ast.Expr) {
	switch e := e.(type) {
	case nil:
	case *ast.IdentExpr:
		w.known[e.Value] = true // used as a value: defined elsewhere, or tested
	case *ast.AttrGetExpr:
		w.expr(e.Object)
		w.expr(e.Key)
	case *ast.TableExpr:
		for _, f := range e.Fields {
			w.expr(f.Key)
			w.expr(f.Value)
		}
	case *ast.FuncCallExpr:
		if id, ok := e.Func.(*ast.IdentExpr); ok {
			w.calls = append(w.calls, call{id.Value, e.Line()})
		} else {
			w.expr(e.Func)
		}
		w.expr(e.Receiver)
		w.exprs(e.Args)
	case *ast.LogicalOpExpr:
		w.expr(e.Lhs)
		w.expr(e.Rhs)
	case *ast.RelationalOpExpr:
		w.expr(e.Lhs)
		w.expr(e.Rhs)
	case *ast.StringConcatOpExpr:
		w.expr(e.Lhs)
		w.expr(e.Rhs)
	case *ast.ArithmeticOpExpr:
		w.expr(e.Lhs)
		w.expr(e.Rhs)
	case *ast.UnaryMinusOpExpr:
		w.expr(e.Expr)
	case *ast.UnaryNotOpExpr:
		w.expr(e.Expr)
	case *ast.UnaryLenOpExpr:
		w.expr(e.Expr)
	case *ast.FunctionExpr:
		if e.ParList != nil {
			for _, n := range e.ParList.Names {
				w.known[n] = true
			}
		}
		w.stmts(e.Stmts)
	}
}
