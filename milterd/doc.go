// Package milterd is md-milterd, the MIMEDefang milter: it talks milter to
// the MTA, spools each message into its own working directory, asks the
// multiplexor for the relay, HELO, sender and recipient verdicts and for the
// scan, and turns the RESULTS file into milter actions.
//
// The binary is cmd/md-milterd. internal/milter is the session on go-milter,
// internal/spool writes the working directory, internal/results reads
// RESULTS, internal/mxclient talks to the multiplexor.
package milterd
