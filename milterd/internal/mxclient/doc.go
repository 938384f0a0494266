// Package mxclient is md-milterd's side of the milter → multiplexor request
// protocol (docs/reference/protocol.md §3): one UNIX-socket connection per request, the
// request line written in one go, the reply read until the multiplexor
// closes the connection.
//
// What the milter tells the MTA about a reply is package policy's business.
//
// What it keeps from the original (utils.c: MXCommand and its callers):
//
//   - at most MaxReply (16382) bytes of a reply are kept; the rest is read
//     and thrown away, and the truncation is reported;
//   - every failure — socket, connect, write, read, an unusable reply — is a
//     temporary failure: each is returned as an *Error, and IsTempFail is
//     true for all of them. A caller never accepts mail on an error;
//   - the request lines are the typed requests of package proto, so the
//     bytes on the wire are those of the original (checked against the
//     golden transcripts in the tests).
//
// What it adds: a deadline. The original blocks without limit in connect,
// write and read and relies on the multiplexor's timeouts; a Client gives up
// after Timeout (DefaultTimeout when zero) or when its context ends, and
// that too is a temporary failure.
//
// It is not a multiplexor client for the control commands (md-mx-ctrl's
// job), and it knows nothing about go-milter: the session turns the reply,
// through package policy, into go-milter responses.
package mxclient
