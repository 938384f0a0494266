package luafilter

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/mdgo/md/worker/filter"
	"github.com/mdgo/md/worker/message"
)

// More adapters (see bindings.go).

func ctxString(m func(*filter.Context) string) binding {
	return func(f *Filter, L *lua.LState) int {
		L.Push(lua.LString(m(f.context(L))))
		return 1
	}
}

// anyCtxString is ctxString for functions that also work at file scope,
// where they get a Context with the configuration and no message.
func anyCtxString(m func(*filter.Context) string) binding {
	return func(f *Filter, L *lua.LState) int {
		L.Push(lua.LString(m(f.anyContext())))
		return 1
	}
}

func ctxBoolOptS(m func(*filter.Context, string) bool) binding {
	return func(f *Filter, L *lua.LState) int {
		c := f.context(L)
		L.Push(lua.LBool(m(c, optText(L, 1))))
		return 1
	}
}

func ctxBoolSOptS(m func(*filter.Context, string, string) bool) binding {
	return func(f *Filter, L *lua.LState) int {
		c := f.context(L)
		L.Push(lua.LBool(m(c, checkText(L, 1), optText(L, 2))))
		return 1
	}
}

func pureString(fn func() string) binding {
	return func(f *Filter, L *lua.LState) int {
		L.Push(lua.LString(fn()))
		return 1
	}
}

func pureStringS(fn func(string) string) binding {
	return func(f *Filter, L *lua.LState) int {
		L.Push(lua.LString(fn(checkText(L, 1))))
		return 1
	}
}

// partMatch adapts re_match and re_match_ext: (entity, regex) -> boolean;
// a regular expression RE2 cannot compile is a Lua error.
func partMatch(fn func(*message.Part, string) (bool, error)) binding {
	return func(f *Filter, L *lua.LState) int {
		ok, err := fn(f.checkPart(L, 1), checkText(L, 2))
		if err != nil {
			L.RaiseError("%v (regular expressions are RE2 syntax)", err)
		}
		L.Push(lua.LBool(ok))
		return 1
	}
}

// pathMatch adapts re_match_in_*_directory: (path, regex) -> boolean.
func pathMatch(fn func(string, string) (bool, error)) binding {
	return func(f *Filter, L *lua.LState) int {
		ok, err := fn(checkText(L, 1), checkText(L, 2))
		if err != nil {
			L.RaiseError("%v (regular expressions are RE2 syntax)", err)
		}
		L.Push(lua.LBool(ok))
		return 1
	}
}

// syncs wraps a binding that changes per-message state other globals
// mirror ($Domain, $QuarantineCount ...).
func syncs(b binding) binding {
	return func(f *Filter, L *lua.LState) int {
		n := b(f, L)
		if f.cur != nil {
			f.updateGlobals(f.cur)
		}
		return n
	}
}

// anyContext is the running callback's Context, or at file scope one with
// the configuration and no message.
func (f *Filter) anyContext() *filter.Context {
	if f.cur != nil {
		return f.cur
	}
	return &filter.Context{Context: context.Background(), Config: f.cfg,
		QueueID: "NOQUEUE", MsgID: "NOQUEUE", MessageID: "NOQUEUE", CWD: f.cfg.SpoolDir}
}

// bindDetectAndLoadPerlModules is detect_and_load_perl_modules(): the
// Features table (as the filter has set it so far) goes to the Config,
// Context.DetectAndLoadPerlModules decides Features["SpamAssassin"], and
// the table gets the answer back.
func bindDetectAndLoadPerlModules(f *Filter, L *lua.LState) int {
	f.readConfig()
	f.anyContext().DetectAndLoadPerlModules()
	if feat, ok := L.GetGlobal("Features").(*lua.LTable); ok {
		if v, set := f.cfg.Features["SpamAssassin"]; set {
			feat.RawSetString("SpamAssassin", lua.LBool(v == "1"))
		}
	}
	return 0
}

func bindTakeStab(f *Filter, L *lua.LState) int {
	L.Push(lua.LString(filter.TakeStabAtFilename(f.checkPart(L, 1))))
	return 1
}

// bindSyslog is md_syslog(priority, msg). At file scope the line goes to
// the engine's logger.
func bindSyslog(f *Filter, L *lua.LState) int {
	prio, msg := checkText(L, 1), checkText(L, 2)
	if f.cur != nil {
		f.cur.MdSyslog(prio, msg)
		return 0
	}
	level := strings.ToLower(prio)
	if i := strings.LastIndexByte(level, '|'); i >= 0 {
		level = level[i+1:]
	}
	switch level {
	case "debug":
		f.log.Debug(msg)
	case "info", "notice":
		f.log.Info(msg)
	case "warning", "warn":
		f.log.Warn(msg)
	default:
		f.log.Error(msg)
	}
	return 0
}

// bindGraphdefangLogEnable is md_graphdefang_log_enable([facility [,
// enumerate_recipients]]); enumerate defaults to 1. It works at file
// scope, where the Perl filters call it.
func bindGraphdefangLogEnable(f *Filter, L *lua.LState) int {
	enum := true
	if L.GetTop() >= 2 {
		enum = perlTrue(L.Get(2))
	}
	f.anyContext().MdGraphdefangLogEnable(optText(L, 1), enum)
	return 0
}

// bindGraphdefangLog is md_graphdefang_log(event [, v1 [, v2 [, utf8
// [, per_message]]]]) (per_message: MIMEDefang 3.7).
func bindGraphdefangLog(f *Filter, L *lua.LState) int {
	c := f.context(L)
	c.MdGraphdefangLogPerMessage(checkText(L, 1), optText(L, 2), optText(L, 3), perlTrue(L.Get(4)), perlTrue(L.Get(5)))
	return 0
}

// bindGraphdefangLogArray is md_graphdefang_log_array(event, utf8,
// values [, per_message]) with values an array of strings.
func bindGraphdefangLogArray(f *Filter, L *lua.LState) int {
	c := f.context(L)
	c.MdGraphdefangLogArray(checkText(L, 1), perlTrue(L.Get(2)), stringList(L, 3), perlTrue(L.Get(4)))
	return 0
}

// stringList returns array argument n as strings (nil or absent: none).
func stringList(L *lua.LState, n int) []string {
	if L.Get(n) == lua.LNil {
		return nil
	}
	t := L.CheckTable(n)
	out := make([]string, 0, t.Len())
	for i := 1; i <= t.Len(); i++ {
		out = append(out, toText(t.RawGetInt(i)))
	}
	return out
}

// bindReadCommandsFile is read_commands_file(): it refills the
// per-message globals from COMMANDS and returns true, or false (and logs)
// when COMMANDS cannot be read.
func bindReadCommandsFile(f *Filter, L *lua.LState) int {
	c := f.context(L)
	if err := c.ReadCommandsFile(); err != nil {
		c.Logf("read_commands_file: %v", err)
		L.Push(lua.LFalse)
		return 1
	}
	f.setRequestGlobals(c)
	f.updateGlobals(c)
	L.Push(lua.LTrue)
	return 1
}

// bindSendMail is send_mail(from, fullname, to, body [, mode]); it returns
// true when sendmail ran and succeeded (Perl returns nothing).
func bindSendMail(f *Filter, L *lua.LState) int {
	c := f.context(L)
	err := c.SendMail(optText(L, 1), optText(L, 2), checkText(L, 3), checkText(L, 4), optText(L, 5))
	if err != nil {
		c.Logf("send_mail: %v", err)
	}
	L.Push(lua.LBool(err == nil))
	return 1
}

// bindSendAdminMail is send_admin_mail(subject, body).
func bindSendAdminMail(f *Filter, L *lua.LState) int {
	c := f.context(L)
	err := c.SendAdminMail(checkText(L, 1), checkText(L, 2))
	if err != nil {
		c.Logf("send_admin_mail: %v", err)
	}
	L.Push(lua.LBool(err == nil))
	return 1
}

// bindResendMessage is resend_message(rcpt, ...).
func bindResendMessage(f *Filter, L *lua.LState) int {
	c := f.context(L)
	rcpts := make([]string, L.GetTop())
	for i := range rcpts {
		rcpts[i] = checkText(L, i+1)
	}
	L.Push(lua.LBool(c.ResendMessage(rcpts...)))
	return 1
}

// bindResendSpecifyingMode is resend_message_specifying_mode(mode, rcpts)
// with rcpts an array, as Perl's array reference.
func bindResendSpecifyingMode(f *Filter, L *lua.LState) int {
	c := f.context(L)
	L.Push(lua.LBool(c.ResendMessageSpecifyingMode(checkText(L, 1), stringList(L, 2))))
	return 1
}

// bindGenDateMsgidHeaders is gen_date_msgid_headers([msgid_header]).
func bindGenDateMsgidHeaders(f *Filter, L *lua.LState) int {
	L.Push(lua.LString(f.anyContext().GenDateMsgidHeaders(optText(L, 1))))
	return 1
}

// bindHeaderTimezone is header_timezone([time]): the +hhmm offset of
// local time at time (seconds since the epoch, default now).
func bindHeaderTimezone(f *Filter, L *lua.LState) int {
	t := time.Now()
	if L.Get(1) != lua.LNil {
		t = time.Unix(int64(L.CheckNumber(1)), 0)
	}
	L.Push(lua.LString(filter.HeaderTimezone(t)))
	return 1
}

// bindCopyOrLink is copy_or_link(src, dst).
func bindCopyOrLink(f *Filter, L *lua.LState) int {
	L.Push(lua.LBool(filter.CopyOrLink(checkText(L, 1), checkText(L, 2))))
	return 1
}

// workPath returns a fresh path under the message's Work directory for a
// body file named like the part (its base name, else "part").
func workPath(cwd string, n int, fname string) string {
	base := path.Base(strings.ReplaceAll(fname, "\\", "/"))
	clean := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' {
			return '_'
		}
		return r
	}, base)
	if clean == "" || clean == "." || clean == ".." || clean == "/" {
		clean = "part"
	}
	return path.Join(cwd, "Work", fmt.Sprintf("lua-%d-%s", n, clean))
}
