// Command mxload is a load generator for a MIMEDefang multiplexor's control
// socket: it plays many milter threads sending relay checks at once.
//
// Usage:
//
//	mxload -socket PATH [-c N] (-n TOTAL | -d DURATION) [-warmup DURATION]
//
// Each of the -c clients loops: open a new UNIX-domain connection, write the
// golden relay check
//
//	relayok 127.0.0.1 localhost 33178 127.0.0.1 0 NOQUEUE\n
//
// read the reply to EOF, and check that it is exactly "ok 1 ok 250 2.1.0 0\n"
// (anything else, or any socket error, counts as an error). This is what the
// milter's MXCommand does (docs/reference/protocol.md §3.1), with the same blocking system
// calls, so a full listen backlog makes connect wait rather than fail.
//
// After the warm-up (requests that are not counted) it runs for -d, or until
// -n requests have completed, and prints one line:
//
//	rps=<f> p50_ms=<f> p99_ms=<f> n=<n> errors=<n>
//
// n counts every request made, errors included; rps and the latencies count
// only the successful ones (a fast "error: No free workers" must not look
// like throughput). A latency runs from before socket(2) to after close(2).
// The exit status is 1 when any request failed.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mdgo/md/internal/loadstat"
)

var (
	request = []byte("relayok 127.0.0.1 localhost 33178 127.0.0.1 0 NOQUEUE\n")
	want    = []byte("ok 1 ok 250 2.1.0 0\n")
)

func main() {
	socket := flag.String("socket", "", "the multiplexor's control socket (-s)")
	conc := flag.Int("c", 1, "concurrent clients")
	total := flag.Int64("n", 0, "total requests to measure (0: use -d)")
	dur := flag.Duration("d", 0, "how long to measure (when -n is 0)")
	warmup := flag.Duration("warmup", 0, "run this long before measuring, not counted")
	verbose := flag.Bool("v", false, "print the first error's detail to stderr")
	flag.Parse()
	if *socket == "" || *conc < 1 || (*total <= 0) == (*dur <= 0) || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: mxload -socket PATH [-c N] (-n TOTAL | -d DURATION) [-warmup DURATION]")
		os.Exit(2)
	}
	addr := &syscall.SockaddrUnix{Name: *socket}
	if *warmup > 0 {
		run(addr, *conc, 0, *warmup, nil)
	}
	var firstErr atomic.Pointer[string]
	res := run(addr, *conc, *total, *dur, &firstErr)
	fmt.Printf("rps=%.1f p50_ms=%.3f p99_ms=%.3f n=%d errors=%d\n",
		float64(len(res.lat))/res.elapsed.Seconds(), loadstat.Millis(loadstat.Percentile(res.lat, 50)), loadstat.Millis(loadstat.Percentile(res.lat, 99)), res.n, res.errors)
	if res.errors > 0 {
		if *verbose {
			if e := firstErr.Load(); e != nil {
				fmt.Fprintf(os.Stderr, "mxload: first error: %s\n", *e)
			}
		}
		os.Exit(1)
	}
}

type result struct {
	n, errors int64
	lat       []time.Duration // successful requests only, sorted
	elapsed   time.Duration
}

// run drives conc clients until total requests are taken (total > 0) or d
// has passed, and returns what they measured.
func run(addr *syscall.SockaddrUnix, conc int, total int64, d time.Duration, firstErr *atomic.Pointer[string]) result {
	var (
		taken  atomic.Int64
		stop   atomic.Bool
		errs   atomic.Int64
		wg     sync.WaitGroup
		perLat = make([][]time.Duration, conc)
	)
	start := time.Now()
	if total <= 0 {
		t := time.AfterFunc(d, func() { stop.Store(true) })
		defer t.Stop()
	}
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			buf := make([]byte, 512)
			lat := make([]time.Duration, 0, 1<<14)
			for {
				if total > 0 {
					if taken.Add(1) > total {
						break
					}
				} else if stop.Load() {
					break
				}
				t0 := time.Now()
				err := roundTrip(addr, buf)
				if err != nil {
					errs.Add(1)
					if firstErr != nil {
						s := err.Error()
						firstErr.CompareAndSwap(nil, &s)
					}
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			perLat[i] = lat
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range perLat {
		all = append(all, l...)
	}
	slices.Sort(all)
	return result{n: int64(len(all)) + errs.Load(), errors: errs.Load(), lat: all, elapsed: elapsed}
}

// roundTrip is one request on a new connection, as the milter's MXCommand
// makes it: blocking socket, connect, write, read to EOF, close.
func roundTrip(addr *syscall.SockaddrUnix, buf []byte) error {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer syscall.Close(fd)
	for {
		err = syscall.Connect(fd, addr)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	for b := request; len(b) > 0; {
		n, err := syscall.Write(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		b = b[n:]
	}
	got := 0
	for {
		if got == len(buf) {
			return fmt.Errorf("reply longer than %d bytes: %q", len(buf), buf[:64])
		}
		n, err := syscall.Read(fd, buf[got:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if n == 0 {
			break
		}
		got += n
	}
	if !bytes.Equal(buf[:got], want) {
		return fmt.Errorf("unexpected reply %q", buf[:got])
	}
	return nil
}
