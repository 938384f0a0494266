package filter

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mdgo/md/worker/internal/spooldir"
	"github.com/mdgo/md/worker/message"
)

// Quarantine (Mail::MIMEDefang::Actions, Mail::MIMEDefang). The layout is
// MIMEDefang's, so that mimedefang-release and cleanup scripts keep
// working (docs/reference/filter-api.md §6.1):
//
//	<QuarantineDir>/<YYYY-MM-DD-HH>/qdir-<YYYY-MM-DD-HH.MM.SS>-<NNN>/
//		SENDER, SENDMAIL-QID, RECIPIENTS, HEADERS   (GetQuarantineDir)
//		ENTIRE_MESSAGE, MSG.0                       (ActionQuarantineEntireMessage)
//		PART.<n>.BODY, PART.<n>.HEADERS, MSG.<n>     (ActionQuarantine)
//
// Directories are made with mode 0750 as in the original, files with
// 0640 (the original's 0666, but never world-readable); the umask the
// multiplexor sets makes them 0700 and 0600, or 0750 and 0640 with -G, as
// the original's (ENTIRE_MESSAGE, a hard link of INPUTMSG, has the
// milter's mode, the same).

const (
	quarantineDirMode  = spooldir.DirMode
	quarantineFileMode = spooldir.FileMode
)

// quarantineRoot is $Features{'Path:QUARANTINEDIR'}.
func (c *Context) quarantineRoot() string {
	if c.Config.QuarantineDir != "" {
		return c.Config.QuarantineDir
	}
	if d := c.Config.Features["Path:QUARANTINEDIR"]; d != "" {
		return d
	}
	return "/var/spool/MIMEDefang"
}

func writeQuarantineFile(path, content string) error {
	return os.WriteFile(path, []byte(content), quarantineFileMode)
}

// GetQuarantineDir is get_quarantine_dir(): the message's quarantine
// directory ($QuarantineSubdir), made on the first call as
// <QuarantineDir>/<HourStr>/qdir-<TimeStr>-<NNN> with NNN the first free
// number from 001 (at most 1001 tries). The hour directory is made if
// needed, but not QuarantineDir itself. A new directory gets SENDER
// (Sender + "\n"), SENDMAIL-QID (QueueID + "\n"), RECIPIENTS (one
// recipient a line) and HEADERS (a copy of the working directory's
// HEADERS, empty when there is none). It returns "" when the directory
// cannot be made. There is no context check.
func (c *Context) GetQuarantineDir() string {
	if c.quarantineSubdir != "" {
		return c.quarantineSubdir
	}
	t := now()
	root := c.quarantineRoot()
	hourDir := filepath.Join(root, hourStr(t))
	_ = os.Mkdir(hourDir, quarantineDirMode)
	if !isDir(hourDir) {
		c.MdSyslog("err", fmt.Sprintf("get_quarantine_dir: cannot create %s", hourDir))
		return ""
	}
	ts := timeStr(t)
	dir := ""
	for n := 1; n <= 1001; n++ {
		d := fmt.Sprintf("%s/qdir-%s-%03d", hourDir, ts, n)
		err := os.Mkdir(d, quarantineDirMode)
		if err == nil {
			dir = d
			break
		}
		if !errors.Is(err, os.ErrExist) {
			break
		}
	}
	if dir == "" {
		return ""
	}
	c.quarantineSubdir = dir
	_ = writeQuarantineFile(filepath.Join(dir, "SENDER"), c.Sender+"\n")
	_ = writeQuarantineFile(filepath.Join(dir, "SENDMAIL-QID"), c.QueueID+"\n")
	var r strings.Builder
	for _, s := range c.Recipients {
		r.WriteString(s + "\n")
	}
	_ = writeQuarantineFile(filepath.Join(dir, "RECIPIENTS"), r.String())
	hdrs, _ := os.ReadFile(c.path("HEADERS"))
	_ = writeQuarantineFile(filepath.Join(dir, "HEADERS"), string(hdrs))
	return dir
}

// QuarantineCount is $QuarantineCount: the number of parts quarantined
// so far for this message.
func (c *Context) QuarantineCount() int { return c.quarantineCount }

// EntireMessageQuarantined is $EntireMessageQuarantined.
func (c *Context) EntireMessageQuarantined() bool { return c.entireMessageQuarantined }

// ActionQuarantine is action_quarantine($entity, $msg): filter context.
// The part is dropped with the warning msg + "\n" (like
// ActionDropWithWarning, though without counting drop_with_warning);
// then, for a leaf, the quarantine directory is made and gets
// PART.<n>.BODY (the decoded body), PART.<n>.HEADERS (the part's header
// block) and MSG.<n> (msg + "\n"), n counting from 1. It returns true
// when the part was quarantined, false for a container (which is still
// dropped with the warning) or when the directory cannot be made.
// Nothing is mailed: call SendQuarantineNotifications.
func (c *Context) ActionQuarantine(p *message.Part, msg string) bool {
	if !c.inFilterContext("action_quarantine") {
		return false
	}
	c.action = actDrop
	c.warnings = append(c.warnings, msg+"\n")
	if p == nil || p.IsMultipart() {
		return false
	}
	dir := c.GetQuarantineDir()
	if dir == "" {
		return false
	}
	c.count("quarantine")
	c.quarantineCount++
	n := strconv.Itoa(c.quarantineCount)
	if f, err := os.OpenFile(filepath.Join(dir, "PART."+n+".BODY"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, quarantineFileMode); err == nil {
		if _, err := p.DecodeTo(f); err != nil {
			c.MdSyslog("warning", fmt.Sprintf("action_quarantine: decoding part %s: %v", n, err))
		}
		f.Close()
	}
	h := string(p.RawHeader())
	if h != "" && !strings.HasSuffix(h, "\n") {
		h += "\n"
	}
	_ = writeQuarantineFile(filepath.Join(dir, "PART."+n+".HEADERS"), h)
	_ = writeQuarantineFile(filepath.Join(dir, "MSG."+n), msg+"\n")
	return true
}

// ActionQuarantineEntireMessage is action_quarantine_entire_message($msg):
// message context. It makes the quarantine directory and, the first
// time, writes MSG.0 (msg + "\n", only when msg is not empty) and links
// or copies INPUTMSG to ENTIRE_MESSAGE. The message's fate is not
// changed: combine with ActionDiscard or ActionBounce. It returns false
// when the directory cannot be made.
func (c *Context) ActionQuarantineEntireMessage(msg string) bool {
	if !c.inMessageContext("action_quarantine_entire_message") {
		return false
	}
	dir := c.GetQuarantineDir()
	if dir == "" {
		return false
	}
	if c.entireMessageQuarantined {
		return true
	}
	c.count("quarantine_entire_message")
	if msg != "" {
		_ = writeQuarantineFile(filepath.Join(dir, "MSG.0"), msg+"\n")
	}
	c.entireMessageQuarantined = true
	CopyOrLink(c.path("INPUTMSG"), filepath.Join(dir, "ENTIRE_MESSAGE"))
	return true
}

// ActionSMQuarantine is action_sm_quarantine($reason): message context.
// Writes "Q<reason>": the milter asks the MTA to hold the message in its
// own queue (smfi_quarantine). $Actions{sm_quarantine} is set to 1.
func (c *Context) ActionSMQuarantine(reason string) bool {
	if !c.inMessageContext("action_sm_quarantine") {
		return false
	}
	if c.actions == nil {
		c.actions = map[string]int{}
	}
	c.actions["sm_quarantine"] = 1
	return c.WriteResultLine('Q', reason)
}

// SendQuarantineNotifications is send_quarantine_notifications(): when a
// part or the entire message was quarantined, it mails the report of
// docs/reference/filter-api.md §6.2 to AdminAddress through SendMail (From DaemonAddress,
// full name DaemonName). It reports whether a report was handed to
// sendmail. The text is MIMEDefang 3.3's:
//
//	From: <DaemonName> <<DaemonAddress>>
//	To: "<AdminName>" <<AdminAddress>>
//	Date: <RFC2822Date>
//	Message-ID: <GenMsgidHeader>
//	Auto-Submitted: auto-generated
//	MIME-Version: 1.0
//	Content-Type: text/plain
//	Precedence: bulk
//	Subject: <QuarantineSubject>
//
//	An e-mail had 1 part quarantined in the directory ...
//
// MIMEDefang 3.3 passes the queue ID where the Message-ID header belongs,
// which glues it to the next header ("QID1Auto-Submitted: ..."); this
// port writes the Message-ID header that was meant.
func (c *Context) SendQuarantineNotifications() bool {
	if c.quarantineCount == 0 && !c.entireMessageQuarantined {
		return false
	}
	cfg := c.Config
	host := c.GetHostName()
	var b strings.Builder
	b.WriteString(c.mailHeader(cfg.DaemonName+" <"+cfg.DaemonAddress+">",
		`"`+cfg.AdminName+`" <`+cfg.AdminAddress+`>`, cfg.QuarantineSubject))
	if c.quarantineCount >= 1 {
		b.WriteString("An e-mail had " + strconv.Itoa(c.quarantineCount) + " part")
		if c.quarantineCount != 1 {
			b.WriteString("s")
		}
	} else {
		b.WriteString("An e-mail message was")
	}
	dir := c.quarantineSubdir
	b.WriteString(" quarantined in the directory\n")
	b.WriteString(dir + " on " + host + ".\n\n")
	b.WriteString("The sender was '" + c.Sender + "'.\n\n")
	if c.QueueID != "NOQUEUE" {
		b.WriteString("The Sendmail queue identifier was " + c.QueueID + ".\n\n")
	}
	b.WriteString("The relay machine was " + c.RelayHostname + " (" + c.RelayAddr + ").\n\n")
	if c.entireMessageQuarantined {
		b.WriteString("The entire message was quarantined in " + dir + "/ENTIRE_MESSAGE\n\n")
	}
	for _, r := range c.Recipients {
		b.WriteString("Recipient: " + r + "\n")
	}
	done := false
	for i := 0; i <= c.quarantineCount; i++ {
		m, err := os.ReadFile(filepath.Join(dir, "MSG."+strconv.Itoa(i)))
		if err != nil {
			continue
		}
		if !done {
			b.WriteString("Quarantine Messages:\n")
			done = true
		}
		b.Write(m)
	}
	if done {
		b.WriteString("\n")
	}
	if h, err := os.ReadFile(filepath.Join(dir, "HEADERS")); err == nil {
		b.WriteString("\n----------\nHere are the message headers:\n")
		b.Write(h)
	}
	for i := 1; i <= c.quarantineCount; i++ {
		h, err := os.ReadFile(filepath.Join(dir, "PART."+strconv.Itoa(i)+".HEADERS"))
		if err != nil {
			continue
		}
		b.WriteString("\n----------\nHere are the headers for quarantined part " + strconv.Itoa(i) + ":\n")
		b.Write(h)
	}
	if len(c.warnings) > 0 {
		b.WriteString("\n----------\nHere are the warning details:\n\n")
		// "@Warnings": joined by single spaces.
		b.WriteString(strings.Join(c.warnings, " "))
	}
	c.SendMail(cfg.DaemonAddress, cfg.DaemonName, cfg.AdminAddress, b.String(), "")
	return true
}
