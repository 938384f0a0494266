package luafilter

import (
	lua "github.com/yuin/gopher-lua"

	"github.com/mdgo/md/worker/filter/dkim"
)

// bindMdARCSign is md_arc_sign(keyfile, algorithm, chain, domain, srvid,
// selector, headers): a table field name → value (ARC-Seal,
// ARC-Message-Signature, ARC-Authentication-Results), {error = details}
// when Mail::DKIM skips the message, or nil when the original returns
// nothing. nil arguments are Perl's undef (md_arc_sign's defaults); an
// empty domain or selector is passed on to Mail::DKIM as Perl passes it,
// which then uses its own defaults (example.org, "unknown"); an empty
// chain is refused as a missing one (Mail::DKIM dies on it).
func bindMdARCSign(f *Filter, L *lua.LState) int {
	c := f.context(L)
	o := dkim.ARCOptions{
		Algorithm: optText(L, 2), Chain: optText(L, 3), Domain: optText(L, 4),
		SrvID: optText(L, 5), Selector: optText(L, 6), Headers: optText(L, 7),
	}
	if o.Domain == "" && L.Get(4) != lua.LNil {
		o.Domain = "example.org"
	}
	if o.Selector == "" && L.Get(6) != lua.LNil {
		o.Selector = "unknown"
	}
	m := c.MdARCSign(optText(L, 1), o)
	if m == nil {
		L.Push(lua.LNil)
		return 1
	}
	t := L.NewTable()
	for k, v := range m {
		t.RawSetString(k, lua.LString(v))
	}
	L.Push(t)
	return 1
}
