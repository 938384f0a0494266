package rspamd

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) log(p, m string) { l.mu.Lock(); l.lines = append(l.lines, p+": "+m); l.mu.Unlock() }
func (l *logs) String() string  { return strings.Join(l.lines, "\n") }

const spamAnswer = `{"is_skipped":false,"score":16.5,"required_score":15,"action":"reject","symbols":{"GTUBE":{"name":"GTUBE","score":15.5}}}`

func TestCheck(t *testing.T) {
	var got *http.Request
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got, body = r, string(b)
		io.WriteString(w, spamAnswer)
	}))
	defer srv.Close()
	var l logs
	c := New(Config{URL: srv.URL, Log: l.log})
	env := Envelope{From: "<a@example.com>", Rcpt: []string{"<b@example.org>", "c@example.org"}, IP: "192.0.2.1", Helo: "mx.example.com", QueueID: "Q1", User: "u"}
	r := c.Check(context.Background(), "", strings.NewReader("Subject: x\n\nhi\n"), env)
	if !r.OK || r.Hits != 16.5 || r.Required != 15 || r.Tests != "GTUBE (15.5)" || r.Action != "reject" || r.IsSpam != "true" || r.Report != spamAnswer {
		t.Errorf("result %+v", r)
	}
	if got.Method != "POST" || got.URL.Path != "/checkv2" || body != "Subject: x\n\nhi\n" {
		t.Errorf("request %s %s %q", got.Method, got.URL.Path, body)
	}
	h := got.Header
	if h.Get("From") != "a@example.com" || strings.Join(h.Values("Rcpt"), " ") != "b@example.org c@example.org" ||
		h.Get("IP") != "192.0.2.1" || h.Get("Helo") != "mx.example.com" || h.Get("Queue-Id") != "Q1" || h.Get("User") != "u" ||
		h.Get("User-Agent") != "MIMEDefang" || h.Get("Hostname") != "" {
		t.Errorf("headers %v", h)
	}
	if len(l.lines) != 0 {
		t.Errorf("logged %s", &l)
	}
}

// hung accepts connections and never answers.
func hung(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

func TestFailures(t *testing.T) {
	refused := func() string {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		defer ln.Close()
		return "http://" + ln.Addr().String()
	}()
	answer := func(status int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			io.WriteString(w, body)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	for _, tc := range []struct{ name, url, log string }{
		{"refused", refused, "connection refused"},
		{"hung", hung(t), "timeout"},
		{"500", answer(500, "oops"), "HTTP status 500"},
		{"garbage", answer(200, "<html>"), "not JSON"},
		{"error", answer(200, `{"error":"bad"}`), `rspamd error "bad"`},
		{"bad url", "::nonsense", "missing protocol scheme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l logs
			start := time.Now()
			r := New(Config{Timeout: 300 * time.Millisecond, Log: l.log}).Check(context.Background(), tc.url, strings.NewReader("x"), Envelope{})
			if r != SoftReject() {
				t.Errorf("result %+v", r)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			if !strings.Contains(l.String(), tc.log) || !strings.Contains(l.String(), "Warning: Cannot connect to Rspamd server, the message will be temporarily delayed") {
				t.Errorf("log:\n%s", &l)
			}
		})
	}
}

// TestDeadline: the caller's context ends a call to a hung rspamd.
func TestDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if r := New(Config{}).Check(ctx, hung(t), strings.NewReader("x"), Envelope{}); r != SoftReject() || time.Since(start) > 5*time.Second {
		t.Errorf("%+v after %v", r, time.Since(start))
	}
}

// TestInjected: Dial and Transport carry the request.
func TestInjected(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, spamAnswer) }))
	defer srv.Close()
	var dialed string
	c := New(Config{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed = addr
		var d net.Dialer
		return d.DialContext(ctx, network, strings.TrimPrefix(srv.URL, "http://"))
	}})
	if r := c.Check(context.Background(), "http://rspamd.example.org:11333", strings.NewReader("x"), Envelope{}); !r.OK || dialed != "rspamd.example.org:11333" {
		t.Errorf("%+v via %q", r, dialed)
	}
	var n int
	c = New(Config{URL: "http://rspamd.test", Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		n++
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(spamAnswer)), Header: http.Header{}}, nil
	})})
	if r := c.Check(context.Background(), "", strings.NewReader("x"), Envelope{}); !r.OK || n != 1 {
		t.Errorf("%+v after %d calls", r, n)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
