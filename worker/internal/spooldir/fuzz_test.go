package spooldir

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mdgo/md/proto"
)

// FuzzParseCommands: any bytes a milter could leave in COMMANDS parse
// without panicking, and every recipient has its mailer triple.
func FuzzParseCommands(f *testing.F) {
	for _, name := range []string{"clean", "exe", "reject", "clean-allchecks"} {
		if b, err := os.ReadFile(filepath.Join(spoolDir(f), name, "COMMANDS")); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("R\nr\n=\n= \nJ\n%\n%4\nF"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommands(bytes.NewReader(b), true, nil)
		for _, r := range c.Recipients {
			if _, ok := c.RecipientMailers[r]; !ok {
				t.Fatalf("recipient %q without mailers", r)
			}
		}
		// F ends the file for the worker: without it, an error, and
		// with it none.
		if c.SawF == (err != nil) {
			t.Fatalf("SawF %v but error %v", c.SawF, err)
		}
	})
}

// FuzzCommandsRoundTrip: whatever the envelope holds (any bytes in the
// sender, a recipient, its mailer triple, the queue ID, the HELO, a macro,
// the subject), a COMMANDS file written as md-milterd writes it
// (proto.EncodeCommands) reads back to the same values: what the filter sees
// is what the MTA sent.
func FuzzCommandsRoundTrip(f *testing.F) {
	f.Add("<a@b>", "<c@d>", "esmtp", "mx.example", "c@d", "Q1", "helo.example", "{daemon_name}", "mx", "Subject")
	f.Add("<>", "<x y@z>", "", "%", "a\x00b", "NOQUEUE", "", "_", "[192.0.2.1]", "\xff\r\n")
	f.Fuzz(func(t *testing.T, sender, rcpt, mailer, host, addr, qid, helo, macro, value, subject string) {
		if macro == "" || rcpt == "" {
			return // the MTA gives no empty macro name or recipient
		}
		// md-milterd writes "?" for a mailer, host or address the MTA did
		// not give.
		for _, p := range []*string{&mailer, &host, &addr} {
			if *p == "" {
				*p = "?"
			}
		}
		var b strings.Builder
		line := func(letter string, args ...string) {
			b.WriteString(letter)
			for i, a := range args {
				if i > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(proto.EncodeCommands(a))
			}
			b.WriteByte('\n')
		}
		line("S", sender)
		line("=", macro, value)
		line("Q", qid)
		line("E", helo)
		line("R", rcpt, mailer, host, addr)
		line("U", subject)
		line("F")
		c, err := ParseCommands(strings.NewReader(b.String()), true, nil)
		if err != nil {
			t.Fatalf("%q: %v", b.String(), err)
		}
		for _, d := range []struct{ what, got, want string }{
			{"sender", c.Sender, sender},
			{"queue ID", c.QueueID, qid},
			{"HELO", c.Helo, helo},
			{"macro " + macro, c.SendmailMacros[macro], value},
			{"subject", c.Subject, subject},
		} {
			if d.got != d.want {
				t.Errorf("%s: read %q, wrote %q (COMMANDS %q)", d.what, d.got, d.want, b.String())
			}
		}
		if !slices.Equal(c.Recipients, []string{rcpt}) {
			t.Errorf("recipients: read %q, wrote %q", c.Recipients, rcpt)
		} else if m := c.RecipientMailers[rcpt]; m != [3]string{mailer, host, addr} {
			t.Errorf("recipient mailer: read %q, wrote %q", m, [3]string{mailer, host, addr})
		}
	})
}
