package mxclient

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdgo/md/milterd/internal/policy"
	"github.com/mdgo/md/proto"
)

var testRecip = proto.RecipOK{Rcpt: "<a@b>", Sender: "<s@x>", IP: "192.0.2.1", Dir: "/spool/mdefang-x"}

// TestCheckReplies sends a recipok through a real socket and checks how
// each reply form is understood, and what the milter does with it at RCPT.
func TestCheckReplies(t *testing.T) {
	long := "ok 0 " + strings.Repeat("x", 20000) + " 554 5.7.1 0\n"
	tests := []struct {
		name    string
		reply   string
		wantErr bool
		want    proto.CheckReply
		// the decision at RCPT
		verdict proto.Verdict
		smtp    string // rendered custom reply, "" for none
		delay   time.Duration
	}{
		{name: "bare tempfail", reply: "ok -1\n", want: proto.CheckReply{Verdict: proto.TempFail}, verdict: proto.TempFail},
		{name: "bare reject", reply: "ok 0\n", want: proto.CheckReply{Verdict: proto.Reject}, verdict: proto.Reject},
		{name: "bare continue", reply: "ok 1\n", want: proto.CheckReply{Verdict: proto.Continue}, verdict: proto.Continue},
		{name: "bare accept", reply: "ok 2\n", want: proto.CheckReply{Verdict: proto.AcceptNoMoreFiltering}, verdict: proto.AcceptNoMoreFiltering},
		{name: "bare discard", reply: "ok 3\n", want: proto.CheckReply{Verdict: proto.Discard}, verdict: proto.Discard},
		{name: "tempfail with text", reply: "ok -1 Busy%20now 452 4.3.1 2\n",
			want:    proto.CheckReply{Verdict: proto.TempFail, HasText: true, Msg: "Busy now", Code: "452", DSN: "4.3.1", Delay: 2},
			verdict: proto.TempFail, smtp: "452 4.3.1 Busy now", delay: 2 * time.Second},
		{name: "reject with text", reply: "ok 0 No%20such%20user 550 5.1.1 0\n",
			want:    proto.CheckReply{Verdict: proto.Reject, HasText: true, Msg: "No such user", Code: "550", DSN: "5.1.1"},
			verdict: proto.Reject, smtp: "550 5.1.1 No such user"},
		{name: "reject with wrong-class code", reply: "ok 0 nope 451 4.1.1 0\n",
			want:    proto.CheckReply{Verdict: proto.Reject, HasText: true, Msg: "nope", Code: "451", DSN: "4.1.1"},
			verdict: proto.Reject, smtp: "554 5.7.1 nope"},
		{name: "reject multi-line", reply: "ok 0 one%0Atwo 550 5.7.1 0\n",
			want:    proto.CheckReply{Verdict: proto.Reject, HasText: true, Msg: "one\ntwo", Code: "550", DSN: "5.7.1"},
			verdict: proto.Reject, smtp: "550-5.7.1 one\r\n550 5.7.1 two"},
		{name: "continue with text and delay", reply: "ok 1 ok 250 2.1.0 3\n",
			want:    proto.CheckReply{Verdict: proto.Continue, HasText: true, Msg: "ok", Code: "250", DSN: "2.1.0", Delay: 3},
			verdict: proto.Continue, delay: 3 * time.Second},
		{name: "accept with text", reply: "ok 2 ok 250 2.1.0 0\n",
			want:    proto.CheckReply{Verdict: proto.AcceptNoMoreFiltering, HasText: true, Msg: "ok", Code: "250", DSN: "2.1.0"},
			verdict: proto.AcceptNoMoreFiltering},
		{name: "discard with text", reply: "ok 3 gone 250 2.1.0 -5\n",
			want:    proto.CheckReply{Verdict: proto.Discard, HasText: true, Msg: "gone", Code: "250", DSN: "2.1.0", Delay: -5},
			verdict: proto.Discard},
		{name: "text only", reply: "ok 0 bye\n",
			want:    proto.CheckReply{Verdict: proto.Reject, HasText: true, Msg: "bye"},
			verdict: proto.Reject, smtp: "554 5.7.1 bye"},
		{name: "CR inside is removed", reply: "ok 0 a\rb 550 5.7.1 0\r\n",
			want:    proto.CheckReply{Verdict: proto.Reject, HasText: true, Msg: "ab", Code: "550", DSN: "5.7.1"},
			verdict: proto.Reject, smtp: "550 5.7.1 ab"},
		{name: "NUL ends the reply", reply: "ok 1\n\x00junk", want: proto.CheckReply{Verdict: proto.Continue}, verdict: proto.Continue},
		{name: "over-long is cut, still a reject", reply: long,
			want:    proto.CheckReply{Verdict: proto.Reject, HasText: true, Msg: strings.Repeat("x", MaxReply-5)},
			verdict: proto.Reject, smtp: "554 5.7.1 " + strings.Repeat("x", MaxReply-5)},

		{name: "prefix with nothing after", reply: "ok 0 \n", wantErr: true},
		{name: "no newline", reply: "ok 1", wantErr: true},
		{name: "CRLF", reply: "ok 1\r\n", wantErr: true},
		{name: "other number", reply: "ok 4\n", wantErr: true},
		{name: "other number with text", reply: "ok 5 x 250 2.1.0 0\n", wantErr: true},
		{name: "error:", reply: "error: No free workers\n", wantErr: true},
		{name: "ERR", reply: "ERR Filter timed out - system may be overloaded\n", wantErr: true},
		{name: "per-domain limit is a tempfail reply, not an error",
			reply: "ok -1 Per-domain%20recipok%20limit%20hit;%20please%20try%20again%20later\n",
			want: proto.CheckReply{Verdict: proto.TempFail, HasText: true,
				Msg: "Per-domain recipok limit hit; please try again later"},
			verdict: proto.TempFail, smtp: "451 4.3.0 Per-domain recipok limit hit; please try again later"},
		{name: "empty", reply: "", wantErr: true},
		{name: "garbage", reply: "\x01\x02 whatever\n", wantErr: true},
		{name: "upper case", reply: "OK 1\n", wantErr: true},
		{name: "bare ok", reply: "ok\n", wantErr: true},
	}
	m := newFakeMux(t, nil)
	c := m.client()
	var logs bytes.Buffer
	c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			m.setScript(reply(tt.reply))
			got, err := c.RecipOK(context.Background(), testRecip)
			if m.last() != testRecip.Line() {
				t.Errorf("request %q, want %q", m.last(), testRecip.Line())
			}
			if tt.wantErr {
				if err == nil {
					t.Fatalf("reply %q: got %+v, want an error", tt.reply, got)
				}
				var e *Error
				if !errors.As(err, &e) || e.Op != "reply" || !IsTempFail(err) || !proto.IsBadReply(err) {
					t.Fatalf("error %#v is not a bad-reply tempfail", err)
				}
				wantLog := strings.NewReplacer("\r", "", "\n", "").Replace(tt.reply)
				if e.LogText() != "Error from multiplexor: "+wantLog {
					t.Errorf("LogText %q", e.LogText())
				}
				return
			}
			if err != nil {
				t.Fatalf("reply %q: %v", tt.reply, err)
			}
			if got != tt.want {
				t.Errorf("reply %q:\n got %+v\nwant %+v", tt.reply, got, tt.want)
			}
			d := policy.Decide(policy.Recipient, got)
			if d.Verdict != tt.verdict || d.Delay != tt.delay {
				t.Errorf("decision %+v, want verdict %v delay %v", d, tt.verdict, tt.delay)
			}
			smtp := ""
			if d.Reply != nil {
				smtp = d.Reply.String()
			}
			if smtp != tt.smtp {
				t.Errorf("SMTP reply %q, want %q", smtp, tt.smtp)
			}
			if truncated := strings.Contains(logs.String(), "Overlong reply from multiplexor was truncated!"); truncated != (len(tt.reply) > MaxReply) {
				t.Errorf("truncation logged = %v for a %d-byte reply: %q", truncated, len(tt.reply), logs.String())
			}
		})
	}
}

func TestExchangeTruncation(t *testing.T) {
	for _, n := range []int{0, 1, MaxReply - 1, MaxReply, MaxReply + 1, 3 * MaxReply, 1 << 20} {
		text := strings.Repeat("a", n)
		m := newFakeMux(t, reply(text))
		c := m.client()
		c.Logger = slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
		r, err := c.Exchange(context.Background(), "ping\n")
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		want := text
		if n > MaxReply {
			want = text[:MaxReply]
		}
		if r.Text != want || r.Truncated != (n > MaxReply) {
			t.Errorf("%d bytes: got %d bytes, truncated %v", n, len(r.Text), r.Truncated)
		}
	}
}

func TestFreeReplies(t *testing.T) {
	tests := []struct {
		reply   string
		want    int
		wantErr bool
	}{
		{"1\n", 1, false},
		{"0\n", 0, false},
		{"17", 17, false},
		{"  3 free\n", 3, false},
		{"-1\n", -1, false},
		{"", 0, true},
		{"error: Out of memory\n", 0, true},
		{"x1\n", 0, true},
	}
	m := newFakeMux(t, nil)
	for _, tt := range tests {
		m.setScript(reply(tt.reply))
		n, err := m.client().Free(context.Background())
		if m.last() != "free\n" {
			t.Errorf("request %q", m.last())
		}
		if (err != nil) != tt.wantErr || n != tt.want {
			t.Errorf("free reply %q: %d, %v; want %d, error %v", tt.reply, n, err, tt.want, tt.wantErr)
		}
		if err != nil && !IsTempFail(err) {
			t.Errorf("free reply %q: %v is not a tempfail", tt.reply, err)
		}
	}
}

func TestScanReplies(t *testing.T) {
	req := proto.Scan{QueueID: "4C8AEB822C", Dir: "/var/spool/MIMEDefang/mdefang-iwGTs00"}
	tests := []struct {
		reply   string
		ok      bool
		logText string
	}{
		{"ok\n", true, ""},
		{"ok\n\x00trailing", true, ""},
		{"ok", false, "Error from multiplexor: ok"},
		{"ok \n", false, "Error from multiplexor: ok "},
		{"ok\nok\n", false, "Error from multiplexor: ok\nok"},
		{"ok 1\n", false, "Error from multiplexor: ok 1"},
		{"OK\n", false, "Error from multiplexor: OK"},
		{"ok\r\n", false, "Error from multiplexor: ok\r"},
		{"", false, "Error from multiplexor: "},
		{"error: No free workers\n", false, "Error from multiplexor: error: No free workers"},
		{"error: Command too long\n", false, "Error from multiplexor: error: Command too long"},
		{"ERR No response from worker\n", false, "Error from multiplexor: ERR No response from worker"},
		{strings.Repeat("ok\n", 10000), false, "Error from multiplexor: " + strings.Repeat("ok\n", 10000)[:MaxReply]},
	}
	m := newFakeMux(t, nil)
	c := m.client()
	c.Logger = slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	for _, tt := range tests {
		m.setScript(reply(tt.reply))
		err := c.Scan(context.Background(), req)
		if m.last() != req.Line() {
			t.Errorf("request %q", m.last())
		}
		if (err == nil) != tt.ok {
			t.Errorf("scan reply %q: err %v, want ok=%v", tt.reply, err, tt.ok)
			continue
		}
		if err == nil {
			continue
		}
		var e *Error
		if !errors.As(err, &e) || !IsTempFail(err) {
			t.Fatalf("%T %v", err, err)
		}
		if e.LogText() != tt.logText {
			t.Errorf("scan reply %q: LogText %q, want %q", tt.reply, e.LogText(), tt.logText)
		}
	}
}

func TestNoMultiplexor(t *testing.T) {
	t.Run("no such file", func(t *testing.T) {
		c := &Client{Path: filepath.Join(sockDir(t), "absent.sock")}
		_, err := c.RelayOK(context.Background(), proto.RelayOK{IP: "192.0.2.1"})
		assertTempFail(t, err, "connect", syscall.ENOENT)
	})
	t.Run("connection refused", func(t *testing.T) {
		path := filepath.Join(sockDir(t), "dead.sock")
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		ln.SetUnlinkOnClose(false)
		ln.Close() // the file stays, nobody listens
		c := &Client{Path: path}
		_, err = c.Free(context.Background())
		assertTempFail(t, err, "connect", syscall.ECONNREFUSED)
	})
	t.Run("not a socket", func(t *testing.T) {
		path := filepath.Join(sockDir(t), "plain")
		os.WriteFile(path, nil, 0o600)
		err := (&Client{Path: path}).Scan(context.Background(), proto.Scan{Dir: "/x"})
		assertTempFail(t, err, "connect", syscall.ECONNREFUSED)
	})
	t.Run("path too long", func(t *testing.T) {
		c := &Client{Path: "/" + strings.Repeat("x", 200)}
		_, err := c.Free(context.Background())
		assertTempFail(t, err, "connect", nil)
	})
}

func assertTempFail(t *testing.T, err error, op string, cause error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v, want *Error", err, err)
	}
	if !IsTempFail(err) || e.Op != op {
		t.Errorf("error %v: op %q, want %q", err, e.Op, op)
	}
	if cause != nil && !errors.Is(err, cause) {
		t.Errorf("error %v does not wrap %v", err, cause)
	}
	if !strings.HasPrefix(e.LogText(), "MXCommand: "+op+": ") || !strings.HasSuffix(e.LogText(), ": Is multiplexor running?") {
		t.Errorf("LogText %q", e.LogText())
	}
}

func TestNeverAnswers(t *testing.T) {
	// hang holds the connection open without answering until the client
	// gives up and closes it.
	hang := func(_ string, c *net.UnixConn) { io.Copy(io.Discard, c) }
	t.Run("client timeout", func(t *testing.T) {
		m := newFakeMux(t, hang)
		c := m.client()
		c.Timeout = 100 * time.Millisecond
		start := time.Now()
		_, err := c.SenderOK(context.Background(), proto.SenderOK{Sender: "<a@b>", Dir: "/d"})
		assertTempFail(t, err, "read", context.DeadlineExceeded)
		if time.Since(start) > 2*time.Second {
			t.Errorf("the deadline did not stop the read")
		}
	})
	t.Run("context deadline, no client timeout", func(t *testing.T) {
		m := newFakeMux(t, hang)
		c := m.client()
		c.Timeout = -1
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err := c.Scan(ctx, proto.Scan{Dir: "/d"})
		assertTempFail(t, err, "read", context.DeadlineExceeded)
	})
	t.Run("context cancelled", func(t *testing.T) {
		m := newFakeMux(t, hang)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := m.client().HeloOK(ctx, proto.HeloOK{IP: "192.0.2.1"})
		assertTempFail(t, err, "read", context.Canceled)
	})
	t.Run("already cancelled", func(t *testing.T) {
		m := newFakeMux(t, hang)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := m.client().Free(ctx)
		assertTempFail(t, err, "connect", context.Canceled)
	})
	t.Run("over-long reply that never ends", func(t *testing.T) {
		m := newFakeMux(t, func(_ string, c *net.UnixConn) {
			c.Write(bytes.Repeat([]byte("x"), MaxReply+10))
			io.Copy(io.Discard, c)
		})
		c := m.client()
		c.Timeout = 200 * time.Millisecond
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		_, err := c.Exchange(context.Background(), "free\n")
		assertTempFail(t, err, "read", context.DeadlineExceeded)
	})
}

func TestClosesAtOnce(t *testing.T) {
	// The multiplexor accepts and closes without reading or answering:
	// depending on timing the write fails or the read finds an empty
	// reply; either way the request tempfails.
	path := filepath.Join(sockDir(t), "mx.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	c := &Client{Path: path}
	for i := 0; i < 20; i++ {
		if _, err := c.RecipOK(context.Background(), testRecip); !IsTempFail(err) {
			t.Fatalf("recipok: %v", err)
		}
		if err := c.Scan(context.Background(), proto.Scan{Dir: "/d"}); !IsTempFail(err) {
			t.Fatalf("scan: %v", err)
		}
		if _, err := c.Free(context.Background()); !IsTempFail(err) {
			t.Fatalf("free: %v", err)
		}
	}
	// Answering without reading is fine: the reply is what counts.
	m := newFakeMux(t, nil)
	m.setScript(func(_ string, c *net.UnixConn) { c.Write([]byte("ok 1\n")) })
	if r, err := m.client().RelayOK(context.Background(), proto.RelayOK{}); err != nil || r.Verdict != proto.Continue {
		t.Errorf("relayok: %+v %v", r, err)
	}
}

func TestCheckRefusesOtherRequests(t *testing.T) {
	c := &Client{Path: "/nonexistent"}
	for _, r := range []proto.Request{proto.Free{}, proto.Scan{}, proto.Ping{}} {
		if _, err := c.Check(context.Background(), r); !IsTempFail(err) {
			t.Errorf("Check(%T): %v", r, err)
		}
	}
	if _, err := c.Check(context.Background(), &proto.RelayOK{}); err == nil {
		t.Errorf("Check(*RelayOK) to a missing socket succeeded")
	}
}

func TestDialHook(t *testing.T) {
	// An injected dialer replaces the UNIX socket; a net.Pipe plays the
	// multiplexor.
	c := &Client{Path: "ignored", Dial: func(ctx context.Context, path string) (net.Conn, error) {
		a, b := net.Pipe()
		go func() {
			buf := make([]byte, 100)
			n, _ := b.Read(buf)
			if string(buf[:n]) == "free\n" {
				b.Write([]byte("4\n"))
			}
			b.Close()
		}()
		return a, nil
	}}
	if n, err := c.Free(context.Background()); err != nil || n != 4 {
		t.Errorf("free = %d, %v", n, err)
	}
}

// TestFullBacklogWaits fills the listen backlog of a multiplexor that is not
// accepting yet: the original's blocking connect waits there, and so must
// we, instead of failing at once with EAGAIN and tempfailing the mail.
func TestFullBacklogWaits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mx.sock")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 1); err != nil {
		t.Fatal(err)
	}
	l, err := net.FileListener(os.NewFile(uintptr(fd), "mx"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Fill the backlog until a connect would fail with EAGAIN.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := 0; i < 64; i++ {
		c, err := net.Dial("unix", path)
		if err != nil {
			if !errors.Is(err, syscall.EAGAIN) {
				t.Fatalf("filling the backlog: %v", err)
			}
			break
		}
		held = append(held, c)
	}
	// Start serving after a while: first the held connections, then ours.
	go func() {
		time.Sleep(300 * time.Millisecond)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64)
				n, _ := c.Read(buf)
				if string(buf[:n]) == "free\n" {
					c.Write([]byte("3\n"))
				}
			}()
		}
	}()
	cl := &Client{Path: path, Timeout: 5 * time.Second}
	n, err := cl.Free(context.Background())
	if err != nil || n != 3 {
		t.Fatalf("Free with a full backlog = %d, %v; want 3 once the multiplexor accepts", n, err)
	}
}
