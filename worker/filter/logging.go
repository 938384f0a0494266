package filter

import (
	"log/syslog"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/mdgo/md/internal/logging"
	"github.com/mdgo/md/worker/message"
)

// Logging: md_syslog and the GraphDefang MDLOG lines.
//
// mimedefang.pl logs to syslog as "mimedefang.pl[pid]" with the facility
// $SyslogFacility. MdSyslog does the same when the system logger is
// reachable, at the priority (and facility) the filter names; when it is
// not, the line goes to the worker's log (stderr, which the multiplexor
// logs with -l), as the framework's own lines do (Context.Logf). A line
// goes to one of the two, never both, so that a multiplexor run with -l
// does not log it twice.

// syslogWriter is the part of *syslog.Writer MdSyslog uses.
type syslogWriter interface {
	Emerg(string) error
	Alert(string) error
	Crit(string) error
	Err(string) error
	Warning(string) error
	Notice(string) error
	Info(string) error
	Debug(string) error
}

// dialSyslog connects to the system logger; tests replace it.
var dialSyslog = func(facility syslog.Priority, tag string) (syslogWriter, error) {
	return syslog.New(facility|syslog.LOG_INFO, tag)
}

// syslogs holds one connection per facility, opened on first use and
// kept for the life of the worker (openlog with "ndelay"). A facility
// whose connection failed is remembered as nil and not retried.
var syslogs struct {
	sync.Mutex
	w map[syslog.Priority]syslogWriter
}

var syslogLevels = map[string]syslog.Priority{
	"emerg": syslog.LOG_EMERG, "panic": syslog.LOG_EMERG, "alert": syslog.LOG_ALERT,
	"crit": syslog.LOG_CRIT, "err": syslog.LOG_ERR, "error": syslog.LOG_ERR,
	"warning": syslog.LOG_WARNING, "warn": syslog.LOG_WARNING, "notice": syslog.LOG_NOTICE,
	"info": syslog.LOG_INFO, "debug": syslog.LOG_DEBUG,
}

// parsePriority splits a Perl priority string ("err", "mail|info",
// "LOG_LOCAL0|LOG_DEBUG") into facility and level; missing parts are
// def (the facility) and info (the level). The facility names are the
// daemons' (logging.LookupFacility).
func parsePriority(s string, def syslog.Priority) (fac, level syslog.Priority) {
	fac, level = def, syslog.LOG_INFO
	for _, p := range strings.Split(s, "|") {
		p = strings.TrimSpace(p)
		if l, ok := syslogLevels[strings.TrimPrefix(strings.ToLower(p), "log_")]; ok {
			level = l
		} else if f, ok := logging.LookupFacility(p); ok {
			fac = f
		}
	}
	return fac, level
}

// facilityOf is the syslog facility called name (logging.LookupFacility),
// or mail when there is none.
func facilityOf(name string) syslog.Priority {
	if f, ok := logging.LookupFacility(name); ok {
		return f
	}
	return syslog.LOG_MAIL
}

// MdSyslog is md_syslog($priority, $msg). priority is a level ("err",
// "warning", "info", "debug", "crit", "notice", "alert", "emerg"; the
// aliases "error", "panic" and "warn"), optionally combined with a
// facility as "mail|info"; the facility defaults to
// Config.SyslogFacility, an unknown level means info (Unix::Syslog would
// log it as emerg). The message is logged as is (no format expansion),
// prefixed with "<MsgID>: " unless MsgID is empty or NOQUEUE.
func (c *Context) MdSyslog(priority, msg string) {
	def := syslog.LOG_MAIL
	if c.Config != nil {
		def = facilityOf(c.Config.SyslogFacility)
	}
	fac, level := parsePriority(priority, def)
	line := msg
	if c.MsgID != "" && c.MsgID != "NOQUEUE" {
		line = c.MsgID + ": " + msg
	}
	if w := syslogFor(fac); w != nil && writeSyslog(w, level, line) == nil {
		return
	}
	if c.w != nil {
		c.w.logLine(strings.TrimRight(line, "\n"))
	}
}

func syslogFor(fac syslog.Priority) syslogWriter {
	syslogs.Lock()
	defer syslogs.Unlock()
	if w, ok := syslogs.w[fac]; ok {
		return w
	}
	if syslogs.w == nil {
		syslogs.w = map[syslog.Priority]syslogWriter{}
	}
	w, err := dialSyslog(fac, "mimedefang.pl")
	if err != nil {
		w = nil
	}
	syslogs.w[fac] = w
	return w
}

func writeSyslog(w syslogWriter, level syslog.Priority, msg string) error {
	switch level {
	case syslog.LOG_EMERG:
		return w.Emerg(msg)
	case syslog.LOG_ALERT:
		return w.Alert(msg)
	case syslog.LOG_CRIT:
		return w.Crit(msg)
	case syslog.LOG_ERR:
		return w.Err(msg)
	case syslog.LOG_WARNING:
		return w.Warning(msg)
	case syslog.LOG_NOTICE:
		return w.Notice(msg)
	case syslog.LOG_DEBUG:
		return w.Debug(msg)
	}
	return w.Info(msg)
}

// graphDefang keys in Config.Vars: the Perl globals
// $GraphDefangSyslogFacility and $EnumerateRecipients, which live as long
// as the worker (init_globals does not reset them).
const (
	varGraphDefangFacility = "GraphDefangSyslogFacility"
	varEnumerateRecipients = "EnumerateRecipients"
)

// MdGraphdefangLogEnable is md_graphdefang_log_enable($facility,
// $enumerate_recipients): it turns on the MDLOG lines of MdGraphdefangLog
// for the rest of the worker's life. facility "" means
// Config.SyslogFacility; enumerateRecipients is the Perl default 1 when
// the filter passes nothing (the Lua binding's job). The settings are
// kept in Config.Vars as "GraphDefangSyslogFacility" and
// "EnumerateRecipients" ("1"/"0").
func (c *Context) MdGraphdefangLogEnable(facility string, enumerateRecipients bool) {
	if facility == "" {
		facility = c.Config.SyslogFacility
	}
	if c.Config.Vars == nil {
		c.Config.Vars = map[string]string{}
	}
	c.Config.Vars[varGraphDefangFacility] = facility
	c.Config.Vars[varEnumerateRecipients] = "0"
	if enumerateRecipients {
		c.Config.Vars[varEnumerateRecipients] = "1"
	}
}

// MdGraphdefangLog is md_graphdefang_log($event, $value1, $value2,
// $utf8_decode) of MIMEDefang 3.3: MdGraphdefangLogArray(event,
// utf8Decode, []string{value1, value2}, false).
func (c *Context) MdGraphdefangLog(event, value1, value2 string, utf8Decode bool) {
	c.MdGraphdefangLogPerMessage(event, value1, value2, utf8Decode, false)
}

// MdGraphdefangLogPerMessage is md_graphdefang_log with the fifth argument
// of MIMEDefang 3.7, $per_message: MdGraphdefangLogArray(event,
// utf8Decode, []string{value1, value2}, perMessage), one line for the
// message ("rcpts=<N>") even when recipients are enumerated.
func (c *Context) MdGraphdefangLogPerMessage(event, value1, value2 string, utf8Decode, perMessage bool) {
	c.graphdefangLog("md_graphdefang_log", event, utf8Decode, []string{value1, value2}, perMessage)
}

// MdGraphdefangLogArray is md_graphdefang_log_array($event, $utf8_decode,
// \@values, $per_message) (MIMEDefang after 3.3): it logs at
// "<facility>|info" the line
//
//	MDLOG,<MsgID>,<event>,<v1>,...,<vN>,<lc sender>,<lc recipient>,<Subject>
//
// once per recipient when recipient enumeration is on and perMessage is
// false, or when there is exactly one recipient; otherwise once with the
// recipient field "rcpts=<N>". Every field is encoded with
// PercentEncodeForGraphdefang; with utf8Decode the event, values and
// subject are instead MIME-decoded to UTF-8 and stripped of
// non-printable characters (the sender, recipients and ID stay encoded).
// Nothing is logged until MdGraphdefangLogEnable was called; outside
// message context it logs "md_graphdefang_log_array called outside of
// message context" and does nothing.
func (c *Context) MdGraphdefangLogArray(event string, utf8Decode bool, values []string, perMessage bool) {
	c.graphdefangLog("md_graphdefang_log_array", event, utf8Decode, values, perMessage)
}

func (c *Context) graphdefangLog(name, event string, utf8Decode bool, values []string, perMessage bool) {
	fac, ok := c.Config.Vars[varGraphDefangFacility]
	if !ok {
		return
	}
	if !c.inMessageContext(name) {
		return
	}
	enc := PercentEncodeForGraphdefang
	text := enc
	if utf8Decode {
		text = printableUTF8
	}
	var b strings.Builder
	b.WriteString("MDLOG," + enc(c.MsgID) + "," + text(event))
	for _, v := range values {
		b.WriteString("," + text(v))
	}
	head := b.String() + "," + enc(strings.ToLower(c.Sender)) + ","
	subj := "," + text(c.Subject)
	prio := fac + "|info"
	enumerate := c.Config.Vars[varEnumerateRecipients] != "0"
	if (enumerate && !perMessage) || len(c.Recipients) == 1 {
		for _, r := range c.Recipients {
			c.MdSyslog(prio, head+enc(strings.ToLower(r))+subj)
		}
		return
	}
	c.MdSyslog(prio, head+enc("rcpts="+strconv.Itoa(len(c.Recipients)))+subj)
}

// PercentEncodeForGraphdefang is percent_encode_for_graphdefang($str):
// every byte outside 0x20..0x7e and every % \ , becomes %XY; quotes and
// spaces stay.
func PercentEncodeForGraphdefang(s string) string {
	var b strings.Builder
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch < 0x20 || ch > 0x7e || ch == '%' || ch == '\\' || ch == ',' {
			b.WriteByte('%')
			b.WriteByte(hex[ch>>4])
			b.WriteByte(hex[ch&15])
			continue
		}
		b.WriteByte(ch)
	}
	return b.String()
}

// printableUTF8 is the utf8_decode path of md_graphdefang_log:
// mime_to_perl_string (RFC 2047 words decoded to characters), then
// s/\P{Print}//g, then UTF-8.
func printableUTF8(s string) string {
	s = message.DecodeMIMEWords(s)
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) && !(unicode.IsSpace(r) && !unicode.IsControl(r)) {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
