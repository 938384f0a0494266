// Package internal is the root of the code that several of the project's
// modules share and that nothing outside this repository may import (Go's
// internal rule applies across modules: only import paths under
// github.com/mdgo/md/ can import github.com/mdgo/md/internal/...). Each
// module that uses it requires github.com/mdgo/md/internal with a replace
// directive to ../internal.
//
// What lives here is what two or more modules would otherwise each carry
// and let drift apart, kept once:
//
//   - daemon: the plumbing of md-milterd and md-multiplexor: going into
//     the background with a ready pipe, dropping privileges, pid and lock
//     files, sd_notify (READY=1, MAINPID=, STOPPING=1) and the milter
//     socket with its backlog. Each daemon keeps its own options, run loop
//     and order of these steps. daemon/daemontest has the helpers their
//     tests share (a NOTIFY_SOCKET stand-in).
//   - logging: the log/slog handler both daemons log through (syslog,
//     stderr, the journal; a message's queue ID as the "<qid>: " prefix of
//     its lines) and the syslog facility names, which md-worker's
//     md_syslog uses too.
//   - golden: the captures of MIMEDefang 3.3 under testdata/golden.
//   - loadstat: the percentile the load generators report.
//
// Being internal, none of it is an API: it changes with its callers, which
// are all in this repository.
package internal
