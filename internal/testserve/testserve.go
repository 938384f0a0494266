// Package testserve runs the tests' stand-ins for the far end of a socket
// (a multiplexor, a clamd answering garbage or nothing at all): it accepts
// connections and serves each in a goroutine of its own until the test
// ends. It is for tests only.
package testserve

import (
	"net"
	"sync"
	"testing"
)

// Serve accepts connections on ln and runs handle on each in a goroutine
// of its own, closing the connection when handle returns. When the test
// ends it closes ln and waits for every handler to return; a handler that
// blocks must be released by a cleanup registered after Serve (cleanups
// run last registered first).
func Serve(tb testing.TB, ln net.Listener, handle func(net.Conn)) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
}
