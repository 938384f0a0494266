// Package mux is md-multiplexor: the pool of worker processes behind the
// milter, wire-compatible with mimedefang-multiplexor.
//
// It owns the workers (starts, feeds, times, limits, recycles and kills them),
// queues requests when every worker is busy, answers the control sockets,
// the SOCKETMAP and notification sockets, and exports Prometheus metrics. It
// knows nothing about MIME: a request is one line in and one line out.
//
// Concurrency: one mutex (Server.mu) guards all pool state. Each worker has
// its own goroutines reading its stdout, stderr and status descriptor, so a
// worker that writes half a line or stops reading blocks only itself; each
// client connection has its own goroutine. Nothing blocks while holding mu
// except fork/exec of a worker.
//
// The byte-level reference is docs/reference/protocol.md §6 to §10.
package mux
