package filter

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// smtpServer is a tiny SMTP server on 127.0.0.1 that answers RCPT TO by
// the recipient's local part (ok: 250, bad: 550, tmp: 450) and records
// the commands it got.
type smtpServer struct {
	ln       net.Listener
	banner   string
	ehlo     string // full EHLO reply, CRLF-terminated lines; "" = 250 only
	tls      *tls.Config
	mu       sync.Mutex
	commands []string
	done     chan struct{}
}

func startSMTP(t *testing.T, s *smtpServer) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln, s.done = ln, make(chan struct{})
	if s.banner == "" {
		s.banner = "220 test.example ESMTP ready"
	}
	go s.serve()
	t.Cleanup(func() { ln.Close(); <-s.done })
	return ln.Addr().(*net.TCPAddr).Port
}

func (s *smtpServer) serve() {
	defer close(s.done)
	conn, err := s.ln.Accept()
	if err != nil {
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var c net.Conn = conn
	r := bufio.NewReader(c)
	say := func(l string) { c.Write([]byte(l + "\r\n")) }
	say(s.banner)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		s.mu.Lock()
		s.commands = append(s.commands, line)
		s.mu.Unlock()
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch {
		case verb == "EHLO":
			if s.ehlo == "" {
				say("250 test.example")
			} else {
				c.Write([]byte(s.ehlo))
			}
		case verb == "HELO":
			say("250 test.example")
		case verb == "STARTTLS":
			say("220 2.0.0 Ready to start TLS")
			tc := tls.Server(conn, s.tls)
			if tc.Handshake() != nil {
				return
			}
			c = tc
			r = bufio.NewReader(c)
		case verb == "RSET":
			say("250 2.0.0 Ok")
		case strings.HasPrefix(line, "MAIL FROM:"):
			if strings.Contains(line, "spammer") {
				say("554 5.7.1 <spammer@x>: Sender address rejected")
			} else {
				say("250 2.1.0 Ok")
			}
		case strings.HasPrefix(line, "RCPT TO:<ok@"):
			say("250 2.1.5 Ok")
		case strings.HasPrefix(line, "RCPT TO:<bad@"):
			say("550-5.1.1 first line of a long reply")
			say("550 5.1.1 <bad@example.com>: Recipient address rejected: User unknown")
		case strings.HasPrefix(line, "RCPT TO:<tmp@"):
			say("450 4.2.0 <tmp@example.com>: Recipient address rejected: Greylisted")
		case strings.HasPrefix(line, "RCPT TO:<odd@"):
			say("250 Ok without DSN")
		case verb == "QUIT":
			say("221 2.0.0 Bye")
			return
		default:
			say("502 5.5.2 Error: command not recognized")
		}
	}
}

func (s *smtpServer) got() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.commands, "|")
}

func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"test.example"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func TestMdCheckAgainstSMTPServer(t *testing.T) {
	const ehloPlain = "250-test.example\r\n250-PIPELINING\r\n250 SIZE 10240000\r\n"
	const ehloTLS = "250-test.example\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
	for _, tc := range []struct {
		name, ehlo, sender, rcpt string
		useTLS                   bool
		want                     SMTPResult
		dialogue                 string
	}{
		{"ok", ehloPlain, "a@example.org", "ok@example.com", false,
			SMTPResult{"CONTINUE", "Ok", "250", "2.1.5"},
			"EHLO me.example|RSET|EHLO me.example|MAIL FROM:<a@example.org>|RCPT TO:<ok@example.com>|QUIT"},
		{"reject", ehloPlain, "<a@example.org>", "<bad@example.com>", false,
			SMTPResult{"REJECT", "<bad@example.com>: Recipient address rejected: User unknown", "550", "5.1.1"},
			"EHLO me.example|RSET|EHLO me.example|MAIL FROM:<a@example.org>|RCPT TO:<bad@example.com>|QUIT"},
		{"tempfail", ehloPlain, "", "tmp@example.com", false,
			SMTPResult{"TEMPFAIL", "<tmp@example.com>: Recipient address rejected: Greylisted", "450", "4.2.0"},
			"EHLO me.example|RSET|EHLO me.example|MAIL FROM:<>|RCPT TO:<tmp@example.com>|QUIT"},
		{"no dsn", ehloPlain, "a@example.org", "odd@example.com", false,
			SMTPResult{"CONTINUE", "Ok without DSN", "250", ""},
			"EHLO me.example|RSET|EHLO me.example|MAIL FROM:<a@example.org>|RCPT TO:<odd@example.com>|QUIT"},
		{"sender rejected", ehloPlain, "spammer@x", "ok@example.com", false,
			SMTPResult{"REJECT", "<spammer@x>: Sender address rejected", "554", "5.7.1"},
			"EHLO me.example|RSET|EHLO me.example|MAIL FROM:<spammer@x>|QUIT"},
		{"ehlo refused: helo", "502 5.5.2 Error: command not recognized\r\n", "a@example.org", "ok@example.com", false,
			SMTPResult{"CONTINUE", "Ok", "250", "2.1.5"},
			"EHLO me.example|HELO me.example|MAIL FROM:<a@example.org>|RCPT TO:<ok@example.com>|QUIT"},
		{"starttls", ehloTLS, "a@example.org", "bad@example.com", true,
			SMTPResult{"REJECT", "<bad@example.com>: Recipient address rejected: User unknown", "550", "5.1.1"},
			"EHLO me.example|STARTTLS|EHLO me.example|MAIL FROM:<a@example.org>|RCPT TO:<bad@example.com>|QUIT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noSyslog(t)
			srv := &smtpServer{ehlo: tc.ehlo}
			if tc.useTLS {
				srv.tls = selfSigned(t)
			}
			port := startSMTP(t, srv)
			w, _ := testWorker(t, func(*Config) *Callbacks { return &Callbacks{} })
			c := w.NewContext(context.Background())
			got := c.MdCheckAgainstSMTPServer(tc.sender, tc.rcpt, "me.example", "127.0.0.1", port)
			if got != tc.want {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
			ln := srv.ln
			ln.Close()
			<-srv.done
			if d := srv.got(); d != tc.dialogue {
				t.Errorf("dialogue %q, want %q", d, tc.dialogue)
			}
		})
	}
}

func TestMdCheckAgainstSMTPServerLoopAndFailures(t *testing.T) {
	noSyslog(t)
	t.Run("loop", func(t *testing.T) {
		srv := &smtpServer{banner: "220 mx.example.net ESMTP Postfix"}
		port := startSMTP(t, srv)
		w, _ := testWorker(t, func(cfg *Config) *Callbacks { cfg.PrivateMyHostName = "mx.example.net"; return &Callbacks{} })
		c := w.NewContext(context.Background())
		got := c.MdCheckAgainstSMTPServer("a@example.org", "ok@example.com", "me", "localhost", port)
		want := SMTPResult{"REJECT", "Verification server loop!  Trying to verify <ok@example.com> against myself!", "554", "5.4.6"}
		if got != want {
			t.Errorf("got %#v", got)
		}
		// 127.0.0.1 is trusted not to be a loop.
		srv2 := &smtpServer{banner: "220 mx.example.net ESMTP Postfix"}
		port2 := startSMTP(t, srv2)
		if got := c.MdCheckAgainstSMTPServer("a@example.org", "ok@example.com", "me", "127.0.0.1", port2); got.Verdict != "CONTINUE" {
			t.Errorf("127.0.0.1: %#v", got)
		}
	})
	t.Run("banner tempfail", func(t *testing.T) {
		srv := &smtpServer{banner: "421 4.3.2 Service not available"}
		port := startSMTP(t, srv)
		w, _ := testWorker(t, func(*Config) *Callbacks { return &Callbacks{} })
		got := w.NewContext(context.Background()).MdCheckAgainstSMTPServer("a", "b", "me", "127.0.0.1", port)
		if want := (SMTPResult{"TEMPFAIL", "Service not available", "421", "4.3.2"}); got != want {
			t.Errorf("got %#v", got)
		}
	})
	t.Run("refused", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		w, _ := testWorker(t, func(*Config) *Callbacks { return &Callbacks{} })
		got := w.NewContext(context.Background()).MdCheckAgainstSMTPServer("a", "b", "me", "127.0.0.1", port)
		want := SMTPResult{Verdict: "TEMPFAIL", Text: "Could not connect to other SMTP server 127.0.0.1, error=Connection refused"}
		if got != want {
			t.Errorf("got %#v", got)
		}
		a := got.Answer()
		if a.Verdict != TempFail || a.Msg != want.Text {
			t.Errorf("Answer %#v", a)
		}
	})
	t.Run("silent server", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		defer ln.Close()
		go func() {
			if c, err := ln.Accept(); err == nil {
				time.Sleep(2 * time.Second)
				c.Close()
			}
		}()
		w, _ := testWorker(t, func(*Config) *Callbacks { return &Callbacks{} })
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		got := w.NewContext(ctx).MdCheckAgainstSMTPServer("a", "b", "me", "127.0.0.1", ln.Addr().(*net.TCPAddr).Port)
		want := SMTPResult{"TEMPFAIL", "get_smtp_return_code: Empty response from SMTP server", "451", "4.3.0"}
		if got != want {
			t.Errorf("got %#v", got)
		}
	})
}

func TestSMTPReplyParsers(t *testing.T) {
	noSyslog(t)
	w, _ := testWorker(t, func(*Config) *Callbacks { return &Callbacks{} })
	c := w.NewContext(context.Background())
	for _, tc := range []struct{ in, want string }{
		{"250-a\r\n250 2.1.0 Sender ok\r\n", "CONTINUE|250|2.1.0|Sender ok"},
		{"354\r\n", "CONTINUE|354||"},
		{"garbage\r\n550 no\r\n", "REJECT|550||no"},
		{"650 weird\r\n", "TEMPFAIL|650||weird"},
		{"", "TEMPFAIL|451|4.3.0|get_smtp_return_code: Empty response from SMTP server"},
	} {
		v, code, dsn, text := c.GetSMTPReturnCode(bufio.NewReader(strings.NewReader(tc.in)), "<r>", "srv")
		if got := strings.Join([]string{v, code, dsn, text}, "|"); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
	v, code, dsn, exts := c.GetSMTPExtensions(bufio.NewReader(strings.NewReader("250-mx.example Hello\r\n250-SIZE 1000\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n")), "srv")
	if v != "CONTINUE" || code != "250" || dsn != "2.5.0" || exts["hostname"] != "mx.example" || exts["SIZE"] != "1000" || !hasKey(exts, "STARTTLS") || exts["AUTH"] != "PLAIN LOGIN" {
		t.Errorf("extensions %s %s %s %v", v, code, dsn, exts)
	}
	v, code, dsn, exts = c.GetSMTPExtensions(bufio.NewReader(strings.NewReader("oops\r\n")), "srv")
	if v != "TEMPFAIL" || code != "451" || dsn != "4.3.0" || !hasKey(exts, "srv said: oops") {
		t.Errorf("bad line: %s %s %s %v", v, code, dsn, exts)
	}
}
