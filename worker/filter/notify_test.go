package filter

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdgo/md/worker/message"
)

const notifyCommands = "S<a@example.com>\nH[192.0.2.1]\nI192.0.2.1\nR<b@example.com> ? ? ?\nR<c@example.org> ? ? ?\nQQID1\nX<m1@example.com>\nF\n"

// TestNotifications checks the sender and administrator mails of
// signal_complete against what MIMEDefang 3.3 sent for the same calls
// (its Date/Message-ID lines aside).
func TestNotifications(t *testing.T) {
	for _, tc := range []struct {
		name       string
		noPreamble bool
		wantSender string
	}{
		{"preamble", false, "From: MIMEDefang <mailer-daemon@localhost>\n" +
			"To: <a@example.com>\n" +
			"<DATE+MSGID>\n" +
			"Auto-Submitted: auto-generated\n" +
			"MIME-Version: 1.0\n" +
			"Content-Type: text/plain\n" +
			"Precedence: bulk\n" +
			"Subject: MIMEDefang Notification\n" +
			"\n" +
			"An e-mail you sent with message-id <m1@example.com>\n" +
			"was modified by our mail scanning software.\n" +
			"\n" +
			"The recipients were: <b@example.com> <c@example.org>\n" +
			"\n" +
			"Here are the details of the modification:\n" +
			"\n" +
			"first line\n" +
			"second line\n"},
		{"no preamble", true, "From: MIMEDefang <mailer-daemon@localhost>\n" +
			"To: <a@example.com>\n" +
			"<DATE+MSGID>\n" +
			"Auto-Submitted: auto-generated\n" +
			"MIME-Version: 1.0\n" +
			"Content-Type: text/plain\n" +
			"Precedence: bulk\n" +
			"Subject: Your mail\n" +
			"\n" +
			"first line\n" +
			"second line\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, sm, _ := coreWorker(t, func(cfg *Config) *Callbacks {
				cfg.NotifyNoPreamble = tc.noPreamble
				if tc.noPreamble {
					cfg.NotifySenderSubject = "Your mail"
				}
				return &Callbacks{Begin: func(c *Context, _ *message.Part) error {
					// Sent even though the message is bounced.
					c.ActionBounce("no", "", "")
					if !c.ActionNotifySender("first line\n") || !c.ActionNotifySender("second line\n") {
						t.Error("ActionNotifySender = false")
					}
					if !c.ActionNotifyAdministrator("admin says\n") {
						t.Error("ActionNotifyAdministrator = false")
					}
					return nil
				}}
			})
			dir := writeCase(t, notifyCommands, "Subject: hi\n\nbody\n")
			if r := scan(t, w, dir); r != "ok\n" {
				t.Fatalf("reply %q", r)
			}
			if got := readFile(t, filepath.Join(dir, "NOTIFICATION")); got != "first line\nsecond line\n" {
				t.Errorf("NOTIFICATION = %q", got)
			}
			mails := sm.mails(t)
			if len(mails) != 2 {
				t.Fatalf("%d mails, want 2", len(mails))
			}
			if got, want := strings.Join(mails[0].Args, " "), "-fmailer-daemon@localhost -FMIMEDefang -odd -Ac -oi -- <a@example.com>"; got != want {
				t.Errorf("sender args %q, want %q", got, want)
			}
			if got := normMail(mails[0].Body); got != tc.wantSender {
				t.Errorf("sender mail:\n%s\nwant:\n%s", got, tc.wantSender)
			}
			if got, want := strings.Join(mails[1].Args, " "), "-fmailer-daemon@localhost -FMIMEDefang -odd -Ac -oi -- postmaster@localhost"; got != want {
				t.Errorf("admin args %q, want %q", got, want)
			}
			wantAdmin := "From: MIMEDefang <mailer-daemon@localhost>\n" +
				"To: \"MIMEDefang Administrator\" <postmaster@localhost>\n" +
				"<DATE+MSGID>\n" +
				"Auto-Submitted: auto-generated\n" +
				"MIME-Version: 1.0\n" +
				"Content-Type: text/plain\n" +
				"Precedence: bulk\n" +
				"Subject: MIMEDefang Notification\n" +
				"\n" +
				"admin says\n"
			if got := normMail(mails[1].Body); got != wantAdmin {
				t.Errorf("admin mail:\n%s\nwant:\n%s", got, wantAdmin)
			}
			if !strings.Contains(mails[1].Body, "Message-ID: <") || !strings.Contains(mails[1].Body, ".QID1@mx.example.net>\n") {
				t.Errorf("admin mail Message-ID:\n%s", mails[1].Body)
			}
		})
	}
}

func TestNotifySenderRefused(t *testing.T) {
	for _, tc := range []struct {
		name, commands, log string
		virus               bool
	}{
		{"null sender", strings.Replace(notifyCommands, "S<a@example.com>", "S<>", 1), "QID1: Skipped action_notify_sender: Sender = <>", false},
		{"virus", notifyCommands, "QID1: action_notify_sender disabled when virus is detected", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, sm, log := coreWorker(t, func(*Config) *Callbacks {
				return &Callbacks{Begin: func(c *Context, _ *message.Part) error {
					if tc.virus {
						c.VirusName = "EICAR"
					}
					if c.ActionNotifySender("x\n") {
						t.Error("ActionNotifySender = true")
					}
					return nil
				}}
			})
			if r := scan(t, w, writeCase(t, tc.commands, "Subject: hi\n\nbody\n")); r != "ok\n" {
				t.Fatalf("reply %q", r)
			}
			if !strings.Contains(log.String(), tc.log+"\n") {
				t.Errorf("log lacks %q:\n%s", tc.log, log)
			}
			if n := len(sm.mails(t)); n != 0 {
				t.Errorf("%d mails", n)
			}
		})
	}
}

// TestNotifyAdministratorImmediately: outside message context the admin
// mail goes out at once (here from filter_relay).
func TestNotifyAdministratorImmediately(t *testing.T) {
	w, sm, _ := coreWorker(t, func(cfg *Config) *Callbacks {
		cfg.AdminAddress, cfg.AdminName = "hostmaster@example.net", "Host Master"
		cfg.DaemonAddress, cfg.DaemonName = "md@example.net", ""
		cfg.NotifyAdministratorSubject = "Relay alert"
		return &Callbacks{Relay: func(c *Context, r RelayRequest) (Answer, error) {
			if !c.ActionNotifyAdministrator("relay " + r.IP + "\n") {
				t.Error("ActionNotifyAdministrator = false")
			}
			return Answer{Verdict: Continue, Msg: "ok"}, nil
		}}
	})
	if r := w.Handle(context.Background(), "relayok 192.0.2.9 host.example 4567 192.0.2.1 25 NOQUEUE\n"); !strings.HasPrefix(r, "ok 1 ") {
		t.Fatalf("reply %q", r)
	}
	mails := sm.mails(t)
	if len(mails) != 1 {
		t.Fatalf("%d mails", len(mails))
	}
	// No -F with an empty DaemonName.
	if got, want := strings.Join(mails[0].Args, " "), "-fmd@example.net -odd -Ac -oi -- hostmaster@example.net"; got != want {
		t.Errorf("args %q, want %q", got, want)
	}
	want := "From:  <md@example.net>\nTo: \"Host Master\" <hostmaster@example.net>\n<DATE+MSGID>\n" +
		"Auto-Submitted: auto-generated\nMIME-Version: 1.0\nContent-Type: text/plain\nPrecedence: bulk\nSubject: Relay alert\n\nrelay 192.0.2.9\n"
	if got := normMail(mails[0].Body); got != want {
		t.Errorf("mail:\n%s\nwant:\n%s", got, want)
	}
}

func TestSendMailArgs(t *testing.T) {
	w, sm, _ := coreWorker(t, func(*Config) *Callbacks { return &Callbacks{} })
	c := w.NewContext(context.Background())
	for _, tc := range []struct{ from, full, rcpt, mode, want string }{
		{"", "", "<x@example.com>", "", "-f<> -odd -Ac -oi -- <x@example.com>"},
		{"a@example.com", "Alice Example", "b@example.com", "-odi", "-fa@example.com -FAlice Example -odi -Ac -oi -- b@example.com"},
		{"a@example.com", "", "b@example.com", "-odq", "-fa@example.com -odq -Ac -oi -- b@example.com"},
		{"a@example.com", "", "b@example.com", "-odb", "-fa@example.com -odb -Ac -oi -- b@example.com"},
		{"a@example.com", "", "-oQ/tmp", "-ox", "-fa@example.com -odd -Ac -oi -- -oQ/tmp"},
	} {
		if err := c.SendMail(tc.from, tc.full, tc.rcpt, "Subject: x\n\nbody\n", tc.mode); err != nil {
			t.Fatal(err)
		}
		m := sm.mails(t)
		if got := strings.Join(m[len(m)-1].Args, " "); got != tc.want {
			t.Errorf("args %q, want %q", got, tc.want)
		}
		if m[len(m)-1].Body != "Subject: x\n\nbody\n" {
			t.Errorf("body %q", m[len(m)-1].Body)
		}
	}
	sm.fail(t, 3)
	if err := c.SendMail("a", "", "b", "x", ""); err == nil {
		t.Error("no error for exit status 3")
	}
	w.Config().Sendmail = filepath.Join(t.TempDir(), "nonexistent")
	if err := c.SendMail("a", "", "b", "x", ""); err == nil {
		t.Error("no error for a missing sendmail")
	}
}
