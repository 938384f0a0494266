// Command md-multiplexor is a drop-in replacement for mimedefang-multiplexor:
// it keeps a pool of worker processes (mimedefang.pl or md-worker) behind the
// MIMEDefang milter. Every option of the original keeps its letter, meaning
// and default.
package main

import (
	"os"

	"github.com/mdgo/md/multiplexor/internal/daemon"
)

func main() {
	os.Exit(daemon.Main(os.Args[1:], os.Stdout, os.Stderr))
}
