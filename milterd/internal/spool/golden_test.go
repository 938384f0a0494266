package spool

import (
	"bytes"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/internal/golden"
)

// The golden working directories were kept by the original mimedefang 3.3
// (run with -d -G) behind Postfix 3.7; see testdata/golden/README.md at the
// top of the repository.
func goldenDir(t *testing.T) string {
	t.Helper()
	return golden.Dir(t)
}

func readGolden(t *testing.T, parts ...string) []byte {
	t.Helper()
	p := filepath.Join(append([]string{goldenDir(t)}, parts...)...)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("golden file missing: %v", err)
	}
	return b
}

type header struct{ name, value string }

// goldenCase is what the MTA handed the original milter for one golden
// message. The table holds what every capture shares (the swaks command
// lines of capture.sh); load fills in what changes with each capture.
type goldenCase struct {
	name    string
	headers []header // values may hold the {date}, {msgid} and {boundary} placeholders
	body    string   // as sent in DATA, CRLF line ends, without the final dot; may hold {boundary}

	captured
}

// captured is what changes from one capture to the next, each value read
// from a file of the capture that is not among those TestGoldenSpool
// compares with (COMMANDS, HEADERS, INPUTMSG), except the client port,
// which only COMMANDS records.
type captured struct {
	id         string // from spool/<case>.dirname
	clientPort uint16 // from the =client_port line of spool/<case>/COMMANDS
	queueID    string // from the scan line of transcripts/<case>.milter-mx.socat.txt
	date       string // Date: of the DATA in transcripts/<case>.swaks.txt
	msgID      string // Message-Id: of that DATA
	boundary   string // the boundary parameter of its Content-Type:, if any
}

// Identical in every case: swaks on 127.0.0.1 through Postfix 3.7.
var (
	goldenHelo   = "golden-client.mdlab.localdomain"
	goldenSender = "<tester@mdlab.localdomain>"
	goldenMacros = map[string]string{
		"_":           "localhost [127.0.0.1]",
		"daemon_name": "mdlab.localdomain",
		"j":           "mdlab.localdomain",
		"mail_addr":   "tester@mdlab.localdomain",
		"mail_host":   "mdlab.localdomain",
		"mail_mailer": "local",
	}
	goldenRcpt = Recipient{
		Addr:     "<mdlab@mdlab.localdomain>",
		Mailer:   "local",
		Host:     "mdlab.localdomain",
		RcptAddr: "mdlab@mdlab.localdomain",
	}
)

func swaksHeaders(subject string, extra ...header) []header {
	h := []header{
		{"Date", "{date}"},
		{"To", "mdlab@mdlab.localdomain"},
		{"From", "tester@mdlab.localdomain"},
		{"Subject", subject},
		{"Message-Id", "{msgid}"},
		{"X-Mailer", "swaks v20201014.0 jetmore.org/john/code/swaks/"},
	}
	return append(h, extra...)
}

func crlf(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n" }

var goldenCases = []goldenCase{
	{
		name:    "clean",
		headers: swaksHeaders("golden clean message", header{"X-MDLab-Case", "golden-clean"}),
		body:    crlf("Hello from the golden capture.", "", ""),
	},
	{
		name: "exe",
		headers: swaksHeaders("golden exe message",
			header{"MIME-Version", "1.0"},
			header{"Content-Type", `multipart/mixed; boundary="{boundary}"`},
			header{"X-MDLab-Case", "golden-exe"}),
		body: crlf(
			"--{boundary}",
			"Content-Type: text/plain",
			"",
			"See attached.",
			"--{boundary}",
			`Content-Type: application/octet-stream; name="invoice.exe"`,
			"Content-Description: invoice.exe",
			`Content-Disposition: attachment; filename="invoice.exe"`,
			"Content-Transfer-Encoding: BASE64",
			"",
			"TVqQACBoYXJtbGVzcyBmYWtlIGV4ZWN1dGFibGUgZm9yIHRoZSBNSU1FRGVmYW5nIGxhYgo=",
			"",
			"--{boundary}--",
			"",
			""),
	},
	{
		name:    "reject",
		headers: swaksHeaders("golden MDLAB-REJECT message", header{"X-MDLab-Case", "golden-reject"}),
		body:    crlf("This one must be refused.", "", ""),
	},
	{
		name:    "clean-allchecks",
		headers: swaksHeaders("golden clean message, all checks", header{"X-MDLab-Case", "golden-clean-allchecks"}),
		body:    crlf("Hello again.", "", ""),
	},
}

// swaksData is the DATA swaks sent for one case (transcripts/<case>.swaks.txt,
// whose DATA lines keep their CR), without the final dot.
func swaksData(t *testing.T, name string) string {
	t.Helper()
	var data strings.Builder
	in := false
	for _, l := range strings.Split(string(readGolden(t, "transcripts", name+".swaks.txt")), "\n") {
		switch {
		case strings.HasPrefix(l, "<-  354"):
			in = true
		case in && l == " -> .":
			return data.String()
		case in:
			if !strings.HasPrefix(l, " -> ") {
				t.Fatalf("unexpected transcript line in DATA: %q", l)
			}
			data.WriteString(l[4:] + "\n")
		}
	}
	t.Fatalf("transcripts/%s.swaks.txt: no complete DATA", name)
	return ""
}

var (
	clientPortLine = regexp.MustCompile(`(?m)^=client_port (\d+)$`)
	swaksMsgID     = regexp.MustCompile(`^<\d{14}\.\d{6}@[^<>@\s]+>$`)
	swaksBoundary  = regexp.MustCompile(`^----=_MIME_BOUNDARY_000_\d+$`)
	postfixQueueID = regexp.MustCompile(`^[0-9A-F]{10,}$`)
)

// load returns gc with the values of this capture filled in: the
// placeholders of its table replaced and captured read (see captured for
// where each value comes from). The values are checked for their form, so
// that a capture that lacks one fails here rather than in a comparison.
func (gc goldenCase) load(t *testing.T) goldenCase {
	t.Helper()
	c := &gc.captured
	dirname := strings.TrimSpace(string(readGolden(t, "spool", gc.name+".dirname")))
	c.id = strings.TrimPrefix(dirname, DirPrefix)
	if c.id == dirname || !validID(c.id) {
		t.Fatalf("spool/%s.dirname says %q, not %s and a MIMEDefang ID", gc.name, dirname, DirPrefix)
	}
	m := clientPortLine.FindSubmatch(readGolden(t, "spool", gc.name, CommandsFile))
	if m == nil {
		t.Fatalf("spool/%s/COMMANDS has no =client_port line", gc.name)
	}
	port, err := strconv.ParseUint(string(m[1]), 10, 16)
	if err != nil || port == 0 {
		t.Fatalf("spool/%s/COMMANDS: client port %q", gc.name, m[1])
	}
	c.clientPort = uint16(port)
	scan := regexp.MustCompile(`(?m)^scan (\S+) /var/spool/MIMEDefang/` + regexp.QuoteMeta(dirname) + `$`)
	m = scan.FindSubmatch(readGolden(t, "transcripts", gc.name+".milter-mx.socat.txt"))
	if m == nil || !postfixQueueID.Match(m[1]) {
		t.Fatalf("transcripts/%s.milter-mx.socat.txt: no scan request for %s with a Postfix queue ID (%q)", gc.name, dirname, m)
	}
	c.queueID = string(m[1])

	head, _, _ := strings.Cut(swaksData(t, gc.name), "\r\n\r\n")
	for _, l := range strings.Split(head, "\r\n") {
		name, value, _ := strings.Cut(l, ": ")
		switch name {
		case "Date":
			c.date = value
		case "Message-Id":
			c.msgID = value
		case "Content-Type":
			if _, params, err := mime.ParseMediaType(value); err == nil {
				c.boundary = params["boundary"]
			}
		}
	}
	if _, err := time.Parse(time.RFC1123Z, c.date); err != nil {
		t.Fatalf("transcripts/%s.swaks.txt: Date: %v", gc.name, err)
	}
	if !swaksMsgID.MatchString(c.msgID) {
		t.Fatalf("transcripts/%s.swaks.txt: Message-Id %q is not swaks's", gc.name, c.msgID)
	}
	if strings.Contains(gc.body, "{boundary}") && !swaksBoundary.MatchString(c.boundary) {
		t.Fatalf("transcripts/%s.swaks.txt: boundary %q is not swaks's", gc.name, c.boundary)
	}
	r := strings.NewReplacer("{date}", c.date, "{msgid}", c.msgID, "{boundary}", c.boundary)
	gc.headers = slices.Clone(gc.headers)
	for i := range gc.headers {
		gc.headers[i].value = r.Replace(gc.headers[i].value)
	}
	gc.body = r.Replace(gc.body)
	return gc
}

func (gc *goldenCase) mailFrom() MailFrom {
	return MailFrom{
		ID:         gc.id,
		Sender:     goldenSender,
		Macros:     goldenMacros,
		ClientPort: gc.clientPort,
		Hostname:   "localhost",
		ClientIP:   "127.0.0.1",
		Helo:       goldenHelo,
	}
}

// TestGoldenInputsMatchTranscripts checks the table above, with this
// capture's values, against what was really sent: the DATA of the swaks
// transcript, its EHLO, MAIL FROM and RCPT TO, the queue ID Postfix gave
// the accepted messages, and for clean-allchecks the client port of the
// relayok request.
func TestGoldenInputsMatchTranscripts(t *testing.T) {
	for _, gc := range goldenCases {
		t.Run(gc.name, func(t *testing.T) {
			gc := gc.load(t)
			data := swaksData(t, gc.name)
			var want strings.Builder
			for _, h := range gc.headers {
				want.WriteString(h.name + ": " + h.value + "\r\n")
			}
			want.WriteString("\r\n" + gc.body)
			if data != want.String() {
				t.Errorf("DATA in transcript differs from the table:\n got %q\nwant %q", data, want.String())
			}
			sw := string(readGolden(t, "transcripts", gc.name+".swaks.txt"))
			for _, l := range []string{
				" -> EHLO " + goldenHelo,
				" -> MAIL FROM:" + goldenSender,
				" -> RCPT TO:" + goldenRcpt.Addr,
			} {
				if !strings.Contains(sw, l+"\n") {
					t.Errorf("transcript lacks %q", l)
				}
			}
			if gc.name != "reject" && !strings.Contains(sw, "<-  250 2.0.0 Ok: queued as "+gc.queueID+"\n") {
				t.Errorf("swaks transcript lacks Postfix's reply with queue ID %s", gc.queueID)
			}
			if gc.name == "clean-allchecks" {
				socat := string(readGolden(t, "transcripts", gc.name+".milter-mx.socat.txt"))
				relayok := fmt.Sprintf("relayok 127.0.0.1 localhost %d 127.0.0.1 ", gc.clientPort)
				if !strings.Contains(socat, "\n"+relayok) {
					t.Errorf("milter-mx transcript lacks %q", relayok)
				}
			}
		})
	}
}

// runGolden drives a WorkingDir through the callbacks of one golden message,
// with the body cut into chunks of at most chunk bytes (0: one chunk).
func runGolden(t *testing.T, gc *goldenCase, opts Options, chunk int) string {
	t.Helper()
	opts.SpoolDir = t.TempDir()
	w, err := Create(opts, gc.mailFrom())
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(opts.SpoolDir, DirPrefix+gc.id); w.Path() != want {
		t.Errorf("Path() = %q, want %q", w.Path(), want)
	}
	// Postfix supplies macro i only after RCPT TO in these captures.
	if err := w.WriteQueueID(); err != nil {
		t.Fatal(err)
	}
	if err := w.AddRecipient(goldenRcpt); err != nil {
		t.Fatal(err)
	}
	for _, h := range gc.headers {
		if err := w.Header(h.name, h.value); err != nil {
			t.Fatal(err)
		}
	}
	w.SetQueueID(gc.queueID)
	if err := w.EndOfHeaders(); err != nil {
		t.Fatal(err)
	}
	body := []byte(gc.body)
	if chunk <= 0 {
		chunk = len(body)
	}
	for len(body) > 0 {
		n := min(chunk, len(body))
		if err := w.Body(body[:n]); err != nil {
			t.Fatal(err)
		}
		body = body[n:]
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	return w.Path()
}

func TestGoldenSpool(t *testing.T) {
	variants := []struct {
		name  string
		opts  Options
		chunk int
	}{
		{"G", Options{GroupReadable: true}, 0}, // the golden run used -G
		{"default", Options{}, 0},
		{"chunk1", Options{}, 1},
		{"chunk2", Options{}, 2},
		{"chunk3-c", Options{StripBareCR: true}, 3},
		{"chunk7-C", Options{ConserveDescriptors: true}, 7},
		{"KeepFoldCR", Options{KeepFoldCR: true}, 5},
	}
	for _, gc := range goldenCases {
		gc := gc.load(t)
		for _, v := range variants {
			t.Run(gc.name+"/"+v.name, func(t *testing.T) {
				dir := runGolden(t, &gc, v.opts, v.chunk)
				for _, f := range []string{CommandsFile, HeadersFile, InputMsgFile} {
					want := readGolden(t, "spool", gc.name, f)
					got, err := os.ReadFile(filepath.Join(dir, f))
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Errorf("%s differs from the golden file:\n got %q\nwant %q", f, got, want)
					}
				}
			})
		}
	}
}
