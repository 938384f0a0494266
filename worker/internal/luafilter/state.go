package luafilter

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/mdgo/md/worker/filter"
	"github.com/mdgo/md/worker/message"
)

// Options tune a Filter. The zero value is the safe default.
type Options struct {
	// UnsafeLibs opens every gopher-lua library (io, os, package with
	// require, debug, coroutine, channel) and keeps dofile and loadfile:
	// md-worker's MD_WORKER_LUA_UNSAFE_LIBS=1. Off by default.
	UnsafeLibs bool
	// CallTimeout caps each callback in addition to the request's own
	// deadline; zero means the request deadline alone. File-scope code and
	// filter_initialize, which have no request, get DefaultLoadTimeout
	// when this is zero.
	CallTimeout time.Duration
	// Logger receives md_syslog, print and engine messages; nil logs to
	// stderr as text.
	Logger *slog.Logger
}

// DefaultLoadTimeout bounds the file-scope code of a filter.
const DefaultLoadTimeout = 30 * time.Second

// Filter is one worker's Lua state with a loaded filter file. It is not
// safe for concurrent use: a worker serves one request at a time.
type Filter struct {
	L    *lua.LState
	prog *compiled
	cfg  *filter.Config
	opts Options
	log  *slog.Logger

	// cur is the Context of the running callback, nil at file scope.
	cur *filter.Context
	// req is the Context the per-message globals were last reset for.
	req *filter.Context
	// parts caches one userdata per part for the current request, so that
	// the same entity compares equal in Lua and its body file is written
	// once.
	parts map[*message.Part]*partData
	// bodyFiles numbers the body files entity:path() wrote.
	bodyFiles int

	entityMeta *lua.LTable
	// bound lists the Lua names of the bindings installed, sorted.
	bound []string
}

// Load compiles the filter file at path into a new Lua state, runs its
// file-scope code and applies the configuration globals it set to cfg
// (nil: filter.DefaultConfig()). A syntax error is a *SyntaxError, a
// failure of the file-scope code (an unknown function called, error())
// a *RuntimeError.
func Load(path string, cfg *filter.Config, opts Options) (*Filter, error) {
	prog, err := compileFile(path)
	if err != nil {
		return nil, err
	}
	return load(prog, cfg, opts)
}

// LoadString is Load for filter source held in memory; name is used in
// messages ("name:12: ...").
func LoadString(name, src string, cfg *filter.Config, opts Options) (*Filter, error) {
	prog, err := compileSource(name, src)
	if err != nil {
		return nil, err
	}
	return load(prog, cfg, opts)
}

func load(prog *compiled, cfg *filter.Config, opts Options) (*Filter, error) {
	if cfg == nil {
		cfg = filter.DefaultConfig()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	f := &Filter{prog: prog, cfg: cfg, opts: opts, log: log}
	f.L = newState(opts.UnsafeLibs, log)
	f.installEntity()
	f.installBindings()
	// In a request, print goes to the request's log with the queue ID.
	f.L.SetGlobal("print", f.L.NewFunction(func(L *lua.LState) int {
		if f.cur != nil {
			f.cur.Logf("%s", printed(L))
		} else {
			f.log.Info(printed(L), "source", "lua print")
		}
		return 0
	}))
	f.installConfigGlobals()
	f.resetMessageGlobals()
	f.L.SetGlobal("CurrentVirusScannerMessage", lua.LString("")) // never reset, as in Perl

	fn := f.L.NewFunctionFromProto(prog.proto)
	timeout := opts.CallTimeout
	if timeout <= 0 {
		timeout = DefaultLoadTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	f.L.SetContext(ctx)
	f.L.Push(fn)
	err := f.L.PCall(0, 0, nil)
	f.L.RemoveContext()
	if err != nil {
		f.L.Close()
		rerr := runtimeError(ctx, "file scope", err).(*RuntimeError)
		// gopher-lua does not name the nil being called: find it.
		for _, u := range unknownCalls(prog, opts.UnsafeLibs) {
			if rerr.Where == fmt.Sprintf("%s:%d", u.File, u.Line) {
				rerr.Msg += " (unknown function " + u.Name + ")"
			}
		}
		return nil, rerr
	}
	f.readConfig()
	return f, nil
}

// Close releases the Lua state.
func (f *Filter) Close() { f.L.Close() }

// Config returns the configuration the filter writes its globals to.
func (f *Filter) Config() *filter.Config { return f.cfg }

// Bound returns the names of the Lua functions the engine provides, sorted.
func (f *Filter) Bound() []string { return append([]string(nil), f.bound...) }

// function returns the global Lua function name, or nil.
func (f *Filter) function(name string) *lua.LFunction {
	fn, _ := f.L.GetGlobal(name).(*lua.LFunction)
	return fn
}

// call runs the global function name with args under c's deadline and
// returns its nret results (nret < 0: all). c is nil for calls outside a
// request (filter_initialize has a Context too, but no message).
func (f *Filter) call(c *filter.Context, name string, nret int, args ...lua.LValue) ([]lua.LValue, error) {
	fn := f.function(name)
	if fn == nil {
		return nil, fmt.Errorf("luafilter: %s is not defined", name)
	}
	var ctx context.Context = context.Background()
	if c != nil {
		if c.Context != nil {
			ctx = c.Context
		}
		if f.req != c {
			f.startRequest(c)
		}
		f.updateGlobals(c)
	}
	cancel := context.CancelFunc(func() {})
	if f.opts.CallTimeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, f.opts.CallTimeout)
	}
	defer cancel()
	if err := ctx.Err(); err != nil {
		return nil, runtimeError(ctx, name, err)
	}

	prev := f.cur
	f.cur = c
	defer func() { f.cur = prev }()
	L := f.L
	// A callback may be called from inside another (defang_warning from
	// action_defang): restore the outer call's context afterwards.
	outer := L.Context()
	L.SetContext(ctx)
	defer func() {
		if outer != nil {
			L.SetContext(outer)
		} else {
			L.RemoveContext()
		}
	}()
	top := L.GetTop()
	L.Push(fn)
	for _, a := range args {
		L.Push(a)
	}
	want := nret
	if want < 0 {
		want = lua.MultRet
	}
	if err := L.PCall(len(args), want, nil); err != nil {
		L.SetTop(top)
		return nil, runtimeError(ctx, name, err)
	}
	n := L.GetTop() - top
	res := make([]lua.LValue, n)
	for i := range res {
		res[i] = L.Get(top + 1 + i)
	}
	L.SetTop(top)
	f.readConfig()
	if c != nil {
		f.readVirusGlobals(c)
	}
	return res, nil
}

// arg returns res[i] or nil.
func arg(res []lua.LValue, i int) lua.LValue {
	if i < len(res) {
		return res[i]
	}
	return lua.LNil
}

// Callbacks returns the filter.Callbacks of the functions the file defines
// (as globals, after its file-scope code ran). Functions it does not define
// stay nil, so that the worker answers as for an undefined Perl sub.
func (f *Filter) Callbacks() filter.Callbacks {
	var cb filter.Callbacks
	has := func(name string) bool { return f.function(name) != nil }
	if has("filter_initialize") {
		cb.Initialize = func(c *filter.Context) error {
			_, err := f.call(c, "filter_initialize", 0)
			return err
		}
	}
	if has("filter_relay") {
		cb.Relay = func(c *filter.Context, r filter.RelayRequest) (filter.Answer, error) {
			return f.check(c, "filter_relay", r.IP, r.Name, r.Port, r.MyIP, r.MyPort, r.QueueID)
		}
	}
	if has("filter_helo") {
		cb.Helo = func(c *filter.Context, r filter.HeloRequest) (filter.Answer, error) {
			return f.check(c, "filter_helo", r.IP, r.Name, r.Helo, r.Port, r.MyIP, r.MyPort, r.QueueID)
		}
	}
	if has("filter_sender") {
		cb.Sender = func(c *filter.Context, r filter.SenderRequest) (filter.Answer, error) {
			return f.check(c, "filter_sender", r.Sender, r.IP, r.Name, r.Helo)
		}
	}
	if has("filter_recipient") {
		cb.Recipient = func(c *filter.Context, r filter.RecipientRequest) (filter.Answer, error) {
			return f.check(c, "filter_recipient", r.Rcpt, r.Sender, r.IP, r.Name, r.First, r.Helo, r.Mailer, r.Host, r.Addr)
		}
	}
	entityCallback := func(name string) func(c *filter.Context, top *message.Part) error {
		if !has(name) {
			return nil
		}
		return func(c *filter.Context, top *message.Part) error {
			_, err := f.call(c, name, 0, f.entity(top))
			return err
		}
	}
	cb.Begin = entityCallback("filter_begin")
	cb.End = entityCallback("filter_end")
	cb.Wrapup = entityCallback("filter_wrapup")
	partCallback := func(name string) func(c *filter.Context, p *message.Part, fname, ext, typ string) error {
		if !has(name) {
			return nil
		}
		return func(c *filter.Context, p *message.Part, fname, ext, typ string) error {
			f.L.SetGlobal("Action", lua.LString("accept"))
			_, err := f.call(c, name, 0, f.entity(p), lua.LString(fname), lua.LString(ext), lua.LString(typ))
			return err
		}
	}
	cb.Filter = partCallback("filter")
	cb.Multipart = partCallback("filter_multipart")
	if has("filter_cleanup") {
		cb.Cleanup = func(c *filter.Context) (int, error) { return f.intResult(c, "filter_cleanup") }
	}
	if has("filter_validate") {
		cb.Validate = func(c *filter.Context) (int, error) { return f.intResult(c, "filter_validate") }
	}
	if has("filter_tick") {
		cb.Tick = func(c *filter.Context, band int) error {
			_, err := f.call(c, "filter_tick", 0, lua.LNumber(band))
			return err
		}
	}
	if has("filter_map") {
		cb.Map = func(c *filter.Context, mapName, key string) (string, string, error) {
			res, err := f.call(c, "filter_map", 2, lua.LString(mapName), lua.LString(key))
			if err != nil {
				return "", "", err
			}
			return toText(arg(res, 0)), toText(arg(res, 1)), nil
		}
	}
	if has("filter_unknown_cmd") {
		cb.UnknownCmd = func(c *filter.Context, cmd string, args []string) ([]string, error) {
			largs := make([]lua.LValue, 0, len(args)+1)
			largs = append(largs, lua.LString(cmd))
			for _, a := range args {
				largs = append(largs, lua.LString(a))
			}
			res, err := f.call(c, "filter_unknown_cmd", -1, largs...)
			if err != nil {
				return nil, err
			}
			out := make([]string, len(res))
			for i, v := range res {
				out[i] = toText(v)
			}
			return out, nil
		}
	}
	if has("defang_warning") {
		cb.DefangWarning = func(c *filter.Context, oldName, newName string) (string, error) {
			res, err := f.call(c, "defang_warning", 1, lua.LString(oldName), lua.LString(newName))
			if err != nil {
				return "", err
			}
			return toText(arg(res, 0)), nil
		}
	}
	for _, name := range f.handlerNames() {
		if cb.Handlers == nil {
			cb.Handlers = map[string]func(c *filter.Context, args []string) (string, error){}
		}
		fn := name
		cb.Handlers[strings.ToLower(strings.TrimPrefix(fn, "handle_"))] = func(c *filter.Context, args []string) (string, error) {
			largs := make([]lua.LValue, len(args))
			for i, a := range args {
				largs[i] = lua.LString(a)
			}
			res, err := f.call(c, fn, 1, largs...)
			if err != nil {
				return "", err
			}
			return toText(arg(res, 0)), nil
		}
	}
	return cb
}

// handlerNames returns the global functions called handle_<cmd>, sorted.
func (f *Filter) handlerNames() []string {
	var names []string
	f.L.G.Global.ForEach(func(k, v lua.LValue) {
		name, ok := k.(lua.LString)
		if !ok || !strings.HasPrefix(string(name), "handle_") || len(name) == len("handle_") {
			return
		}
		if _, ok := v.(*lua.LFunction); ok {
			names = append(names, string(name))
		}
	})
	sort.Strings(names)
	return names
}

// check runs a check callback and converts its Perl-style list return.
func (f *Filter) check(c *filter.Context, name string, args ...string) (filter.Answer, error) {
	largs := make([]lua.LValue, len(args))
	for i, a := range args {
		largs[i] = lua.LString(a)
	}
	res, err := f.call(c, name, 5, largs...)
	if err != nil {
		return filter.Answer{}, err
	}
	return answer(res), nil
}

// answer converts ($ok, $msg, $code, $dsn, $delay). Only the first two are
// required; code, dsn and delay may be numbers or strings. true is
// CONTINUE and false REJECT (Perl has no booleans; a Lua filter may use
// them); nil, as Perl's undef, rejects.
func answer(res []lua.LValue) filter.Answer {
	var a filter.Answer
	switch v := arg(res, 0).(type) {
	case lua.LBool:
		if v {
			a.Verdict = filter.Continue
		} else {
			a.Verdict = filter.Int(0)
		}
	case *lua.LNilType:
		a.Verdict = ""
	default:
		a.Verdict = filter.Verdict(toText(v))
	}
	a.Msg = toText(arg(res, 1))
	a.Code = toText(arg(res, 2))
	a.DSN = toText(arg(res, 3))
	a.Delay = toDelay(arg(res, 4))
	return a
}

// toText is how a returned value becomes text: nil is "", a number its
// shortest decimal form (554, not 554.0), a boolean "1" or "".
func toText(v lua.LValue) string {
	switch v := v.(type) {
	case *lua.LNilType:
		return ""
	case lua.LBool:
		if v {
			return "1"
		}
		return ""
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return v.String()
	}
	return v.String()
}

// toDelay is send_filter_answer's delay rule: anything but a non-negative
// integer (number or decimal string) is 0.
func toDelay(v lua.LValue) int {
	s := strings.TrimSuffix(toText(v), "\n")
	if s == "" || len(s) > 9 {
		return 0
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0
		}
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// intResult runs a callback that returns an exit status (nil: 0).
func (f *Filter) intResult(c *filter.Context, name string) (int, error) {
	res, err := f.call(c, name, 1)
	if err != nil {
		return 0, err
	}
	switch v := arg(res, 0).(type) {
	case lua.LNumber:
		return int(v), nil
	case lua.LString:
		n := 0
		fmt.Sscanf(string(v), "%d", &n)
		return n, nil
	case lua.LBool:
		if v {
			return 1, nil
		}
	}
	return 0, nil
}
