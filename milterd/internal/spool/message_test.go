package spool

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newDir(t *testing.T, opts Options, m MailFrom) *WorkingDir {
	t.Helper()
	if opts.SpoolDir == "" {
		opts.SpoolDir = t.TempDir()
	}
	if m.ID == "" {
		m.ID = "abcdefg"
	}
	if m.Sender == "" {
		m.Sender = "<s@d>"
	}
	w, err := Create(opts, m)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func readFile(t *testing.T, w *WorkingDir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.Path(), name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// minimal MAIL FROM batch written by newDir
const mfBatch = "iabcdefg\nS<s@d>\n=client_port 0\nH\nI\n"

func TestHeader(t *testing.T) {
	type hdr = [2]string
	tests := []struct {
		name      string
		opts      Options
		headers   []hdr
		inputMsg  string // INPUTMSG after EndOfHeaders
		headersF  string // HEADERS
		commands  string // COMMANDS after the MAIL FROM batch, before Finish
		contentTy int
		mimeVer   bool
		validated bool
	}{
		{
			name:     "folded with LF",
			headers:  []hdr{{"Subject", "Sunny\n holiday"}},
			inputMsg: "Subject: Sunny\n holiday\n\n", headersF: "Subject: Sunny holiday\n",
			commands: "USunny%20holiday\n",
		},
		{
			name:     "folded with CRLF: CR dropped",
			headers:  []hdr{{"Subject", "a\r\n b\r\n\tc"}},
			inputMsg: "Subject: a\n b\n\tc\n\n", headersF: "Subject: a b\tc\n",
			commands: "Ua%20b%09c\n",
		},
		{
			name:     "folded with CRLF: CR kept under KeepFoldCR (3.3)",
			opts:     Options{KeepFoldCR: true},
			headers:  []hdr{{"X-Long", "a\r\n b"}},
			inputMsg: "X-Long: a\r\n b\n\n", headersF: "X-Long: a b\n",
		},
		{
			name:     "bare CR becomes a space and !",
			headers:  []hdr{{"X-A", "foo\rbar"}, {"X-B", "trail\r"}, {"X\rC", "v"}},
			inputMsg: "X-A: foo bar\nX-B: trail \nX C: v\n\n", headersF: "X-A: foobar\nX-B: trail\nXC: v\n",
			commands: "!\n!\n!\n",
		},
		{
			name:     "bare CR in a Subject: ! before U, U unfolded",
			headers:  []hdr{{"subject", "x\ry"}},
			inputMsg: "subject: x y\n\n", headersF: "subject: xy\n",
			commands: "!\nUxy\n",
		},
		{
			name:     "Subject and Message-ID case-insensitive, every Subject counted",
			headers:  []hdr{{"SUBJECT", "one"}, {"Message-ID", "<1@x>"}, {"subject", "two"}, {"message-id", "<2@x>"}},
			inputMsg: "SUBJECT: one\nMessage-ID: <1@x>\nsubject: two\nmessage-id: <2@x>\n\n",
			headersF: "SUBJECT: one\nMessage-ID: <1@x>\nsubject: two\nmessage-id: <2@x>\n",
			commands: "Uone\nX<1@x>\nUtwo\nX<2@x>\n",
		},
		{
			name:     "only ASCII letters fold (U+017F is not s)",
			headers:  []hdr{{"ſubject", "x"}},
			inputMsg: "ſubject: x\n\n", headersF: "ſubject: x\n",
		},
		{
			name:     "8-bit, quotes and backslashes in a Subject",
			headers:  []hdr{{"Subject", `Grüße "x" \y 100%`}},
			inputMsg: "Subject: Grüße \"x\" \\y 100%\n\n", headersF: "Subject: Grüße \"x\" \\y 100%\n",
			commands: `UGr%C3%BC%C3%9Fe%20"x"%20\y%20100%25` + "\n",
		},
		{
			name:     "empty value",
			headers:  []hdr{{"X-Empty", ""}},
			inputMsg: "X-Empty: \n\n", headersF: "X-Empty: \n",
		},
		{
			name:      "only the first Content-Type is written; a skipped one never gives !",
			headers:   []hdr{{"Content-Type", "text/plain"}, {"content-type", "text/html\r"}, {"MIME-Version", "1.0"}, {"CONTENT-TYPE", "x"}},
			inputMsg:  "Content-Type: text/plain\nMIME-Version: 1.0\n\n",
			headersF:  "Content-Type: text/plain\nMIME-Version: 1.0\n",
			contentTy: 3, mimeVer: true,
		},
		{
			name:      "IP-validation header: exact name, J re-printed",
			opts:      Options{ValidateHeader: "X-MIMEDefang-Relay-abc"},
			headers:   []hdr{{"x-mimedefang-relay-abc", "1.2.3.4"}, {"X-MIMEDefang-Relay-abc", " 010.0.0.1 trailing"}, {"X-MIMEDefang-Relay-abc", "5.6.7.8"}},
			inputMsg:  "x-mimedefang-relay-abc: 1.2.3.4\nX-MIMEDefang-Relay-abc:  010.0.0.1 trailing\nX-MIMEDefang-Relay-abc: 5.6.7.8\n\n",
			headersF:  "x-mimedefang-relay-abc: 1.2.3.4\nX-MIMEDefang-Relay-abc:  010.0.0.1 trailing\nX-MIMEDefang-Relay-abc: 5.6.7.8\n",
			commands:  "J10.0.0.1\nJ5.6.7.8\n",
			validated: true,
		},
		{
			name:     "IP-validation header with a bad address",
			opts:     Options{ValidateHeader: "X-V"},
			headers:  []hdr{{"X-V", "256.1.1.1"}},
			inputMsg: "X-V: 256.1.1.1\n\n", headersF: "X-V: 256.1.1.1\n",
		},
		{
			name:     "no validation header configured",
			headers:  []hdr{{"X-V", "1.2.3.4"}},
			inputMsg: "X-V: 1.2.3.4\n\n", headersF: "X-V: 1.2.3.4\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newDir(t, tt.opts, MailFrom{})
			for _, h := range tt.headers {
				if err := w.Header(h[0], h[1]); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.EndOfHeaders(); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, w, InputMsgFile); got != tt.inputMsg {
				t.Errorf("INPUTMSG %q, want %q", got, tt.inputMsg)
			}
			if got := readFile(t, w, HeadersFile); got != tt.headersF {
				t.Errorf("HEADERS %q, want %q", got, tt.headersF)
			}
			if got := readFile(t, w, CommandsFile); got != mfBatch+tt.commands {
				t.Errorf("COMMANDS %q, want %q", got, mfBatch+tt.commands)
			}
			if w.ContentTypeHeaders() != tt.contentTy || w.SawMIMEVersion() != tt.mimeVer || w.SawValidationHeader() != tt.validated {
				t.Errorf("content-types %d mime-version %v validated %v", w.ContentTypeHeaders(), w.SawMIMEVersion(), w.SawValidationHeader())
			}
			if err := w.Finish(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// sscanf("%d.%d.%d.%d") as glibc does it, every number 0..255; the expected
// values were checked against glibc.
func TestParseDottedQuad(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"1.2.3.4", "1.2.3.4", true},
		{" \t1.2.3.4", "1.2.3.4", true},
		{"1. 2.\t3.\n4x", "1.2.3.4", true}, // %d skips white space, dots must be exact
		{"1 .2.3.4", "", false},
		{"01.002.3.4", "1.2.3.4", true},
		{"+1.+2.-0.4", "1.2.0.4", true},
		{"-0.0.0.0", "0.0.0.0", true},
		{"255.255.255.255", "255.255.255.255", true},
		{"256.1.1.1", "", false},
		{"-1.1.1.1", "", false},
		{"1.2.3", "", false},
		{"1.2.3.", "", false},
		{"0x1.2.3.4", "", false},
		{"", "", false},
		{"a.b.c.d", "", false},
		{"1.2.3.4.5", "1.2.3.4", true},
		{"4294967297.2.3.4", "1.2.3.4", true},     // long narrowed to int
		{"-4294967295.1.1.1", "1.1.1.1", true},    // likewise
		{"99999999999999999999.1.1.1", "", false}, // strtol saturates: LONG_MAX -> -1
	}
	for _, tt := range tests {
		got, ok := parseDottedQuad(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseDottedQuad(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBody(t *testing.T) {
	tests := []struct {
		name       string
		chunks     []string
		want       string // body bytes in INPUTMSG
		wantStrip  string // the same with -c
		suspicious bool
	}{
		{"CRLF to LF", []string{"a\r\nb\r\n"}, "a\nb\n", "a\nb\n", false},
		{"LF alone kept", []string{"a\nb\n"}, "a\nb\n", "a\nb\n", false},
		{"bare CR", []string{"a\rb"}, "a\rb", "ab", true},
		{"CR CR LF", []string{"\r\r\n"}, "\r\n", "\n", true},
		{"CR at chunk end, LF next", []string{"a\r", "\nb"}, "a\nb", "a\nb", false},
		{"CR at chunk end, no LF next", []string{"a\r", "b"}, "a\rb", "ab", true},
		{"CR at end of last chunk is lost", []string{"a\r"}, "a", "a", false},
		{"empty chunk keeps the held CR", []string{"a\r", "", "\n"}, "a\n", "a\n", false},
		{"held CR then a lone CR chunk", []string{"\r", "\r", "\n"}, "\r\n", "\n", true},
		{"NUL", []string{"a\x00b"}, "a\x00b", "a\x00b", true},
		{"8-bit kept", []string{"\xff\xfe\r\n"}, "\xff\xfe\n", "\xff\xfe\n", false},
		{"no body", nil, "", "", false},
	}
	for _, tt := range tests {
		for _, strip := range []bool{false, true} {
			name := tt.name
			want := tt.want
			if strip {
				name += "/-c"
				want = tt.wantStrip
			}
			t.Run(name, func(t *testing.T) {
				w := newDir(t, Options{StripBareCR: strip}, MailFrom{})
				if err := w.EndOfHeaders(); err != nil {
					t.Fatal(err)
				}
				for _, c := range tt.chunks {
					if err := w.Body([]byte(c)); err != nil {
						t.Fatal(err)
					}
				}
				if w.SuspiciousBody() != tt.suspicious {
					t.Errorf("suspicious = %v, want %v", w.SuspiciousBody(), tt.suspicious)
				}
				if err := w.Finish(); err != nil {
					t.Fatal(err)
				}
				if got := readFile(t, w, InputMsgFile); got != "\n"+want {
					t.Errorf("INPUTMSG %q, want %q", got, "\n"+want)
				}
				wantCmd := mfBatch + "F\n"
				if tt.suspicious {
					wantCmd = mfBatch + "?\nF\n"
				}
				if got := readFile(t, w, CommandsFile); got != wantCmd {
					t.Errorf("COMMANDS %q, want %q", got, wantCmd)
				}
			})
		}
	}
}

// A chunk larger than the internal buffer, with CRs on the buffer's edges.
func TestBodyLargeChunk(t *testing.T) {
	var in, want bytes.Buffer
	for i := 0; in.Len() < 5*bodyBufSize; i++ {
		line := strings.Repeat("x", i%97)
		in.WriteString(line + "\r\n")
		want.WriteString(line + "\n")
		if i%13 == 0 {
			in.WriteString("\r")
			want.WriteString("\r")
		}
	}
	for _, chunk := range []int{in.Len(), bodyBufSize - 1, bodyBufSize, bodyBufSize + 1, 65535} {
		w := newDir(t, Options{}, MailFrom{})
		b := in.Bytes()
		for len(b) > 0 {
			n := min(chunk, len(b))
			if err := w.Body(b[:n]); err != nil {
				t.Fatal(err)
			}
			b = b[n:]
		}
		if err := w.Finish(); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, w, InputMsgFile); got != want.String() {
			t.Fatalf("chunk %d: INPUTMSG differs (len %d, want %d)", chunk, len(got), want.Len())
		}
	}
}

// EndOfHeaders resets the body state, as eoh does.
func TestEndOfHeadersResetsBodyState(t *testing.T) {
	w := newDir(t, Options{}, MailFrom{})
	_ = w.Body([]byte("x\ry\r"))
	if err := w.EndOfHeaders(); err != nil {
		t.Fatal(err)
	}
	if w.SuspiciousBody() {
		t.Error("suspicious flag survived EndOfHeaders")
	}
	_ = w.Body([]byte("z"))
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, w, InputMsgFile); got != "x\ry\nz" {
		t.Errorf("INPUTMSG %q", got)
	}
	if got := readFile(t, w, CommandsFile); got != mfBatch+"F\n" {
		t.Errorf("COMMANDS %q", got)
	}
}

func TestQueueID(t *testing.T) {
	rcpt := Recipient{Addr: "<r@d>", Mailer: "m", Host: "h", RcptAddr: "r@d"}
	const r = "R<r@d> m h r@d\n"

	t.Run("known at MAIL FROM names the directory and is written once", func(t *testing.T) {
		w := newDir(t, Options{}, MailFrom{QueueID: "Q1"})
		if filepath.Base(w.Path()) != "mdefang-Q1" {
			t.Errorf("dir %q", w.Path())
		}
		w.SetQueueID("Q1")
		w.SetQueueID("")
		_ = w.WriteQueueID()
		_ = w.AddRecipient(rcpt)
		_ = w.Finish()
		if got, want := readFile(t, w, CommandsFile), "iabcdefg\nS<s@d>\n=client_port 0\nQQ1\nH\nI\n"+r+"F\n"; got != want {
			t.Errorf("COMMANDS %q, want %q", got, want)
		}
	})
	t.Run("learnt at RCPT: written before the R line, even for a rejected recipient", func(t *testing.T) {
		w := newDir(t, Options{}, MailFrom{})
		w.SetQueueID("Q2")
		_ = w.WriteQueueID() // the recipient is then rejected: no AddRecipient
		_ = w.WriteQueueID()
		_ = w.AddRecipient(rcpt)
		_ = w.Finish()
		if got, want := readFile(t, w, CommandsFile), mfBatch+"QQ2\n"+r+"F\n"; got != want {
			t.Errorf("COMMANDS %q, want %q", got, want)
		}
		if filepath.Base(w.Path()) != "mdefang-abcdefg" {
			t.Errorf("dir renamed: %q", w.Path())
		}
	})
	t.Run("changed: written again, last one wins", func(t *testing.T) {
		w := newDir(t, Options{}, MailFrom{QueueID: "Q1"})
		w.SetQueueID("Q3")
		_ = w.AddRecipient(rcpt)
		w.SetQueueID("Q4")
		_ = w.Finish()
		if got, want := readFile(t, w, CommandsFile), "iabcdefg\nS<s@d>\n=client_port 0\nQQ1\nH\nI\nQQ3\n"+r+"QQ4\nF\n"; got != want {
			t.Errorf("COMMANDS %q, want %q", got, want)
		}
		if w.QueueID() != "Q4" {
			t.Errorf("QueueID() = %q", w.QueueID())
		}
	})
	t.Run("at end of message, after ?", func(t *testing.T) {
		w := newDir(t, Options{}, MailFrom{})
		_ = w.EndOfHeaders()
		_ = w.Body([]byte("a\rb"))
		w.SetQueueID("Q5")
		_ = w.Finish()
		if got, want := readFile(t, w, CommandsFile), mfBatch+"QQ5\n?\nF\n"; got != want {
			t.Errorf("COMMANDS %q, want %q", got, want)
		}
	})
}

func TestClosed(t *testing.T) {
	w := newDir(t, Options{}, MailFrom{})
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"Header":       w.Header("a", "b"),
		"EndOfHeaders": w.EndOfHeaders(),
		"Body":         w.Body([]byte("x")),
		"AddRecipient": w.AddRecipient(Recipient{}),
		"Finish":       w.Finish(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Finish: %v, want ErrClosed", name, err)
		}
	}
	if got := readFile(t, w, CommandsFile); got != mfBatch+"F\n" {
		t.Errorf("COMMANDS changed after Finish: %q", got)
	}
}
