// Package clamd is md-worker's ClamAV daemon client: MIMEDefang's
// message_contains_virus_clamd and entity_contains_virus_clamd
// (Mail::MIMEDefang::Antivirus; docs/reference/filter-api.md §4.15), the
// exit-code reading of its ClamAV command-line scanners
// (interpret_clamav_code) and the argument lists it gives clamdscan and
// clamscan.
//
// It follows the shape of every network integration of md-worker
// (docs/integrations.md): a Config whose zero value is the original's
// settings ($ClamdSock's default, 30 s to write and 60 s to read), an
// injected dialer, a timeout on every step with the caller's context over
// the whole call, and a Result that is the original's return list
// ($code, $category, $action). A failure is never an error the caller
// could drop: a daemon that cannot be reached, hangs, answers an error or
// answers garbage gives the original's tempfail outcome, so mail is never
// passed as clean because it could not be scanned.
//
// One thing differs from the original on purpose: by default the bytes
// are sent to clamd with zINSTREAM (Config.Mode), so that clamd needs no
// access to md-worker's files and may run on another host. SCAN and
// MULTISCAN, which make clamd open the files itself as the original does,
// are options.
//
// The package imports only the standard library. Package filter imports
// it (Config.Clamd, the Context methods of virus.go) and the Lua engine
// reaches it through package filter; it must never import package filter,
// which would be an import cycle.
//
// What this package is not: it does not run programs (package filter's
// RunVirusScanner runs clamdscan and clamscan with the argument lists of
// ClamdscanArgs and ClamscanArgs), and it does not decide what to do with
// a virus: the filter does, from the Result.
package clamd
