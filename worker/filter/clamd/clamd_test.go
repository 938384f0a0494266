package clamd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdgo/md/internal/testserve"
)

// The client is tested against a real listening socket (a Unix socket in
// the test's directory, or TCP on 127.0.0.1) served by fakeClamd below,
// which speaks clamd's protocol as far as each case needs: PING, INSTREAM
// with its chunks, SCAN and MULTISCAN, error replies, garbage, silence. The
// real clamd is exercised by the tests of the integration module
// (integration/clamd_test.go).

// fakeClamd serves every connection with answer, which gets the command
// (without its NUL) and, for INSTREAM, the streamed bytes.
type fakeClamd struct {
	Sock   string // what to give the client: a path, or 127.0.0.1:PORT
	answer func(cmd string, stream []byte) string

	mu       sync.Mutex
	commands []string
	streams  [][]byte
	chunks   []int // the length of every INSTREAM chunk, the final 0 included
}

// startFake listens on a Unix socket (network "unix") or on 127.0.0.1
// ("tcp") and serves until the test ends.
func startFake(t *testing.T, network string, answer func(cmd string, stream []byte) string) *fakeClamd {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "clamd.sock")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeClamd{Sock: ln.Addr().String(), answer: answer}
	testserve.Serve(t, ln, f.serve)
	return f
}

// serve reads one command (and its stream) and writes the answer.
func (f *fakeClamd) serve(conn net.Conn) {
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	cmd, err := r.ReadString(0)
	if err != nil {
		return
	}
	cmd = strings.TrimSuffix(cmd, "\x00")
	var stream []byte
	if cmd == "zINSTREAM" {
		if stream, err = f.readStream(r); err != nil {
			return
		}
	}
	f.mu.Lock()
	f.commands = append(f.commands, cmd)
	if cmd == "zINSTREAM" {
		f.streams = append(f.streams, stream)
	}
	f.mu.Unlock()
	if a := f.answer(cmd, stream); a != "" {
		conn.Write([]byte(a))
	}
}

func (f *fakeClamd) readStream(r *bufio.Reader) ([]byte, error) {
	var data []byte
	for {
		var n uint32
		if err := binary.Read(r, binary.BigEndian, &n); err != nil {
			return nil, err
		}
		f.mu.Lock()
		f.chunks = append(f.chunks, int(n))
		f.mu.Unlock()
		if n == 0 {
			return data, nil
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		data = append(data, b...)
	}
}

func (f *fakeClamd) got() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.commands, "|")
}

// clamdLike answers as clamd does: PONG, and for a stream or a path that
// holds "EICAR" a FOUND, "BROKEN" an ERROR, else OK.
func clamdLike(cmd string, stream []byte) string {
	name := "stream"
	if cmd == "zPING" {
		return "PONG\x00"
	}
	if path, ok := strings.CutPrefix(cmd, "zSCAN "); ok {
		name, stream = path, []byte(path)
	}
	if path, ok := strings.CutPrefix(cmd, "zMULTISCAN "); ok {
		name, stream = path, []byte(path)
	}
	switch {
	case bytes.Contains(stream, []byte("EICAR")):
		return name + ": Test.EICAR.UNOFFICIAL FOUND\x00"
	case bytes.Contains(stream, []byte("BROKEN")):
		return name + ": Can't allocate memory ERROR\x00"
	case bytes.Contains(stream, []byte("ZIPFAIL")):
		return name + ": Zip module failure ERROR\x00"
	}
	return name + ": OK\x00"
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

func body(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

func parts(ss ...string) Message {
	var m Message
	for _, s := range ss {
		m.Parts = append(m.Parts, body(s))
	}
	return m
}

func want(t *testing.T, got Result, code int, category, action string) {
	t.Helper()
	if got.Code != code || got.Category != category || got.Action != action {
		t.Errorf("got (%d, %s, %s), want (%d, %s, %s)", got.Code, got.Category, got.Action, code, category, action)
	}
}

func TestMessageInstream(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			f := startFake(t, network, clamdLike)
			log := &logged{}
			c := New(Config{Log: log.log})
			r := c.MessageContainsVirus(context.Background(), f.Sock, parts("hello", "a part with EICAR in it", "never sent"))
			want(t, r, 1, Virus, "quarantine")
			if r.VirusName != "Test.EICAR.UNOFFICIAL" || r.Messages != "clamd found the Test.EICAR.UNOFFICIAL virus.\n" {
				t.Errorf("name %q, messages %q", r.VirusName, r.Messages)
			}
			if got := f.got(); got != "zPING|zINSTREAM|zINSTREAM" {
				t.Errorf("commands %q: PING, then one stream per part up to the virus", got)
			}
			if log.String() != "" {
				t.Errorf("log:\n%s", log)
			}
			r = c.MessageContainsVirus(context.Background(), f.Sock, parts("hello", "world"))
			want(t, r, 0, OK, "ok")
			if r.VirusName != "" || r.Messages != "" {
				t.Errorf("clean: %#v", r)
			}
		})
	}
}

// TestChunks: a body goes in chunks of at most ChunkSize, each with its
// big-endian length, and a zero length ends it; the bytes arrive intact.
func TestChunks(t *testing.T) {
	f := startFake(t, "unix", clamdLike)
	data := bytes.Repeat([]byte("0123456789"), 2500) // 25000 bytes
	c := New(Config{ChunkSize: 4096})
	r := c.EntityContainsVirus(context.Background(), f.Sock, Entity{Body: func(w io.Writer) error {
		// in odd pieces, as a decoder writes
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1000+len(rest)%777)
			if _, err := w.Write(rest[:n]); err != nil {
				return err
			}
			rest = rest[n:]
		}
		return nil
	}})
	want(t, r, 0, OK, "ok")
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.streams) != 1 || !bytes.Equal(f.streams[0], data) {
		t.Fatalf("streamed %d streams, first %d bytes", len(f.streams), len(f.streams[0]))
	}
	want := []int{4096, 4096, 4096, 4096, 4096, 4096, 424, 0}
	if len(f.chunks) != len(want) {
		t.Fatalf("chunks %v, want %v", f.chunks, want)
	}
	for i := range want {
		if f.chunks[i] != want[i] {
			t.Fatalf("chunks %v, want %v", f.chunks, want)
		}
	}
}

// TestEmptyBodyAndDecodeError: an empty body is a stream of no chunk; a
// body whose decoder fails is still scanned as far as it went.
func TestEmptyBodyAndDecodeError(t *testing.T) {
	f := startFake(t, "unix", clamdLike)
	c := New(Config{})
	want(t, c.EntityContainsVirus(context.Background(), f.Sock, Entity{Body: body("")}), 0, OK, "ok")
	r := c.EntityContainsVirus(context.Background(), f.Sock, Entity{Body: func(w io.Writer) error {
		io.WriteString(w, "EICAR, then bad base64")
		return errors.New("bad base64")
	}})
	want(t, r, 1, Virus, "quarantine")
}

// TestErrors: clamd's error replies are swerr; a virus in another part
// still wins; the error is logged as the original logs it.
func TestErrors(t *testing.T) {
	f := startFake(t, "unix", clamdLike)
	log := &logged{}
	c := New(Config{Log: log.log})
	r := c.MessageContainsVirus(context.Background(), f.Sock, parts("BROKEN", "clean"))
	want(t, r, 999, SoftwareError, "tempfail")
	if r.Detail != "Can't allocate memory" || log.String() != "err: Clamd returned error: Can't allocate memory" {
		t.Errorf("detail %q, log:\n%s", r.Detail, log)
	}
	r = c.MessageContainsVirus(context.Background(), f.Sock, parts("BROKEN", "EICAR"))
	want(t, r, 1, Virus, "quarantine")
	r = c.EntityContainsVirus(context.Background(), f.Sock, Entity{Body: body("ZIPFAIL")})
	want(t, r, 999, SoftwareError, "tempfail")
	if !IsZipFailure(r.Detail) {
		t.Errorf("detail %q", r.Detail)
	}
}

// TestSizeLimit: past StreamMaxLength clamd answers and closes while the
// client is still writing; the answer is read and is a swerr.
func TestSizeLimit(t *testing.T) {
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "clamd.sock"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		io.ReadFull(conn, make([]byte, 2000))
		conn.Write([]byte("INSTREAM size limit exceeded. ERROR\x00"))
		conn.Close()
	}()
	defer func() { ln.Close(); <-done }()
	log := &logged{}
	big := strings.Repeat("x", 8<<20)
	r := New(Config{Log: log.log}).EntityContainsVirus(context.Background(), ln.Addr().String(), Entity{Body: body(big)})
	want(t, r, 999, SoftwareError, "tempfail")
	if log.String() != "err: Clamd returned error: INSTREAM size limit exceeded." {
		t.Errorf("log:\n%s", log)
	}
}

func TestScanModes(t *testing.T) {
	f := startFake(t, "unix", clamdLike)
	for _, mode := range []Mode{Scan, Multiscan} {
		c := New(Config{Mode: mode})
		work := func(dir string) func() (string, error) { return func() (string, error) { return dir, nil } }
		r := c.MessageContainsVirus(context.Background(), f.Sock, Message{Work: work("/spool/mdefang-EICAR/Work")})
		want(t, r, 1, Virus, "quarantine")
		r = c.MessageContainsVirus(context.Background(), f.Sock, Message{Work: work("/spool/mdefang-1/Work"), Parts: parts("EICAR never streamed").Parts})
		want(t, r, 0, OK, "ok")
		r = c.EntityContainsVirus(context.Background(), f.Sock, Entity{CWD: "/spool/mdefang-2", Path: func() (string, error) { return "Work/part-1.bin", nil }})
		want(t, r, 0, OK, "ok")
	}
	if got := f.got(); got != "zPING|zSCAN /spool/mdefang-EICAR/Work|zPING|zSCAN /spool/mdefang-1/Work|zSCAN /spool/mdefang-2/Work/part-1.bin|"+
		"zPING|zMULTISCAN /spool/mdefang-EICAR/Work|zPING|zMULTISCAN /spool/mdefang-1/Work|zMULTISCAN /spool/mdefang-2/Work/part-1.bin" {
		t.Errorf("commands %q", got)
	}
	// Parts that cannot be written fail the scan.
	log := &logged{}
	c := New(Config{Mode: Scan, Log: log.log})
	r := c.MessageContainsVirus(context.Background(), f.Sock, Message{Work: func() (string, error) { return "", errors.New("disk full") }})
	want(t, r, 999, SoftwareError, "tempfail")
	r = c.EntityContainsVirus(context.Background(), f.Sock, Entity{Path: func() (string, error) { return "", errors.New("disk full") }})
	want(t, r, 999, SoftwareError, "tempfail")
	if !strings.Contains(log.String(), "err: Cannot write the message's parts to Work for clamd: disk full") ||
		!strings.Contains(log.String(), "err: Cannot write the part to a file for clamd: disk full") {
		t.Errorf("log:\n%s", log)
	}
	// An unknown mode fails.
	log = &logged{}
	r = New(Config{Mode: "FAST", Log: log.log}).MessageContainsVirus(context.Background(), f.Sock, parts("x"))
	want(t, r, 999, SoftwareError, "tempfail")
	if !strings.Contains(log.String(), `Unknown clamd mode "FAST"`) {
		t.Errorf("log:\n%s", log)
	}
}

// TestNoDaemon: nothing listens: cannot-execute, logged as the original.
func TestNoDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	log := &logged{}
	c := New(Config{Log: log.log})
	want(t, c.MessageContainsVirus(context.Background(), sock, parts("x")), 999, CannotExecute, "tempfail")
	want(t, c.EntityContainsVirus(context.Background(), sock, Entity{Body: body("x")}), 999, CannotExecute, "tempfail")
	if c.Ping(context.Background(), sock) {
		t.Error("Ping succeeded")
	}
	if !strings.Contains(log.String(), "err: Could not connect to clamd daemon at "+sock+"\n") ||
		!strings.Contains(log.String(), "err: Could not connect to clamd Daemon at "+sock+"\n") ||
		!strings.Contains(log.String(), "connect: no such file or directory") {
		t.Errorf("log:\n%s", log)
	}
	// A refused TCP port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	log = &logged{}
	want(t, New(Config{Log: log.log}).MessageContainsVirus(context.Background(), addr, parts("x")), 999, CannotExecute, "tempfail")
	if !strings.Contains(log.String(), "err: Could not connect to clamd daemon at "+addr) || !strings.Contains(log.String(), "connection refused") {
		t.Errorf("log:\n%s", log)
	}
}

// TestDefaultsAndDial: Config.Sock is used when the call names none; a
// name with ':' is dialled over TCP, any other as a Unix socket; the
// dialer's context carries WriteTimeout.
func TestDefaultsAndDial(t *testing.T) {
	f := startFake(t, "unix", clamdLike)
	var asked []string
	var deadlines []time.Duration
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		asked = append(asked, network+" "+addr)
		d, _ := ctx.Deadline()
		deadlines = append(deadlines, time.Until(d))
		var nd net.Dialer
		return nd.DialContext(ctx, "unix", f.Sock)
	}
	c := New(Config{Sock: "clamd.example:3310", Dial: dial, WriteTimeout: 5 * time.Second})
	want(t, c.MessageContainsVirus(context.Background(), "", parts("x")), 0, OK, "ok")
	want(t, c.EntityContainsVirus(context.Background(), "/run/clamav/clamd.ctl", Entity{Body: body("x")}), 0, OK, "ok")
	if got := strings.Join(asked, "|"); got != "tcp clamd.example:3310|tcp clamd.example:3310|unix /run/clamav/clamd.ctl" {
		t.Errorf("dialled %q", got)
	}
	for _, d := range deadlines {
		if d <= 0 || d > 5*time.Second {
			t.Errorf("dial deadline in %v, want within WriteTimeout", d)
		}
	}
	if cfg := New(Config{}).cfg; cfg.Sock != DefaultSock || cfg.Mode != Instream || cfg.WriteTimeout != 30*time.Second || cfg.ReadTimeout != 60*time.Second {
		t.Errorf("defaults %#v", cfg)
	}
}

// TestBadAnswers: no PONG, no reply, garbage: never clean.
func TestBadAnswers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answer   func(cmd string, stream []byte) string
		code     int
		category string
		log      string
	}{
		{"no PONG", func(cmd string, _ []byte) string { return "PANG\x00" }, 999, CannotExecute, "err: clamd is not responding"},
		{"PING closed", func(cmd string, _ []byte) string { return "" }, 999, CannotExecute, "err: clamd is not responding"},
		{"scan closed", func(cmd string, s []byte) string {
			if cmd == "zPING" {
				return "PONG\x00"
			}
			return ""
		}, 999, SoftwareError, "err: No reply from clamd daemon at SOCK: EOF"},
		{"garbage", func(cmd string, s []byte) string {
			if cmd == "zPING" {
				return "PONG\x00"
			}
			return "UNKNOWN COMMAND\x00"
		}, 999, SoftwareError, `err: Unexpected reply from clamd daemon at SOCK: "UNKNOWN COMMAND"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, "unix", tc.answer)
			log := &logged{}
			r := New(Config{Log: log.log}).MessageContainsVirus(context.Background(), f.Sock, parts("x"))
			want(t, r, tc.code, tc.category, "tempfail")
			if wantLog := strings.ReplaceAll(tc.log, "SOCK", f.Sock); log.String() != wantLog {
				t.Errorf("log %q, want %q", log, wantLog)
			}
		})
	}
}

// silent accepts connections and never answers; when read is false it
// does not read either, so that the client's writes fill the socket.
func silent(t *testing.T, network string, read bool) string {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "hung.sock")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			if read {
				wg.Add(1)
				go func() { defer wg.Done(); io.Copy(io.Discard, conn) }()
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// TestHung: a daemon that accepts and never answers ends by ReadTimeout,
// or by the caller's deadline, with cannot-execute; one that does not
// read ends by WriteTimeout.
func TestHung(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			sock := silent(t, network, true)
			log := &logged{}
			start := time.Now()
			r := New(Config{ReadTimeout: 200 * time.Millisecond, Log: log.log}).MessageContainsVirus(context.Background(), sock, parts("x"))
			want(t, r, 999, CannotExecute, "tempfail")
			if log.String() != "err: Timeout reading from clamd daemon at "+sock {
				t.Errorf("log %q", log)
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %v", time.Since(start))
			}

			log = &logged{}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			r = New(Config{Log: log.log}).EntityContainsVirus(ctx, sock, Entity{Body: body("x")})
			want(t, r, 999, CannotExecute, "tempfail")
			if log.String() != "err: Timeout reading from clamd daemon at "+sock {
				t.Errorf("log %q", log)
			}
			if time.Since(start) > 10*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
		})
	}
	t.Run("not reading", func(t *testing.T) {
		sock := silent(t, "unix", false)
		log := &logged{}
		big := strings.Repeat("x", 32<<20)
		r := New(Config{WriteTimeout: 200 * time.Millisecond, Log: log.log}).EntityContainsVirus(context.Background(), sock, Entity{Body: body(big)})
		want(t, r, 999, CannotExecute, "tempfail")
		if log.String() != "err: Timeout writing to clamd daemon at "+sock {
			t.Errorf("log %q", log)
		}
		// The caller's context, already done, ends the call before it
		// starts.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		want(t, New(Config{}).MessageContainsVirus(ctx, sock, parts("x")), 999, CannotExecute, "tempfail")
	})
}
