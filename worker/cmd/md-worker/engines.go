package main

// The filter engines and compiled-in filters md-worker offers. Each
// registers itself with package filter from an init function: the Lua
// engine for ".lua" files, the built-in Go filters as "builtin:<name>".
import (
	"os"

	_ "github.com/mdgo/md/worker/internal/builtins"
	"github.com/mdgo/md/worker/internal/luafilter"
)

// MD_WORKER_LUA_UNSAFE_LIBS=1 opens every Lua library to filters (io, os,
// require ...): only for filters the administrator trusts to run with the
// worker's privileges. The argv stays the original's, so the multiplexor
// starts md-worker exactly as it starts mimedefang.pl.
func init() {
	luafilter.DefaultEngine.Options.UnsafeLibs = os.Getenv("MD_WORKER_LUA_UNSAFE_LIBS") == "1"
}
