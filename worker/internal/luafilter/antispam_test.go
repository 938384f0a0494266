package luafilter

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The anti-spam bindings reach package filter's methods (whose own tests
// and those of filter/spamd and filter/rspamd cover the outcomes) and
// return the Perl lists. spamd is a fake on a real Unix socket, rspamd an
// httptest server; the real ones are exercised by
// integration/spamd_test.go and integration/rspamd_test.go.

const spamMarker = "SPAM-MARKER"

var spamMsg = "From: sender@example.com\nTo: rcpt@example.org\nSubject: Buy now\n\nThis is " + spamMarker + ".\n"

// fakeSpamd answers SYMBOLS and REPORT on a Unix socket: spam (1000 / 5)
// for a body holding the marker, else 1.5 / 5. bodies receives what it
// was sent.
func fakeSpamd(t *testing.T) (sock string, bodies *[]string) {
	t.Helper()
	sock = filepath.Join(t.TempDir(), "spamd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	serve := func(conn net.Conn) {
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(conn)
		line, _ := r.ReadString('\n')
		verb, _, _ := strings.Cut(line, " ")
		if verb == "PING" {
			io.WriteString(conn, "SPAMD/1.5 0 PONG\r\n")
			return
		}
		n := 0
		for {
			h, err := r.ReadString('\n')
			if h = strings.TrimRight(h, "\r\n"); err != nil || h == "" {
				break
			}
			if v, ok := strings.CutPrefix(h, "Content-length: "); ok {
				n, _ = strconv.Atoi(v)
			}
		}
		b := make([]byte, n)
		io.ReadFull(r, b)
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
		spam, score, body := "False", "1.5", "MISSING_DATE\r\n"
		if strings.Contains(string(b), spamMarker) {
			spam, score, body = "True", "1000.0", "GTUBE,MISSING_DATE\r\n"
		}
		if verb == "REPORT" {
			body = "Content analysis details: (" + score + " points)\n"
		}
		fmt.Fprintf(conn, "SPAMD/1.1 0 EX_OK\r\nContent-length: %d\r\nSpam: %s ; %s / 5.0\r\n\r\n%s", len(body), spam, score, body)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); serve(conn) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return sock, &got
}

// fakeRspamd answers /checkv2 as rspamd does; headers receives the
// request headers of the last call.
func fakeRspamd(t *testing.T) (url string, headers *http.Header) {
	t.Helper()
	var h http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h = r.Header.Clone()
		if r.URL.Path != "/checkv2" {
			http.NotFound(w, r)
			return
		}
		if strings.Contains(string(b), spamMarker) {
			io.WriteString(w, `{"is_skipped":false,"score":16.5,"required_score":15,"action":"reject","symbols":{"GTUBE":{"name":"GTUBE","score":15.5},"MISSING_DATE":{"name":"MISSING_DATE","score":1}}}`)
			return
		}
		io.WriteString(w, `{"is_skipped":false,"score":1,"required_score":15,"action":"no action","symbols":{"MISSING_DATE":{"name":"MISSING_DATE","score":1}}}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &h
}

func TestSpamBindings(t *testing.T) {
	sock, bodies := fakeSpamd(t)
	url, headers := fakeRspamd(t)
	down := filepath.Join(t.TempDir(), "none.sock")
	for _, tc := range []bindingCase{
		{name: "detect_and_load_perl_modules", msg: plainMsg,
			src: `md_spamc_init("` + sock + `")
detect_and_load_perl_modules()
local up = Features["SpamAssassin"]
md_spamc_init("` + down + `")
detect_and_load_perl_modules()
local down = Features["SpamAssassin"]
Features["SpamAssassin"] = false
md_spamc_init("` + sock + `")
detect_and_load_perl_modules()
local off = Features["SpamAssassin"]
function filter_begin(e)
  H("spamd", tostring(up) .. " " .. tostring(down) .. " " .. tostring(off))
  H("builtin", tostring(Features["HTML::Parser"]) .. " " .. tostring(Features["Archive::Zip"]))
end`,
			lines: []string{"HX-spamd true false false", "HX-builtin true true"},
		},
		{name: "spam_assassin", msg: spamMsg,
			src: `md_spamc_init("` + sock + `")
AddApparentlyToForSpamAssassin = true
function filter_begin(e)
  H("defaults", SpamdTimeout .. " " .. tostring(SALocalTestsOnly))
  local hits, req, tests, report = spam_assassin_check()
  H("check", hits .. " " .. req .. " " .. tests .. " " .. report)
  H("is_spam", spam_assassin_is_spam())
  local st = spam_assassin_status()
  st:finish()
  H("status", st.score .. " " .. st.hits .. " " .. st.required .. " " .. tostring(st.is_spam) .. " " ..
    st.spamd_is_spam .. " " .. table.concat(st.tests, "+") .. " " .. st.names)
  local sa = spam_assassin_init("/etc/mail/sa-mimedefang.cf")
  H("init", sa.host .. " " .. sa.port)
  H("mail", string.sub(spam_assassin_mail(), 1, 20))
end`,
			lines: []string{"HX-defaults 30 true", "HX-check 1000 5 GTUBE,MISSING_DATE Content analysis details: (1000.0 points)%0A",
				"HX-is_spam true", "HX-status 1000 1000 5 true True GTUBE+MISSING_DATE GTUBE,MISSING_DATE",
				"HX-init " + sock + " 783", "HX-mail Return-Path:%20<sender"},
			check: func(t *testing.T, _ *testWorker, _ string) {
				b := (*bodies)[len(*bodies)-1]
				if !strings.HasPrefix(b, "Return-Path: <sender@example.com>\nReceived: from ") ||
					!strings.Contains(b, "\nApparently-To: <rcpt@example.org>, <other@example.net>\nFrom: sender@example.com\n") {
					t.Errorf("spamd got:\n%s", b)
				}
			},
		},
		{name: "md_spamc", msg: plainMsg,
			src: `function filter_begin(e)
  local c = md_spamc_init("` + sock + `", nil, "defang", 100000)
  H("client", c.host .. " " .. c.port .. " " .. c.user .. " " .. c.max_size)
  local score, thr, report, isspam = md_spamc_check(c)
  H("check", score .. " " .. thr .. " " .. isspam)
  H("bad", select('#', md_spamc_check({host = "x"})))
  H("down", select('#', md_spamc_check(md_spamc_init("` + down + `"))))
  H("down_check", select('#', spam_assassin_check()))
  H("down_is_spam", tostring(spam_assassin_is_spam()))
  H("down_status", tostring(spam_assassin_status()))
end`,
			lines: []string{"HX-client " + sock + " 783 defang 100000", "HX-check 1.5 5 False", "HX-bad 0", "HX-down 0",
				"HX-down_check 0", "HX-down_is_spam nil", "HX-down_status nil"},
			syslogLog: []string{"md_spamc_check: SpamAssassin client not initialized",
				"md_spamc_check: Failed to create connection to spamd daemon: No such file or directory",
				"spam_assassin_check: no verdict from spamd at " + down},
		},
		{name: "rspamd_check", msg: spamMsg,
			src: `RspamdTimeout = 5
defaults = RspamdURL .. " " .. RspamdTimeout
RspamdURL = "` + url + `"
function filter_begin(e)
  H("defaults", defaults)
  local hits, req, tests, report, action, is_spam = rspamd_check("` + url + `")
  H("spam", hits .. " " .. req .. " " .. tests .. " " .. action .. " " .. is_spam .. " " .. string.sub(report, 1, 1))
  H("down", table.concat({rspamd_check("http://127.0.0.1:1")}, "|"))
  H("default", select(5, rspamd_check()))
end`,
			lines: []string{"HX-defaults http://127.0.0.1:11333 5", "HX-spam 16.5 15 GTUBE (15.5), MISSING_DATE (1) reject true {",
				"HX-down 0|0|||soft reject|false", "HX-default reject"},
			check: func(t *testing.T, _ *testWorker, _ string) {
				h := *headers
				if h.Get("From") != "sender@example.com" || strings.Join(h.Values("Rcpt"), " ") != "rcpt@example.org other@example.net" || h.Get("IP") != "192.0.2.1" || h.Get("Helo") != "helo.example.com" || h.Get("Queue-Id") != "QID123" || h.Get("User-Agent") != "MIMEDefang" {
					t.Errorf("rspamd headers %v", h)
				}
			},
			syslogLog: []string{"Cannot connect to Rspamd server, the message will be temporarily delayed"},
		},
	} {
		tc.lines = encodedValues(tc.lines)
		t.Run(tc.name, func(t *testing.T) { runBindingCase(t, tc) })
	}
}
