package luafilter

import (
	"github.com/mdgo/md/worker/filter"
)

// Engine is the filter.Engine (and filter.Checker) for files ending in
// ".lua". DefaultEngine is registered with package filter when this
// package is imported; cmd/md-worker sets its Options from its
// environment (MD_WORKER_LUA_UNSAFE_LIBS) before loading a filter.
type Engine struct {
	Options Options
}

// DefaultEngine is the registered Lua engine.
var DefaultEngine = &Engine{}

func init() { filter.RegisterEngine(DefaultEngine) }

// Name is "lua".
func (e *Engine) Name() string { return "lua" }

// Extensions is ".lua".
func (e *Engine) Extensions() []string { return []string{".lua"} }

// Load compiles the file, makes this process's Lua state, runs the file's
// file-scope code and returns the callbacks it defines; configuration
// globals the file set are applied to cfg. The state lives as long as the
// returned Callbacks.
func (e *Engine) Load(path string, cfg *filter.Config) (*filter.Callbacks, error) {
	f, err := Load(path, cfg, e.Options)
	if err != nil {
		return nil, err
	}
	cb := f.Callbacks()
	return &cb, nil
}

// Check is the package's Check with the engine's options: "md-worker check
// FILE".
func (e *Engine) Check(path string) []error { return check(path, e.Options) }

var (
	_ filter.Engine  = (*Engine)(nil)
	_ filter.Checker = (*Engine)(nil)
)
