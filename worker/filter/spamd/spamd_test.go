package spamd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// request is what the stand-in received.
type request struct {
	verb    string
	headers map[string]string
	body    string
}

// standIn is a spamd that answers with answer(request); answer returning
// "" makes it hang (accept and never answer).
type standIn struct {
	addr, network string
	mu            sync.Mutex
	reqs          []request
}

func startStandIn(t *testing.T, network string, answer func(request) string) *standIn {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "spamd.sock")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &standIn{addr: ln.Addr().String(), network: network}
	var wg sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				br := bufio.NewReader(conn)
				line, _ := br.ReadString('\n')
				req := request{verb: strings.Fields(line + " x")[0], headers: map[string]string{}}
				for {
					l, err := br.ReadString('\n')
					l = strings.TrimRight(l, "\r\n")
					if err != nil || l == "" {
						break
					}
					k, v, _ := strings.Cut(l, ":")
					req.headers[k] = strings.TrimSpace(v)
				}
				if n, err := strconv.Atoi(req.headers["Content-length"]); err == nil {
					b := make([]byte, n)
					io.ReadFull(br, b)
					req.body = string(b)
				}
				s.mu.Lock()
				s.reqs = append(s.reqs, req)
				s.mu.Unlock()
				a := answer(req)
				if a == "" {
					<-done
					return
				}
				io.WriteString(conn, a)
			}()
		}
	}()
	return s
}

func (s *standIn) config() Config {
	if s.network == "unix" {
		return Config{Host: s.addr}
	}
	h, p, _ := net.SplitHostPort(s.addr)
	port, _ := strconv.Atoi(p)
	return Config{Host: h, Port: port}
}

// spamdAnswer answers like spamd: GTUBE in the body is spam.
func spamdAnswer(req request) string {
	spam, score := "False", "0.5"
	if strings.Contains(req.body, "GTUBE") {
		spam, score = "True", "1000.0"
	}
	var body string
	switch req.verb {
	case "PING":
		return "SPAMD/1.5 0 PONG\r\n"
	case "SYMBOLS":
		body = "NO_RELAYS"
		if spam == "True" {
			body = "GTUBE,NO_RELAYS"
		}
		body += "\r\n"
	case "REPORT":
		body = "Content analysis details:   (" + score + " points, 5.0 required)\n"
	}
	return fmt.Sprintf("SPAMD/1.1 0 EX_OK\r\nContent-length: %d\r\nSpam: %s ; %s / 5.0\r\n\r\n%s", len(body), spam, score, body)
}

type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) log(p, m string) { l.mu.Lock(); l.lines = append(l.lines, p+": "+m); l.mu.Unlock() }
func (l *logs) String() string  { return strings.Join(l.lines, "\n") }

func TestCheckAndReport(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			s := startStandIn(t, network, spamdAnswer)
			var l logs
			cfg := s.config()
			cfg.User, cfg.Log = "defang", l.log
			c := New(cfg)
			r := c.Check(context.Background(), []byte("Subject: x\n\na GTUBE stand-in (the stand-in looks for this word)\n"))
			if !r.OK || !r.IsSpam || r.Score != 1000 || r.Threshold != 5 || r.TestNames() != "GTUBE,NO_RELAYS" || !strings.Contains(r.Report, "1000.0 points") {
				t.Errorf("GTUBE: %+v", r)
			}
			r = c.Report(context.Background(), []byte("Subject: x\n\nhello\n"))
			if !r.OK || r.IsSpam || r.Spam != "False" || r.Score != 0.5 || r.Tests != nil {
				t.Errorf("clean: %+v", r)
			}
			if !c.Ping(context.Background()) {
				t.Error("no PONG")
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.reqs) != 4 || s.reqs[0].verb != "SYMBOLS" || s.reqs[1].verb != "REPORT" || s.reqs[2].verb != "REPORT" || s.reqs[3].verb != "PING" {
				t.Errorf("requests %+v", s.reqs)
			}
			if s.reqs[0].headers["User"] != "defang" || s.reqs[2].body != "Subject: x\n\nhello\n" {
				t.Errorf("request %+v", s.reqs[2])
			}
			if len(l.lines) != 0 {
				t.Errorf("logged %s", &l)
			}
		})
	}
}

func TestMaxSize(t *testing.T) {
	s := startStandIn(t, "tcp", spamdAnswer)
	cfg := s.config()
	cfg.MaxSize = 10
	New(cfg).Report(context.Background(), []byte("0123456789abcdef"))
	if s.reqs[0].body != "0123456789" || s.reqs[0].headers["Content-length"] != "10" {
		t.Errorf("sent %+v", s.reqs[0])
	}
}

func TestFailures(t *testing.T) {
	refused := func() Config {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().(*net.TCPAddr)
		ln.Close()
		return Config{Host: "127.0.0.1", Port: addr.Port}
	}
	for _, tc := range []struct {
		name   string
		cfg    func(t *testing.T) Config
		log    string
		within time.Duration
	}{
		{"refused", func(*testing.T) Config { return refused() },
			"Warning: md_spamc_check: Failed to create connection to spamd daemon: Connection refused", 5 * time.Second},
		{"no socket", func(t *testing.T) Config { return Config{Host: filepath.Join(t.TempDir(), "none.sock")} },
			"Warning: md_spamc_check: Failed to create connection to spamd daemon: No such file or directory", 5 * time.Second},
		{"hung", func(t *testing.T) Config {
			c := startStandIn(t, "tcp", func(request) string { return "" }).config()
			c.Timeout = 300 * time.Millisecond
			return c
		}, "md_spamc_check: spamd at 127.0.0.1:", 5 * time.Second},
		{"garbage", func(t *testing.T) Config {
			return startStandIn(t, "tcp", func(request) string { return "220 smtp.example.org ESMTP\r\n" }).config()
		}, "no SPAMD status line", 5 * time.Second},
		{"error status", func(t *testing.T) Config {
			return startStandIn(t, "unix", func(request) string { return "SPAMD/1.0 76 Bad header line: x\r\n" }).config()
		}, "answered 76 Bad header line: x", 5 * time.Second},
		{"no spam header", func(t *testing.T) Config {
			return startStandIn(t, "tcp", func(request) string { return "SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\n\r\n" }).config()
		}, "without a Spam header", 5 * time.Second},
		{"closed", func(t *testing.T) Config {
			return startStandIn(t, "tcp", func(request) string { return "\x00" }).config()
		}, "no SPAMD status line", 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l logs
			cfg := tc.cfg(t)
			cfg.Log = l.log
			start := time.Now()
			r := New(cfg).Report(context.Background(), []byte("Subject: x\n\nhello\n"))
			if r.OK || r.Values() != nil {
				t.Errorf("result %+v", r)
			}
			if d := time.Since(start); d > tc.within {
				t.Errorf("took %v", d)
			}
			if !strings.Contains(l.String(), tc.log) || !strings.Contains(l.String(), "the message is not checked for spam") {
				t.Errorf("log:\n%s", &l)
			}
		})
	}
}

// TestContextDeadline: with the default 30 s timeout, the caller's
// deadline ends a call to a hung spamd.
func TestContextDeadline(t *testing.T) {
	s := startStandIn(t, "unix", func(request) string { return "" })
	var l logs
	cfg := s.config()
	cfg.Log = l.log
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	r := New(cfg).Check(ctx, []byte("x"))
	if r.OK || time.Since(start) > 5*time.Second {
		t.Errorf("%+v after %v", r, time.Since(start))
	}
	if !strings.Contains(l.String(), "timeout reading") {
		t.Errorf("log:\n%s", &l)
	}
}

// TestDial: the injected dialer is used, with the network and address of
// the Config.
func TestDial(t *testing.T) {
	s := startStandIn(t, "tcp", spamdAnswer)
	var got string
	cfg := Config{Host: "spamd.example.org", Port: 7830, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		got = network + " " + addr
		if _, ok := ctx.Deadline(); !ok {
			t.Error("no deadline")
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", s.addr)
	}}
	if r := New(cfg).Report(context.Background(), []byte("x")); !r.OK || got != "tcp spamd.example.org:7830" {
		t.Errorf("%+v via %q", r, got)
	}
	if n, a := (Config{}).Network(); n != "tcp" || a != "localhost:783" {
		t.Errorf("default %s %s", n, a)
	}
}
