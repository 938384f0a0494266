//go:build !linux

package mxctrl

import (
	"net"
	"os"
	"syscall"
)

// unixConnect connects to the UNIX-domain socket at path. Outside Linux it
// goes through package net, so very long paths and a leading '@' may give
// other errors than the original's.
func unixConnect(path string) (int, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return -1, &TransportError{Op: "connect", Errno: errnoOf(err)}
	}
	f, err := c.File()
	c.Close()
	if err != nil {
		return -1, &TransportError{Op: "socket", Errno: errnoOf(err)}
	}
	fd, err := syscall.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		return -1, &TransportError{Op: "socket", Errno: errnoOf(err)}
	}
	return fd, nil
}

// DieOfSIGPIPE ends the process as if killed by SIGPIPE. Outside Linux it
// simply exits with status 141, what a shell reports for that signal.
func DieOfSIGPIPE() { os.Exit(128 + int(syscall.SIGPIPE)) }
