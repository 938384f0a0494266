package filter

import (
	"fmt"
	"maps"
	"runtime/debug"
	"sync"
	"time"

	"github.com/mdgo/md/worker/filter/rspamd"
)

// CheckAllOptions says which checks CheckAll runs: the virus scanners
// (MessageContainsVirus, message_contains_virus), SpamAssassin
// (SpamAssassinStatus, spam_assassin_status) and rspamd (RspamdCheck,
// rspamd_check, at RspamdURL; "" means Config.Rspamd.URL).
type CheckAllOptions struct {
	Virus        bool
	SpamAssassin bool
	Rspamd       bool
	RspamdURL    string
}

// CheckAllResult is what CheckAll's checks said. A check that was not
// asked for has its Ran field false and its zero result.
type CheckAllResult struct {
	VirusRan  bool
	Virus     VirusResult // MessageContainsVirus's result
	VirusName string      // VirusName after the scan ("" when no virus)
	VirusTook time.Duration

	SpamRan  bool
	Spam     SpamResult // SpamAssassinStatus's result; OK false: no verdict
	SpamTook time.Duration

	RspamdRan  bool
	Rspamd     RspamdResult // RspamdCheck's result; "soft reject" on failure
	RspamdTook time.Duration

	// Took is the wall time of CheckAll: the slowest check's, not the
	// sum, as the checks run concurrently.
	Took time.Duration
}

// CheckAll runs the checks o asks for concurrently, each in its own
// goroutine on a shallow copy of c, and returns when all have returned:
// an md-worker extension (md_check_all in Lua) so that a message's scan
// takes the slowest check's time, not the sum. Each check is exactly the
// function it names, with that function's failure outcomes; the
// request's deadline bounds them all (they share c's context.Context).
// A check that fails, or panics (logged, and turned into its function's
// failure outcome: (999, "swerr", "tempfail") for the virus scan, no
// verdict for spamd, "soft reject" for rspamd), does not affect the
// others.
//
// Only the virus scan writes per-message state (VirusName,
// VirusScannerMessages, CurrentVirusScannerMessage, the Work files it
// wrote); it is merged back into c once all checks have returned. The
// scanners are chosen (InitializeVirusScannerRoutines) before any
// goroutine starts. WorkerOptions.OnCall receives the calls one at a
// time.
func (c *Context) CheckAll(o CheckAllOptions) CheckAllResult {
	start := time.Now()
	var res CheckAllResult
	var wg sync.WaitGroup
	run := func(name string, body func(), failed func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if v := recover(); v != nil {
					c.Logf("md_check_all: the %s check panicked: %v\n%s", name, v, debug.Stack())
					failed()
				}
			}()
			body()
		}()
	}

	var vc *Context
	if o.Virus {
		c.InitializeVirusScannerRoutines()
		vc = c.checkCopy()
		vc.workFiles = maps.Clone(c.workFiles)
		res.VirusRan = true
		run("virus", func() {
			t := time.Now()
			defer func() { res.VirusTook = time.Since(t) }()
			res.Virus = vc.MessageContainsVirus()
			res.VirusName = vc.VirusName
		}, func() {
			res.Virus = VirusResult{999, "swerr", "tempfail"}
		})
	}
	if o.SpamAssassin {
		sc := c.checkCopy()
		res.SpamRan = true
		run("spamassassin", func() {
			t := time.Now()
			defer func() { res.SpamTook = time.Since(t) }()
			res.Spam = sc.SpamAssassinStatus("")
		}, func() {
			res.Spam = SpamResult{}
		})
	}
	if o.Rspamd {
		rc := c.checkCopy()
		res.RspamdRan = true
		run("rspamd", func() {
			t := time.Now()
			defer func() { res.RspamdTook = time.Since(t) }()
			res.Rspamd = rc.RspamdCheck(o.RspamdURL)
		}, func() {
			res.Rspamd = rspamd.SoftReject()
		})
	}
	wg.Wait()

	if vc != nil {
		c.VirusName = vc.VirusName
		c.VirusScannerMessages = vc.VirusScannerMessages
		c.CurrentVirusScannerMessage = vc.CurrentVirusScannerMessage
		c.workFiles, c.workFileCount = vc.workFiles, vc.workFileCount
		c.virusScanners = vc.virusScanners
		if res.Virus.Category != "virus" {
			res.VirusName = ""
		}
	}
	res.Took = time.Since(start)
	return res
}

// checkCopy is the shallow copy of c a CheckAll goroutine runs on. The
// copy shares c's maps and slices; the checks only read them, except the
// virus scan's workFiles, which CheckAll gives its own copy.
func (c *Context) checkCopy() *Context {
	cp := *c
	return &cp
}

// String is the result as md-worker test's log shows it.
func (r CheckAllResult) String() string {
	return fmt.Sprintf("virus %v %q [%v], spamd %v [%v], rspamd %v [%v], all [%v]",
		r.Virus.Values(), r.VirusName, r.VirusTook, spamOutcome(r.Spam), r.SpamTook, r.Rspamd.Action, r.RspamdTook, r.Took)
}
