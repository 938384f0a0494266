// Package spool writes the per-message working directory that md-milterd
// shares with the multiplexor's workers (docs/reference/protocol.md §5): its name and
// permissions, the INPUTMSG, HEADERS and COMMANDS files, byte for byte as the
// original C milter `mimedefang` writes them, and its removal.
//
// The package is driven by plain data, not by a milter library: the milter
// session calls Create at MAIL FROM with a MailFrom value, then
// AddRecipient, Header, EndOfHeaders, Body and Finish as the callbacks
// arrive, and Cleanup (or Remove) when the message is done. The message is
// streamed to disk as it arrives and never held in memory.
//
// What it is not for: talking to the multiplexor, reading RESULTS or NEWBODY
// (the worker writes those), or deciding when a callback must tempfail. Every
// method returns an error for a failed file operation; the caller turns it
// into a temporary SMTP failure, as the original does.
//
// Deliberate difference: at header fold points a CR before LF is dropped (the
// behaviour of MIMEDefang since commit 977f1a8); Debian's 3.3 keeps it, which
// Options.KeepFoldCR restores.
package spool
