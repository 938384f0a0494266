// Package rspamd is md-worker's rspamd client: MIMEDefang's rspamd_check
// (Mail::MIMEDefang::Antispam; docs/reference/filter-api.md §4.14), which
// posts the message to rspamd's normal worker (POST /checkv2) and reads
// its JSON answer.
//
// It follows the shape of every network integration of md-worker
// (docs/integrations.md): a Config whose zero value is the original's
// (http://127.0.0.1:11333, user agent "MIMEDefang"), an injected dialer
// (or a whole http.RoundTripper), a timeout on the whole exchange under
// the caller's context, and a Result that is the original's return list
// (hits, required, tests, report, action, is_spam). Every failure (no
// connection, a timeout, an HTTP error, a body that is not rspamd's JSON)
// gives the original's (0, 0, "", "", "soft reject", "false"), logged, so
// that the filter tempfails as the original's documentation asks; the
// original dies on a body that is not JSON, which tempfails the message
// too.
//
// One thing differs from the original on purpose: md-worker passes the
// envelope as rspamd's request headers (From, Rcpt, IP, Helo, Hostname,
// User, Queue-Id), which the original does not, so that rspamd's SPF,
// DMARC and IP rules see the SMTP client rather than guessing from the
// Received lines.
//
// The package imports only the standard library. Package filter imports
// it (Config.Rspamd, Context.RspamdCheck); it must never import package
// filter.
package rspamd
