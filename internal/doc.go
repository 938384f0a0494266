// Package internal is the root of the code that several of the project's
// modules share and that nothing outside this repository may import (Go's
// internal rule applies across modules: only import paths under
// github.com/mdgo/md/ can import github.com/mdgo/md/internal/...). Each
// module that uses it requires github.com/mdgo/md/internal with a replace
// directive to ../internal.
package internal
