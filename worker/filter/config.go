package filter

import (
	"github.com/mdgo/md/worker/filter/clamd"
	"github.com/mdgo/md/worker/filter/dnscheck"
	"github.com/mdgo/md/worker/filter/rspamd"
	"github.com/mdgo/md/worker/filter/smtpcheck"
	"github.com/mdgo/md/worker/filter/spamd"
)

// Config holds the configuration globals a filter sets (mimedefang-filter(5)
// "GLOBAL VARIABLES YOU CAN SET"). One Config lives as long as the worker
// process: values changed inside a callback persist for later requests, as
// $NotifySenderSubject does in mimedefang.pl.
//
// The zero value is not useful; start from DefaultConfig. An engine that
// loads a filter applies the filter's file-scope assignments to the Config
// it is given; fields left as DefaultConfig set them keep the original's
// defaults.
type Config struct {
	// AdminAddress is $AdminAddress, recipient of admin and quarantine
	// mail, named in GeneralWarning. Default "postmaster@localhost".
	AdminAddress string
	// AdminName is $AdminName. Default "MIMEDefang Administrator".
	AdminName string
	// DaemonAddress is $DaemonAddress, envelope sender and From: of
	// notifications. Default "mailer-daemon@localhost".
	DaemonAddress string
	// DaemonName is $DaemonName. Default "MIMEDefang".
	DaemonName string

	// AddWarningsInline is $AddWarningsInline: false puts warnings in a
	// separate text part, true appends them to the first text/plain and
	// text/html parts.
	AddWarningsInline bool
	// WarningLocation is $WarningLocation, the offset of the warning part
	// (0 first, -1 last). Default 0.
	WarningLocation int
	// GeneralWarning is $GeneralWarning, prepended to every warning block.
	// Nil means mimedefang.pl's default text, built from AdminName,
	// AdminAddress and URL when it is needed (DefaultGeneralWarning); a
	// filter that sets it, even to "", replaces it.
	GeneralWarning *string
	// URL is $URL, inserted in the default GeneralWarning.
	// Default "https://mimedefang.org/enduser/".
	URL string
	// Stupidity is %Stupidity.
	Stupidity Stupidity
	// WriteWorkParts writes every decoded leaf to Work/ before the
	// callbacks run, as mimedefang.pl always does for scanners that read
	// the directory. Off by default: entity:path() (Part bodies handed to
	// external programs) writes its file on demand, and a scan then
	// creates no file per part (the inode allocation of those files is
	// most of a scan's cost on ext4). Lua: WriteWorkParts = true.
	WriteWorkParts bool

	// MaxMIMEParts is $MaxMIMEParts: > 0 bounces messages with more MIME
	// parts without calling any callback. Default -1 (no limit).
	MaxMIMEParts int

	// NotifySenderSubject is $NotifySenderSubject.
	// Default "MIMEDefang Notification".
	NotifySenderSubject string
	// NotifyAdministratorSubject is $NotifyAdministratorSubject.
	// Default "MIMEDefang Notification".
	NotifyAdministratorSubject string
	// QuarantineSubject is $QuarantineSubject.
	// Default "MIMEDefang Quarantine Report".
	QuarantineSubject string
	// NotifyNoPreamble is $NotifyNoPreamble.
	NotifyNoPreamble bool

	// SyslogFacility is $SyslogFacility. Default "mail".
	SyslogFacility string
	// AddApparentlyToForSpamAssassin is $AddApparentlyToForSpamAssassin:
	// true adds an "Apparently-To:" line listing the recipients to the
	// copy of the message spamd scores (Context.SpamAssassinMail).
	AddApparentlyToForSpamAssassin bool
	// $SALocalTestsOnly has no field: md-worker reaches SpamAssassin
	// through spamd, whose own -L option decides, and SPAMC has no
	// per-request switch (docs/integrations.md, spamd). The Lua global
	// stays, inert, for filters that set it.
	// ValidateIPHeader is $ValidateIPHeader, the IP-validation header
	// name read from CONFDIR/mimedefang-ip-key, or "".
	ValidateIPHeader string
	// PrivateMyHostName is $PrivateMyHostName; "" means ask the system.
	PrivateMyHostName string

	// SpoolDir is $Features{'Path:SPOOLDIR'}. Default
	// "/var/spool/MIMEDefang".
	SpoolDir string
	// QuarantineDir is $Features{'Path:QUARANTINEDIR'}. Default
	// "/var/spool/MD-Quarantine".
	QuarantineDir string
	// Sendmail is $Features{'Path:SENDMAIL'}. Default "/usr/sbin/sendmail".
	Sendmail string

	// Features holds the other %Features keys a filter sets or reads
	// (integration switches and paths), by their Perl names. The default
	// has "Path:CONFDIR": "/etc/mail", which only filters read,
	// "Path:CLAMDCONF": DefaultClamdConf, and the ClamAV switches
	// "Virus:CLAMD", "Virus:CLAMDSCAN" and "Virus:CLAMAV" off ("0"): a
	// filter turns a scanner on for message_contains_virus (1 for clamd,
	// the program's path for the other two).
	Features map[string]string
	// Vars holds filter-defined configuration an engine wants to keep
	// per worker (for example md_graphdefang_log_enable's settings), by
	// name. An integration's settings go in its own field below.
	Vars map[string]string

	// The network integrations (docs/integrations.md): one field per
	// package under worker/filter/, whose zero value is the original's
	// behaviour. Go code sets them; a Lua filter sets the Perl globals
	// an integration reads, where it has any.

	// SMTPCheck configures md_check_against_smtp_server
	// (Context.MdCheckAgainstSMTPServer).
	SMTPCheck smtpcheck.Config
	// Clamd configures message_contains_virus_clamd and
	// entity_contains_virus_clamd (Context.MessageContainsVirusClamd):
	// Sock is $ClamdSock; Mode, WriteTimeout and ReadTimeout are the Lua
	// globals ClamdMode, ClamdWriteTimeout and ClamdReadTimeout
	// (md-worker only).
	Clamd clamd.Config
	// Spamd configures the SpamAssassin functions (spam_assassin_check,
	// md_spamc_check ...; Context.SpamAssassinCheck): md_spamc_init sets
	// Host, Port, User and MaxSize; Timeout is the Lua global
	// SpamdTimeout (md-worker only).
	Spamd spamd.Config
	// Rspamd configures rspamd_check (Context.RspamdCheck): URL is the
	// Lua global RspamdURL and Timeout RspamdTimeout (md-worker only).
	Rspamd rspamd.Config
	// DNS configures the DNS functions (relay_is_blacklisted,
	// get_mx_ip_addresses, md_get_dmarc_record ...; Context.DNS): the
	// name servers ($MD_DNS_SERVERS, else /etc/resolv.conf) and the
	// per-query timeout.
	DNS dnscheck.Config
}

// Stupidity is %Stupidity.
type Stupidity struct {
	// NoMultipleInlines is $Stupidity{NoMultipleInlines}: when a separate
	// warning part goes first into a message that was multipart, the
	// first text/plain leaf gets Content-Disposition inline with
	// filename MESSAGE.TXT.
	NoMultipleInlines bool
}

// DefaultConfig returns the defaults mimedefang.pl 3.3 sets before and
// after loading the filter.
func DefaultConfig() *Config {
	return &Config{
		AdminAddress:               "postmaster@localhost",
		AdminName:                  "MIMEDefang Administrator",
		DaemonAddress:              "mailer-daemon@localhost",
		DaemonName:                 "MIMEDefang",
		URL:                        "https://mimedefang.org/enduser/",
		MaxMIMEParts:               -1,
		NotifySenderSubject:        "MIMEDefang Notification",
		NotifyAdministratorSubject: "MIMEDefang Notification",
		QuarantineSubject:          "MIMEDefang Quarantine Report",
		SyslogFacility:             "mail",
		SpoolDir:                   "/var/spool/MIMEDefang",
		QuarantineDir:              "/var/spool/MD-Quarantine",
		Sendmail:                   "/usr/sbin/sendmail",
		Features:                   defaultFeatures(),
		Vars:                       map[string]string{},
	}
}

// defaultFeatures is the %Features a filter starts with, less the paths
// that have fields of their own.
func defaultFeatures() map[string]string {
	return map[string]string{
		"Path:CONFDIR":    "/etc/mail",
		"Path:CLAMDCONF":  DefaultClamdConf,
		"Virus:CLAMD":     "0",
		"Virus:CLAMDSCAN": "0",
		"Virus:CLAMAV":    "0",
	}
}

// SetGeneralWarning sets GeneralWarning to s (a filter's
// "$GeneralWarning = ...").
func (cfg *Config) SetGeneralWarning(s string) { cfg.GeneralWarning = &s }

// Warning returns the effective $GeneralWarning: the filter's value if it
// set one, else DefaultGeneralWarning of the current AdminName,
// AdminAddress and URL.
func (cfg *Config) Warning() string {
	if cfg.GeneralWarning != nil {
		return *cfg.GeneralWarning
	}
	return DefaultGeneralWarning(cfg.AdminName, cfg.AdminAddress, cfg.URL)
}

// DefaultGeneralWarning is the text mimedefang.pl 3.3 assigns to an
// undefined $GeneralWarning after loading the filter.
func DefaultGeneralWarning(adminName, adminAddress, url string) string {
	return "WARNING: This e-mail has been altered by MIMEDefang.  Following this\n" +
		"paragraph are indications of the actual changes made.  For more\n" +
		"information about your site's MIMEDefang policy, contact\n" +
		adminName + " <" + adminAddress + ">.  For more information about MIMEDefang, see:\n\n" +
		"            " + url + "\n\n"
}
