package luafilter

import (
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/mdgo/md/worker/filter"
	"github.com/mdgo/md/worker/filter/clamd"
	"github.com/mdgo/md/worker/filter/dnscheck"
	"github.com/mdgo/md/worker/filter/rspamd"
	"github.com/mdgo/md/worker/filter/spamd"
)

// The per-message globals (docs/reference/filter-api.md §3.1), reset before every request to
// the values mimedefang.pl's init_globals gives them, then filled from the
// request's Context.
func (f *Filter) resetMessageGlobals() {
	L := f.L
	for _, name := range []string{"Sender", "RelayAddr", "RealRelayAddr", "RelayHostname",
		"RealRelayHostname", "Helo", "MIMEDefangID", "Subject", "CWD", "Domain",
		"VirusName", "VirusScannerMessages"} {
		L.SetGlobal(name, lua.LString(""))
	}
	for _, name := range []string{"QueueID", "MsgID", "MessageID"} {
		L.SetGlobal(name, lua.LString("NOQUEUE"))
	}
	for _, name := range []string{"WasResent", "SuspiciousCharsInHeaders", "SuspiciousCharsInBody",
		"WasMultiPart", "Changed"} {
		L.SetGlobal(name, lua.LFalse)
	}
	L.SetGlobal("SubjectCount", lua.LNumber(0))
	L.SetGlobal("QuarantineCount", lua.LNumber(0))
	L.SetGlobal("EntireMessageQuarantined", lua.LFalse)
	for _, name := range []string{"Recipients", "ESMTPArgs", "SenderESMTPArgs",
		"RecipientMailers", "RecipientESMTPArgs", "SendmailMacros"} {
		L.SetGlobal(name, L.CreateTable(0, 0)) // NewTable preallocates 64 slots

	}
	L.SetGlobal("Action", lua.LString("accept"))
}

// startRequest resets the per-message globals and sets them from c, the
// Context of a request whose first callback is about to run.
func (f *Filter) startRequest(c *filter.Context) {
	f.req = c
	f.parts = nil
	f.resetMessageGlobals()
	f.setRequestGlobals(c)
}

// setRequestGlobals sets the per-message globals from c.
func (f *Filter) setRequestGlobals(c *filter.Context) {
	L := f.L
	str := func(name, v string) { L.SetGlobal(name, lua.LString(v)) }
	str("Sender", c.Sender)
	str("RelayAddr", c.RelayAddr)
	str("RealRelayAddr", c.RealRelayAddr)
	str("RelayHostname", c.RelayHostname)
	str("RealRelayHostname", c.RealRelayHostname)
	str("Helo", c.Helo)
	str("QueueID", orNoQueue(c.QueueID))
	str("MsgID", orNoQueue(c.MsgID))
	str("MessageID", orNoQueue(c.MessageID))
	str("MIMEDefangID", c.MIMEDefangID)
	str("Subject", c.Subject)
	L.SetGlobal("SubjectCount", lua.LNumber(c.SubjectCount))
	L.SetGlobal("WasResent", lua.LBool(c.WasResent))
	L.SetGlobal("SuspiciousCharsInHeaders", lua.LBool(c.SuspiciousCharsInHeaders))
	L.SetGlobal("SuspiciousCharsInBody", lua.LBool(c.SuspiciousCharsInBody))
	L.SetGlobal("WasMultiPart", lua.LBool(c.WasMultipart))
	L.SetGlobal("Recipients", f.stringArray(c.Recipients))
	L.SetGlobal("ESMTPArgs", f.stringArray(c.ESMTPArgs))
	L.SetGlobal("SenderESMTPArgs", f.stringArray(c.SenderESMTPArgs))
	mailers := L.CreateTable(0, len(c.RecipientMailers))
	for rcpt, m := range c.RecipientMailers {
		mailers.RawSetString(rcpt, f.stringArray([]string{m.Mailer, m.Host, m.Addr}))
	}
	L.SetGlobal("RecipientMailers", mailers)
	rargs := L.CreateTable(0, len(c.RecipientESMTPArgs))
	for rcpt, args := range c.RecipientESMTPArgs {
		rargs.RawSetString(rcpt, f.stringArray(args))
	}
	L.SetGlobal("RecipientESMTPArgs", rargs)
	macros := L.CreateTable(0, len(c.SendmailMacros))
	for k, v := range c.SendmailMacros {
		macros.RawSetString(k, lua.LString(v))
	}
	L.SetGlobal("SendmailMacros", macros)
}

// updateGlobals refreshes, before each callback, the globals that the
// actions of an earlier callback of the same request may have changed.
func (f *Filter) updateGlobals(c *filter.Context) {
	L := f.L
	L.SetGlobal("CWD", lua.LString(c.CWD))
	L.SetGlobal("Domain", lua.LString(c.Domain))
	L.SetGlobal("VirusName", lua.LString(c.VirusName))
	L.SetGlobal("VirusScannerMessages", lua.LString(c.VirusScannerMessages))
	L.SetGlobal("QuarantineCount", lua.LNumber(c.QuarantineCount()))
	L.SetGlobal("EntireMessageQuarantined", lua.LBool(c.EntireMessageQuarantined()))
}

// The virus scanners' globals, which a filter may also assign ($VirusName
// = "" before a scan): read into the Context before a scanner function
// runs and after every callback, written back after the function.
// CurrentVirusScannerMessage is not a per-message global: as in Perl, it
// keeps its value from one message to the next.

func (f *Filter) readVirusGlobals(c *filter.Context) {
	L := f.L
	c.VirusName = toText(L.GetGlobal("VirusName"))
	c.VirusScannerMessages = toText(L.GetGlobal("VirusScannerMessages"))
	c.CurrentVirusScannerMessage = toText(L.GetGlobal("CurrentVirusScannerMessage"))
}

func (f *Filter) writeVirusGlobals(c *filter.Context) {
	L := f.L
	L.SetGlobal("VirusName", lua.LString(c.VirusName))
	L.SetGlobal("VirusScannerMessages", lua.LString(c.VirusScannerMessages))
	L.SetGlobal("CurrentVirusScannerMessage", lua.LString(c.CurrentVirusScannerMessage))
}

func orNoQueue(s string) string {
	if s == "" {
		return "NOQUEUE"
	}
	return s
}

func (f *Filter) stringArray(ss []string) *lua.LTable {
	t := f.L.CreateTable(len(ss), 0)
	for _, s := range ss {
		t.Append(lua.LString(s))
	}
	return t
}

// The configuration globals (docs/reference/filter-api.md §3.2): plain globals the filter
// assigns at file scope, or later. Before the file runs they hold the
// Config's values, so a filter can read the defaults; after every call the
// values the filter left are written back to the Config.
type configVar struct {
	name string
	get  func(cfg *filter.Config) lua.LValue
	set  func(cfg *filter.Config, v lua.LValue)
}

var configVars = []configVar{
	strVar("AdminAddress", func(c *filter.Config) *string { return &c.AdminAddress }),
	strVar("AdminName", func(c *filter.Config) *string { return &c.AdminName }),
	strVar("DaemonAddress", func(c *filter.Config) *string { return &c.DaemonAddress }),
	strVar("DaemonName", func(c *filter.Config) *string { return &c.DaemonName }),
	boolVar("AddWarningsInline", func(c *filter.Config) *bool { return &c.AddWarningsInline }),
	intVar("WarningLocation", func(c *filter.Config) *int { return &c.WarningLocation }),
	strVar("URL", func(c *filter.Config) *string { return &c.URL }),
	intVar("MaxMIMEParts", func(c *filter.Config) *int { return &c.MaxMIMEParts }),
	strVar("NotifySenderSubject", func(c *filter.Config) *string { return &c.NotifySenderSubject }),
	strVar("NotifyAdministratorSubject", func(c *filter.Config) *string { return &c.NotifyAdministratorSubject }),
	strVar("QuarantineSubject", func(c *filter.Config) *string { return &c.QuarantineSubject }),
	boolVar("NotifyNoPreamble", func(c *filter.Config) *bool { return &c.NotifyNoPreamble }),
	boolVar("WriteWorkParts", func(c *filter.Config) *bool { return &c.WriteWorkParts }),
	strVar("SyslogFacility", func(c *filter.Config) *string { return &c.SyslogFacility }),
	boolVar("AddApparentlyToForSpamAssassin", func(c *filter.Config) *bool { return &c.AddApparentlyToForSpamAssassin }),
	strVar("ValidateIPHeader", func(c *filter.Config) *string { return &c.ValidateIPHeader }),
	strVar("PrivateMyHostName", func(c *filter.Config) *string { return &c.PrivateMyHostName }),
	{
		// $ClamdSock; the Config's "" reads as the default it means.
		name: "ClamdSock",
		get: func(c *filter.Config) lua.LValue {
			if c.Clamd.Sock == "" {
				return lua.LString(clamd.DefaultSock)
			}
			return lua.LString(c.Clamd.Sock)
		},
		set: func(c *filter.Config, v lua.LValue) {
			if v != lua.LNil {
				c.Clamd.Sock = toText(v)
			}
		},
	},
	// md-worker only: how the clamd functions reach clamd (Config.Clamd).
	{
		name: "ClamdMode",
		get: func(c *filter.Config) lua.LValue {
			if c.Clamd.Mode == "" {
				return lua.LString(clamd.Instream)
			}
			return lua.LString(c.Clamd.Mode)
		},
		set: func(c *filter.Config, v lua.LValue) {
			if v != lua.LNil {
				c.Clamd.Mode = clamd.Mode(strings.ToUpper(toText(v)))
			}
		},
	},
	secondsVar("ClamdWriteTimeout", clamd.DefaultWriteTimeout, func(c *filter.Config) *time.Duration { return &c.Clamd.WriteTimeout }),
	secondsVar("ClamdReadTimeout", clamd.DefaultReadTimeout, func(c *filter.Config) *time.Duration { return &c.Clamd.ReadTimeout }),
	// md-worker only: how long spamd and rspamd may take (Config.Spamd,
	// Config.Rspamd), and the rspamd rspamd_check() asks without an URL.
	secondsVar("SpamdTimeout", spamd.DefaultTimeout, func(c *filter.Config) *time.Duration { return &c.Spamd.Timeout }),
	// md-worker's own: the DNS functions' name servers ("host:port,
	// host:port"; "" means $MD_DNS_SERVERS, else /etc/resolv.conf) and
	// per-query timeout.
	{
		name: "DNSServers",
		get:  func(c *filter.Config) lua.LValue { return lua.LString(strings.Join(c.DNS.Servers, ",")) },
		set: func(c *filter.Config, v lua.LValue) {
			c.DNS.Servers = nil
			for _, s := range strings.Split(lua.LVAsString(v), ",") {
				if s = strings.TrimSpace(s); s != "" {
					c.DNS.Servers = append(c.DNS.Servers, s)
				}
			}
		},
	},
	secondsVar("DNSTimeout", dnscheck.DefaultTimeout, func(c *filter.Config) *time.Duration { return &c.DNS.Timeout }),
	secondsVar("RspamdTimeout", rspamd.DefaultTimeout, func(c *filter.Config) *time.Duration { return &c.Rspamd.Timeout }),
	{
		name: "RspamdURL",
		get: func(c *filter.Config) lua.LValue {
			if c.Rspamd.URL == "" {
				return lua.LString(rspamd.DefaultURL)
			}
			return lua.LString(c.Rspamd.URL)
		},
		set: func(c *filter.Config, v lua.LValue) {
			if v != lua.LNil {
				c.Rspamd.URL = toText(v)
			}
		},
	},
	{
		name: "GeneralWarning",
		get: func(c *filter.Config) lua.LValue {
			if c.GeneralWarning == nil {
				return lua.LNil // the default is built when needed, from AdminName etc.
			}
			return lua.LString(*c.GeneralWarning)
		},
		set: func(c *filter.Config, v lua.LValue) {
			if v == lua.LNil {
				c.GeneralWarning = nil
				return
			}
			c.SetGeneralWarning(toText(v))
		},
	},
	{
		// $SALocalTestsOnly: spamd's -L option decides for md-worker (SPAMC
		// has no per-request switch), so Config has no field for it. The
		// global keeps its default and takes any value, so that filters
		// that set or test it run unchanged.
		name: "SALocalTestsOnly",
		get:  func(*filter.Config) lua.LValue { return lua.LTrue },
		set:  func(*filter.Config, lua.LValue) {},
	},
	{
		// $Administrator is the deprecated alias of $AdminAddress.
		name: "Administrator",
		get:  func(*filter.Config) lua.LValue { return lua.LNil },
		set: func(c *filter.Config, v lua.LValue) {
			if v != lua.LNil {
				c.AdminAddress = toText(v)
			}
		},
	},
}

func strVar(name string, field func(*filter.Config) *string) configVar {
	return configVar{name,
		func(c *filter.Config) lua.LValue { return lua.LString(*field(c)) },
		func(c *filter.Config, v lua.LValue) {
			if v != lua.LNil {
				*field(c) = toText(v)
			}
		}}
}

func boolVar(name string, field func(*filter.Config) *bool) configVar {
	return configVar{name,
		func(c *filter.Config) lua.LValue { return lua.LBool(*field(c)) },
		func(c *filter.Config, v lua.LValue) {
			if v != lua.LNil {
				*field(c) = perlTrue(v)
			}
		}}
}

func intVar(name string, field func(*filter.Config) *int) configVar {
	return configVar{name,
		func(c *filter.Config) lua.LValue { return lua.LNumber(*field(c)) },
		func(c *filter.Config, v lua.LValue) {
			switch v := v.(type) {
			case lua.LNumber:
				*field(c) = int(v)
			case lua.LString:
				if n, err := strconv.Atoi(strings.TrimSpace(string(v))); err == nil {
					*field(c) = n
				}
			}
		}}
}

// secondsVar is a duration in seconds (a number, fractions allowed); the
// Config's zero reads as def, the default it means, and a value that is
// not a positive number sets the default back.
func secondsVar(name string, def time.Duration, field func(*filter.Config) *time.Duration) configVar {
	return configVar{name,
		func(c *filter.Config) lua.LValue {
			d := *field(c)
			if d <= 0 {
				d = def
			}
			return lua.LNumber(d.Seconds())
		},
		func(c *filter.Config, v lua.LValue) {
			if v == lua.LNil {
				return
			}
			s, err := strconv.ParseFloat(strings.TrimSpace(toText(v)), 64)
			if err != nil || s <= 0 {
				*field(c) = 0
				return
			}
			*field(c) = time.Duration(s * float64(time.Second))
		}}
}

// perlTrue is Perl's truth for a configuration flag, so that both
// "AddWarningsInline = 1" (a Perl habit: 0 is true in Lua) and "= true"
// work: nil, false, 0, "" and "0" are false.
func perlTrue(v lua.LValue) bool {
	switch v := v.(type) {
	case *lua.LNilType:
		return false
	case lua.LBool:
		return bool(v)
	case lua.LNumber:
		return v != 0
	case lua.LString:
		return v != "" && v != "0"
	}
	return true
}

// installConfigGlobals sets the configuration globals, the Stupidity and
// Features tables from the Config.
func (f *Filter) installConfigGlobals() {
	L := f.L
	for _, v := range configVars {
		L.SetGlobal(v.name, v.get(f.cfg))
	}
	st := L.NewTable()
	st.RawSetString("NoMultipleInlines", lua.LBool(f.cfg.Stupidity.NoMultipleInlines))
	L.SetGlobal("Stupidity", st)

	feat := L.NewTable()
	for k, v := range f.cfg.Features {
		// Perl's 1/0 module and scanner flags: 0 is true in Lua.
		switch v {
		case "1":
			feat.RawSetString(k, lua.LTrue)
		case "0", "":
			feat.RawSetString(k, lua.LFalse)
		default:
			feat.RawSetString(k, lua.LString(v))
		}
	}
	for k, v := range map[string]string{
		"Path:SPOOLDIR":      f.cfg.SpoolDir,
		"Path:QUARANTINEDIR": f.cfg.QuarantineDir,
		"Path:SENDMAIL":      f.cfg.Sendmail,
	} {
		feat.RawSetString(k, lua.LString(v))
	}
	// Capabilities that are built into md-worker rather than Perl modules
	// loaded at run time.
	for _, name := range builtinFeatures {
		if _, ok := bindings[featureNeeds[name]]; ok || featureNeeds[name] == "" {
			feat.RawSetString(name, lua.LTrue)
		}
	}
	L.SetGlobal("Features", feat)
}

// builtinFeatures are the %Features module flags md-worker answers true,
// when the binding in featureNeeds exists.
var builtinFeatures = []string{"Archive::Zip", "HTML::Parser", "Digest::MD5", "Digest::SHA"}

var featureNeeds = map[string]string{
	"Archive::Zip": "re_match_in_zip_directory",
	"HTML::Parser": "append_html_boilerplate",
}

// readConfig writes the configuration globals back into the Config.
func (f *Filter) readConfig() {
	L := f.L
	for _, v := range configVars {
		v.set(f.cfg, L.GetGlobal(v.name))
	}
	if st, ok := L.GetGlobal("Stupidity").(*lua.LTable); ok {
		f.cfg.Stupidity.NoMultipleInlines = perlTrue(st.RawGetString("NoMultipleInlines"))
	}
	if feat, ok := L.GetGlobal("Features").(*lua.LTable); ok {
		feat.ForEach(func(k, v lua.LValue) {
			ks, ok := k.(lua.LString)
			if !ok {
				return
			}
			switch key := string(ks); key {
			case "Path:SPOOLDIR":
				f.cfg.SpoolDir = toText(v)
			case "Path:QUARANTINEDIR":
				f.cfg.QuarantineDir = toText(v)
			case "Path:SENDMAIL":
				f.cfg.Sendmail = toText(v)
			default:
				if f.cfg.Features == nil {
					f.cfg.Features = map[string]string{}
				}
				val := toText(v)
				if b, ok := v.(lua.LBool); ok && !bool(b) {
					val = "0"
				}
				if f.cfg.Features[key] != val {
					f.cfg.Features[key] = val
				}
			}
		})
	}
}
