// Command testworker is a fault-injection worker for md-multiplexor's tests.
// It speaks the worker side of the server-mode protocol (docs/reference/protocol.md §6): one
// request line on stdin, one reply line on stdout, written in a single
// write. The command word selects a behaviour, good or bad, so that a test
// can make one worker crash, hang, leak, or write garbage while the others
// keep serving.
//
// It is not a MIMEDefang filter: it never reads a spool directory, and it is
// not built into any product binary.
//
// Usage:
//
//	testworker [-f filter] -server|-serveru
//	testworker [-f filter] -test   (the filter is broken if it has a line "SYNTAX ERROR")
//
// Commands (the first word is percent-decoded and lower-cased, as
// mimedefang.pl does):
//
//	ping                 PONG
//	map NAME KEY         OK pct(NAME:KEY); NOTFOUND for the map "missing";
//	                     the map "crash" crashes
//	echo X...            ok X... (the rest of the line, as sent)
//	pid                  ok <pid of this process>
//	sleep MS             sleeps MS milliseconds, then ok slept
//	crash [MS]           sleeps MS milliseconds (default 0), then exits with
//	                     status 3 and no reply
//	quit                 replies ok bye <pid>, then exits 0 at once
//	hang                 never replies (sleeps forever)
//	long N               ok followed by N bytes of x: a reply line too long
//	grow MB              allocates and touches MB megabytes, then ok grew
//	garbage [MS]         sleeps MS milliseconds (default 0), writes ok garbage,
//	                     then at once an unsolicited line garbage!!
//	twolines [MS]        sleeps MS milliseconds, then writes ok twolines and a
//	                     second line garbage!! in one single write
//	half [exit]          writes "ok hal" with no newline, then sleeps forever
//	                     (with exit: exits with status 3 instead)
//	ignoreeof [term]     on stdin EOF sleep forever instead of exiting; with
//	                     term also ignore SIGTERM; replies ok ignoring
//	stderr TEXT...       writes TEXT to stderr, replies ok
//	status TAG [MS]      (-serveru only) writes pct(TAG) to fd 3, sleeps MS
//	                     milliseconds (so the tag can be seen while busy),
//	                     replies ok
//	relayok, helook, senderok, recipok ...
//	                     ok 1 ok 250 2.1.0 0; a recipok whose recipient's
//	                     local part is slowMS (<slow1500@example.com>)
//	                     first sleeps MS milliseconds
//	scan QID DIR         CRASH, HANG, GARBAGE or HALF as QID behave like the
//	                     commands above; any other QID: ok
//	tick N               tock N
//	anything else        error: Unknown command
//
// Wherever a command takes MS, "gate:PATH" instead waits until the file PATH
// exists (see sleepMS).
//
// On EOF on stdin it exits 0, unless ignoreeof was given.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mdgo/md/proto"
)

// ballast keeps what grow allocated reachable, so that it really stays
// allocated until the process exits.
var ballast [][]byte

// testFilter is mimedefang.pl's -test: a filter file that contains the
// line "SYNTAX ERROR" is broken; any other (or none) is fine.
func testFilter(path string) int {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "testworker: %v\n", err)
			return 1
		}
		for i, line := range strings.Split(string(b), "\n") {
			if line == "SYNTAX ERROR" {
				fmt.Fprintf(os.Stderr, "syntax error at %s line %d\n", path, i+1)
				return 255
			}
		}
	}
	fmt.Printf("Filter %s seems syntactically correct.\n", path)
	return 0
}

type worker struct {
	status    *os.File // fd 3 in -serveru mode, else nil
	ignoreEOF bool
}

func main() {
	args := os.Args[1:]
	filter := ""
	if len(args) >= 3 && args[0] == "-f" {
		filter, args = args[1], args[2:]
	}
	if len(args) == 1 && args[0] == "-test" {
		os.Exit(testFilter(filter))
	}
	if len(args) != 1 || (args[0] != "-server" && args[0] != "-serveru") {
		fmt.Fprintln(os.Stderr, "usage: testworker [-f filter] -server|-serveru|-test")
		os.Exit(1)
	}
	w := &worker{}
	if args[0] == "-serveru" {
		w.status = os.NewFile(3, "status")
	}
	r := bufio.NewReader(os.Stdin)
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			w.handle(strings.TrimSuffix(line, "\n"))
		}
		if err != nil {
			if err != io.EOF {
				fmt.Fprintf(os.Stderr, "testworker: reading stdin: %v\n", err)
			}
			if w.ignoreEOF {
				sleepForever()
			}
			os.Exit(0)
		}
	}
}

// reply writes one line in a single write(2).
func reply(s string) {
	os.Stdout.Write([]byte(s + "\n"))
}

func sleepForever() {
	for {
		time.Sleep(time.Hour)
	}
}

// sleepMS waits before a reply: MS milliseconds, or, for an argument
// "gate:PATH", until the file PATH exists (checked every 10 ms, for at most
// two minutes), so that a test can hold a worker busy exactly as long as it
// needs to set up what happens meanwhile, however loaded the machine is.
func sleepMS(s string) {
	if path, ok := strings.CutPrefix(s, "gate:"); ok {
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if _, err := os.Stat(path); err == nil {
				return
			}
		}
		return
	}
	if ms, err := strconv.Atoi(s); err == nil && ms > 0 {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
}

func (w *worker) handle(line string) {
	raw := strings.Fields(line)
	if len(raw) == 0 {
		reply("error: Unknown command")
		return
	}
	words := make([]string, len(raw))
	for i, f := range raw {
		words[i] = proto.Decode(f)
	}
	cmd := strings.ToLower(words[0])
	arg := func(i int) string {
		if i < len(words) {
			return words[i]
		}
		return ""
	}
	// rest is the line after the command word, as sent (still encoded).
	rest := strings.TrimLeft(strings.TrimPrefix(strings.TrimLeft(line, " \t"), raw[0]), " \t")

	switch cmd {
	case "ping":
		reply("PONG")
	case "echo":
		reply("ok " + rest)
	case "pid":
		reply("ok " + strconv.Itoa(os.Getpid()))
	case "sleep":
		sleepMS(arg(1))
		reply("ok slept")
	case "garbage":
		sleepMS(arg(1))
		w.fault(cmd)
	case "twolines":
		sleepMS(arg(1))
		os.Stdout.Write([]byte("ok twolines\ngarbage!!\n"))
	case "crash":
		sleepMS(arg(1))
		w.fault(cmd)
	case "half":
		if strings.EqualFold(arg(1), "exit") {
			os.Stdout.Write([]byte("ok hal"))
			os.Exit(3)
		}
		w.fault(cmd)
	case "hang":
		w.fault(cmd)
	case "quit":
		// quit [MS]: answer, then exit, after MS milliseconds without
		// reading another request (a worker that retires itself).
		reply("ok bye " + strconv.Itoa(os.Getpid()))
		sleepMS(arg(1))
		os.Exit(0)
	case "long":
		n, _ := strconv.Atoi(arg(1))
		reply("ok " + strings.Repeat("x", max(n, 0)))
	case "grow":
		mb, _ := strconv.Atoi(arg(1))
		for i := 0; i < mb; i++ {
			b := make([]byte, 1<<20)
			for j := 0; j < len(b); j += 4096 {
				b[j] = 1
			}
			ballast = append(ballast, b)
		}
		reply("ok grew")
	case "ignoreeof":
		w.ignoreEOF = true
		if strings.EqualFold(arg(1), "term") {
			signal.Ignore(syscall.SIGTERM)
		}
		reply("ok ignoring")
	case "stderr":
		os.Stderr.Write([]byte(proto.Decode(rest) + "\n"))
		reply("ok")
	case "status":
		if w.status == nil {
			reply("error: no status descriptor (not -serveru)")
			return
		}
		w.status.Write([]byte(proto.Encode(arg(1)) + "\n"))
		sleepMS(arg(2))
		reply("ok")
	case "relayok", "helook", "senderok", "recipok":
		if cmd == "recipok" {
			local, _, _ := strings.Cut(strings.TrimPrefix(arg(1), "<"), "@")
			if ms, ok := strings.CutPrefix(strings.ToLower(local), "slow"); ok {
				sleepMS(ms)
			}
		}
		reply("ok 1 ok 250 2.1.0 0")
	case "scan":
		switch q := strings.ToUpper(arg(1)); q {
		case "CRASH", "HANG", "GARBAGE", "HALF":
			w.fault(strings.ToLower(q))
		default:
			reply("ok")
		}
	case "tick":
		reply("tock " + arg(1))
	case "map":
		// map NAME KEY: a SOCKETMAP lookup. The map "missing" finds nothing,
		// the map "crash" crashes, every other map answers OK <name>:<key>.
		switch arg(1) {
		case "missing":
			reply("NOTFOUND ")
		case "crash":
			w.fault("crash")
		default:
			reply("OK " + proto.Encode(arg(1)+":"+arg(2)))
		}
	default:
		reply("error: Unknown command")
	}
}

// fault misbehaves in one of the ways a broken filter does.
func (w *worker) fault(kind string) {
	switch kind {
	case "crash":
		os.Exit(3)
	case "hang":
		sleepForever()
	case "garbage":
		reply("ok garbage")
		reply("garbage!!")
	case "half":
		os.Stdout.Write([]byte("ok hal"))
		sleepForever()
	}
}
