// Package harness starts a private mail stack for end-to-end tests: a
// MIMEDefang multiplexor (the original mimedefang-multiplexor or our
// md-multiplexor), the original mimedefang milter, and a Postfix instance
// with its own configuration and queue directories, all under one temporary
// directory that belongs to the test.
//
// Every function takes the *testing.T of the test that owns the resources.
// Nothing is shared between tests: each test gets its own directory, its own
// free ports on 127.0.0.1, its own spool and its own Postfix master. Every
// process the harness starts is stopped in t.Cleanup by its process ID
// (SIGTERM, then SIGKILL after StopTimeout), the Postfix instance is stopped
// with `postfix -c DIR stop` and waited for, and the directory is removed
// (set MD_KEEP_TMP=1 to keep it for inspection). A test process that dies
// without running its cleanups (a go test -timeout panic) leaves daemons
// behind: the next NewTestDir reaps them. When the test has failed,
// the cleanup writes each daemon's stdout/stderr and the Postfix log into the
// test log.
//
// A component that is missing makes the test fail with the command that
// installs it; the harness never skips. The tests must run as root: Postfix
// and the MIMEDefang daemons start as root and drop privileges themselves
// (the daemons to the defang user, given with -U).
//
// The harness is not a general-purpose SMTP library: SendMail is a small,
// strict client that records a transcript and the server's replies so that
// tests can assert on exact reply lines.
package harness
