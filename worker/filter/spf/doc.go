// Package spf is MIMEDefang's md_spf_verify (Mail::MIMEDefang::SPF,
// docs/reference/filter-api.md §4.11): the SPF check (RFC 7208) of the MAIL
// FROM identity and, when given, of the HELO identity, with the result
// codes of Mail::SPF and the SPF records found.
//
// The evaluation is blitiri.com.ar/go/spf's (every mechanism and modifier,
// macros, the lookup and void-lookup limits), with its DNS questions asked
// through package dnscheck's resolver (Config.Lookup), so they go to the
// configured servers with the request's deadline. As in MIMEDefang the
// limit of DNS-querying terms is 20, not RFC 7208's 10.
//
// It never imports package filter (docs/integrations.md).
package spf
