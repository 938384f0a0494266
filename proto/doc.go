// Package proto holds every wire format that crosses a process boundary in
// MIMEDefang: the two percent-encodings, word splitting, the request lines the
// milter sends to the multiplexor, the lines the multiplexor sends to workers,
// and the replies that come back.
//
// It is dependency-free and allocation-light, because both md-milterd and
// md-multiplexor sit on the hot path of every SMTP transaction. It knows
// nothing about sockets, processes or MIME: callers frame lines, this package
// gives them meaning.
//
// The byte-level reference is docs/reference/protocol.md §2, §3, §6 and §8.
package proto
