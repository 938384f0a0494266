// Package spooldir reads and writes the files of a message's working
// directory on the worker side: COMMANDS (written by md-milterd's
// internal/spool, read here as Mail::MIMEDefang's read_commands_file does)
// and RESULTS (written here as write_result_line does, read by md-milterd's
// internal/results).
package spooldir

// FileMode is the mode md-worker asks for when it creates a file in a
// working directory or the quarantine (RESULTS, NEWBODY, the quarantined
// files...); the umask, which the multiplexor sets to 077 (027 with -G),
// takes bits away: 0600, or 0640 with -G, what mimedefang.pl gets with its
// open(..., ">") (0666) under the same umask. Asking for 0640 rather than
// 0666 keeps mail from being world-readable when md-worker runs under a
// looser umask (md-worker test from a shell).
const FileMode = 0o640

// DirMode is the mode md-worker asks for when it makes a directory (Work/,
// tmp/, the quarantine's): 0750, as mimedefang.pl's mkdir; the umask makes
// it 0700, or 0750 with -G.
const DirMode = 0o750
