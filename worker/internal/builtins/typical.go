// Package builtins holds filters compiled into md-worker, selected with
// "-f builtin:<name>". They let the worker run (and be tested end to end)
// without a filter file, and show how a Go filter is written.
package builtins

import (
	"regexp"
	"strings"

	"github.com/mdgo/md/worker/filter"
	"github.com/mdgo/md/worker/message"
)

func init() {
	filter.RegisterBuiltin("typical", Typical)
}

// badExtension is the bad-extension list of Debian's sample
// mimedefang-filter.
var badExtension = regexp.MustCompile(`(?i)\.(ade|adp|app|asd|asf|asx|bas|bat|chm|cmd|com|cpl|crt|dll|exe|fxp|hlp|hta|hto|inf|ini|ins|isp|jse?|lib|lnk|mdb|mde|msc|msi|msp|mst|ocx|pcd|pif|prg|reg|scr|sct|sh|shb|shs|sys|url|vb|vbe|vbs|vcs|vxd|wmd|wms|wmz|wsc|wsf|wsh|\{[^\}]+\})\.*$`)

// Typical is the "typical site policy" of the golden captures
// (testdata/golden/filters/typical.filter) in Go: reject a Subject carrying
// MDLAB-REJECT, drop attachments with dangerous extensions with a
// warning, append a disclaimer to every text/plain part and add an
// X-Scanned header.
func Typical(cfg *filter.Config) (*filter.Callbacks, error) {
	cfg.AdminAddress = "postmaster@localhost"
	cfg.AdminName = "MIMEDefang lab administrator"
	cfg.DaemonAddress = "mimedefang@localhost"
	const marker = "MDLAB-REJECT"
	const disclaimer = "--\nDisclaimer: this message passed through the MIMEDefang lab typical filter.\nIt is provided for testing only; attachments with dangerous extensions are removed."
	const hazard = " was removed from this document as it\nconstituted a security hazard.  If you require this document, please contact\nthe sender and arrange an alternate means of receiving it.\n"
	bad := func(p *message.Part) bool {
		for _, n := range filter.MatchNames(p) {
			if badExtension.MatchString(n) {
				return true
			}
		}
		return false
	}
	return &filter.Callbacks{
		Begin: func(c *filter.Context, top *message.Part) error {
			if strings.Contains(c.Subject, marker) {
				c.Logf("mdlab: rejecting message with marker subject")
				c.ActionBounce("Message rejected by lab policy: forbidden subject marker", "554", "5.7.1")
			}
			return nil
		},
		Filter: func(c *filter.Context, p *message.Part, fname, ext, typ string) error {
			switch {
			case c.MessageRejected():
			case typ == "message/partial":
				c.ActionBounce("MIME type message/partial not accepted here", "", "")
			case bad(p):
				c.Logf("mdlab: dropping attachment %s (%s)", fname, typ)
				c.ActionDropWithWarning("An attachment named " + fname + hazard)
			default:
				c.ActionAccept()
			}
			return nil
		},
		Multipart: func(c *filter.Context, p *message.Part, fname, ext, typ string) error {
			switch {
			case c.MessageRejected():
			case bad(p):
				c.ActionDropWithWarning("An attachment of type " + typ + ", named " + fname + hazard)
			case typ == "message/partial":
				c.ActionBounce("MIME type message/partial not accepted here", "", "")
			default:
				c.ActionAccept()
			}
			return nil
		},
		End: func(c *filter.Context, top *message.Part) error {
			if c.MessageRejected() {
				return nil
			}
			c.AppendTextBoilerplate(top, disclaimer, true)
			c.ActionAddHeader("X-Scanned", "MIMEDefang lab typical filter")
			return nil
		},
	}, nil
}
