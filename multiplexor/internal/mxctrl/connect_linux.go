package mxctrl

import (
	"syscall"
	"unsafe"
)

// unixConnect opens a stream socket and connects it to path the way the
// original does: strncpy into sun_path (so at most 107 bytes, and "" or a
// leading '@' are not special to this code), and connect with the size of
// the whole sockaddr_un. Go's net package would refuse long paths and treat
// '@' as an abstract name, which changes the error messages.
func unixConnect(path string) (int, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, &TransportError{Op: "socket", Errno: errnoOf(err)}
	}
	var sa syscall.RawSockaddrUnix
	sa.Family = syscall.AF_UNIX
	for i := 0; i < len(path) && i < len(sa.Path)-1 && path[i] != 0; i++ {
		sa.Path[i] = int8(path[i])
	}
	_, _, e := syscall.Syscall(syscall.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	if e != 0 {
		syscall.Close(fd)
		return -1, &TransportError{Op: "connect", Errno: e}
	}
	return fd, nil
}

// DieOfSIGPIPE ends the process the way the original ends when it writes to
// a multiplexor that has closed the connection: killed by SIGPIPE, without
// flushing anything. The Go runtime catches SIGPIPE, so the default action
// is put back first. It returns only if the signal did not kill the process.
func DieOfSIGPIPE() {
	// struct sigaction with every field zero: handler SIG_DFL, no flags,
	// empty mask. All-zero is the same in every architecture's layout.
	var act [4]uint64
	syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(syscall.SIGPIPE),
		uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
	syscall.Kill(syscall.Getpid(), syscall.SIGPIPE)
	for i := 0; i < 100; i++ {
		var ts = syscall.Timespec{Nsec: 10_000_000}
		syscall.Nanosleep(&ts, nil)
	}
}
