package filter

import (
	"context"
	"fmt"
	"log/syslog"
	"strings"
	"testing"

	"github.com/mdgo/md/worker/message"
)

// recordSyslog is a syslogWriter that records "<facility>.<level> msg".
type recordSyslog struct {
	fac   syslog.Priority
	lines *[]string
}

func (r recordSyslog) rec(level, m string) error {
	*r.lines = append(*r.lines, fmt.Sprintf("%d.%s %s", r.fac>>3, level, m))
	return nil
}
func (r recordSyslog) Emerg(m string) error   { return r.rec("emerg", m) }
func (r recordSyslog) Alert(m string) error   { return r.rec("alert", m) }
func (r recordSyslog) Crit(m string) error    { return r.rec("crit", m) }
func (r recordSyslog) Err(m string) error     { return r.rec("err", m) }
func (r recordSyslog) Warning(m string) error { return r.rec("warning", m) }
func (r recordSyslog) Notice(m string) error  { return r.rec("notice", m) }
func (r recordSyslog) Info(m string) error    { return r.rec("info", m) }
func (r recordSyslog) Debug(m string) error   { return r.rec("debug", m) }

func fakeSyslog(t *testing.T) *[]string {
	t.Helper()
	noSyslog(t)
	var lines []string
	dialSyslog = func(f syslog.Priority, tag string) (syslogWriter, error) {
		if tag != "mimedefang.pl" {
			t.Errorf("tag %q", tag)
		}
		return recordSyslog{f, &lines}, nil
	}
	return &lines
}

func TestMdSyslog(t *testing.T) {
	lines := fakeSyslog(t)
	w, log := testWorker(t, func(*Config) *Callbacks { return &Callbacks{} })
	c := w.NewContext(context.Background())
	c.MdSyslog("info", "no queue id")
	c.MsgID = "QID1"
	for _, p := range []string{"err", "error", "warning", "warn", "debug", "crit", "panic", "notice", "alert", "local3|info", "LOG_DAEMON|LOG_ERR", "bogus"} {
		c.MdSyslog(p, p+" %s")
	}
	want := []string{
		"2.info no queue id",
		"2.err QID1: err %s", "2.err QID1: error %s", "2.warning QID1: warning %s", "2.warning QID1: warn %s",
		"2.debug QID1: debug %s", "2.crit QID1: crit %s", "2.emerg QID1: panic %s", "2.notice QID1: notice %s",
		"2.alert QID1: alert %s", "19.info QID1: local3|info %s", "3.err QID1: LOG_DAEMON|LOG_ERR %s", "2.info QID1: bogus %s",
	}
	if got := strings.Join(*lines, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("syslog:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if log.Len() != 0 {
		t.Errorf("worker log got %q", log)
	}

	// Without syslog: the worker's log.
	noSyslog(t)
	c.MdSyslog("err", "to stderr")
	if log.String() != "QID1: to stderr\n" {
		t.Errorf("worker log %q", log)
	}
}

// TestParsePriority: the facility names are the daemons' table
// (internal/logging), looked up as before: short or LOG_-prefixed once, any
// case, spaces around a part ignored; an unknown one leaves the default.
func TestParsePriority(t *testing.T) {
	for _, tc := range []struct {
		in         string
		fac, level syslog.Priority
	}{
		{"", syslog.LOG_LOCAL1, syslog.LOG_INFO},
		{" Mail | Err ", syslog.LOG_MAIL, syslog.LOG_ERR},
		{"security|warn", syslog.LOG_AUTH, syslog.LOG_WARNING},
		{"LOG_LOCAL0|LOG_DEBUG", syslog.LOG_LOCAL0, syslog.LOG_DEBUG},
		{"LOG_LOG_MAIL|notice", syslog.LOG_LOCAL1, syslog.LOG_NOTICE},
		{"nope|crit", syslog.LOG_LOCAL1, syslog.LOG_CRIT},
	} {
		if fac, level := parsePriority(tc.in, syslog.LOG_LOCAL1); fac != tc.fac || level != tc.level {
			t.Errorf("parsePriority(%q) = %d, %d; want %d, %d", tc.in, fac, level, tc.fac, tc.level)
		}
	}
	for in, want := range map[string]syslog.Priority{
		"local7": syslog.LOG_LOCAL7, "LOG_Daemon": syslog.LOG_DAEMON, "": syslog.LOG_MAIL, "nope": syslog.LOG_MAIL,
	} {
		if got := facilityOf(in); got != want {
			t.Errorf("facilityOf(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestMdGraphdefangLog(t *testing.T) {
	commands := "S<A@Example.com>\nR<B@example.com> ? ? ?\nR<C@Example.org> ? ? ?\nQQID1\nUHi, there =?UTF-8?B?w6lsw6h2ZQ==?=\nF\n"
	for _, tc := range []struct {
		name string
		run  func(c *Context)
		want []string
	}{
		{"not enabled", func(c *Context) { c.MdGraphdefangLog("virus", "EICAR", "x.exe", false) }, nil},
		{"enumerated", func(c *Context) {
			c.MdGraphdefangLogEnable("", true)
			c.MdGraphdefangLog("virus", "EICAR, test", "x\\y.exe", false)
		}, []string{
			"2.info QID1: MDLOG,QID1,virus,EICAR%2C test,x%5Cy.exe,<a@example.com>,<b@example.com>,Hi%2C there =?UTF-8?B?w6lsw6h2ZQ==?=",
			"2.info QID1: MDLOG,QID1,virus,EICAR%2C test,x%5Cy.exe,<a@example.com>,<c@example.org>,Hi%2C there =?UTF-8?B?w6lsw6h2ZQ==?=",
		}},
		{"not enumerated", func(c *Context) {
			c.MdGraphdefangLogEnable("local5", false)
			c.MdGraphdefangLog("spam", "7.5", "", false)
		}, []string{"21.info QID1: MDLOG,QID1,spam,7.5,,<a@example.com>,rcpts=2,Hi%2C there =?UTF-8?B?w6lsw6h2ZQ==?="}},
		{"per message array", func(c *Context) {
			c.MdGraphdefangLogEnable("", true)
			c.MdGraphdefangLogArray("scores", false, []string{"1", "2", "3%"}, true)
		}, []string{"2.info QID1: MDLOG,QID1,scores,1,2,3%25,<a@example.com>,rcpts=2,Hi%2C there =?UTF-8?B?w6lsw6h2ZQ==?="}},
		{"per message (3.7's fifth argument)", func(c *Context) {
			c.MdGraphdefangLogEnable("", true)
			c.MdGraphdefangLogPerMessage("virus", "EICAR", "", false, true)
		}, []string{"2.info QID1: MDLOG,QID1,virus,EICAR,,<a@example.com>,rcpts=2,Hi%2C there =?UTF-8?B?w6lsw6h2ZQ==?="}},
		{"utf8 decode", func(c *Context) {
			c.MdGraphdefangLogEnable("", false)
			c.MdGraphdefangLog("=?UTF-8?Q?sp=C3=A4m?=", "a\tb", "", true)
		}, []string{"2.info QID1: MDLOG,QID1,späm,ab,,<a@example.com>,rcpts=2,Hi, there élève"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := fakeSyslog(t)
			w, _ := testWorker(t, func(*Config) *Callbacks {
				return &Callbacks{Begin: func(c *Context, _ *message.Part) error { tc.run(c); return nil }}
			})
			if r := scan(t, w, writeCase(t, commands, "Subject: x\n\nbody\n")); r != "ok\n" {
				t.Fatalf("reply %q", r)
			}
			var mdlog []string
			for _, l := range *lines {
				if strings.Contains(l, "MDLOG") {
					mdlog = append(mdlog, l)
				}
			}
			if strings.Join(mdlog, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(mdlog, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	t.Run("outside message context", func(t *testing.T) {
		noSyslog(t)
		w, log := testWorker(t, func(*Config) *Callbacks { return &Callbacks{} })
		c := w.NewContext(context.Background())
		c.MdGraphdefangLog("x", "", "", false) // not enabled: silent
		c.MdGraphdefangLogEnable("", true)
		c.MdGraphdefangLog("x", "", "", false)
		if log.String() != "md_graphdefang_log called outside of message context\n" {
			t.Errorf("log %q", log)
		}
	})
}

func TestPercentEncodeForGraphdefang(t *testing.T) {
	// What MIMEDefang 3.3's percent_encode_for_graphdefang returns.
	if got, want := PercentEncodeForGraphdefang("a,b %\\ \"q\" \x01\xe9"), `a%2Cb %25%5C "q" %01%E9`; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}
