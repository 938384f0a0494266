// Command gofilter is an example of a site filter compiled in Go: a worker
// for md-multiplexor (or mimedefang-multiplexor) that replaces md-worker
// and a filter file with one binary. Its policy:
//
//   - a message whose Subject holds the marker [REJECT-ME] is rejected at
//     end of DATA (554 5.7.1);
//   - an attachment whose file name ends in a dangerous extension (.exe,
//     .bat, .scr, .js ...; the list of MIMEDefang's suggested minimum
//     filter) is removed, and a warning part takes its place;
//   - every message that is not rejected gets an X-Filtered-By header.
//
// It takes the worker's argv from the multiplexor, `[-f FILTER] -server`
// or `-serveru`; the -f argument is ignored, the filter is compiled in.
// See README.md for how to build it and run it under md-multiplexor.
package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mdgo/md/worker/filter"
	"github.com/mdgo/md/worker/message"
	"github.com/mdgo/md/worker/server"
)

const (
	// rejectMarker in the Subject rejects the message.
	rejectMarker = "[REJECT-ME]"
	// badNames matches file names with a dangerous extension, possibly
	// followed by dots, and CLSID names ({...}). Matched case-insensitively
	// against the Content-Disposition filename and the Content-Type name.
	badNames = `\.(ade|adp|app|asd|asf|asx|bas|bat|chm|cmd|com|cpl|crt|dll|exe|fxp|hlp|hta|hto|inf|ini|ins|isp|jse?|lib|lnk|mdb|mde|msc|msi|msp|mst|ocx|pcd|pif|prg|reg|scr|sct|sh|shb|shs|sys|url|vb|vbe|vbs|vcs|vxd|wmd|wms|wmz|wsc|wsf|wsh|\{[^\}]+\})\.*$`
	// requestTimeout stops a request that runs away before the
	// multiplexor's busy timeout (-b, 120 s by default) kills the worker.
	requestTimeout = 100 * time.Second
)

// policy is the filter: the MIMEDefang callbacks it defines. The others
// (relay, sender, recipient checks ...) keep the original's answers for an
// undefined sub.
func policy() *filter.Callbacks {
	return &filter.Callbacks{
		Begin: func(c *filter.Context, top *message.Part) error {
			if strings.Contains(c.Subject, rejectMarker) {
				c.ActionBounce("Message rejected by site policy", "554", "5.7.1")
			}
			return nil
		},
		Filter: func(c *filter.Context, p *message.Part, fname, ext, typ string) error {
			if c.MessageRejected() {
				return nil // no point in rewriting a rejected message
			}
			bad, err := filter.ReMatch(p, badNames)
			if err != nil {
				return err
			}
			if bad {
				c.Logf("gofilter: dropping attachment %q (%s)", fname, typ)
				c.ActionDropWithWarning(fmt.Sprintf("An attachment named %s was removed from this message\n"+
					"as it could harm your computer. Ask the sender for another way to get it.\n", fname))
				return nil
			}
			c.ActionAccept()
			return nil
		},
		End: func(c *filter.Context, top *message.Part) error {
			if !c.MessageRejected() {
				c.ActionAddHeader("X-Filtered-By", "gofilter example")
			}
			return nil
		},
	}
}

func main() {
	args := os.Args[1:]
	if len(args) >= 2 && args[0] == "-f" {
		args = args[2:] // the filter is compiled in
	}
	if len(args) != 1 || (args[0] != "-server" && args[0] != "-serveru") {
		fmt.Fprintln(os.Stderr, "usage: gofilter [-f IGNORED] -server|-serveru")
		os.Exit(1)
	}
	opts := server.Options{Chdir: true, Timeout: requestTimeout}
	if args[0] == "-serveru" {
		// Status tags for the multiplexor's -Z.
		opts.StatusTags = os.NewFile(3, "status")
	}
	os.Exit(server.Run(policy(), opts))
}
