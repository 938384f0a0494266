// Package smtpcheck is md-worker's SMTP recipient call-out: MIMEDefang's
// md_check_against_smtp_server, get_smtp_return_code and
// get_smtp_extensions (Mail::MIMEDefang::Mail; docs/reference/filter-api.md
// §4.12). It asks another SMTP server whether it would take a recipient
// from a sender and returns the answer in the shape a filter_recipient
// callback returns.
//
// It is the first of md-worker's network integrations and the worked
// example of their shape (docs/integrations.md): a Config whose zero value
// is the original's behaviour, an injected dialer, a timeout on every step
// with the caller's context over the whole call, and a Result that is the
// original's return list. A failure is never an error the caller could
// drop: a server that refuses the connection, hangs or answers garbage
// gives the original's TEMPFAIL result, so mail is never accepted because
// the check could not be made.
//
// The package imports only the standard library. Package filter imports it
// (Config.SMTPCheck, Context.MdCheckAgainstSMTPServer) and the Lua engine
// reaches it through package filter; it must never import package filter,
// which would be an import cycle.
//
// What this package is not: a client for sending mail (it never sends
// DATA), and it does not verify the server's certificate when it upgrades
// to TLS (neither does the original).
package smtpcheck
