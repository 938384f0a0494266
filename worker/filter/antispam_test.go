package filter

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mdgo/md/worker/message"
)

// fakeSpamd answers every request with spam (1000 / 5) and records the
// messages it was sent.
func fakeSpamd(t *testing.T) (sock string, got func() []string) {
	t.Helper()
	sock = filepath.Join(t.TempDir(), "spamd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var msgs []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			r := bufio.NewReader(conn)
			line, _ := r.ReadString('\n')
			n := 0
			for {
				h, err := r.ReadString('\n')
				if h = strings.TrimSpace(h); err != nil || h == "" {
					break
				}
				if v, ok := strings.CutPrefix(h, "Content-length: "); ok {
					n, _ = strconv.Atoi(v)
				}
			}
			b := make([]byte, n)
			io.ReadFull(r, b)
			mu.Lock()
			msgs = append(msgs, string(b))
			mu.Unlock()
			body := "report\n"
			if strings.HasPrefix(line, "SYMBOLS") {
				body = "GTUBE\r\n"
			}
			fmt.Fprintf(conn, "SPAMD/1.1 0 EX_OK\r\nContent-length: %d\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n%s", len(body), body)
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return sock, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), msgs...) }
}

// TestSpamAssassinFunctions: the spam_assassin_* functions ask the spamd
// md_spamc_init named (through Config.Spamd.Dial), with the copy of the
// message the original builds; a failure is the original's empty list,
// logged with the queue ID.
func TestSpamAssassinFunctions(t *testing.T) {
	sock, got := fakeSpamd(t)
	var dialled []string
	cfgFn := func(cfg *Config) {
		cfg.AddApparentlyToForSpamAssassin = true
		cfg.Spamd.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialled = append(dialled, network+" "+addr)
			if addr == "spamd.example:783" {
				network, addr = "unix", sock
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
	}
	log := scanWith(t, cfgFn, "Subject: hi\n\nbody\n", func(c *Context, _ *message.Part) {
		if r := c.SpamAssassinCheck(""); r.OK {
			t.Errorf("before md_spamc_init, localhost:783: %+v", r)
		}
		cl := c.MdSpamcInit("spamd.example", 0, "defang", 0)
		if c.Config.Spamd.Host != "spamd.example" || cl.Config.User != "defang" {
			t.Errorf("Config.Spamd %+v", c.Config.Spamd)
		}
		v := c.SpamAssassinCheck("").Values()
		if len(v) != 4 || v[0] != 1000.0 || v[1] != 5.0 || v[2] != "GTUBE" || v[3] != "report\n" {
			t.Errorf("spam_assassin_check %v", v)
		}
		if v := c.SpamAssassinIsSpam("").Values(); len(v) != 1 || v[0] != true {
			t.Errorf("spam_assassin_is_spam %v", v)
		}
		if v := c.MdSpamcCheck(cl).Values(); len(v) != 4 || v[3] != "True" {
			t.Errorf("md_spamc_check %v", v)
		}
		if r := c.MdSpamcCheck(nil); r.OK {
			t.Errorf("nil client: %+v", r)
		}
		msg, ok := c.SpamAssassinMail()
		if !ok || !strings.HasPrefix(string(msg), "Return-Path: <a@example.com>\nReceived: from  ([192.0.2.1])\n") ||
			!strings.HasSuffix(string(msg), "\nApparently-To: <b@example.com>\nSubject: hi\n\nbody\n") {
			t.Errorf("spam_assassin_mail:\n%s", msg)
		}
		c.MdSpamcInit(filepath.Join(c.CWD, "none.sock"), 0, "", 0)
		if v := c.SpamAssassinIsSpam("").Values(); len(v) != 1 || v[0] != nil {
			t.Errorf("spamd down: spam_assassin_is_spam %v", v)
		}
	})
	if len(dialled) < 5 || dialled[0] != "tcp localhost:783" || dialled[1] != "tcp spamd.example:783" {
		t.Errorf("dialled %q", dialled)
	}
	if msgs := got(); len(msgs) != 5 || !strings.HasPrefix(msgs[0], "Return-Path: <a@example.com>\n") {
		t.Errorf("spamd got %q", msgs)
	}
	for _, l := range []string{"QID1: md_spamc_check: SpamAssassin client not initialized",
		"QID1: spam_assassin_check: Failed to create connection to spamd daemon: No such file or directory",
		"QID1: spam_assassin_check: no verdict from spamd at "} {
		if !strings.Contains(log, l) {
			t.Errorf("log lacks %q:\n%s", l, log)
		}
	}
}

// TestRspamdCheck: the envelope goes to rspamd as its request headers;
// outside message context, and with rspamd down, the result is the
// original's soft reject.
func TestRspamdCheck(t *testing.T) {
	var h http.Header
	cfgFn := func(cfg *Config) {
		cfg.Rspamd.URL = "http://rspamd.test"
		cfg.Rspamd.Transport = rtFunc(func(r *http.Request) (*http.Response, error) {
			if r.URL.Host != "rspamd.test" {
				return nil, fmt.Errorf("no route to %s", r.URL.Host)
			}
			h = r.Header
			return &http.Response{StatusCode: 200, Header: http.Header{},
				Body: io.NopCloser(strings.NewReader(`{"score":2,"required_score":15,"action":"no action","symbols":{}}`))}, nil
		})
	}
	log := scanWith(t, cfgFn, "Subject: hi\n\nbody\n", func(c *Context, _ *message.Part) {
		if r := c.RspamdCheck(""); !r.OK || r.Hits != 2 || r.IsSpam != "false" || r.Action != "no action" {
			t.Errorf("rspamd_check %+v", r)
		}
		if r := c.RspamdCheck("http://elsewhere.test"); r.OK || r.Action != "soft reject" {
			t.Errorf("down: %+v", r)
		}
	})
	if h.Get("From") != "a@example.com" || h.Get("Rcpt") != "b@example.com" || h["IP"][0] != "192.0.2.1" || h["Queue-Id"][0] != "QID1" {
		t.Errorf("headers %v", h)
	}
	if !strings.Contains(log, "QID1: Cannot connect to Rspamd server, the message will be temporarily delayed") {
		t.Errorf("log:\n%s", log)
	}
	noSyslog(t)
	w, _ := testWorker(t, func(*Config) *Callbacks { return &Callbacks{} })
	if r := w.NewContext(context.Background()).RspamdCheck(""); r.Action != "soft reject" {
		t.Errorf("outside message context: %+v", r)
	}
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
