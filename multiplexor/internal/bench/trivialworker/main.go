// Command trivialworker is the cheapest worker a multiplexor can run: it
// speaks the server-mode protocol of mimedefang.pl (docs/reference/protocol.md §6.3, §6.4) and
// nothing else, so that a benchmark measures the multiplexor, not a filter.
//
// Usage: trivialworker [-f FILTER] -server|-serveru
//
// It reads request lines on stdin and answers each with one line, in one
// write(2), on stdout:
//
//	relayok, helook, senderok, recipok  ->  ok 1 ok 250 2.1.0 0
//	scan                                ->  ok
//	ping                                ->  PONG
//	anything else                       ->  error: Unknown command
//
// It exits 0 on EOF. The -f filter is accepted and ignored; with -serveru it
// writes no status tags on fd 3. It is not a test double for failure cases:
// it never crashes, hangs or writes garbage.
package main

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
)

var (
	replyCheck   = []byte("ok 1 ok 250 2.1.0 0\n")
	replyScan    = []byte("ok\n")
	replyPing    = []byte("PONG\n")
	replyUnknown = []byte("error: Unknown command\n")
)

// answer returns the reply to one request line (without its "\n").
func answer(line []byte) []byte {
	cmd := line
	if i := bytes.IndexByte(line, ' '); i >= 0 {
		cmd = line[:i]
	}
	switch string(cmd) { // no allocation: the compiler compares in place
	case "relayok", "helook", "senderok", "recipok":
		return replyCheck
	case "scan":
		return replyScan
	case "ping":
		return replyPing
	}
	return replyUnknown
}

func main() {
	args := os.Args[1:]
	mode := ""
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-f":
			i++ // the filter file: accepted, ignored
			if i == len(args) {
				usage()
			}
		case "-server", "-serveru":
			mode = args[i]
		default:
			usage()
		}
	}
	if mode == "" {
		usage()
	}
	os.Exit(serve())
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: trivialworker [-f FILTER] -server|-serveru")
	os.Exit(2)
}

// serve answers requests on fd 0 until EOF, with plain blocking read(2) and
// write(2) on the descriptors the multiplexor handed over: no runtime poller,
// no buffering beyond one 64 KiB read buffer.
func serve() int {
	// The descriptors should arrive blocking; make sure, since a stray
	// O_NONBLOCK would turn every read into EAGAIN.
	syscall.SetNonblock(0, false)
	syscall.SetNonblock(1, false)
	buf := make([]byte, 64<<10)
	have := 0 // bytes of an unfinished line at the start of buf
	for {
		if have == len(buf) {
			// A line longer than the buffer: answer it as unknown and drop it.
			if err := writeAll(replyUnknown); err != nil {
				return 1
			}
			have = 0
		}
		n, err := syscall.Read(0, buf[have:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "trivialworker: read: %v\n", err)
			return 1
		}
		if n == 0 {
			return 0
		}
		data := buf[:have+n]
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break
			}
			if err := writeAll(answer(data[:i])); err != nil {
				fmt.Fprintf(os.Stderr, "trivialworker: write: %v\n", err)
				return 1
			}
			data = data[i+1:]
		}
		have = copy(buf, data)
	}
}

func writeAll(b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Write(1, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
