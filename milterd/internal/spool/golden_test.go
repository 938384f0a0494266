package spool

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
// message. Volatile values (MIMEDefang ID, client port, queue ID, dates,
// Message-Ids) are copied from the golden files and transcripts.
type goldenCase struct {
	name       string
	id         string // from spool/<case>.dirname
	clientPort uint16 // from spool/<case>/COMMANDS
	queueID    string // from transcripts/<case>.milter-mx.socat.txt (scan line)
	headers    []header
	body       string // as sent in DATA, CRLF line ends, without the final dot
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

func swaksHeaders(date, subject, msgID string, extra ...header) []header {
	h := []header{
		{"Date", date},
		{"To", "mdlab@mdlab.localdomain"},
		{"From", "tester@mdlab.localdomain"},
		{"Subject", subject},
		{"Message-Id", msgID},
		{"X-Mailer", "swaks v20201014.0 jetmore.org/john/code/swaks/"},
	}
	return append(h, extra...)
}

func crlf(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n" }

var goldenCases = []goldenCase{
	{
		name: "clean", id: "iwGTg00", clientPort: 44342, queueID: "854E4B8211",
		headers: swaksHeaders("Tue, 24 Nov 2026 18:55:16 +0000", "golden clean message",
			"<20261124185516.016096@vm>", header{"X-MDLab-Case", "golden-clean"}),
		body: crlf("Hello from the golden capture.", "", ""),
	},
	{
		name: "exe", id: "iwGTh02", clientPort: 39020, queueID: "97B18B8221",
		headers: swaksHeaders("Tue, 24 Nov 2026 18:55:17 +0000", "golden exe message",
			"<20261124185517.016155@vm>",
			header{"MIME-Version", "1.0"},
			header{"Content-Type", `multipart/mixed; boundary="----=_MIME_BOUNDARY_000_16155"`},
			header{"X-MDLab-Case", "golden-exe"}),
		body: crlf(
			"------=_MIME_BOUNDARY_000_16155",
			"Content-Type: text/plain",
			"",
			"See attached.",
			"------=_MIME_BOUNDARY_000_16155",
			`Content-Type: application/octet-stream; name="invoice.exe"`,
			"Content-Description: invoice.exe",
			`Content-Disposition: attachment; filename="invoice.exe"`,
			"Content-Transfer-Encoding: BASE64",
			"",
			"TVqQACBoYXJtbGVzcyBmYWtlIGV4ZWN1dGFibGUgZm9yIHRoZSBNSU1FRGVmYW5nIGxhYgo=",
			"",
			"------=_MIME_BOUNDARY_000_16155--",
			"",
			""),
	},
	{
		name: "reject", id: "iwGTh01", clientPort: 44350, queueID: "14DE5B8221",
		headers: swaksHeaders("Tue, 24 Nov 2026 18:55:17 +0000", "golden MDLAB-REJECT message",
			"<20261124185517.016127@vm>", header{"X-MDLab-Case", "golden-reject"}),
		body: crlf("This one must be refused.", "", ""),
	},
	{
		name: "clean-allchecks", id: "iwGTs00", clientPort: 33178, queueID: "4C8AEB822C",
		headers: swaksHeaders("Tue, 24 Nov 2026 18:55:28 +0000", "golden clean message, all checks",
			"<20261124185528.016476@vm>", header{"X-MDLab-Case", "golden-clean-allchecks"}),
		body: crlf("Hello again.", "", ""),
	},
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

// TestGoldenInputsMatchTranscripts checks the tables above against what was
// really sent: the DATA of the swaks transcript, its EHLO, MAIL FROM and RCPT
// TO, and the scan request the original milter sent to the multiplexor.
func TestGoldenInputsMatchTranscripts(t *testing.T) {
	for _, gc := range goldenCases {
		t.Run(gc.name, func(t *testing.T) {
			sw := string(readGolden(t, "transcripts", gc.name+".swaks.txt"))
			var data strings.Builder
			in := false
			for _, l := range strings.Split(sw, "\n") {
				switch {
				case strings.HasPrefix(l, "<-  354"):
					in = true
				case in && l == " -> .":
					in = false
				case in:
					if !strings.HasPrefix(l, " -> ") {
						t.Fatalf("unexpected transcript line in DATA: %q", l)
					}
					data.WriteString(l[4:] + "\n")
				}
			}
			var want strings.Builder
			for _, h := range gc.headers {
				want.WriteString(h.name + ": " + h.value + "\r\n")
			}
			want.WriteString("\r\n" + gc.body)
			if data.String() != want.String() {
				t.Errorf("DATA in transcript differs from the table:\n got %q\nwant %q", data.String(), want.String())
			}
			for _, l := range []string{
				" -> EHLO " + goldenHelo,
				" -> MAIL FROM:" + goldenSender,
				" -> RCPT TO:" + goldenRcpt.Addr,
			} {
				if !strings.Contains(sw, l+"\n") {
					t.Errorf("transcript lacks %q", l)
				}
			}
			dirname := strings.TrimSpace(string(readGolden(t, "spool", gc.name+".dirname")))
			if dirname != DirPrefix+gc.id {
				t.Errorf("dirname file says %q, table has ID %q", dirname, gc.id)
			}
			socat := string(readGolden(t, "transcripts", gc.name+".milter-mx.socat.txt"))
			scan := "scan " + gc.queueID + " /var/spool/MIMEDefang/" + dirname + "\n"
			if !strings.Contains(socat, scan) {
				t.Errorf("milter-mx transcript lacks %q", scan)
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
