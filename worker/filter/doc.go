// Package filter is md-worker's typed filter API: the Go form of a
// MIMEDefang filter (mimedefang-filter(5)).
//
// A filter is a Callbacks value. Each field is one of the Perl filter's
// subs (filter_relay, filter_begin, filter, filter_end ...); a nil field is
// a sub the filter does not define, which matters because mimedefang.pl
// answers differently for an undefined callback (filter_relay undefined:
// "ok 1 ok 250 2.1.0 0"; filter_tick undefined: an error line; filter_map
// undefined: "PERM No filter_map function defined").
//
// Every callback receives a *Context: the per-request state that
// mimedefang.pl keeps in globals ($Sender, @Recipients, $QueueID ...), the
// worker's persistent *Config ($AdminAddress, $GeneralWarning ...), the
// request's deadline (Context embeds a context.Context), and the actions
// (action_bounce, action_drop_with_warning, action_add_header, add_recipient
// ...) as methods with Go names that map 1:1 to the Perl names; the doc
// comment of each method names its Perl original.
//
// A Worker runs the requests of the multiplexor's server protocol for one
// filter: Worker.Scan is mimedefang.pl's do_scan (the message pipeline of
// filter_begin, the part walk, warnings, filter_end, NEWBODY and RESULTS),
// Worker.Handle dispatches one request line. Package server wraps a Worker
// in the stdin/stdout loop; cmd/md-worker loads filters through the Engine
// registry of this package (Lua files, compiled-in Go filters).
//
// The network integrations (the SMTP call-out md_check_against_smtp_server,
// clamd, spamd and rspamd now; DNS checks, SPF, DKIM and Redis next) are
// packages under worker/filter/ (smtpcheck, clamd, spamd, rspamd ...) that
// this package imports: each has a field in Config and its functions are
// Context methods that delegate to it (integrations.go; virus.go for the
// virus scanners, which also runs clamdscan and clamscan and dispatches
// message_contains_virus; antispam.go for SpamAssassin through spamd and
// rspamd_check). They never import this package; see
// docs/integrations.md.
//
// What this package is not: it does not speak milter, it does not manage
// processes, and it never writes the message body with a MIME library's
// encoder — package message splices the new body from INPUTMSG.
package filter
