package smtpcheck

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// The call-out is tested against a real listening socket on 127.0.0.1:
// smtpServer below speaks enough SMTP (banner, EHLO with or without
// STARTTLS and a real TLS handshake, HELO, RSET, MAIL, RCPT, QUIT) to take
// Check through every branch of the original's dialogue. A real MTA
// (Postfix) is exercised by the end-to-end tests, not here.

// smtpServer is a tiny SMTP server on 127.0.0.1 that answers RCPT TO by
// the recipient's local part (ok: 250, bad: 550, tmp: 450) and records
// the commands it got. It serves one connection.
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

// logged collects what a Client logs, as "priority: text" lines.
type logged struct {
	mu    sync.Mutex
	lines []string
}

func (l *logged) log(priority, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, priority+": "+msg)
}

func (l *logged) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// dialTo is a Config.Dial that reaches port on 127.0.0.1 whatever address
// it is asked for, and records that address.
func dialTo(port int, asked *string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		*asked = addr
		var d net.Dialer
		return d.DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", port))
	}
}

func TestCheck(t *testing.T) {
	const ehloPlain = "250-test.example\r\n250-PIPELINING\r\n250 SIZE 10240000\r\n"
	const ehloTLS = "250-test.example\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
	for _, tc := range []struct {
		name, ehlo, sender, rcpt string
		useTLS                   bool
		want                     Result
		dialogue                 string
		log                      string // a line the client must log
	}{
		{"ok", ehloPlain, "a@example.org", "ok@example.com", false,
			Result{"CONTINUE", "Ok", "250", "2.1.5"},
			"EHLO me.example|RSET|EHLO me.example|MAIL FROM:<a@example.org>|RCPT TO:<ok@example.com>|QUIT",
			"debug: md_check_against_smtp_server: STARTTLS not available"},
		{"reject", ehloPlain, "<a@example.org>", "<bad@example.com>", false,
			Result{"REJECT", "<bad@example.com>: Recipient address rejected: User unknown", "550", "5.1.1"},
			"EHLO me.example|RSET|EHLO me.example|MAIL FROM:<a@example.org>|RCPT TO:<bad@example.com>|QUIT",
			"info: get_smtp_return_code: for <bad@example.com> on 127.0.0.1 returned 550 5.1.1 <bad@example.com>: Recipient address rejected: User unknown"},
		{"tempfail", ehloPlain, "", "tmp@example.com", false,
			Result{"TEMPFAIL", "<tmp@example.com>: Recipient address rejected: Greylisted", "450", "4.2.0"},
			"EHLO me.example|RSET|EHLO me.example|MAIL FROM:<>|RCPT TO:<tmp@example.com>|QUIT",
			"info: get_smtp_return_code: for <tmp@example.com> on 127.0.0.1 returned 450 4.2.0"},
		{"no dsn", ehloPlain, "a@example.org", "odd@example.com", false,
			Result{"CONTINUE", "Ok without DSN", "250", ""},
			"EHLO me.example|RSET|EHLO me.example|MAIL FROM:<a@example.org>|RCPT TO:<odd@example.com>|QUIT",
			"debug: md_check_against_smtp_server: Checking recipient <odd@example.com>"},
		{"sender rejected", ehloPlain, "spammer@x", "ok@example.com", false,
			Result{"REJECT", "<spammer@x>: Sender address rejected", "554", "5.7.1"},
			"EHLO me.example|RSET|EHLO me.example|MAIL FROM:<spammer@x>|QUIT",
			"debug: md_check_against_smtp_server: Checking sender <spammer@x>"},
		{"ehlo refused: helo", "502 5.5.2 Error: command not recognized\r\n", "a@example.org", "ok@example.com", false,
			Result{"CONTINUE", "Ok", "250", "2.1.5"},
			"EHLO me.example|HELO me.example|MAIL FROM:<a@example.org>|RCPT TO:<ok@example.com>|QUIT", ""},
		{"starttls", ehloTLS, "a@example.org", "bad@example.com", true,
			Result{"REJECT", "<bad@example.com>: Recipient address rejected: User unknown", "550", "5.1.1"},
			"EHLO me.example|STARTTLS|EHLO me.example|MAIL FROM:<a@example.org>|RCPT TO:<bad@example.com>|QUIT",
			"debug: md_check_against_smtp_server: start_SSL succeeded!"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &smtpServer{ehlo: tc.ehlo}
			if tc.useTLS {
				srv.tls = selfSigned(t)
			}
			port := startSMTP(t, srv)
			var log logged
			got := New(Config{Log: log.log}).Check(context.Background(), tc.sender, tc.rcpt, "me.example", "127.0.0.1", port)
			if got != tc.want {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
			srv.ln.Close()
			<-srv.done
			if d := srv.got(); d != tc.dialogue {
				t.Errorf("dialogue %q, want %q", d, tc.dialogue)
			}
			if !strings.Contains(log.String(), tc.log) {
				t.Errorf("log lacks %q:\n%s", tc.log, log.String())
			}
		})
	}
}

func TestCheckLoopAndFailures(t *testing.T) {
	loop := Result{"REJECT", "Verification server loop!  Trying to verify <ok@example.com> against myself!", "554", "5.4.6"}
	t.Run("loop", func(t *testing.T) {
		srv := &smtpServer{banner: "220 mx.example.net ESMTP Postfix"}
		port := startSMTP(t, srv)
		c := New(Config{HostName: "mx.example.net"})
		if got := c.Check(context.Background(), "a@example.org", "ok@example.com", "me", "localhost", port); got != loop {
			t.Errorf("got %#v", got)
		}
		srv.ln.Close()
		<-srv.done
		if d := srv.got(); d != "QUIT" {
			t.Errorf("dialogue %q, want QUIT only", d)
		}
		// 127.0.0.1 is trusted not to be a loop.
		srv2 := &smtpServer{banner: "220 mx.example.net ESMTP Postfix"}
		port2 := startSMTP(t, srv2)
		if got := c.Check(context.Background(), "a@example.org", "ok@example.com", "me", "127.0.0.1", port2); got.Verdict != Continue {
			t.Errorf("127.0.0.1: %#v", got)
		}
	})
	t.Run("injected dialer", func(t *testing.T) {
		// Dial reaches the local listener for a server by name; the name
		// is what the loop check and the address see.
		srv := &smtpServer{banner: "220 mx.example.net ESMTP Postfix"}
		port := startSMTP(t, srv)
		var asked string
		c := New(Config{HostName: "mx.example.net", Dial: dialTo(port, &asked)})
		if got := c.Check(context.Background(), "a@example.org", "ok@example.com", "me", "mx.example.net", 0); got != loop {
			t.Errorf("got %#v", got)
		}
		if asked != "mx.example.net:25" {
			t.Errorf("dialled %q, want mx.example.net:25", asked)
		}
	})
	t.Run("banner tempfail", func(t *testing.T) {
		srv := &smtpServer{banner: "421 4.3.2 Service not available"}
		port := startSMTP(t, srv)
		got := New(Config{}).Check(context.Background(), "a", "b", "me", "127.0.0.1", port)
		if want := (Result{"TEMPFAIL", "Service not available", "421", "4.3.2"}); got != want {
			t.Errorf("got %#v", got)
		}
	})
	t.Run("refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		var log logged
		got := New(Config{Log: log.log}).Check(context.Background(), "a", "b", "me", "127.0.0.1", port)
		want := Result{Verdict: "TEMPFAIL", Text: "Could not connect to other SMTP server 127.0.0.1, error=Connection refused"}
		if got != want {
			t.Errorf("got %#v", got)
		}
		if v := got.Values(); len(v) != 2 || v[0] != "TEMPFAIL" || v[1] != want.Text {
			t.Errorf("Values %#v, want the original's two values", v)
		}
		if log.String() != "warning: Falling back to plaintext connection" {
			t.Errorf("log:\n%s", log.String())
		}
	})
	t.Run("dialer error", func(t *testing.T) {
		dial := func(context.Context, string, string) (net.Conn, error) {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "mx.invalid", IsNotFound: true}}
		}
		got := New(Config{Dial: dial}).Check(context.Background(), "a", "b", "me", "mx.invalid", 25)
		if want := (Result{Verdict: "TEMPFAIL", Text: "Could not connect to other SMTP server mx.invalid, error=no such host"}); got != want {
			t.Errorf("got %#v", got)
		}
	})
	// A server that accepts and then says nothing: the request's deadline,
	// or the per-step Timeout, ends the call with the original's TEMPFAIL.
	silent := func(t *testing.T) int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		hold := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			if c, err := ln.Accept(); err == nil {
				<-hold
				c.Close()
			}
		}()
		t.Cleanup(func() { close(hold); ln.Close(); <-done })
		return ln.Addr().(*net.TCPAddr).Port
	}
	empty := Result{"TEMPFAIL", "get_smtp_return_code: Empty response from SMTP server", "451", "4.3.0"}
	t.Run("silent server, request deadline", func(t *testing.T) {
		port := silent(t)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if got := New(Config{}).Check(ctx, "a", "b", "me", "127.0.0.1", port); got != empty {
			t.Errorf("got %#v", got)
		}
	})
	t.Run("silent server, step timeout", func(t *testing.T) {
		port := silent(t)
		if got := New(Config{Timeout: 200 * time.Millisecond}).Check(context.Background(), "a", "b", "me", "127.0.0.1", port); got != empty {
			t.Errorf("got %#v", got)
		}
	})
	t.Run("dial timeout", func(t *testing.T) {
		// A dialer that never connects is bounded by Timeout too.
		dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
			<-ctx.Done()
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: ctx.Err()}
		}
		got := New(Config{Timeout: 100 * time.Millisecond, Dial: dial}).Check(context.Background(), "a", "b", "me", "mx.example", 25)
		if want := (Result{Verdict: "TEMPFAIL", Text: "Could not connect to other SMTP server mx.example, error=Connection timed out"}); got != want {
			t.Errorf("got %#v", got)
		}
	})
}

func TestResultValues(t *testing.T) {
	for _, tc := range []struct {
		r    Result
		want []any
	}{
		{Result{"CONTINUE", "Ok", "250", "2.1.5"}, []any{"CONTINUE", "Ok", "250", "2.1.5"}},
		{Result{"CONTINUE", "Ok", "250", ""}, []any{"CONTINUE", "Ok", "250", ""}},
		{Result{Verdict: "TEMPFAIL", Text: "Could not connect"}, []any{"TEMPFAIL", "Could not connect"}},
	} {
		if got := tc.r.Values(); fmt.Sprint(got) != fmt.Sprint(tc.want) || len(got) != len(tc.want) {
			t.Errorf("%#v: %#v, want %#v", tc.r, got, tc.want)
		}
	}
}
