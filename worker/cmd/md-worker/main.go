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
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:]))
}
