// Package harness starts private mail stacks and daemons for the
// end-to-end tests, and gives every test the same helpers to wait on them.
//
// What it starts, each under one temporary directory that belongs to the
// test (NewTestDir):
//
//   - a MIMEDefang multiplexor, the original mimedefang-multiplexor or our
//     md-multiplexor, with the original mimedefang.pl or any worker
//     (StartMultiplexor), and any other daemon in the foreground
//     (StartProcess: its own process group, its output in a log file);
//   - the milter, the original mimedefang or our md-milterd (StartMilter);
//   - a Postfix instance with its own configuration and queue directories
//     and a mailbox to read delivered mail from (StartPostfix, Messages,
//     WaitForMessage);
//   - Debian's Sendmail 8.17 in a debootstrap chroot built once under
//     $MD_SENDMAIL_ROOT, delivering to an SMTP sink of the harness
//     (StartSendmail, StartSendmailSink);
//   - a systemd booted in a container for the unit-file tests (BootSystemd);
//   - ClamAV's clamd with a configuration of its own (a Unix socket and a
//     TCP port on 127.0.0.1, User clamav) and a signature database that
//     knows only the EICAR test file, assembled at run time (StartClamd,
//     EICAR);
//   - SpamAssassin's spamd with the packaged rules, local tests only (-L),
//     a site configuration of its own, a TCP port on 127.0.0.1 and a Unix
//     socket (StartSpamd), and the GTUBE test string assembled at run time
//     (GTUBE);
//   - rspamd with a top-level configuration of its own, its normal worker
//     on 127.0.0.1, offline, its hyperscan cache (DBDIR) kept under
//     /var/tmp between runs so that a restart is fast (StartRspamd);
//   - Debian's NSD as an authoritative DNS server with the test's own
//     zones on 127.0.0.1 at a free port, which Hang and Resume stop and
//     restart (StartNSD);
//   - a whole stack, MTA + milter + multiplexor, in one call (StartStack),
//     and a strict SMTP client that records a transcript and exact reply
//     lines (SendMail, Send).
//
// Nothing is shared between tests: each test gets its own directory, its own
// free ports on 127.0.0.1 (FreePort, FreePorts), its own spool and its own
// Postfix master. Every process the harness starts is stopped in t.Cleanup
// by its process ID (SIGTERM, then SIGKILL after StopTimeout), its process
// group is waited for, the Postfix instance is stopped with
// `postfix -c DIR stop`, and the directory is removed (set MD_KEEP_TMP=1 to
// keep it). A test may stop a daemon itself (Process.Terminate) to time its
// shutdown. A test process that dies without running its cleanups (a go test
// -timeout panic) leaves daemons behind: the next NewTestDir reaps them.
// When the test has failed, the cleanup writes each daemon's output and the
// Postfix log into the test log.
//
// Waiting: WaitFor and Await poll a condition until a deadline, Exchange
// talks to a multiplexor control socket, WaitForTCP and WaitForUnixSocket
// wait for a listener. Every deadline is scaled by MD_TEST_SLOWDOWN (Scale),
// so that a loaded or emulated machine can be given more time with one knob;
// a passing test never waits for a deadline.
//
// Our binaries come from make build's bin/ (or $MD_BIN_DIR: MDBinary). A
// component that is missing makes the test fail with the command that
// installs it; the harness never skips. The tests run as root: Postfix and
// the MIMEDefang daemons start as root and drop privileges themselves (the
// daemons to the defang user, given with -U).
package harness
