package filter

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdgo/md/worker/message"
)

// delayedDial is a dialer that waits d before its first connection only
// (clamd's scan makes several), then dials to (network, addr).
func delayedDial(d time.Duration, network, addr string) func(ctx context.Context, _, _ string) (net.Conn, error) {
	var once sync.Once
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		once.Do(func() { time.Sleep(d) })
		var nd net.Dialer
		return nd.DialContext(ctx, network, addr)
	}
}

// checkAllWorker returns a worker set up for CheckAll's tests: clamd,
// spamd and rspamd stand-ins, each reached after its delay; OnCall
// appends to calls without a lock of its own, so that the race detector
// sees OnCall called concurrently.
func checkAllWorker(t *testing.T, delay [3]time.Duration, rspamdRT rtFunc, begin func(c *Context)) (log string, calls []IntegrationCall) {
	t.Helper()
	noSyslog(t)
	f := startFakeClamd(t)
	sock, _ := fakeSpamd(t)
	w, buf := testWorker(t, func(cfg *Config) *Callbacks {
		cfg.Features["Virus:CLAMD"] = "1"
		cfg.Clamd.Sock = "clamd.test:3310"
		cfg.Clamd.Dial = delayedDial(delay[0], "unix", f.Sock)
		cfg.Spamd.Host = "spamd.test"
		cfg.Spamd.Dial = delayedDial(delay[1], "unix", sock)
		cfg.Rspamd.URL = "http://rspamd.test"
		cfg.Rspamd.Transport = rtFunc(func(r *http.Request) (*http.Response, error) {
			time.Sleep(delay[2])
			if rspamdRT != nil {
				return rspamdRT(r)
			}
			return &http.Response{StatusCode: 200, Header: http.Header{},
				Body: io.NopCloser(strings.NewReader(`{"score":16.5,"required_score":15,"action":"reject","symbols":{"GTUBE":{"score":15.5}}}`))}, nil
		})
		return &Callbacks{Begin: func(c *Context, _ *message.Part) error { begin(c); return nil }}
	})
	w.opts.OnCall = func(ic IntegrationCall) { calls = append(calls, ic) }
	if r := scan(t, w, writeCase(t, simpleCommands, virusMessage("payload with "+marker))); r != "ok\n" {
		t.Fatalf("scan: %q\n%s", r, buf)
	}
	return buf.String(), calls
}

// TestCheckAll: the three checks run concurrently (the wall time is the
// slowest's, not the sum), each gives its function's result, the virus
// globals reach the Context, and OnCall gets every call, one at a time.
func TestCheckAll(t *testing.T) {
	var res CheckAllResult
	var name, msgs string
	delays := [3]time.Duration{300 * time.Millisecond, 400 * time.Millisecond, 500 * time.Millisecond}
	_, calls := checkAllWorker(t, delays, nil, func(c *Context) {
		c.VirusScannerMessages = "before\n"
		res = c.CheckAll(CheckAllOptions{Virus: true, SpamAssassin: true, Rspamd: true})
		name, msgs = c.VirusName, c.VirusScannerMessages
	})
	if !res.VirusRan || res.Virus != (VirusResult{1, "virus", "quarantine"}) || res.VirusName != "Fake.Virus.UNOFFICIAL" {
		t.Errorf("virus: %+v", res)
	}
	if name != "Fake.Virus.UNOFFICIAL" || msgs != "before\nclamd found the Fake.Virus.UNOFFICIAL virus.\n" {
		t.Errorf("Context after CheckAll: VirusName %q, VirusScannerMessages %q", name, msgs)
	}
	if !res.SpamRan || !res.Spam.OK || res.Spam.Score != 1000 || !res.Spam.IsSpam {
		t.Errorf("spamd: %+v", res.Spam)
	}
	if !res.RspamdRan || !res.Rspamd.OK || res.Rspamd.Action != "reject" || res.Rspamd.Hits != 16.5 {
		t.Errorf("rspamd: %+v", res.Rspamd)
	}
	// The slowest check takes 500 ms; the sum would be 1.2 s.
	if res.Took < 500*time.Millisecond || res.Took > 1000*time.Millisecond {
		t.Errorf("CheckAll took %v, want about the slowest check's 500 ms (checks took %v, %v, %v)", res.Took, res.VirusTook, res.SpamTook, res.RspamdTook)
	}
	if res.RspamdTook < 500*time.Millisecond || res.VirusTook < 300*time.Millisecond || res.SpamTook < 400*time.Millisecond || res.Took < res.RspamdTook {
		t.Errorf("times %v %v %v %v", res.VirusTook, res.SpamTook, res.RspamdTook, res.Took)
	}
	var got []string
	for _, c := range calls {
		got = append(got, c.Integration)
	}
	if s := strings.Join(got, ","); len(calls) != 3 || !strings.Contains(s, "clamd") || !strings.Contains(s, "spamd") || !strings.Contains(s, "rspamd") {
		t.Errorf("OnCall got %q", got)
	}
	if s := res.String(); !strings.Contains(s, "Fake.Virus.UNOFFICIAL") || !strings.Contains(s, "reject") {
		t.Errorf("String() = %q", s)
	}
}

// TestCheckAllFailures: a check that fails, or panics, gives its
// function's failure outcome and leaves the others alone; checks not
// asked for do not run.
func TestCheckAllFailures(t *testing.T) {
	var res, only CheckAllResult
	log, calls := checkAllWorker(t, [3]time.Duration{}, func(*http.Request) (*http.Response, error) {
		panic("rspamd stand-in breaks")
	}, func(c *Context) {
		c.Config.Spamd.Dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return nil, fmt.Errorf("spamd is down")
		}
		res = c.CheckAll(CheckAllOptions{Virus: true, SpamAssassin: true, Rspamd: true, RspamdURL: "http://rspamd.test"})
		c.VirusName = ""
		only = c.CheckAll(CheckAllOptions{SpamAssassin: true})
	})
	if res.Virus != (VirusResult{1, "virus", "quarantine"}) || res.VirusName != "Fake.Virus.UNOFFICIAL" {
		t.Errorf("virus: %+v", res)
	}
	if res.Spam.OK {
		t.Errorf("spamd down: %+v", res.Spam)
	}
	if res.Rspamd.OK || res.Rspamd.Action != "soft reject" || res.Rspamd.IsSpam != "false" {
		t.Errorf("rspamd panicked: %+v", res.Rspamd)
	}
	if !strings.Contains(log, "QID1: md_check_all: the rspamd check panicked: rspamd stand-in breaks") {
		t.Errorf("log:\n%s", log)
	}
	if only.VirusRan || only.RspamdRan || !only.SpamRan || only.VirusName != "" || only.Rspamd.Action != "" {
		t.Errorf("spamd only: %+v", only)
	}
	// clamd, spamd (no verdict), then spamd again; rspamd panicked before
	// its call was noted.
	if len(calls) != 3 {
		t.Errorf("calls %v", calls)
	}
}

// TestCheckAllOutsideMessage: outside a scan every check gives its
// function's wrong-context outcome.
func TestCheckAllOutsideMessage(t *testing.T) {
	noSyslog(t)
	w, _ := testWorker(t, func(cfg *Config) *Callbacks {
		cfg.Features["Virus:CLAMD"] = "1"
		cfg.Clamd.Sock = filepath.Join(t.TempDir(), "none.sock")
		return &Callbacks{}
	})
	res := w.NewContext(context.Background()).CheckAll(CheckAllOptions{Virus: true, SpamAssassin: true, Rspamd: true})
	if res.Virus.Action != "tempfail" || res.Spam.OK || res.Rspamd.Action != "soft reject" {
		t.Errorf("outside message context: %+v", res)
	}
}
