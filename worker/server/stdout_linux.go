//go:build linux

package server

import (
	"os"
	"syscall"
)

// guardStdout keeps the reply stream for the worker alone: it returns a
// new descriptor for the original stdout and points fd 1 at stderr, so
// that anything a filter prints by mistake goes to the log instead of
// putting the multiplexor's stream out of step.
func guardStdout() *os.File {
	fd, err := syscall.Dup(1)
	if err != nil {
		return os.Stdout
	}
	if err := syscall.Dup3(2, 1, 0); err != nil {
		syscall.Close(fd)
		return os.Stdout
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), "replies")
}
