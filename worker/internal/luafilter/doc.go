// Package luafilter runs MIMEDefang filters written in Lua: it turns a Lua
// file that defines filter_begin, filter, filter_end ... into the
// filter.Callbacks of package filter, and gives the Lua code the functions
// (action_drop_with_warning, action_add_header, re_match ...) and globals
// (Sender, Recipients, RelayAddr ...) of a Perl filter under their Perl
// names, so that a Perl filter ports line by line. The API is described in
// docs/filters.md.
//
// A filter file is parsed and compiled once; each worker process holds one
// Lua state (a Filter), runs the file-scope code once, and reuses the state
// for every request. Globals the filter creates persist; the per-message
// globals are reset at the start of every request. Every callback runs under
// the request's deadline (and Options.CallTimeout), so an endless loop fails
// the request instead of hanging the worker.
//
// The state is sandboxed: only the base, table, string and math libraries
// and os.time/os.date/os.clock/os.difftime are opened; dofile, loadfile,
// require, io and os.execute are absent unless Options.UnsafeLibs is set
// (MD_WORKER_LUA_UNSAFE_LIBS=1 in md-worker's environment). gopher-lua cannot cap the memory a script
// allocates: the stacks are bounded here, and the worker process itself is
// bounded and recycled by the multiplexor (-R, -M).
//
// The package is not a general Lua binding of package filter: it exposes
// what MIMEDefang filters use, by MIMEDefang's names. The table in
// bindings.go maps each Lua name to its filter.Context method.
package luafilter
