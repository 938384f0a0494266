//go:build !linux

package server

import "os"

// guardStdout returns stdout unchanged where fd 1 cannot be redirected.
func guardStdout() *os.File { return os.Stdout }
