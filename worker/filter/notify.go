package filter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/mdgo/md/worker/internal/spooldir"
)

// Notifications and outbound mail (Mail::MIMEDefang, Actions). All mail
// leaves through the local MTA's sendmail program
// (Config.Sendmail, $Features{'Path:SENDMAIL'}), run directly without a
// shell, as MIMEDefang does.

func init() { onComplete((*Context).sendPendingNotifications) }

// sendmailPath is $Features{'Path:SENDMAIL'}.
func (c *Context) sendmailPath() string {
	if c.Config.Sendmail != "" {
		return c.Config.Sendmail
	}
	if s := c.Config.Features["Path:SENDMAIL"]; s != "" {
		return s
	}
	return "/usr/sbin/sendmail"
}

// deliveryMode returns mode when it is one of sendmail's -odb, -odq,
// -odd, -odi, else -odd.
func deliveryMode(mode string) string {
	switch mode {
	case "-odb", "-odq", "-odd", "-odi":
		return mode
	}
	return "-odd"
}

// runSendmail runs sendmail with args and in as its standard input; its
// standard output and error go to the worker's log, never to the
// multiplexor pipe. It returns an error for a failed start or a non-zero
// exit status.
func (c *Context) runSendmail(args []string, in io.Reader) error {
	ctx := context.Context(c)
	if c.Context == nil {
		ctx = context.Background()
	}
	sm := c.sendmailPath()
	cmd := exec.CommandContext(ctx, sm, args...)
	cmd.Stdin = in
	var out io.Writer = os.Stderr
	if c.w != nil {
		out = c.w.opts.Log
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = c.CWD
	if cmd.Dir != "" && !isDir(cmd.Dir) {
		cmd.Dir = ""
	}
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		c.MdSyslog("err", fmt.Sprintf("Could not exec %s: %v", sm, err))
	}
	return err
}

// SendMail is send_mail($fromAddr, $fromFull, $recipient, $body,
// $deliverymode): it pipes body, a complete message with headers, into
//
//	sendmail -f<from> [-F<fromFull>] <mode> -Ac -oi -- <recipient>
//
// "-f<>" when from is empty, no -F when fromFull is empty, mode one of
// -odb, -odq, -odd, -odi, anything else (and "") meaning -odd. The Perl
// original returns nothing; the error (sendmail could not be run or
// exited non-zero) is for Go callers, failures to start are logged.
func (c *Context) SendMail(from, fromFull, recipient, body, mode string) error {
	args := []string{"-f<>"}
	if from != "" {
		args[0] = "-f" + from
	}
	if fromFull != "" {
		args = append(args, "-F"+fromFull)
	}
	args = append(args, deliveryMode(mode), "-Ac", "-oi", "--", recipient)
	return c.runSendmail(args, strings.NewReader(body))
}

// mailHeader is the header block MIMEDefang 3.3 writes on its own
// notification mails, ending in the blank line.
func (c *Context) mailHeader(from, to, subject string) string {
	return "From: " + from + "\n" +
		"To: " + to + "\n" +
		c.GenDateMsgidHeaders("") +
		"Auto-Submitted: auto-generated\n" +
		"MIME-Version: 1.0\nContent-Type: text/plain\n" +
		"Precedence: bulk\n" +
		"Subject: " + subject + "\n\n"
}

// SendAdminMail is send_admin_mail($subject, $body): it mails body to
// AdminAddress (docs/reference/filter-api.md §6.4):
//
//	From: <DaemonName> <<DaemonAddress>>
//	To: "<AdminName>" <<AdminAddress>>
//	Date: ..., Message-ID: ...
//	Auto-Submitted: auto-generated
//	MIME-Version: 1.0
//	Content-Type: text/plain
//	Precedence: bulk
//	Subject: <subject>
//
// sent as SendMail(DaemonAddress, DaemonName, AdminAddress, ..., "-odd").
func (c *Context) SendAdminMail(subject, body string) error {
	cfg := c.Config
	mail := c.mailHeader(cfg.DaemonName+" <"+cfg.DaemonAddress+">",
		`"`+cfg.AdminName+`" <`+cfg.AdminAddress+`>`, subject) + body
	return c.SendMail(cfg.DaemonAddress, cfg.DaemonName, cfg.AdminAddress, mail, "")
}

// appendFile appends s to name in the working directory.
func (c *Context) appendFile(name, s string) error {
	f, err := os.OpenFile(c.path(name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, spooldir.FileMode)
	if err != nil {
		return err
	}
	_, err = io.WriteString(f, s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ActionNotifySender is action_notify_sender($msg): message context. It
// appends msg as it is (the caller supplies the final newline) to
// NOTIFICATION in the working directory; at the end of the scan one mail
// with the accumulated text goes to the sender (docs/reference/filter-api.md §6.3). It is
// refused (logged, false) when Sender is "<>" or VirusName is set
// (viruses forge senders).
func (c *Context) ActionNotifySender(msg string) bool {
	if !c.inMessageContext("action_notify_sender") {
		return false
	}
	if c.Sender == "<>" {
		c.MdSyslog("err", "Skipped action_notify_sender: Sender = <>")
		return false
	}
	if c.VirusName != "" {
		c.MdSyslog("err", "action_notify_sender disabled when virus is detected")
		return false
	}
	if err := c.appendFile("NOTIFICATION", msg); err != nil {
		c.MdSyslog("err", fmt.Sprintf("Could not create NOTIFICATION file: %v", err))
		return false
	}
	c.count("notify_sender")
	return true
}

// ActionNotifyAdministrator is action_notify_administrator($msg): outside
// message context it mails msg to the administrator at once
// (SendAdminMail with NotifyAdministratorSubject) and returns true;
// during a scan it appends msg to ADMIN_NOTIFICATION, and one mail with
// the accumulated text is sent at the end of the scan.
func (c *Context) ActionNotifyAdministrator(msg string) bool {
	if !c.inMessage {
		c.SendAdminMail(c.Config.NotifyAdministratorSubject, msg)
		return true
	}
	if err := c.appendFile("ADMIN_NOTIFICATION", msg); err != nil {
		c.MdSyslog("err", fmt.Sprintf("Could not create ADMIN_NOTIFICATION file: %v", err))
		return false
	}
	c.count("notify_administrator")
	return true
}

// sendPendingNotifications is the mail part of signal_complete, run at
// the end of every scan before F is written (also when the message was
// bounced or discarded): the sender notification when NOTIFICATION exists
// and Sender is not "<>" (docs/reference/filter-api.md §6.3), then the administrator
// notification when ADMIN_NOTIFICATION exists. Mail failures are logged
// and never fail the scan, as in MIMEDefang.
//
// The sender notification is:
//
//	From: <DaemonName> <<DaemonAddress>>
//	To: <Sender>
//	Date: ..., Message-ID: ..., Auto-Submitted: auto-generated,
//	MIME-Version: 1.0, Content-Type: text/plain, Precedence: bulk
//	Subject: <NotifySenderSubject>
//
//	An e-mail you sent with message-id <MessageID>
//	was modified by our mail scanning software.
//
//	The recipients were: <r1> <r2> ...
//
//	Here are the details of the modification:
//
//	<NOTIFICATION>
//
// with everything between the header and NOTIFICATION left out when
// NotifyNoPreamble is set; it is sent as SendMail(DaemonAddress,
// DaemonName, Sender, ...).
func (c *Context) sendPendingNotifications() error {
	cfg := c.Config
	if c.Sender != "<>" {
		if note, err := os.ReadFile(c.path("NOTIFICATION")); err == nil {
			var b strings.Builder
			b.WriteString(c.mailHeader(cfg.DaemonName+" <"+cfg.DaemonAddress+">", c.Sender, cfg.NotifySenderSubject))
			if !cfg.NotifyNoPreamble {
				b.WriteString("An e-mail you sent with message-id " + c.MessageID + "\n")
				b.WriteString("was modified by our mail scanning software.\n\n")
				b.WriteString("The recipients were:")
				for _, r := range c.Recipients {
					b.WriteString(" " + r)
				}
				b.WriteString("\n\n")
				b.WriteString("Here are the details of the modification:\n\n")
			}
			b.Write(note)
			if err := c.SendMail(cfg.DaemonAddress, cfg.DaemonName, c.Sender, b.String(), ""); err != nil {
				c.MdSyslog("err", fmt.Sprintf("sender notification: %v", err))
			}
		}
	}
	if note, err := os.ReadFile(c.path("ADMIN_NOTIFICATION")); err == nil {
		if err := c.SendAdminMail(cfg.NotifyAdministratorSubject, string(note)); err != nil {
			c.MdSyslog("err", fmt.Sprintf("administrator notification: %v", err))
		}
	}
	return nil
}
