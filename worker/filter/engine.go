package filter

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Engine loads filter files of one kind (for example Lua) into Callbacks.
// Engines register themselves with RegisterEngine from an init function;
// cmd/md-worker picks one by the file's extension.
type Engine interface {
	// Name is the engine's name, e.g. "lua".
	Name() string
	// Extensions lists the file extensions the engine loads, with the
	// dot, e.g. ".lua".
	Extensions() []string
	// Load compiles and runs the filter file at path once for this
	// worker process. File-scope assignments of configuration globals
	// are applied to cfg. The returned Callbacks stay valid for the life
	// of the process.
	Load(path string, cfg *Config) (*Callbacks, error)
}

// Checker is implemented by engines that can report every error of a
// filter file without running it as a worker ("md-worker check FILE").
type Checker interface {
	// Check returns the errors found, in file order; each should say
	// the file and line ("filter.lua:12: ..."). Nil means the file is
	// fine.
	Check(path string) []error
}

// Builtin makes the Callbacks of a filter compiled into the binary. It may
// set cfg as a filter's file-scope code would.
type Builtin func(cfg *Config) (*Callbacks, error)

// BuiltinPrefix starts a filter name that refers to a compiled-in filter:
// "md-worker -f builtin:passthrough -server".
const BuiltinPrefix = "builtin:"

var registry struct {
	sync.Mutex
	engines  []Engine
	builtins map[string]Builtin
}

// RegisterEngine makes e available to LoadFilter for its extensions. A
// later registration for the same extension replaces the earlier one.
func RegisterEngine(e Engine) {
	registry.Lock()
	defer registry.Unlock()
	registry.engines = append(registry.engines, e)
}

// RegisterBuiltin makes a compiled-in filter available as
// "builtin:<name>".
func RegisterBuiltin(name string, b Builtin) {
	registry.Lock()
	defer registry.Unlock()
	if registry.builtins == nil {
		registry.builtins = map[string]Builtin{}
	}
	registry.builtins[name] = b
}

// Builtins lists the registered compiled-in filter names, sorted.
func Builtins() []string {
	registry.Lock()
	defer registry.Unlock()
	var names []string
	for n := range registry.builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// EngineFor returns the engine registered for path's extension.
func EngineFor(path string) (Engine, error) {
	ext := strings.ToLower(filepath.Ext(path))
	registry.Lock()
	defer registry.Unlock()
	for i := len(registry.engines) - 1; i >= 0; i-- {
		for _, x := range registry.engines[i].Extensions() {
			if strings.EqualFold(x, ext) {
				return registry.engines[i], nil
			}
		}
	}
	var have []string
	for _, e := range registry.engines {
		have = append(have, e.Name())
	}
	return nil, fmt.Errorf("filter: no engine for %q (extension %q; engines: %s)", path, ext, strings.Join(have, ", "))
}

// LoadFilter loads the filter named path into cfg: "builtin:<name>" for a
// compiled-in filter, "/dev/null" for no filter at all (every callback
// undefined, as mimedefang.pl special-cases it), otherwise a file given to
// the engine registered for its extension.
func LoadFilter(path string, cfg *Config) (*Callbacks, error) {
	if name, ok := strings.CutPrefix(path, BuiltinPrefix); ok {
		registry.Lock()
		b := registry.builtins[name]
		registry.Unlock()
		if b == nil {
			return nil, fmt.Errorf("filter: no built-in filter %q (have: %s)", name, strings.Join(Builtins(), ", "))
		}
		return b(cfg)
	}
	if path == "/dev/null" {
		return &Callbacks{}, nil
	}
	e, err := EngineFor(path)
	if err != nil {
		return nil, err
	}
	cb, err := e.Load(path, cfg)
	if err != nil {
		return nil, err
	}
	if cb == nil {
		cb = &Callbacks{}
	}
	return cb, nil
}

// CheckFilter reports every error of the filter at path: the engine's
// Check when it has one, else the error of Load.
func CheckFilter(path string) []error {
	if strings.HasPrefix(path, BuiltinPrefix) || path == "/dev/null" {
		if _, err := LoadFilter(path, DefaultConfig()); err != nil {
			return []error{err}
		}
		return nil
	}
	e, err := EngineFor(path)
	if err != nil {
		return []error{err}
	}
	if ch, ok := e.(Checker); ok {
		return ch.Check(path)
	}
	if _, err := e.Load(path, DefaultConfig()); err != nil {
		return []error{err}
	}
	return nil
}

func init() {
	RegisterBuiltin("passthrough", func(*Config) (*Callbacks, error) { return &Callbacks{}, nil })
}
