package spool

import (
	"strings"
	"testing"

	"github.com/mdgo/md/proto"
)

// P-narrow escapes bytes <= 0x20, >= 0x7F and %; it leaves \ ' " alone
// (docs/reference/protocol.md §2.1, §14 item 1).
func TestCommandsLineEncoding(t *testing.T) {
	tests := []struct {
		name, arg, want string
	}{
		{"plain", "<a@b.example>", "S<a@b.example>\n"},
		{"empty", "", "S\n"},
		{"space", "John Doe <j@d>", "SJohn%20Doe%20<j@d>\n"},
		{"tab", "a\tb", "Sa%09b\n"},
		{"percent", "100%", "S100%25\n"},
		{"percent escape looks", "%41", "S%2541\n"},
		{"CR LF", "a\r\nb", "Sa%0D%0Ab\n"},
		{"NUL", "a\x00b", "Sa%00b\n"},
		{"DEL", "a\x7fb", "Sa%7Fb\n"},
		{"8-bit", "Jürgen", "SJ%C3%BCrgen\n"},
		{"byte 0xFF", "\xff", "S%FF\n"},
		{"quotes and backslash kept", `"a b"\'c'`, `S"a%20b"\'c'` + "\n"},
		{"printable ASCII edges", "!~", "S!~\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Commands
			c.Sender(tt.arg)
			if c.String() != tt.want {
				t.Errorf("got %q, want %q", c.String(), tt.want)
			}
			// The worker decodes the whole line (read_commands_file).
			if got := proto.Decode(strings.TrimSuffix(c.String(), "\n")[1:]); got != tt.arg {
				t.Errorf("round trip: %q, want %q", got, tt.arg)
			}
		})
	}
}

func TestCommandsMultiFieldLines(t *testing.T) {
	tests := []struct {
		name  string
		build func(*Commands)
		want  string
	}{
		{"macro", func(c *Commands) { c.Macro("_", "localhost [127.0.0.1]") }, "=_ localhost%20[127.0.0.1]\n"},
		{"macro empty value", func(c *Commands) { c.Macro("auth_type", "") }, "=auth_type \n"},
		{"macro odd name", func(c *Commands) { c.Macro("a b%", `x"\`) }, "=a%20b%25 x\"\\\n"},
		{"client port", func(c *Commands) { c.ClientPort(65535) }, "=client_port 65535\n"},
		{"client port 0", func(c *Commands) { c.ClientPort(0) }, "=client_port 0\n"},
		{"recipient", func(c *Commands) {
			c.Recipient(Recipient{Addr: "<u@d>", Mailer: "esmtp", Host: "[mx.d]", RcptAddr: "u@d"})
		}, "R<u@d> esmtp [mx.d] u@d\n"},
		{"recipient unknown macros", func(c *Commands) { c.Recipient(Recipient{Addr: "<u@d>"}) }, "R<u@d> ? ? ?\n"},
		{"recipient spaces and args", func(c *Commands) {
			c.Recipient(Recipient{Addr: `<"a b"@d>`, Mailer: "local", Host: "h h", RcptAddr: "a b@d",
				ESMTPArgs: []string{"NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;a b@d"}})
		}, "R<\"a%20b\"@d> local h%20h a%20b@d\nrNOTIFY=SUCCESS,FAILURE\nrORCPT=rfc822;a%20b@d\n"},
		{"flags", func(c *Commands) { c.SuspiciousHeader(); c.SuspiciousBody(); c.End() }, "!\n?\nF\n"},
		{"header lines", func(c *Commands) {
			c.Subject("Grüße 100%")
			c.MessageID("<x y@z>")
			c.RelayAddr("10.0.0.1")
		}, "UGr%C3%BC%C3%9Fe%20100%25\nX<x%20y@z>\nJ10.0.0.1\n"},
		{"bare H and I", func(c *Commands) { c.Hostname(""); c.ClientIP("") }, "H\nI\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Commands
			tt.build(&c)
			if c.String() != tt.want {
				t.Errorf("got %q, want %q", c.String(), tt.want)
			}
		})
	}
}

// The worker splits the raw R and = arguments on white space and decodes
// each field; every field must come back intact.
func TestCommandsFieldsRoundTrip(t *testing.T) {
	r := Recipient{Addr: "<a b@c>", Mailer: "m\tx", Host: "h%20", RcptAddr: "ü"}
	var c Commands
	c.Recipient(r)
	c.Macro("{odd name}", "value with  two spaces\r\n")
	lines := strings.Split(strings.TrimSuffix(c.String(), "\n"), "\n")
	if got := proto.DecodeFields(lines[0][1:]); strings.Join(got, "|") != "<a b@c>|m\tx|h%20|ü" {
		t.Errorf("R fields: %q", got)
	}
	if got := proto.DecodeFields(lines[1][1:]); len(got) != 2 || got[0] != "{odd name}" || got[1] != "value with  two spaces\r\n" {
		t.Errorf("= fields: %q", got)
	}
}

func TestCommandsMailFromOrder(t *testing.T) {
	macros := map[string]string{"rcpt_addr": "ra", "extra": "e v", "_": "u", "j": "host", "i": "ABC", "daemon_port": "25", "{x}": "not standard"}
	for _, n := range StandardMacros() {
		if _, ok := macros[n]; !ok {
			macros[n] = "v-" + n
		}
	}
	m := MailFrom{
		ID: "abcdefg", Sender: "<s@d>", ESMTPArgs: []string{"BODY=8BITMIME", "SIZE=10"},
		Macros: macros, ExtraMacros: []string{"extra", "missing", "j"},
		ClientPort: 33870, QueueID: "46QDY4CT972760", Hostname: "[1.2.3.4]", ClientIP: "1.2.3.4", Helo: "gamma.example.com",
	}
	var c Commands
	c.MailFrom(&m)
	var want strings.Builder
	want.WriteString("iabcdefg\nS<s@d>\nsBODY=8BITMIME\nsSIZE=10\n")
	for _, n := range StandardMacros() {
		want.WriteString("=" + n + " " + proto.EncodeCommands(macros[n]) + "\n")
	}
	want.WriteString("=client_port 33870\n=extra e%20v\n=j host\n")
	want.WriteString("Q46QDY4CT972760\nH[1.2.3.4]\nI1.2.3.4\nEgamma.example.com\n")
	if c.String() != want.String() {
		t.Errorf("got\n%s\nwant\n%s", c.String(), want.String())
	}

	// Nothing optional: no args, no macros, no qid, no host, no HELO.
	c.Reset()
	c.MailFrom(&MailFrom{ID: "0000000", Sender: "<>"})
	if got, want := c.String(), "i0000000\nS<>\n=client_port 0\nH\nI\n"; got != want {
		t.Errorf("minimal: got %q, want %q", got, want)
	}
}

func TestStandardMacros(t *testing.T) {
	s := StandardMacros()
	if len(s) != 23 || s[0] != "_" || s[22] != "rcpt_mailer" {
		t.Fatalf("StandardMacros() = %q", s)
	}
	s[0] = "changed"
	if StandardMacros()[0] != "_" {
		t.Error("StandardMacros returned the package's own slice")
	}
	for name, want := range map[string]string{"_": "_", "i": "i", "j": "j", "daemon_name": "{daemon_name}", "if_addr": "{if_addr}"} {
		if got := MacroSymbol(name); got != want {
			t.Errorf("MacroSymbol(%q) = %q, want %q", name, got, want)
		}
	}
}
