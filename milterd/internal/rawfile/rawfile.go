// Package rawfile opens and removes the files of a message's working
// directory with the fewest system calls: md-milterd does this for every
// message, and on a busy MTA the kernel's share of its CPU is most of it.
//
// os.OpenFile on Linux tries to register every file it opens with the
// runtime's network poller: two fcntl calls to make the descriptor
// non-blocking, an epoll_ctl that fails with EPERM for a regular file, and
// two fcntl calls to make it blocking again. Open here opens the file
// blocking and hands it to os.NewFile, which only asks for its flags (one
// fcntl) and leaves it out of the poller, as the files of a working
// directory (always regular files, on a local file system) should be.
//
// os.RemoveAll first tries to unlink the directory as a file and to rmdir
// it while it still has entries (two failing calls), opens its parent
// through the poller path above, and tries to unlink every subdirectory as
// a file before it descends. RemoveAll here opens the directory itself,
// reads its entries with their types and removes each in one call.
package rawfile

import (
	"encoding/binary"
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Open opens path with flag (os.O_* values; O_CLOEXEC is always added) and,
// when it creates the file, perm (before the umask), like os.OpenFile, and
// returns an *os.File that is not registered with the network poller. The
// error is an *os.PathError, as os.OpenFile's.
func Open(path string, flag int, perm os.FileMode) (*os.File, error) {
	var fd int
	var err error
	for {
		fd, err = unix.Open(path, flag|unix.O_CLOEXEC, uint32(perm.Perm()))
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// RemoveAll removes path and everything below it without following
// symbolic links, like os.RemoveAll: a path that does not exist is not an
// error, and a path that is not a directory is unlinked. It returns the
// first error met, after removing everything it could.
func RemoveAll(path string) error {
	if path == "" || path == "." || path == ".." {
		return &os.PathError{Op: "RemoveAll", Path: path, Err: unix.EINVAL}
	}
	fd, err := openDir(unix.AT_FDCWD, path)
	switch err {
	case nil:
	case unix.ENOENT:
		return nil
	case unix.ENOTDIR, unix.ELOOP: // a file, or a symbolic link
		if err := unix.Unlink(path); err != nil && err != unix.ENOENT {
			return &os.PathError{Op: "unlink", Path: path, Err: err}
		}
		return nil
	default:
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	first := removeEntries(fd, path)
	unix.Close(fd)
	if err := unix.Rmdir(path); err != nil && err != unix.ENOENT && first == nil {
		first = &os.PathError{Op: "rmdir", Path: path, Err: err}
	}
	return first
}

func openDir(dirfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

type entry struct {
	name string
	dir  bool // DT_DIR; anything else is unlinked first, and descended into if that fails with EISDIR
}

// removeEntries removes everything inside the open directory fd (named
// path, for errors). It reads all entries before removing any, so that
// removal cannot disturb the directory stream.
func removeEntries(fd int, path string) error {
	ents, err := readEntries(fd)
	if err != nil {
		return &os.PathError{Op: "getdents", Path: path, Err: err}
	}
	var first error
	keep := func(err error) {
		if first == nil {
			first = err
		}
	}
	for _, e := range ents {
		sub := path + "/" + e.name
		if !e.dir {
			err := unix.Unlinkat(fd, e.name, 0)
			if err == nil || err == unix.ENOENT {
				continue
			}
			if err != unix.EISDIR && err != unix.EPERM {
				keep(&os.PathError{Op: "unlinkat", Path: sub, Err: err})
				continue
			}
			// A directory after all (or an unlink refused for one).
		}
		cfd, err := openDir(fd, e.name)
		if err == unix.ENOENT {
			continue
		}
		if err != nil {
			keep(&os.PathError{Op: "openat", Path: sub, Err: err})
			continue
		}
		if err := removeEntries(cfd, sub); err != nil {
			keep(err)
		}
		unix.Close(cfd)
		if err := unix.Unlinkat(fd, e.name, unix.AT_REMOVEDIR); err != nil && err != unix.ENOENT {
			keep(&os.PathError{Op: "unlinkat", Path: sub, Err: err})
		}
	}
	return first
}

// readEntries returns the entries of the open directory fd but "." and "..".
func readEntries(fd int) ([]entry, error) {
	var ents []entry
	buf := make([]byte, 4096)
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return ents, err
		}
		if n <= 0 {
			return ents, nil
		}
		b := buf[:n]
		for len(b) > 0 {
			// struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16,
			// d_type u8, d_name NUL-terminated.
			if len(b) < 19 {
				return ents, errors.New("short directory entry")
			}
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return ents, errors.New("bad directory entry length")
			}
			typ := b[18]
			name := b[19:reclen]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			b = b[reclen:]
			if s := string(name); s != "." && s != ".." {
				ents = append(ents, entry{name: s, dir: typ == unix.DT_DIR})
			}
		}
	}
}
