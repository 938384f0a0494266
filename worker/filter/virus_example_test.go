package filter_test

import (
	"github.com/mdgo/md/worker/filter"
	"github.com/mdgo/md/worker/message"
)

// A Go filter that scans every message with clamd, as a Perl filter_begin
// does with message_contains_virus(): a virus is quarantined and the
// message rejected; a scanner that could not scan tempfails the message,
// so that the sending MTA keeps it and retries.
func ExampleContext_MessageContainsVirus() {
	cfg := filter.DefaultConfig()
	cfg.Clamd.Sock = "/run/clamav/clamd.ctl" // $ClamdSock; "host:3310" for TCP
	cfg.Features["Virus:CLAMD"] = "1"
	cb := &filter.Callbacks{
		Begin: func(c *filter.Context, top *message.Part) error {
			r := c.MessageContainsVirus()
			switch {
			case r.Virus():
				c.ActionQuarantineEntireMessage("Virus " + c.VirusName)
				c.ActionBounce("Virus found: "+c.VirusName, "", "")
			case !r.OK():
				c.MdSyslog("warning", "Problem running virus scanner")
				c.ActionTempfail("Problem running virus scanner", "", "")
			}
			return nil
		},
	}
	_ = filter.NewWorker(cb, cfg, filter.WorkerOptions{})
}
