package filter

import (
	"bufio"
	"context"
	"go/parser"
	"go/token"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The integrations' own tests live in their packages; these check what
// package filter adds: the request's host name, log and Config reach
// them, and the results become callback answers.

// TestMdCheckAgainstSMTPServerDelegates: the call-out compares the banner
// with PrivateMyHostName, dials through Config.SMTPCheck.Dial, and its
// reject becomes a Recipient answer. The server is a real listener.
func TestMdCheckAgainstSMTPServerDelegates(t *testing.T) {
	noSyslog(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan []string)
	go func() {
		var got []string
		defer func() { done <- got }()
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.Write([]byte("220 mx.example.net ESMTP\r\n"))
		r := bufio.NewReader(conn)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			got = append(got, strings.TrimSpace(line))
			conn.Write([]byte("221 2.0.0 Bye\r\n"))
		}
	}()
	var dialled string
	w, _ := testWorker(t, func(cfg *Config) *Callbacks {
		cfg.PrivateMyHostName = "mx.example.net"
		cfg.SMTPCheck.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialled = addr
			var d net.Dialer
			return d.DialContext(ctx, network, ln.Addr().String())
		}
		return &Callbacks{}
	})
	got := w.NewContext(context.Background()).MdCheckAgainstSMTPServer("a@example.org", "ok@example.com", "me", "mx.example.net", 2525)
	ln.Close()
	dialogue := <-done
	want := SMTPResult{"REJECT", "Verification server loop!  Trying to verify <ok@example.com> against myself!", "554", "5.4.6"}
	if got != want || dialled != "mx.example.net:2525" || strings.Join(dialogue, "|") != "QUIT" {
		t.Errorf("got %#v, dialled %q, dialogue %q", got, dialled, dialogue)
	}
	if a := got.Answer(); a != (Answer{Verdict: Reject, Msg: want.Text, Code: "554", DSN: "5.4.6"}) {
		t.Errorf("Answer %#v", a)
	}
	if v := got.Values(); len(v) != 4 || v[2] != "554" {
		t.Errorf("Values %#v", v)
	}
}

// TestMdCheckAgainstSMTPServerRefused: a refused connection tempfails
// (never passes the recipient) and the original's log line reaches
// md_syslog, with the queue ID.
func TestMdCheckAgainstSMTPServerRefused(t *testing.T) {
	noSyslog(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	w, log := testWorker(t, func(*Config) *Callbacks { return &Callbacks{} })
	c := w.NewContext(context.Background())
	c.MsgID = "QID42"
	got := c.MdCheckAgainstSMTPServer("a", "b", "me", "127.0.0.1", port)
	want := SMTPResult{Verdict: "TEMPFAIL", Text: "Could not connect to other SMTP server 127.0.0.1, error=Connection refused"}
	if got != want {
		t.Errorf("got %#v", got)
	}
	if a := got.Answer(); a.Verdict != TempFail || a.Msg != want.Text {
		t.Errorf("Answer %#v", a)
	}
	if v := got.Values(); len(v) != 2 {
		t.Errorf("Values %#v, want the original's two", v)
	}
	if !strings.Contains(log.String(), "QID42: Falling back to plaintext connection") {
		t.Errorf("log:\n%s", log)
	}
}

func TestSMTPReplyHelpers(t *testing.T) {
	noSyslog(t)
	w, _ := testWorker(t, func(*Config) *Callbacks { return &Callbacks{} })
	c := w.NewContext(context.Background())
	v, code, dsn, text := c.GetSMTPReturnCode(bufio.NewReader(strings.NewReader("250-a\r\n550 5.1.1 no\r\n")), "<r>", "srv")
	if got := strings.Join([]string{v, code, dsn, text}, "|"); got != "REJECT|550|5.1.1|no" {
		t.Errorf("GetSMTPReturnCode: %q", got)
	}
	v, code, dsn, exts := c.GetSMTPExtensions(bufio.NewReader(strings.NewReader("250-mx.example\r\n250 STARTTLS\r\n")), "srv")
	if _, ok := exts["STARTTLS"]; v != "CONTINUE" || code != "250" || dsn != "2.5.0" || !ok || exts["hostname"] != "mx.example" {
		t.Errorf("GetSMTPExtensions: %s %s %s %v", v, code, dsn, exts)
	}
}

// TestIntegrationImports: an integration package under worker/filter/
// imports neither package filter (which imports it) nor an engine: the
// direction docs/integrations.md prescribes. Test files may.
func TestIntegrationImports(t *testing.T) {
	forbidden := map[string]bool{
		"github.com/mdgo/md/worker/filter":             true,
		"github.com/mdgo/md/worker/internal/luafilter": true,
		"github.com/yuin/gopher-lua":                   true,
	}
	dirs, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range dirs {
		if !d.IsDir() || d.Name() == "testdata" {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(d.Name(), "*.go"))
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			n++
			for _, imp := range f.Imports {
				if p, _ := strconv.Unquote(imp.Path.Value); forbidden[p] {
					t.Errorf("%s imports %s: package filter imports the integrations, not the other way round", path, p)
				}
			}
		}
	}
	if n == 0 {
		t.Error("no integration package found under worker/filter/")
	}
}
