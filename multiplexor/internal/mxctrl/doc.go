// Package mxctrl is md-mx-ctrl: the command-line client of the multiplexor's
// control socket, output-compatible with md-mx-ctrl 3.3 from MIMEDefang.
//
// It turns the words of a command line into one percent-encoded request,
// sends it over a UNIX-domain socket (one command per connection), and prints
// the reply either unchanged, percent-decoded, or reformatted for people
// (status, barstatus, load*, hload*, load1) and for programs (jsonstatus,
// jsonload1). The byte formats are in docs/reference/protocol.md §9; where the
// original behaves in a way that section does not spell out (GNU getopt
// argument permutation, C-string truncation at NUL bytes, sscanf parsing of
// malformed replies, float bar arithmetic), this package copies the original,
// because scripts such as watch-mimedefang and munin parse its output.
//
// What it is not: it is not a multiplexor client library. The request and
// reply formats belong to package proto, and the multiplexor's side of the
// control socket belongs to the multiplexor. Nothing here retries, times out
// or reconnects: like the original it waits for the reply until EOF.
//
// Entry point: Controller.Main, with ForProcess for a real process.
package mxctrl
