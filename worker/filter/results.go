package filter

import (
	"github.com/mdgo/md/worker/internal/spooldir"
)

// inWorkingDir reports whether CWD is a message's working directory, the
// condition of write_result_line.
func (c *Context) inWorkingDir() bool {
	return c.CWD != "" && c.CWD != c.spoolDir
}

// WriteResultLine is Mail::MIMEDefang's write_result_line: it appends
// "<letter><arg> <arg>..." to RESULTS in the working directory, each
// argument percent-encoded, the line cut to 16382 bytes (with a logged
// warning). Outside a working directory (relayok, helook, tick, map) it
// logs "write_result_line called before working directory established" and
// writes nothing. It returns false when nothing was written.
//
// It is the plumbing of the actions; filters call the actions instead.
func (c *Context) WriteResultLine(letter byte, args ...string) bool {
	if !c.inWorkingDir() {
		c.Logf("write_result_line called before working directory established")
		return false
	}
	if c.results == nil {
		c.results = spooldir.NewResults(c.CWD)
	}
	truncated, err := c.results.Write(letter, args...)
	if truncated {
		line, _ := spooldir.ResultLine(letter, args...)
		if len(line) > 40 {
			line = line[:40]
		}
		c.Logf("Cannot write line over 16382 bytes long to RESULTS file; truncating.  Original line began with: %s", line)
	}
	if err != nil {
		c.fail(err)
		return false
	}
	return true
}

// fail records an error that must fail the request (Perl croaks): the
// request ends with "error: <msg>" once the callback returns.
func (c *Context) fail(err error) {
	if c.err == nil {
		c.err = err
	}
	c.Logf("%v", err)
}

func (c *Context) closeResults() error {
	if c.results == nil {
		return nil
	}
	err := c.results.Close()
	c.results = nil
	return err
}
