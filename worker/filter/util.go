package filter

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mdgo/md/proto"
	"github.com/mdgo/md/worker/internal/spooldir"
)

// Miscellaneous utilities of Mail::MIMEDefang, Mail::MIMEDefang::Utils,
// Mail::MIMEDefang::RFC2822 and Mail::MIMEDefang::Net. Times are local
// time, as in Perl's localtime.
//
// read_config is not provided: it executes a Perl file to override
// globals, which has no meaning for a Go or Lua filter (a Lua filter
// assigns its configuration globals at file scope or in
// filter_initialize).

// now is the clock of the time-stamping helpers; tests replace it.
var now = time.Now

// mdVersion is $Mail::MIMEDefang::VERSION of the release this worker
// reimplements.
const mdVersion = "3.3"

// MdVersion is md_version(): the MIMEDefang version this worker is
// compatible with, "3.3".
func MdVersion() string { return mdVersion }

// PercentEncode is percent_encode($str): every byte outside 0x21..0x7e
// and every % \ ' " becomes %XY (upper-case hex).
func PercentEncode(s string) string { return proto.Encode(s) }

// PercentDecode is percent_decode($str): every %XY with two hex digits
// becomes that byte; anything else is kept.
func PercentDecode(s string) string { return proto.Decode(s) }

// TimeStr is Utils' time_str(): the local time as YYYY-MM-DD-hh.mm.ss.
func TimeStr() string { return timeStr(now()) }

func timeStr(t time.Time) string { return t.Local().Format("2006-01-02-15.04.05") }

// HourStr is Utils' hour_str(): the local time as YYYY-MM-DD-hh.
func HourStr() string { return hourStr(now()) }

func hourStr(t time.Time) string { return t.Local().Format("2006-01-02-15") }

// RFC2822Date is rfc2822_date(): the local time as
// "Www, DD Mon YYYY hh:mm:ss +hhmm" with English names (RFC2822.pm).
func RFC2822Date() string { return rfc2822Date(now()) }

func rfc2822Date(t time.Time) string {
	return t.Local().Format("Mon, 02 Jan 2006 15:04:05 ") + headerTimezone(t)
}

// HeaderTimezone is header_timezone($now): the offset of local time
// from UTC at t as +hhmm or -hhmm. (mimedefang.pl caches it in
// $CachedTimezone; the cache is never filled in 3.3 because the module
// receives the global by value, so it is computed every time, as here.)
func HeaderTimezone(t time.Time) string { return headerTimezone(t) }

func headerTimezone(t time.Time) string {
	_, off := t.Local().Zone()
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	return fmt.Sprintf("%s%02d%02d", sign, off/3600, off%3600/60)
}

// GenMsgidHeader is gen_msgid_header(): "Message-ID:
// <YYYYMMDDhhmm.<id>@<host>>\n", where id is QueueID, or a random number
// printed as Perl prints rand() when the queue ID is NOQUEUE, and host is
// GetHostName.
func (c *Context) GenMsgidHeader() string {
	t := now().Local()
	id := c.QueueID
	if id == proto.NoQueue || id == "" {
		id = strconv.FormatFloat(rand.Float64(), 'g', 15, 64)
	}
	return fmt.Sprintf("Message-ID: <%s.%s@%s>\n", t.Format("200601021504"), id, c.GetHostName())
}

// GenDateMsgidHeaders is gen_date_msgid_headers($msgid_header):
// "Date: <RFC2822Date>\n" followed by msgidHeader, or by GenMsgidHeader
// when msgidHeader is "".
func (c *Context) GenDateMsgidHeaders(msgidHeader string) string {
	if msgidHeader == "" {
		msgidHeader = c.GenMsgidHeader()
	}
	return "Date: " + RFC2822Date() + "\n" + msgidHeader
}

var hostName struct {
	once sync.Once
	name string
}

// GetHostName is get_host_name(): Config.PrivateMyHostName
// ($PrivateMyHostName) when set, else this host's name ("localhost" if
// unknown) replaced by its canonical name (gethostbyname's h_name: the
// first name of its /etc/hosts line, else the DNS canonical name) when
// that is longer. The system name is looked up once per process.
//
// Unlike MIMEDefang 3.3, whose Mail::MIMEDefang module calls
// Net::get_host_name() without $PrivateMyHostName for the notification
// and quarantine mails, every caller here honours PrivateMyHostName.
func (c *Context) GetHostName() string {
	if c != nil && c.Config != nil && c.Config.PrivateMyHostName != "" {
		return c.Config.PrivateMyHostName
	}
	hostName.once.Do(func() { hostName.name = systemHostName() })
	return hostName.name
}

func systemHostName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	fqdn := canonicalFromHosts("/etc/hosts", h)
	if fqdn == "" {
		if cn, err := net.LookupCNAME(h); err == nil {
			fqdn = strings.TrimSuffix(cn, ".")
		}
	}
	if len(fqdn) > len(h) {
		return fqdn
	}
	return h
}

// canonicalFromHosts returns the first name of the hosts-file line that
// lists name, as the files backend of gethostbyname reports it.
func canonicalFromHosts(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fs := strings.Fields(line)
		if len(fs) < 2 {
			continue
		}
		for _, n := range fs[1:] {
			if strings.EqualFold(n, name) {
				return fs[1]
			}
		}
	}
	return ""
}

// SynthesizeReceivedHeader is synthesize_received_header() (Utils, 3.3):
// the Received: header resend_message puts on re-injected copies:
//
//	Received: from <Helo> (<RealRelayHostname> [<RealRelayAddr>])
//		by <host> (envelope-sender <Sender>) (MIMEDefang) with ESMTP[A] id <MsgID>[
//		for <rcpt>]; <RFC2822Date>
//
// "(<RealRelayHostname> [...])" shrinks to "([<RealRelayAddr>])" when the
// host name is "[<RealRelayAddr>]"; host is the if_name macro or
// GetHostName; ESMTPA when the auth_authen macro is set; the "for" line
// only with exactly one recipient. The result ends in "\n".
func (c *Context) SynthesizeReceivedHeader() string {
	hn := c.SendmailMacros["if_name"]
	if hn == "" {
		hn = c.GetHostName()
	}
	var b strings.Builder
	if c.RealRelayHostname != "["+c.RealRelayAddr+"]" {
		b.WriteString("Received: from " + c.Helo + " (" + c.RealRelayHostname + " [" + c.RealRelayAddr + "])\n")
	} else {
		b.WriteString("Received: from " + c.Helo + " ([" + c.RealRelayAddr + "])\n")
	}
	with := "ESMTP"
	if a := c.SendmailMacros["auth_authen"]; a != "" && a != "0" {
		with = "ESMTPA"
	}
	b.WriteString("\tby " + hn + " (envelope-sender " + c.Sender + ") (MIMEDefang) with " + with + " id " + c.MsgID)
	if len(c.Recipients) != 1 {
		b.WriteString("; ")
	} else {
		b.WriteString("\n\tfor " + c.Recipients[0] + "; ")
	}
	b.WriteString(RFC2822Date() + "\n")
	return b.String()
}

// CopyOrLink is copy_or_link($src, $dst): a hard link, else a byte copy
// (dst created with mode spooldir.FileMode less the umask). It reports
// success.
func CopyOrLink(src, dst string) bool {
	if os.Link(src, dst) == nil {
		return true
	}
	in, err := os.Open(src)
	if err != nil {
		return false
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, spooldir.FileMode)
	if err != nil {
		return false
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err == nil
}

// path returns name inside the working directory.
func (c *Context) path(name string) string { return filepath.Join(c.CWD, name) }

// MdCopyOrigMsgToWorkDir is md_copy_orig_msg_to_work_dir(): message
// context; links or copies INPUTMSG to Work/INPUTMSG so that scanners
// that read Work/ see the raw message. It reports success.
func (c *Context) MdCopyOrigMsgToWorkDir() bool {
	if !c.inMessageContext("md_copy_orig_msg_to_work_dir") {
		return false
	}
	return CopyOrLink(c.path("INPUTMSG"), c.path(filepath.Join("Work", "INPUTMSG")))
}

// MdCopyOrigMsgToWorkDirAsMboxFile is
// md_copy_orig_msg_to_work_dir_as_mbox_file(): message context; writes
// Work/INPUTMBOX: "From <Sender without the outer brackets>
// <RFC2822Date>\n" followed by INPUTMSG. It reports success.
func (c *Context) MdCopyOrigMsgToWorkDirAsMboxFile() bool {
	if !c.inMessageContext("md_copy_orig_msg_to_work_dir_as_mbox_file") {
		return false
	}
	in, err := os.Open(c.path("INPUTMSG"))
	if err != nil {
		return false
	}
	defer in.Close()
	out, err := os.OpenFile(c.path(filepath.Join("Work", "INPUTMBOX")), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, spooldir.FileMode)
	if err != nil {
		return false
	}
	s := strings.TrimSuffix(strings.TrimPrefix(c.Sender, "<"), ">")
	_, err = io.WriteString(out, "From "+s+" "+RFC2822Date()+"\n")
	if err == nil {
		_, err = io.Copy(out, in)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err == nil
}
