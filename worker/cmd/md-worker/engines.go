package main

// The filter engines and compiled-in filters md-worker offers. Each
// registers itself with package filter from an init function: the Lua
// engine for ".lua" files, the built-in Go filters as "builtin:<name>".
import (
	_ "github.com/mdgo/md/worker/internal/builtins"
	_ "github.com/mdgo/md/worker/internal/luafilter"
)
