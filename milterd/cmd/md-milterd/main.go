// Command md-milterd is the MIMEDefang milter, a replacement of the C
// milter `mimedefang`. See package daemon for the options.
package main

import (
	"os"

	"github.com/mdgo/md/milterd/internal/daemon"
)

func main() {
	os.Exit(daemon.Main(os.Args[1:], os.Stdout, os.Stderr))
}
