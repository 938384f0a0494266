package luafilter

import (
	lua "github.com/yuin/gopher-lua"

	"github.com/mdgo/md/worker/filter"
)

// bindCheckAll is md_check_all{virus = true, spamassassin = true,
// rspamd = true | "http://url"} (an md-worker extension): the checks
// named run concurrently (filter.Context.CheckAll), and it returns a
// table with one entry per check asked for, and took, the wall time of
// the call in seconds:
//
//	virus         {code=, category=, action=, name=, took=}: message_contains_virus
//	spamassassin  {hits=, required=, tests=, report=, is_spam=, took=}: spam_assassin_status,
//	              tests joined with commas; false when spamd gave no verdict
//	rspamd        {hits=, required=, tests=, report=, action=, is_spam=, took=}: rspamd_check,
//	              at the URL given, or RspamdURL for true
//
// is_spam is a boolean. It is bound through virus(), so VirusName and
// VirusScannerMessages are the scan's afterwards.
func bindCheckAll(f *Filter, L *lua.LState) int {
	c := f.context(L)
	opts := L.CheckTable(1)
	var o filter.CheckAllOptions
	o.Virus = lua.LVAsBool(opts.RawGetString("virus"))
	o.SpamAssassin = lua.LVAsBool(opts.RawGetString("spamassassin"))
	switch v := opts.RawGetString("rspamd").(type) {
	case lua.LString:
		o.Rspamd, o.RspamdURL = true, string(v)
	case lua.LBool:
		o.Rspamd = bool(v)
	case *lua.LNilType:
	default:
		L.ArgError(1, "rspamd must be true, false or a URL")
	}
	r := c.CheckAll(o)
	t := L.NewTable()
	if r.VirusRan {
		v := L.NewTable()
		v.RawSetString("code", lua.LNumber(r.Virus.Code))
		v.RawSetString("category", lua.LString(r.Virus.Category))
		v.RawSetString("action", lua.LString(r.Virus.Action))
		v.RawSetString("name", lua.LString(r.VirusName))
		v.RawSetString("took", lua.LNumber(r.VirusTook.Seconds()))
		t.RawSetString("virus", v)
	}
	if r.SpamRan {
		if !r.Spam.OK {
			t.RawSetString("spamassassin", lua.LFalse)
		} else {
			s := L.NewTable()
			s.RawSetString("hits", lua.LNumber(r.Spam.Score))
			s.RawSetString("required", lua.LNumber(r.Spam.Threshold))
			s.RawSetString("tests", lua.LString(r.Spam.TestNames()))
			s.RawSetString("report", lua.LString(r.Spam.Report))
			s.RawSetString("is_spam", lua.LBool(r.Spam.Score >= r.Spam.Threshold))
			s.RawSetString("took", lua.LNumber(r.SpamTook.Seconds()))
			t.RawSetString("spamassassin", s)
		}
	}
	if r.RspamdRan {
		s := L.NewTable()
		s.RawSetString("hits", lua.LNumber(r.Rspamd.Hits))
		s.RawSetString("required", lua.LNumber(r.Rspamd.Required))
		s.RawSetString("tests", lua.LString(r.Rspamd.Tests))
		s.RawSetString("report", lua.LString(r.Rspamd.Report))
		s.RawSetString("action", lua.LString(r.Rspamd.Action))
		s.RawSetString("is_spam", lua.LBool(r.Rspamd.IsSpam == "true"))
		s.RawSetString("took", lua.LNumber(r.RspamdTook.Seconds()))
		t.RawSetString("rspamd", s)
	}
	t.RawSetString("took", lua.LNumber(r.Took.Seconds()))
	L.Push(t)
	return 1
}
