// Package spamd is md-worker's SpamAssassin client: it speaks spamd's
// SPAMC/1.5 protocol (CHECK, SYMBOLS, REPORT, PROCESS, PING) over TCP or a
// Unix socket, for MIMEDefang's md_spamc_init and md_spamc_check and for
// spam_assassin_check, spam_assassin_status and spam_assassin_is_spam
// (Mail::MIMEDefang::Antispam; docs/reference/filter-api.md §4.14), which
// the original runs inside its Perl worker and md-worker hands to spamd.
//
// It follows the shape of every network integration of md-worker
// (docs/integrations.md): a Config whose zero value is the original's
// settings (localhost port 783, the worker's login as User, no size
// limit), an injected dialer, a timeout on every step with the caller's
// context over the whole call, and a Result that carries the original's
// return list. Every failure (no connection, a timeout, an error status,
// a reply without a "Spam:" line) gives a Result with OK false, which the
// Perl functions return as their failure value (an empty list), and is
// logged: the original passes such a message as not spam, and so does a
// filter that does not test the result, but never silently.
//
// The package imports only the standard library. Package filter imports
// it (Config.Spamd, the Context methods of antispam.go); it must never
// import package filter, which would be an import cycle.
//
// What this package is not: it does not build the copy of the message
// spamd scores (package filter's SpamAssassinMail adds the Return-Path
// and Received lines the original adds), and it does not decide what to
// do with spam: the filter does, from the Result.
package spamd
