package luafilter

import (
	"fmt"
	"log/slog"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// Limits of one Lua state. gopher-lua has no memory cap of its own: these
// bound the two stacks (deep recursion, huge unpack/varargs fail with a Lua
// error instead of growing without end) and string.rep; anything else a
// filter allocates is bounded only by the worker process, which the
// multiplexor recycles (-R requests, -M memory).
const (
	// callStackSize is the deepest Lua call nesting allowed.
	callStackSize = 200
	// registrySize is the initial size of the value stack, in slots.
	registrySize = 1024 * 8
	// registryMaxSize is the largest the value stack may grow, in slots.
	registryMaxSize = 1024 * 256
	// registryGrowStep is how much it grows at a time (gopher-lua copies
	// the stack on each step: small steps make a runaway unpack slow).
	registryGrowStep = 1024 * 8
	// maxRepBytes caps the result of string.rep.
	maxRepBytes = 16 << 20
)

// newState makes an empty Lua state with the sandboxed standard libraries:
// base (without dofile, loadfile, require, module, print to stdout), table,
// string, math and os.time/os.date/os.clock/os.difftime. With unsafe it
// opens every gopher-lua library as is (MD_WORKER_LUA_UNSAFE_LIBS=1).
func newState(unsafe bool, log *slog.Logger) *lua.LState {
	L := lua.NewState(lua.Options{
		SkipOpenLibs:        true,
		CallStackSize:       callStackSize,
		RegistrySize:        registrySize,
		RegistryMaxSize:     registryMaxSize,
		RegistryGrowStep:    registryGrowStep,
		MinimizeStackMemory: true,
	})
	if unsafe {
		L.OpenLibs()
	} else {
		for _, lib := range []struct {
			name string
			open lua.LGFunction
		}{
			{lua.BaseLibName, lua.OpenBase},
			{lua.TabLibName, lua.OpenTable},
			{lua.StringLibName, lua.OpenString},
			{lua.MathLibName, lua.OpenMath},
			{lua.OsLibName, lua.OpenOs},
		} {
			L.Push(L.NewFunction(lib.open))
			L.Push(lua.LString(lib.name))
			L.Call(1, 0)
		}
		for _, name := range []string{"dofile", "loadfile", "require", "module", "_printregs"} {
			L.SetGlobal(name, lua.LNil)
		}
		// Keep only the harmless clock functions of os.
		full := L.GetGlobal(lua.OsLibName).(*lua.LTable)
		os := L.NewTable()
		for _, name := range []string{"time", "date", "clock", "difftime"} {
			os.RawSetString(name, full.RawGetString(name))
		}
		L.SetGlobal(lua.OsLibName, os)
		if str, ok := L.GetGlobal(lua.StringLibName).(*lua.LTable); ok {
			str.RawSetString("rep", L.NewFunction(strRep))
		}
	}
	// stdout is the worker's protocol channel: print must never write
	// there. Load replaces this with one that logs through the request.
	L.SetGlobal("print", L.NewFunction(func(L *lua.LState) int {
		log.Info(printed(L), "source", "lua print")
		return 0
	}))
	return L
}

// printed joins print's arguments as Lua's print does.
func printed(L *lua.LState) string {
	parts := make([]string, L.GetTop())
	for i := range parts {
		parts[i] = L.ToStringMeta(L.Get(i + 1)).String()
	}
	return strings.Join(parts, "\t")
}

// strRep is string.rep with a cap on the result size, so that one call
// cannot allocate gigabytes before the deadline is next checked.
func strRep(L *lua.LState) int {
	s := L.CheckString(1)
	n := L.CheckInt(2)
	if n <= 0 || s == "" {
		L.Push(lua.LString(""))
		return 1
	}
	if n > maxRepBytes/len(s) {
		L.RaiseError("string.rep: result larger than %d bytes", maxRepBytes)
	}
	L.Push(lua.LString(strings.Repeat(s, n)))
	return 1
}

// describe returns a short printable form of a Lua value for messages.
func describe(v lua.LValue) string {
	if s, ok := v.(lua.LString); ok {
		return fmt.Sprintf("%q", string(s))
	}
	return v.Type().String()
}
