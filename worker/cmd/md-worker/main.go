// Command md-worker is the Go replacement of mimedefang.pl: a server-mode
// filter program run by md-multiplexor (or mimedefang-multiplexor).
//
// The original argv forms are accepted unchanged:
//
//	md-worker -f FILTER -server      serve requests on stdin/stdout
//	md-worker -f FILTER -serveru     same, with status tags on fd 3
//	md-worker -f FILTER -test        check the filter loads
//	md-worker -f FILTER -validate    exit with filter_validate's value
//	md-worker -f FILTER -features    print version and features
//	md-worker -f FILTER /abs/dir     one-shot scan of a working directory
//
// and two subcommands help administrators:
//
//	md-worker check FILE
//	md-worker test MESSAGE.eml --filter FILE [--sender S] [--recipient R ...]
//
// RSA keys under 1024 bits are allowed (rsa1024min=0): Perl's Mail::DKIM,
// and so MIMEDefang's md_dkim_sign and md_dkim_verify, sign and verify with
// them (MIMEDefang's own tests use a 768-bit key); refusing them would turn
// a signature MIMEDefang passes into an error. A site that wants them
// refused tests the key size md_dkim_verify returns.
//
//go:debug rsa1024min=0
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:]))
}
