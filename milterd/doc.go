// Package milterd is md-milterd, the MIMEDefang milter: it talks milter to
// the MTA, spools each message into its own working directory, asks the
// multiplexor for the relay, HELO, sender and recipient verdicts and for the
// scan, and turns the RESULTS file into milter actions.
//
// The work is in progress (issue 3): internal/spool writes the working
// directory, internal/results reads RESULTS, internal/mxclient talks to the
// multiplexor. The milter session on go-milter and the bin/md-milterd binary
// come next.
package milterd
