package server_test

import (
	"os"

	"github.com/mdgo/md/worker/filter"
	"github.com/mdgo/md/worker/message"
	"github.com/mdgo/md/worker/server"
)

// A compiled Go filter: drop executables with a warning, serve the
// multiplexor's requests on stdin and stdout.
func ExampleRun() {
	cb := &filter.Callbacks{
		Filter: func(c *filter.Context, p *message.Part, fname, ext, typ string) error {
			if ext == ".exe" {
				c.ActionDropWithWarning("An attachment named " + fname + " was removed.")
			}
			return nil
		},
		Sender: func(c *filter.Context, r filter.SenderRequest) (filter.Answer, error) {
			if r.Sender == "<spammer@example.com>" {
				return filter.Answer{Verdict: filter.Reject, Msg: "Go away"}, nil
			}
			return filter.Answer{Verdict: filter.Continue, Msg: "ok"}, nil
		},
	}
	if false { // not run by go test: it would read the test's stdin
		os.Exit(server.Run(cb, server.Options{}))
	}
}
