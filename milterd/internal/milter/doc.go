// Package milter is md-milterd's milter session: one go-milter Milter per MTA
// connection, doing what the original C milter `mimedefang` does at each
// SMTP stage (docs/reference/protocol.md §4): the connect-time admission and relay checks,
// the HELO, sender and recipient checks through the multiplexor, the
// working directory written as the message streams in (package spool), the
// scan at end of message and the RESULTS file applied through go-milter's
// Modifier (package results), then the directory's removal (§5.7).
//
// Every failure — the multiplexor down or answering an error, a spool
// write error, an unreadable RESULTS file, a panic in a callback — is a
// temporary failure with a log line naming the queue ID. Unscanned mail is
// never accepted.
//
// go-milter is kept behind this package: the rest of md-milterd only sees
// Config, NewServer and Metrics (the Prometheus instrumentation, on a
// registry of its own, that --metrics-listen serves; metrics.go lists the
// series).
//
// Deliberate differences from the original:
//
//   - no-reply (SMFIP_NR_*) is negotiated for every stage without a
//     configured check (the original asks for none): header, end of
//     headers, body, DATA and unknown commands always; connect without -r
//     and with -q; HELO without -H; MAIL without -s; RCPT without -t. A
//     failure at such a stage (say, the working directory cannot be
//     created at MAIL FROM) is answered with a tempfail at the next stage
//     that replies, end of message at the latest;
//   - the macro list of §13.5 is always requested from the MTA, as the
//     original does only with -y. With Postfix this adds =daemon_port (and
//     whatever else the MTA did not send by default) to COMMANDS;
//   - the actions and protocol flags the MTA does not offer are dropped
//     instead of refusing the connection;
//   - -T logs the whole filter time in milliseconds (the original logs the
//     sub-second part only, §14);
//   - with -k, every filter failure RESULTS reports keeps the directory
//     (the original keeps it only when RESULTS is missing, §14 item 28);
//   - a message without an F line in RESULTS has its directory removed at
//     once rather than at the next MAIL FROM, abort or close.
package milter
