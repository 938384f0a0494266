package proto

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// Request lines captured from the original milter and multiplexor
// (golden/transcripts/clean-allchecks.milter-mx.socat.txt and
// clean-allchecks.mx-to-worker.txt, which carry the same bytes).
var goldenRequests = []struct {
	line string
	want Request
}{
	{"free\n", Free{}},
	{"relayok 127.0.0.1 localhost 33178 127.0.0.1 0 NOQUEUE\n", RelayOK{
		IP: "127.0.0.1", Name: "localhost", ClientPort: "33178", MyIP: "127.0.0.1", DaemonPort: "0", QueueID: "NOQUEUE"}},
	{"helook 127.0.0.1 localhost golden-client.mdlab.localdomain 33178 127.0.0.1 0 NOQUEUE\n", HeloOK{
		IP: "127.0.0.1", Name: "localhost", Helo: "golden-client.mdlab.localdomain", ClientPort: "33178",
		MyIP: "127.0.0.1", DaemonPort: "0", QueueID: "NOQUEUE"}},
	{"senderok <tester@mdlab.localdomain> 127.0.0.1 localhost golden-client.mdlab.localdomain /var/spool/MIMEDefang/mdefang-iwGTs00 NOQUEUE\n", SenderOK{
		Sender: "<tester@mdlab.localdomain>", IP: "127.0.0.1", Name: "localhost",
		Helo: "golden-client.mdlab.localdomain", Dir: "/var/spool/MIMEDefang/mdefang-iwGTs00", QueueID: "NOQUEUE"}},
	{"recipok <mdlab@mdlab.localdomain> <tester@mdlab.localdomain> 127.0.0.1 localhost <mdlab@mdlab.localdomain> golden-client.mdlab.localdomain /var/spool/MIMEDefang/mdefang-iwGTs00 NOQUEUE local mdlab.localdomain mdlab@mdlab.localdomain\n", RecipOK{
		Rcpt: "<mdlab@mdlab.localdomain>", Sender: "<tester@mdlab.localdomain>", IP: "127.0.0.1", Name: "localhost",
		FirstRcpt: "<mdlab@mdlab.localdomain>", Helo: "golden-client.mdlab.localdomain",
		Dir: "/var/spool/MIMEDefang/mdefang-iwGTs00", QueueID: "NOQUEUE",
		Mailer: "local", Host: "mdlab.localdomain", Addr: "mdlab@mdlab.localdomain"}},
	{"scan 4C8AEB822C /var/spool/MIMEDefang/mdefang-iwGTs00\n", Scan{QueueID: "4C8AEB822C", Dir: "/var/spool/MIMEDefang/mdefang-iwGTs00"}},
	{"scan 854E4B8211 /var/spool/MIMEDefang/mdefang-iwGTg00\n", Scan{QueueID: "854E4B8211", Dir: "/var/spool/MIMEDefang/mdefang-iwGTg00"}},
	{"scan 97B18B8221 /var/spool/MIMEDefang/mdefang-iwGTh02\n", Scan{QueueID: "97B18B8221", Dir: "/var/spool/MIMEDefang/mdefang-iwGTh02"}},
	{"scan 14DE5B8221 /var/spool/MIMEDefang/mdefang-iwGTh01\n", Scan{QueueID: "14DE5B8221", Dir: "/var/spool/MIMEDefang/mdefang-iwGTh01"}},
}

func TestGoldenRequestsRoundTrip(t *testing.T) {
	for _, g := range goldenRequests {
		t.Run(strings.Fields(g.line)[0], func(t *testing.T) {
			r, err := ParseRequest(g.line)
			if err != nil {
				t.Fatalf("ParseRequest(%q): %v", g.line, err)
			}
			if !reflect.DeepEqual(r, g.want) {
				t.Errorf("ParseRequest(%q) = %#v, want %#v", g.line, r, g.want)
			}
			if got := r.Line(); got != g.line {
				t.Errorf("Line() = %q, want the golden bytes %q", got, g.line)
			}
			if got := g.want.Line(); got != g.line {
				t.Errorf("%T.Line() = %q, want %q", g.want, got, g.line)
			}
		})
	}
}

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Request
		out  string // r.Line(); "" means the input line itself
	}{
		{name: "ping", line: "ping\n", want: Ping{}},
		{name: "PING is ping", line: "PING\n", want: Ping{}, out: "ping\n"},
		{name: "ping without newline", line: "Ping", want: Ping{}, out: "ping\n"},
		{name: "ping ignores arguments", line: "ping x y\n", want: Ping{}, out: "ping\n"},
		{name: "ping with CRLF", line: "ping\r\n", want: Ping{}, out: "ping\n"},
		{name: "free", line: "free\n", want: Free{}},
		{name: "tick", line: "tick 0\n", want: Tick{}},
		{name: "tick n", line: "tick 3\n", want: Tick{N: 3}},
		{name: "bare tick is 0", line: "tick\n", want: Tick{}, out: "tick 0\n"},
		{name: "tick ignores extra", line: "TICK 2 x\n", want: Tick{N: 2}, out: "tick 2\n"},
		{name: "tick encoded", line: "tick %31\n", want: Tick{N: 1}, out: "tick 1\n"},
		{name: "tick negative", line: "tick -1\n", want: Tick{N: -1}},
		{name: "tick not a number", line: "tick abc\n", want: Unknown{Cmd: "tick", Args: []string{"abc"}}},
		{name: "map", line: "map access a%20b\n", want: Map{Name: "access", Key: "a b"}},
		{name: "map quotes", line: "map m %22x%27%5C\n", want: Map{Name: "m", Key: `"x'\`}},
		{name: "map missing key", line: "map name\n", want: Map{Name: "name"}, out: "map name \n"},
		{name: "map empty name collapses", line: "map  key\n", want: Map{Name: "key"}, out: "map key \n"},
		{name: "unknown", line: "rawload\n", want: Unknown{Cmd: "rawload"}},
		{name: "unknown lower-cased", line: "JSONStatus A b\n", want: Unknown{Cmd: "jsonstatus", Args: []string{"A", "b"}}, out: "jsonstatus A b\n"},
		{name: "unknown decoded", line: "foo a%20b %25\n", want: Unknown{Cmd: "foo", Args: []string{"a b", "%"}}},
		{name: "lower-casing is ASCII only", line: "\xc3\x89T\xc3\x89\n", want: Unknown{Cmd: "\xc3\x89t\xc3\x89"}, out: "%C3%89t%C3%89\n"},
		{name: "leading space: empty command", line: " ping\n", want: Unknown{Cmd: "", Args: []string{"ping"}}},
		{name: "leading tab: empty command", line: "\tscan Q /d\r\n", want: Unknown{Cmd: "", Args: []string{"scan", "Q", "/d"}}, out: " scan Q /d\n"},
		{name: "NUL is not white space", line: "ping\x00\n", want: Unknown{Cmd: "ping\x00"}, out: "ping%00\n"},
		{name: "command decoded before lower-casing", line: "%52ELAYOK a b 1 c 2 Q\n", want: RelayOK{IP: "a", Name: "b", ClientPort: "1", MyIP: "c", DaemonPort: "2", QueueID: "Q"}, out: "relayok a b 1 c 2 Q\n"},
		{name: "relayok missing fields", line: "relayok 10.0.0.1\n", want: RelayOK{IP: "10.0.0.1"}, out: "relayok 10.0.0.1 10.0.0.1 0 UNKNOWN 0 NOQUEUE\n"},
		{name: "relayok surplus ignored", line: "relayok a b 1 c 2 Q extra\n", want: RelayOK{IP: "a", Name: "b", ClientPort: "1", MyIP: "c", DaemonPort: "2", QueueID: "Q"}, out: "relayok a b 1 c 2 Q\n"},
		{name: "relayok IPv6", line: "relayok 2001:db8::1 [2001:db8::1] 25 ::1 25 NOQUEUE\n", want: RelayOK{IP: "2001:db8::1", Name: "[2001:db8::1]", ClientPort: "25", MyIP: "::1", DaemonPort: "25", QueueID: "NOQUEUE"}},
		{name: "helook encoded helo", line: "helook 1.2.3.4 h %5Bx%20y%5D 1 5.6.7.8 25 Q\n", want: HeloOK{IP: "1.2.3.4", Name: "h", Helo: "[x y]", ClientPort: "1", MyIP: "5.6.7.8", DaemonPort: "25", QueueID: "Q"}, out: "helook 1.2.3.4 h [x%20y] 1 5.6.7.8 25 Q\n"},
		{name: "senderok ESMTP args", line: "senderok <a@b> 1.2.3.4 h e /d Q SIZE=10 BODY=8BITMIME\n", want: SenderOK{Sender: "<a@b>", IP: "1.2.3.4", Name: "h", Helo: "e", Dir: "/d", QueueID: "Q", ESMTPArgs: []string{"SIZE=10", "BODY=8BITMIME"}}},
		{name: "senderok 8-bit raw", line: "senderok <caf\xc3\xa9@x> i n h /d Q\n", want: SenderOK{Sender: "<caf\xc3\xa9@x>", IP: "i", Name: "n", Helo: "h", Dir: "/d", QueueID: "Q"}, out: "senderok <caf%C3%A9@x> i n h /d Q\n"},
		{name: "senderok 8-bit encoded", line: "senderok <caf%C3%A9@x> i n h /d Q\n", want: SenderOK{Sender: "<caf\xc3\xa9@x>", IP: "i", Name: "n", Helo: "h", Dir: "/d", QueueID: "Q"}},
		{name: "senderok quotes and backslash", line: "senderok <%22Bob%5C%27s%22@x> i n h /d Q\n", want: SenderOK{Sender: `<"Bob\'s"@x>`, IP: "i", Name: "n", Helo: "h", Dir: "/d", QueueID: "Q"}},
		{name: "senderok raw quotes get encoded", line: `senderok <"a"@x> i n h /d Q` + "\n", want: SenderOK{Sender: `<"a"@x>`, IP: "i", Name: "n", Helo: "h", Dir: "/d", QueueID: "Q"}, out: "senderok <%22a%22@x> i n h /d Q\n"},
		{name: "senderok raw percent", line: "senderok 100%@x i n h /d Q\n", want: SenderOK{Sender: "100%@x", IP: "i", Name: "n", Helo: "h", Dir: "/d", QueueID: "Q"}, out: "senderok 100%25@x i n h /d Q\n"},
		{name: "senderok empty sender <>", line: "senderok <> i n h /d Q\n", want: SenderOK{Sender: "<>", IP: "i", Name: "n", Helo: "h", Dir: "/d", QueueID: "Q"}},
		{name: "recipok ESMTP args", line: "recipok <r@x> <s@x> i n <r@x> h /d Q esmtp x.org r@x.org NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;r@x\n", want: RecipOK{Rcpt: "<r@x>", Sender: "<s@x>", IP: "i", Name: "n", FirstRcpt: "<r@x>", Helo: "h", Dir: "/d", QueueID: "Q", Mailer: "esmtp", Host: "x.org", Addr: "r@x.org", ESMTPArgs: []string{"NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;r@x"}}},
		{name: "recipok missing triple", line: "recipok <r@x> <s@x> i n <r@x> h /d Q\n", want: RecipOK{Rcpt: "<r@x>", Sender: "<s@x>", IP: "i", Name: "n", FirstRcpt: "<r@x>", Helo: "h", Dir: "/d", QueueID: "Q"}, out: "recipok <r@x> <s@x> i n <r@x> h /d Q ? ? ?\n"},
		{name: "scan tabs", line: "scan\tQ\t/d\n", want: Scan{QueueID: "Q", Dir: "/d"}, out: "scan Q /d\n"},
		{name: "scan runs of spaces", line: "scan   Q  /d  \n", want: Scan{QueueID: "Q", Dir: "/d"}, out: "scan Q /d\n"},
		{name: "scan CR in the middle splits", line: "scan Q /d\rX\n", want: Scan{QueueID: "Q", Dir: "/d"}, out: "scan Q /d\n"},
		{name: "scan encoded CR", line: "scan Q /d%0DX\n", want: Scan{QueueID: "Q", Dir: "/d\rX"}},
		{name: "scan vertical tab and form feed split", line: "scan\vQ\f/d\n", want: Scan{QueueID: "Q", Dir: "/d"}, out: "scan Q /d\n"},
		{name: "scan missing dir", line: "scan Q\n", want: Scan{QueueID: "Q"}, out: "scan Q \n"},
		{name: "scan encoded space in dir", line: "scan Q /a%20b\n", want: Scan{QueueID: "Q", Dir: "/a b"}},
		{name: "non-ASCII space does not split", line: "scan Q\xa0/d\n", want: Scan{QueueID: "Q\xa0/d"}, out: "scan Q%A0/d \n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRequest(tt.line)
			if err != nil {
				t.Fatalf("ParseRequest(%q): %v", tt.line, err)
			}
			if !reflect.DeepEqual(r, tt.want) {
				t.Errorf("ParseRequest(%q) = %#v, want %#v", tt.line, r, tt.want)
			}
			out := tt.out
			if out == "" {
				out = tt.line
			}
			if got := r.Line(); got != out {
				t.Errorf("Line() = %q, want %q", got, out)
			}
		})
	}
}

func TestParseRequestEmpty(t *testing.T) {
	for _, line := range []string{"", "\n", " ", "  \t\r\n", "\v\f"} {
		r, err := ParseRequest(line)
		if !errors.Is(err, ErrEmptyRequest) {
			t.Errorf("ParseRequest(%q) = %#v, %v; want ErrEmptyRequest", line, r, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "proto: ") {
			t.Errorf("error %q lacks the package prefix", err)
		}
	}
}

func TestRequestLineStandIns(t *testing.T) {
	tests := []struct {
		name string
		r    Request
		want string
	}{
		{"relayok all empty", RelayOK{}, "relayok UNKNOWN UNKNOWN 0 UNKNOWN 0 NOQUEUE\n"},
		{"relayok name from IP", RelayOK{IP: "10.0.0.1", ClientPort: "4000", MyIP: "10.0.0.2", DaemonPort: "25"}, "relayok 10.0.0.1 10.0.0.1 4000 10.0.0.2 25 NOQUEUE\n"},
		{"helook all empty", HeloOK{}, "helook UNKNOWN UNKNOWN UNKNOWN 0 UNKNOWN 0 NOQUEUE\n"},
		{"senderok all empty but dir", SenderOK{Dir: "/d"}, "senderok UNKNOWN UNKNOWN UNKNOWN UNKNOWN /d NOQUEUE\n"},
		{"senderok empty dir is an empty word", SenderOK{Sender: "s", IP: "i", Name: "n", Helo: "h", QueueID: "Q"}, "senderok s i n h  Q\n"},
		{"senderok empty ESMTP args left out", SenderOK{Sender: "s", IP: "i", Name: "n", Helo: "h", Dir: "/d", QueueID: "Q", ESMTPArgs: []string{"", "SIZE=1", ""}}, "senderok s i n h /d Q SIZE=1\n"},
		{"senderok ESMTP arg encoded", SenderOK{Sender: "s", IP: "i", Name: "n", Helo: "h", Dir: "/d", QueueID: "Q", ESMTPArgs: []string{"X=a b"}}, "senderok s i n h /d Q X=a%20b\n"},
		{"recipok all empty but dir", RecipOK{Dir: "/d"}, "recipok UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN /d NOQUEUE ? ? ?\n"},
		{"recipok name from IP", RecipOK{Rcpt: "r", Sender: "s", IP: "1.2.3.4", FirstRcpt: "r", Helo: "h", Dir: "/d", QueueID: "Q", Mailer: "m", Host: "h", Addr: "a"}, "recipok r s 1.2.3.4 1.2.3.4 r h /d Q m h a\n"},
		{"scan empty qid", Scan{Dir: "/d"}, "scan NOQUEUE /d\n"},
		{"scan all empty", Scan{}, "scan NOQUEUE \n"},
		{"map empty", Map{}, "map  \n"},
		{"map encoded", Map{Name: "virtuser", Key: "a b@x"}, "map virtuser a%20b@x\n"},
		{"tick", Tick{N: 7}, "tick 7\n"},
		{"ping", Ping{}, "ping\n"},
		{"free", Free{}, "free\n"},
		{"unknown", Unknown{Cmd: "rawload"}, "rawload\n"},
		{"unknown empty args left out", Unknown{Cmd: "x", Args: []string{"", "a b", ""}}, "x a%20b\n"},
		{"unknown encoded command", Unknown{Cmd: "a b"}, "a%20b\n"},
		{"stand-ins are not encoded differently", RelayOK{IP: "UNKNOWN", Name: "x y"}, "relayok UNKNOWN x%20y 0 UNKNOWN 0 NOQUEUE\n"},
		{"CR and tab encoded", HeloOK{IP: "i", Name: "n", Helo: "a\r\tb", ClientPort: "1", MyIP: "m", DaemonPort: "2", QueueID: "Q"}, "helook i n a%0D%09b 1 m 2 Q\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Line(); got != tt.want {
				t.Errorf("%#v.Line() = %q, want %q", tt.r, got, tt.want)
			}
		})
	}
}

// TestESMTPArgLimit checks the rule of MXSenderOK and MXRecipientOK: an
// argument is appended only while the line, without "\n", stays within
// 16382 bytes, and the first one that does not fit ends the list.
func TestESMTPArgLimit(t *testing.T) {
	base := SenderOK{Sender: "s", IP: "i", Name: "n", Helo: "h", Dir: "/d", QueueID: "Q"}
	fixed := len(base.Line()) - 1 // without "\n"
	fill := strings.Repeat("x", maxCheckLine-fixed-1)

	r := base
	r.ESMTPArgs = []string{fill, "y"}
	if got := len(r.Line()) - 1; got != maxCheckLine {
		t.Fatalf("line length = %d, want exactly %d", got, maxCheckLine)
	}
	if !strings.HasSuffix(r.Line(), " "+fill+"\n") {
		t.Errorf("an argument that fits exactly was not appended")
	}

	r.ESMTPArgs = []string{fill + "x", "y"}
	if got := r.Line(); got != base.Line() {
		t.Errorf("an argument one byte too long was appended, or a later one was: %d bytes", len(got))
	}

	// The limit counts encoded bytes: three per escaped byte.
	r.ESMTPArgs = []string{"a", strings.Repeat(" ", (maxCheckLine-fixed-3)/3+1), "b"}
	if got, want := r.Line(), strings.TrimSuffix(base.Line(), "\n")+" a\n"; got != want {
		t.Errorf("encoded length not counted: got %d bytes, want %d", len(got), len(want))
	}

	rc := RecipOK{Rcpt: "r", Sender: "s", IP: "i", Name: "n", FirstRcpt: "r", Helo: "h", Dir: "/d", QueueID: "Q", Mailer: "m", Host: "h", Addr: "a"}
	rfixed := len(rc.Line()) - 1
	rc.ESMTPArgs = []string{strings.Repeat("x", maxCheckLine-rfixed-1)}
	if got := len(rc.Line()) - 1; got != maxCheckLine {
		t.Errorf("recipok line length = %d, want %d", got, maxCheckLine)
	}
}

func TestRequestCommand(t *testing.T) {
	tests := map[string]Request{
		"free": Free{}, "relayok": RelayOK{}, "helook": HeloOK{}, "senderok": SenderOK{},
		"recipok": RecipOK{}, "scan": Scan{}, "map": Map{}, "tick": Tick{}, "ping": Ping{},
		"rawload": Unknown{Cmd: "rawload"},
	}
	for want, r := range tests {
		if got := r.Command(); got != want {
			t.Errorf("%T.Command() = %q, want %q", r, got, want)
		}
		// A typed request's line starts with its command name.
		if !strings.HasPrefix(r.Line(), want) {
			t.Errorf("%T.Line() = %q does not start with %q", r, r.Line(), want)
		}
	}
}

func TestCommandType(t *testing.T) {
	tests := []struct {
		line string
		want RequestType
	}{
		{"scan 4C8AEB822C /var/spool/MIMEDefang/mdefang-iwGTs00\n", TypeScan},
		{"relayok 127.0.0.1 localhost 33178 127.0.0.1 0 NOQUEUE\n", TypeRelayOK},
		{"senderok <a@b> i n h /d Q\n", TypeSenderOK},
		{"recipok <r@x> <s@x> i n <r@x> h /d Q ? ? ?\n", TypeRecipOK},
		{"helook 127.0.0.1 localhost h 1 2 3 Q\n", TypeOther},
		{"scan ", TypeScan},
		{"scan", TypeOther},
		{"scan\n", TypeOther},
		{"scan\tQ /d", TypeOther},
		{"SCAN Q /d", TypeOther},
		{"Relayok a", TypeOther},
		{" scan Q /d", TypeOther},
		{"scanner x", TypeOther},
		{"relayokx y", TypeOther},
		{"recipok", TypeOther},
		{"map a b", TypeOther},
		{"tick 0", TypeOther},
		{"ping", TypeOther},
		{"free", TypeOther},
		{"", TypeOther},
	}
	for _, tt := range tests {
		if got := CommandType(tt.line); got != tt.want {
			t.Errorf("CommandType(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
}

func TestRequestTypeString(t *testing.T) {
	for ty, want := range map[RequestType]string{TypeNone: "none", TypeOther: "other", TypeScan: "scan",
		TypeRelayOK: "relayok", TypeSenderOK: "senderok", TypeRecipOK: "recipok", RequestType(9): "type(9)"} {
		if got := ty.String(); got != want {
			t.Errorf("RequestType(%d).String() = %q, want %q", int(ty), got, want)
		}
	}
	if NumTrackedTypes != int(TypeRecipOK)+1 || TypeScan != 0 {
		t.Errorf("tracked types must index [0, NumTrackedTypes)")
	}
}

func ExampleParseRequest() {
	r, err := ParseRequest("SenderOK <bob@example.com> 192.0.2.1 mx.example.com ehlo.example.com /var/spool/MIMEDefang/mdefang-x NOQUEUE SIZE=1024\n")
	if err != nil {
		fmt.Println(err)
		return
	}
	s := r.(SenderOK)
	fmt.Println(s.Command(), s.Sender, s.IP, s.ESMTPArgs)
	fmt.Print(s.Line())
	// Output:
	// senderok <bob@example.com> 192.0.2.1 [SIZE=1024]
	// senderok <bob@example.com> 192.0.2.1 mx.example.com ehlo.example.com /var/spool/MIMEDefang/mdefang-x NOQUEUE SIZE=1024
}

func ExampleRelayOK_Line() {
	// Empty fields get the milter's stand-ins.
	fmt.Print(RelayOK{IP: "192.0.2.1", ClientPort: "4711"}.Line())
	// Output:
	// relayok 192.0.2.1 192.0.2.1 4711 UNKNOWN 0 NOQUEUE
}

func ExampleCommandType() {
	fmt.Println(CommandType("recipok <a@b> <c@d> ..."))
	fmt.Println(CommandType("helook 192.0.2.1 ..."))
	// Output:
	// recipok
	// other
}
