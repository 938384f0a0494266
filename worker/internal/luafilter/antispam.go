package luafilter

import (
	lua "github.com/yuin/gopher-lua"

	"github.com/mdgo/md/worker/filter"
	"github.com/mdgo/md/worker/filter/spamd"
)

// The anti-spam bindings whose Perl values are objects
// (Mail::SpamAssassin::Client, Mail::SpamAssassin::PerMsgStatus,
// Mail::SpamAssassin::Message): in Lua they are a table and a string.

// spamcType names the metatable of md_spamc_init's tables, which
// md_spamc_check recognises.
const spamcType = "mimedefang.spamc"

// spamcTable is a spamd client as a Lua table: host, port, user,
// max_size (the values md_spamc_init was given, "" and 0 meaning the
// defaults).
func (f *Filter) spamcTable(L *lua.LState, c *filter.SpamcClient) *lua.LTable {
	t := L.NewTable()
	host := c.Config.Host
	if host == "" {
		host = spamd.DefaultHost
	}
	port := c.Config.Port
	if port == 0 {
		port = spamd.DefaultPort
	}
	t.RawSetString("host", lua.LString(host))
	t.RawSetString("port", lua.LNumber(port))
	t.RawSetString("user", lua.LString(c.Config.User))
	t.RawSetString("max_size", lua.LNumber(c.Config.MaxSize))
	L.SetMetatable(t, L.NewTypeMetatable(spamcType))
	return t
}

// bindMdSpamcInit is md_spamc_init([host [, port [, user [, max_size]]]]):
// a client table; it also names the spamd of the spam_assassin_*
// functions. It may run at file scope.
func bindMdSpamcInit(f *Filter, L *lua.LState) int {
	c := f.cur
	if c == nil {
		c = &filter.Context{Config: f.cfg}
	}
	cl := c.MdSpamcInit(optText(L, 1), optInt(L, 2, 0), optText(L, 3), optInt(L, 4, 0))
	L.Push(f.spamcTable(L, cl))
	return 1
}

// bindMdSpamcCheck is md_spamc_check(client): (score, threshold, report,
// isspam), nothing on failure. A client that is not md_spamc_init's
// table is the original's "not initialized" failure.
func bindMdSpamcCheck(f *Filter, L *lua.LState) int {
	c := f.context(L)
	var cl *filter.SpamcClient
	if t, ok := L.Get(1).(*lua.LTable); ok && L.GetMetatable(t) == L.GetTypeMetatable(spamcType) {
		cl = &filter.SpamcClient{Config: c.Config.Spamd}
		cl.Config.Host = toText(t.RawGetString("host"))
		if n, ok := t.RawGetString("port").(lua.LNumber); ok {
			cl.Config.Port = int(n)
		}
		cl.Config.User = toText(t.RawGetString("user"))
		if n, ok := t.RawGetString("max_size").(lua.LNumber); ok {
			cl.Config.MaxSize = int(n)
		}
	}
	return pushValues(L, c.MdSpamcCheck(cl).Values())
}

// bindSpamAssassinInit is spam_assassin_init([config]): the client table
// of the spamd the spam_assassin_* functions ask.
func bindSpamAssassinInit(f *Filter, L *lua.LState) int {
	c := f.cur
	if c == nil {
		c = &filter.Context{Config: f.cfg}
	}
	L.Push(f.spamcTable(L, c.SpamAssassinInit(optText(L, 1))))
	return 1
}

// bindSpamAssassinMail is spam_assassin_mail(): the copy of the message
// spamd scores, as a string; nil outside message context.
func bindSpamAssassinMail(f *Filter, L *lua.LState) int {
	msg, ok := f.context(L).SpamAssassinMail()
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(lua.LString(msg))
	return 1
}

// bindSpamAssassinStatus is spam_assassin_status([config]): a table
// standing for the PerMsgStatus object, or nil on failure:
//
//	score, hits      the score (get_score, get_hits)
//	required         the threshold (get_required_score)
//	is_spam          score >= required, a boolean (is_spam)
//	spamd_is_spam    spamd's own verdict word ("True" or "False")
//	tests            the rule names, an array (get_names_of_tests_hit)
//	names            the same joined with commas
//	report           the report (get_report)
//	finish           a function that does nothing, for ported
//	                 "status:finish()"
func bindSpamAssassinStatus(f *Filter, L *lua.LState) int {
	r := f.context(L).SpamAssassinStatus(optText(L, 1))
	if !r.OK {
		L.Push(lua.LNil)
		return 1
	}
	t := L.NewTable()
	t.RawSetString("score", lua.LNumber(r.Score))
	t.RawSetString("hits", lua.LNumber(r.Score))
	t.RawSetString("required", lua.LNumber(r.Threshold))
	t.RawSetString("is_spam", lua.LBool(r.Score >= r.Threshold))
	t.RawSetString("spamd_is_spam", lua.LString(r.Spam))
	tests := L.CreateTable(len(r.Tests), 0)
	for _, n := range r.Tests {
		tests.Append(lua.LString(n))
	}
	t.RawSetString("tests", tests)
	t.RawSetString("names", lua.LString(r.TestNames()))
	t.RawSetString("report", lua.LString(r.Report))
	t.RawSetString("finish", L.NewFunction(func(*lua.LState) int { return 0 }))
	L.Push(t)
	return 1
}
