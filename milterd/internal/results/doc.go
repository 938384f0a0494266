// Package results reads the RESULTS file a worker leaves in the working
// directory and turns it into a Plan: the final disposition of the message
// (accept, reject, tempfail, discard) and the ordered list of milter
// modifications (headers, recipients, sender, body, quarantine), exactly
// as the original milter reads and applies it at end of message
// (mimedefang.c: eom; docs/reference/protocol.md §5.4-§5.6 and the quirks of §14).
//
// It does not talk to the MTA. A Plan is applied by the milter session,
// through go-milter's Modifier, in order: every Action, then the
// Disposition. Applying it that way reproduces the original's calls to
// smfi_addheader, smfi_chgheader, smfi_replacebody and friends one for one.
//
// What is reproduced, on purpose:
//
//   - the limits: a file over MaxSize (65535) bytes is a tempfail, a line of
//     more than MaxLine (16382) bytes rejects the message with "554 5.4.0
//     Overlong line in RESULTS file" (the lines before it still count);
//   - the two passes: a line starting with B, T or D anywhere in the file —
//     even after the F line — sets Rejecting, which suppresses every
//     modification (but not Q, quarantine) and X-Scanned-By; the message is
//     still accepted when the B, T or D line comes after F (§14 item 27);
//   - a file without an F line is a tempfail with the MTA's default text;
//   - unknown letters, empty lines and lines missing a field are skipped
//     (and noted), never fatal;
//   - arguments are percent-decoded as C strings: a decoded NUL byte ends
//     the argument, and a NUL byte in the file ends the file;
//   - header indexes are read with sscanf("%d") and clamped as the original
//     does; CRs are removed from H, N and I values but not from others.
//
// It is not the writer of RESULTS (the worker's job) and it does not read
// NEWBODY: a ReplaceBody action names the file, and Load only checks, as the
// original does when it reaches the C line, that it can be opened.
package results
