// Package policy is md-milterd's reply policy: what the milter tells the
// MTA about a multiplexor's answer. Decide turns a check reply (relayok,
// helook, senderok, recipok) into a verdict, a custom SMTP reply and a
// delay; SetReply and NewReply turn a filter's code, DSN and text into a
// reply the MTA accepts, as mimedefang.c's set_reply does
// (docs/reference/protocol.md §2.3, §4.1-§4.4).
//
// It is pure: it neither talks to the multiplexor (package mxclient) nor
// reads RESULTS (package results, which uses its SMTPReply), so both can
// use it without depending on each other.
package policy
