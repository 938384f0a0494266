package spooldir

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/mdgo/md/internal/golden"
)

// spoolDir is the working directories the original kept
// (testdata/golden/spool at the top of the repository).
func spoolDir(t testing.TB) string { return golden.Dir(t, "spool") }

// goldenFile reads a file of the capture; name is relative to its top
// (testdata/golden or $MD_GOLDEN_DIR).
func goldenFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(golden.Dir(t), filepath.FromSlash(name)))
	if err != nil {
		t.Fatalf("golden file: %v", err)
	}
	return string(b)
}

// goldenMatch returns the first submatch of re in the capture's file name,
// failing t when there is none.
func goldenMatch(t *testing.T, name, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(goldenFile(t, name))
	if m == nil {
		t.Fatalf("%s: nothing matches %s", name, re)
	}
	return m[1]
}

// TestReadCommandsGolden reads the COMMANDS the original milter wrote for
// the golden exe case. What changes with every capture is taken from the
// capture, where possible from files other than COMMANDS: the MIMEDefang ID
// from spool/exe.dirname, the queue ID from the milter's scan request in
// transcripts/exe.milter-mx.socat.txt, the Message-Id from the HEADERS
// file; the client port only COMMANDS records.
func TestReadCommandsGolden(t *testing.T) {
	c, err := ReadCommands(filepath.Join(spoolDir(t), "exe"), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	dirname := goldenMatch(t, "spool/exe.dirname", `^(mdefang-[0-9A-Za-z]{7})\n?$`)
	want := &Commands{
		MIMEDefangID:    strings.TrimPrefix(dirname, "mdefang-"),
		Sender:          "<tester@mdlab.localdomain>",
		SenderESMTPArgs: nil,
		SendmailMacros: map[string]string{
			"_": "localhost [127.0.0.1]", "daemon_name": "mdlab.localdomain", "j": "mdlab.localdomain",
			"mail_addr": "tester@mdlab.localdomain", "mail_host": "mdlab.localdomain", "mail_mailer": "local",
			"client_port": goldenMatch(t, "spool/exe/COMMANDS", `(?m)^=client_port ([0-9]+)$`),
		},
		QueueID:            goldenMatch(t, "transcripts/exe.milter-mx.socat.txt", `(?m)^scan ([0-9A-F]{10,}) /var/spool/MIMEDefang/`+dirname+`$`),
		RelayHostname:      "localhost",
		RealRelayHostname:  "localhost",
		RelayAddr:          "127.0.0.1",
		RealRelayAddr:      "127.0.0.1",
		Helo:               "golden-client.mdlab.localdomain",
		Recipients:         []string{"<mdlab@mdlab.localdomain>"},
		RecipientMailers:   map[string][3]string{"<mdlab@mdlab.localdomain>": {"local", "mdlab.localdomain", "mdlab@mdlab.localdomain"}},
		RecipientESMTPArgs: map[string][]string{},
		Subject:            "golden exe message",
		SubjectCount:       1,
		MessageID:          goldenMatch(t, "spool/exe/HEADERS", `(?m)^Message-Id: (<[^>\n]+>)$`),
		SawF:               true,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	for _, name := range []string{"clean", "clean-allchecks", "reject"} {
		c, err := ReadCommands(filepath.Join(spoolDir(t), name), true, nil)
		if err != nil || !c.SawF || c.QueueID == "" || len(c.Recipients) != 1 || c.SubjectCount != 1 || len(c.Unknown) != 0 {
			t.Errorf("%s: %v %+v", name, err, c)
		}
	}
}

func TestParseCommandsLetters(t *testing.T) {
	in := "iID\n" +
		"S<a@b>\n" +
		"sBODY=8BITMIME\nsSIZE=10\n" +
		"=_ host%20[1.2.3.4]\n=auth_authen\n=%7Bodd%7D val%20ue extra\n" +
		"QQ1\nHhost.name\nI1.2.3.4\nEhe%20lo\n" +
		"R<x@y> esmtp h a\nrNOTIFY=NEVER\nrORCPT=rfc822;x@y\n" +
		"R<z@y>\n" +
		"R%3Cenc%20oded%3E m%20m\n" +
		"Ufirst%20subject\nUsecond\n" +
		"X<id@x>\n!\n?\n" +
		"%51Q2\n" + // the letter is taken after decoding
		"Zunknown\n\n" +
		"J10.0.0.1\n" +
		"F\n" +
		"Safter@F\n"
	c, err := ParseCommands(strings.NewReader(in), true, func(ip string) (string, bool) { return "ptr.example", ip == "10.0.0.1" })
	if err != nil {
		t.Fatal(err)
	}
	want := &Commands{
		MIMEDefangID:       "ID",
		Sender:             "<a@b>",
		SenderESMTPArgs:    []string{"BODY=8BITMIME", "SIZE=10"},
		SendmailMacros:     map[string]string{"_": "host [1.2.3.4]", "auth_authen": "", "{odd}": "val ue"},
		QueueID:            "Q2",
		RelayHostname:      "ptr.example",
		RealRelayHostname:  "host.name",
		RelayAddr:          "10.0.0.1",
		RealRelayAddr:      "1.2.3.4",
		WasResent:          true,
		Helo:               "he lo",
		Recipients:         []string{"<x@y>", "<z@y>", "<enc oded>"},
		RecipientMailers:   map[string][3]string{"<x@y>": {"esmtp", "h", "a"}, "<z@y>": {"?", "?", "?"}, "<enc oded>": {"m m", "?", "?"}},
		RecipientESMTPArgs: map[string][]string{"<x@y>": {"NOTIFY=NEVER", "ORCPT=rfc822;x@y"}},
		Subject:            "first subject",
		SubjectCount:       2,
		MessageID:          "<id@x>",
		SuspiciousHeaders:  true,
		SuspiciousBody:     true,
		SawF:               true,
		Unknown:            []string{"Z", ""},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

func TestParseCommandsNeedF(t *testing.T) {
	if _, err := ParseCommands(strings.NewReader("S<a@b>\n"), true, nil); !errors.Is(err, ErrNoF) {
		t.Errorf("needF: %v", err)
	}
	c, err := ParseCommands(strings.NewReader("S<a@b>"), false, nil)
	if err != nil || c.Sender != "<a@b>" || c.SawF {
		t.Errorf("no needF: %v %+v", err, c)
	}
	if _, err := ReadCommands(t.TempDir(), true, nil); err == nil {
		t.Error("missing COMMANDS accepted")
	}
}

func TestResultLine(t *testing.T) {
	cases := []struct {
		letter byte
		args   []string
		want   string
	}{
		{'B', []string{"554", "5.7.1", "Too big"}, "B554 5.7.1 Too%20big\n"},
		{'F', []string{""}, "F\n"},
		{'F', nil, "F\n"},
		{'D', []string{""}, "D\n"},
		{'H', []string{"X-Name", "a%b\"c'd\\e\x7f\xff"}, "HX-Name a%25b%22c%27d%5Ce%7F%FF\n"},
		{'J', []string{"Subject", "2"}, "JSubject 2\n"},
		{'I', []string{"Subject", "1", ""}, "ISubject 1 \n"},
		{'M', []string{"multipart/mixed; boundary=\"----=_MIME_BOUNDARY_000_16155\""}, "Mmultipart/mixed;%20boundary=%22----=_MIME_BOUNDARY_000_16155%22\n"},
	}
	for _, tc := range cases {
		if got, tr := ResultLine(tc.letter, tc.args...); got != tc.want || tr {
			t.Errorf("%c %q: got %q (truncated %v), want %q", tc.letter, tc.args, got, tr, tc.want)
		}
	}
	line, tr := ResultLine('H', "X", strings.Repeat("%", 10000))
	if !tr || len(line) != MaxResultLine+1 || !strings.HasPrefix(line, "HX %25%25") || !strings.HasSuffix(line, "\n") {
		t.Errorf("truncation: %d %v", len(line), tr)
	}
}

// TestResultsAppendGolden writes the lines mimedefang.pl wrote for the
// golden exe case and compares the file byte for byte; a second writer
// appends (as a later request of the same message does).
func TestResultsAppendGolden(t *testing.T) {
	dir := t.TempDir()
	r := NewResults(dir)
	if _, err := r.Write('H', "X-Scanned", "MIMEDefang lab typical filter"); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r = NewResults(dir)
	// The filter keeps the boundary of the message swaks sent.
	boundary := goldenMatch(t, "spool/exe/HEADERS", `(?m)^Content-Type: multipart/mixed; boundary="([^"\n]+)"$`)
	r.Write('M', `multipart/mixed; boundary="`+boundary+`"`)
	r.Write('C', "")
	r.Write('F', "")
	r.Close()
	got, _ := os.ReadFile(filepath.Join(dir, "RESULTS"))
	want, _ := os.ReadFile(filepath.Join(spoolDir(t), "exe", "RESULTS"))
	if string(got) != string(want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := NewResults(filepath.Join(dir, "missing")).Write('F'); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}
