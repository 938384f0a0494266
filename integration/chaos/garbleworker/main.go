// Command garbleworker is the faulty worker of the chaos campaign
// (integration/chaos): md-multiplexor runs it as its worker program, and it
// runs the real md-worker ($CHAOS_MD_WORKER) with the same arguments,
// standard input, standard error and extra descriptors (the -Z status pipe,
// $MD_CALLS_FD), passing md-worker's replies on line by line.
//
// While the file $CHAOS_GARBLE_FLAG exists, a server-mode worker (-server,
// -serveru) spoils one reply in $CHAOS_GARBLE_EVERY (default 4) instead of
// passing it on, in one of three ways, chosen at random:
//
//   - garbage: a line of bytes that is no reply (NULs, 8-bit, a '%' that
//     starts no escape), after which it goes on serving;
//   - half:    the first half of the reply without its line end, then exit;
//   - hang:    the first half of the reply, then silence until killed.
//
// Each spoiled reply is logged on standard error ("garbleworker: ..."),
// which md-multiplexor -l logs, so that the campaign can count them.
package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

func main() {
	real := os.Getenv("CHAOS_MD_WORKER")
	if real == "" {
		fmt.Fprintln(os.Stderr, "garbleworker: $CHAOS_MD_WORKER (the md-worker to run) is not set")
		os.Exit(2)
	}
	// The descriptors md-multiplexor passed beyond stderr, before this
	// program opens any of its own.
	var extra []*os.File
	for fd := 3; fd < 10; fd++ {
		var st syscall.Stat_t
		if syscall.Fstat(fd, &st) != nil {
			extra = append(extra, nil)
			continue
		}
		extra = append(extra, os.NewFile(uintptr(fd), "fd"+strconv.Itoa(fd)))
	}
	for len(extra) > 0 && extra[len(extra)-1] == nil {
		extra = extra[:len(extra)-1]
	}

	cmd := exec.Command(real, os.Args[1:]...)
	cmd.Stdin, cmd.Stderr, cmd.ExtraFiles = os.Stdin, os.Stderr, extra
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "garbleworker:", err)
		os.Exit(2)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "garbleworker:", err)
		os.Exit(2)
	}
	server := false
	for _, a := range os.Args[1:] {
		server = server || a == "-server" || a == "-serveru"
	}
	every := 4
	if n, err := strconv.Atoi(os.Getenv("CHAOS_GARBLE_EVERY")); err == nil && n > 0 {
		every = n
	}
	flag := os.Getenv("CHAOS_GARBLE_FLAG")

	r := bufio.NewReaderSize(out, 1<<20)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			if server && flag != "" && exists(flag) && rand.IntN(every) == 0 {
				spoil(cmd, line)
			} else if _, werr := os.Stdout.Write(line); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if err := cmd.Wait(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			os.Exit(ee.ExitCode())
		}
		os.Exit(1)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// spoil writes a spoiled version of reply instead of it.
func spoil(cmd *exec.Cmd, reply []byte) {
	half := reply[:len(reply)/2]
	switch rand.IntN(3) {
	case 0:
		fmt.Fprintf(os.Stderr, "garbleworker: garbage instead of a %d-byte reply\n", len(reply))
		os.Stdout.Write([]byte("\x00\xff\xfe garbage %zz \x01\x02 not a reply\n"))
	case 1:
		fmt.Fprintf(os.Stderr, "garbleworker: half a reply (%d of %d bytes), then exit\n", len(half), len(reply))
		os.Stdout.Write(half)
		_ = cmd.Process.Kill()
		os.Exit(3)
	default:
		fmt.Fprintf(os.Stderr, "garbleworker: half a reply (%d of %d bytes), then hang\n", len(half), len(reply))
		os.Stdout.Write(half)
		for {
			time.Sleep(time.Hour)
		}
	}
}
