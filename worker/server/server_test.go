package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdgo/md/worker/filter"
	"github.com/mdgo/md/worker/message"
)

// session drives Serve through pipes, as the multiplexor drives a worker.
// Every wait for Serve (a reply, its return) is bounded by replyTimeout, so
// that a Serve that stops answering fails the test instead of hanging it.
type session struct {
	t      *testing.T
	in     *io.PipeWriter
	out    *bufio.Reader
	done   chan struct{}
	status int
	err    error
	log    *syncBuffer
	tags   *syncBuffer
}

// replyTimeout bounds each wait for Serve: one reply, or its return. A
// reply takes milliseconds; MD_TEST_SLOWDOWN=N (as in the integration
// tests) multiplies the bound for a loaded machine.
func replyTimeout() time.Duration {
	d := 20 * time.Second
	if f, err := strconv.ParseFloat(os.Getenv("MD_TEST_SLOWDOWN"), 64); err == nil && f > 1 {
		d = time.Duration(float64(d) * f)
	}
	return d
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// errServeReturned fails a request written after Serve returned.
var errServeReturned = errors.New("Serve has returned and reads no more requests")

func start(t *testing.T, cb *filter.Callbacks, opts Options) *session {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &session{t: t, in: inW, out: bufio.NewReader(outR), done: make(chan struct{}), log: &syncBuffer{}, tags: &syncBuffer{}}
	cfg := filter.DefaultConfig()
	cfg.SpoolDir = t.TempDir()
	opts.Config, opts.Stdin, opts.Stdout, opts.Stderr = cfg, inR, outW, s.log
	if opts.StatusTags == nil {
		opts.StatusTags = s.tags
	}
	go func() {
		defer close(s.done)
		s.status, s.err = Serve(context.Background(), NewWorker(cb, opts), opts)
		outW.Close()
		inR.CloseWithError(errServeReturned)
	}()
	// A test that failed midway leaves no Serve blocked on its pipes.
	t.Cleanup(func() {
		inW.Close()
		outR.Close()
	})
	return s
}

// within runs f and returns its error, or fails the test if f has not
// returned within replyTimeout (f then goes on in the background, blocked
// on a pipe).
func (s *session) within(what string, f func() error) {
	s.t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- f() }()
	d := replyTimeout()
	select {
	case err := <-errc:
		if err != nil {
			s.t.Fatalf("%s: %v (log: %s)", what, err, s.log)
		}
	case <-time.After(d):
		s.t.Fatalf("%s: Serve did not answer within %v (log: %s)", what, d, s.log)
	}
}

func (s *session) ask(line string) string {
	s.t.Helper()
	var reply string
	s.within("reply to "+strconv.Quote(line), func() error {
		if _, err := io.WriteString(s.in, line+"\n"); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		var err error
		if reply, err = s.out.ReadString('\n'); err != nil {
			return fmt.Errorf("read: %w (got %q)", err, reply)
		}
		return nil
	})
	return reply
}

// wait waits for Serve to return.
func (s *session) wait() {
	s.t.Helper()
	s.within("return of Serve", func() error { <-s.done; return nil })
}

func (s *session) close() (int, error) {
	s.t.Helper()
	s.in.Close()
	s.within("return of Serve at EOF", func() error {
		io.Copy(io.Discard, s.out)
		<-s.done
		return nil
	})
	return s.status, s.err
}

func workingDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mdefang-x")
	os.Mkdir(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "COMMANDS"), []byte("S<a@b>\nR<c@d> ? ? ?\nQQID9\nF\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "INPUTMSG"), []byte("Subject: t\n\nhello\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "HEADERS"), []byte("Subject: t\n"), 0o600)
	return dir
}

func TestServeUndefinedCallbacks(t *testing.T) {
	s := start(t, &filter.Callbacks{}, Options{})
	dir := workingDir(t)
	for _, c := range []struct{ req, want string }{
		{"ping", "PONG\n"},
		{"PING", "PONG\n"},
		{"relayok 192.0.2.1 host 25 127.0.0.1 25 NOQUEUE", "ok 1 ok 250 2.1.0 0\n"},
		{"helook 192.0.2.1 host helo 25 127.0.0.1 25 NOQUEUE", "ok 1 ok 250 2.1.0 0\n"},
		{"senderok <a@b> 192.0.2.1 host helo " + dir + " NOQUEUE", "ok 1 ok 250 2.1.0 0\n"},
		{"recipok <c@d> <a@b> 192.0.2.1 host <c@d> helo " + dir + " NOQUEUE ? ? ?", "ok 1 ok 250 2.1.0 0\n"},
		{"map virtuser a@b", "PERM No filter_map function defined\n"},
		{"tick 2", "error: tick 2: filter_tick undefined\n"},
		{"tick", "error: tick 0: filter_tick undefined\n"},
		{"frobnicate x", "error: Unknown command\n"},
		{"scan QID9 " + dir, "ok\n"},
	} {
		if got := s.ask(c.req); got != c.want {
			t.Errorf("%q: got %q, want %q", c.req, got, c.want)
		}
	}
	if status, err := s.close(); status != 0 || err != nil {
		t.Errorf("exit %d %v", status, err)
	}
	if res, _ := os.ReadFile(filepath.Join(dir, "RESULTS")); string(res) != "F\n" {
		t.Errorf("RESULTS %q", res)
	}
}

func TestServeCallbacks(t *testing.T) {
	var initialized, cleaned bool
	var ticks []int
	cb := &filter.Callbacks{
		Initialize: func(c *filter.Context) error { initialized = true; return nil },
		Relay: func(c *filter.Context, r filter.RelayRequest) (filter.Answer, error) {
			if r.IP == "192.0.2.66" {
				return filter.Answer{Verdict: filter.Reject, Msg: "go away"}, nil
			}
			return filter.Answer{Verdict: filter.Continue, Msg: r.Name + " " + r.Port + " " + r.QueueID}, nil
		},
		Helo: func(c *filter.Context, r filter.HeloRequest) (filter.Answer, error) {
			return filter.Answer{Verdict: filter.TempFail, Msg: r.Helo, Code: "421", DSN: "4.7.1", Delay: 3}, nil
		},
		Sender: func(c *filter.Context, r filter.SenderRequest) (filter.Answer, error) {
			return filter.Answer{Verdict: filter.Discard, Msg: strings.Join(c.ESMTPArgs, ",")}, nil
		},
		Recipient: func(c *filter.Context, r filter.RecipientRequest) (filter.Answer, error) {
			return filter.Answer{Verdict: filter.AcceptAndNoMoreFiltering, Msg: r.First + r.Mailer + r.Host + r.Addr}, nil
		},
		Map: func(c *filter.Context, name, key string) (string, string, error) {
			if name == "bad" {
				return "MAYBE", "", nil
			}
			return "OK", name + ":" + key, nil
		},
		Tick:    func(c *filter.Context, band int) error { ticks = append(ticks, band); return nil },
		Cleanup: func(c *filter.Context) (int, error) { cleaned = true; return 7, nil },
		Handlers: map[string]func(*filter.Context, []string) (string, error){
			"echo": func(c *filter.Context, args []string) (string, error) { return "ok " + strings.Join(args, "|"), nil },
		},
		UnknownCmd: func(c *filter.Context, cmd string, args []string) ([]string, error) {
			if cmd == "weird" {
				return []string{"maybe", "x y"}, nil
			}
			return append([]string{"ok", cmd}, args...), nil
		},
	}
	s := start(t, cb, Options{})
	dir := workingDir(t)
	for _, c := range []struct{ req, want string }{
		{"relayok 192.0.2.1 host.example 4444 127.0.0.1 25 NOQUEUE", "ok 1 host.example%204444%20NOQUEUE 250 2.1.0 0\n"},
		{"relayok 192.0.2.66 x 1 127.0.0.1 25 NOQUEUE", "ok 0 go%20away 554 5.7.1 0\n"},
		{"helook 192.0.2.1 host bad%20helo 25 127.0.0.1 25 NOQUEUE", "ok -1 bad%20helo 421 4.7.1 3\n"},
		{"senderok <a@b> 192.0.2.1 host helo " + dir + " NOQUEUE SIZE=1 BODY=8BITMIME", "ok 3 SIZE=1,BODY=8BITMIME 250 2.1.0 0\n"},
		{"recipok <c@d> <a@b> 192.0.2.1 host <first@d> helo " + dir + " NOQUEUE local h a", "ok 2 <first@d>localha 250 2.1.0 0\n"},
		{"map virtuser a%20b@c", "OK virtuser:a%20b@c\n"},
		{"map bad k", "PERM Invalid code from filter_map: MAYBE\n"},
		{"tick 3", "tock 3\n"},
		{"ECHO a%20b c", "ok a b|c\n"},
		{"Other X%25y", "ok other X%25y\n"},
		{"weird", "error: x%20y\n"},
	} {
		if got := s.ask(c.req); got != c.want {
			t.Errorf("%q: got %q, want %q", c.req, got, c.want)
		}
	}
	if status, err := s.close(); status != 7 || err != nil {
		t.Errorf("exit %d %v", status, err)
	}
	if !initialized || !cleaned || len(ticks) != 1 || ticks[0] != 3 {
		t.Errorf("initialized %v cleaned %v ticks %v", initialized, cleaned, ticks)
	}
}

func TestServePanicAndErrors(t *testing.T) {
	cb := &filter.Callbacks{
		Relay: func(c *filter.Context, r filter.RelayRequest) (filter.Answer, error) {
			panic("relay exploded")
		},
		Helo: func(c *filter.Context, r filter.HeloRequest) (filter.Answer, error) {
			return filter.Answer{}, errors.New("dns down\nsecond line")
		},
		Filter: func(c *filter.Context, p *message.Part, fname, ext, typ string) error {
			var m map[string]int
			m["x"] = 1 // nil map write: a runtime panic
			return nil
		},
	}
	s := start(t, cb, Options{})
	dir := workingDir(t)
	if got := s.ask("relayok 192.0.2.1 h 1 127.0.0.1 25 QX"); got != "error: filter_relay: filter: callback panicked: relay exploded\n" {
		t.Errorf("panic reply %q", got)
	}
	if got := s.ask("ping"); got != "PONG\n" {
		t.Errorf("worker did not survive the panic: %q", got)
	}
	if got := s.ask("helook 192.0.2.1 h helo 1 127.0.0.1 25 NOQUEUE"); got != "error: filter_helo: dns down second line\n" {
		t.Errorf("error reply %q", got)
	}
	if got := s.ask("scan QID9 " + dir); !strings.HasPrefix(got, "error: filter: filter: callback panicked: assignment to entry in nil map") {
		t.Errorf("scan panic reply %q", got)
	}
	if res, _ := os.ReadFile(filepath.Join(dir, "RESULTS")); len(res) != 0 {
		t.Errorf("RESULTS after failed scan %q", res)
	}
	if got := s.ask("ping"); got != "PONG\n" {
		t.Errorf("after scan panic: %q", got)
	}
	s.close()
	log := s.log.String()
	if !strings.Contains(log, "QX: filter_relay: filter: callback panicked: relay exploded") || !strings.Contains(log, "QID9: filter: filter: callback panicked") {
		t.Errorf("log lacks queue IDs:\n%s", log)
	}
}

func TestServeDeadline(t *testing.T) {
	release := make(chan struct{})
	cb := &filter.Callbacks{
		Tick: func(c *filter.Context, band int) error {
			if band == 1 {
				<-c.Done() // cooperative: stops at the deadline
				return c.Err()
			}
			<-release // stuck: ignores the deadline
			return nil
		},
	}
	s := start(t, cb, Options{Timeout: 50 * time.Millisecond, Grace: 50 * time.Millisecond})
	if got := s.ask("tick 1"); got != "error: filter_tick: context deadline exceeded\n" {
		t.Errorf("cooperative timeout reply %q", got)
	}
	if got := s.ask("ping"); got != "PONG\n" {
		t.Errorf("after timeout: %q", got)
	}
	if got := s.ask("tick 2"); got != "error: request timed out\n" {
		t.Errorf("stuck reply %q", got)
	}
	s.wait()
	if !errors.Is(s.err, ErrStuck) || s.status != 1 {
		t.Errorf("Serve returned %d %v", s.status, s.err)
	}
	close(release)
}

func TestServeStatusTags(t *testing.T) {
	s := start(t, &filter.Callbacks{Begin: func(*filter.Context, *message.Part) error { return nil }}, Options{})
	dir := workingDir(t)
	if got := s.ask("scan QID9 " + dir); got != "ok\n" {
		t.Fatalf("scan %q", got)
	}
	s.close()
	tags := s.tags.String()
	for _, want := range []string{"1:%20>%20Reading%20COMMANDS%20QID9\n", "1:%20>%20In%20filter_begin%20QID9\n", "0:%20<%20no_tag%20QID9\n"} {
		if !strings.Contains(tags, want) {
			t.Errorf("status tags lack %q:\n%s", want, tags)
		}
	}
}

func TestServeLastLineWithoutNewline(t *testing.T) {
	s := start(t, &filter.Callbacks{}, Options{})
	var reply string
	s.within("reply to a last line without newline", func() error {
		io.WriteString(s.in, "ping")
		s.in.Close()
		reply, _ = s.out.ReadString('\n')
		return nil
	})
	if reply != "PONG\n" {
		t.Errorf("reply %q", reply)
	}
	s.wait()
}

// allocCeiling (MiB) stops the allocating filters of the heap tests if
// MaxHeap (64 MiB, checked every 50 ms while they allocate 1 MiB a
// millisecond at most) did not stop them: they answer errNotStopped instead
// of taking the machine's memory.
const allocCeiling = 256

var errNotStopped = errors.New("allocated 256 MiB and was not stopped: the heap limit did not act")

// A request that grows the heap past MaxHeap is stopped and answered with
// an error; when the filter keeps what it allocated (here in hoard), the
// heap stays above half the bound after a collection and Serve returns
// ErrHeapLimit so that the worker exits; requests under the bound are
// untouched.
func TestServeHeapLimit(t *testing.T) {
	var hoard [][]byte
	cb := &filter.Callbacks{
		Tick: func(c *filter.Context, band int) error {
			if band == 0 {
				return nil
			}
			for c.Err() == nil { // a filter that allocates until stopped
				if len(hoard) >= allocCeiling {
					return errNotStopped
				}
				hoard = append(hoard, make([]byte, 1<<20))
				time.Sleep(time.Millisecond)
			}
			return c.Err()
		},
	}
	s := start(t, cb, Options{MaxHeap: 64 << 20, Grace: time.Second})
	if got := s.ask("tick 0"); got != "tock 0\n" {
		t.Errorf("small request: %q", got)
	}
	if got := s.ask("tick 1"); got != "error: filter used more than 64 MiB of memory\n" {
		t.Errorf("allocating request: %q", got)
	}
	s.wait()
	if !errors.Is(s.err, ErrHeapLimit) || s.status != 1 {
		t.Errorf("Serve returned %d %v, want ErrHeapLimit", s.status, s.err)
	}
	if len(hoard) < 32 {
		t.Errorf("stopped after %d MiB, before the limit", len(hoard))
	}
	hoard = nil
}

// A request that grows the heap past MaxHeap but keeps nothing is answered
// with an error, the memory is collected and given back, and the worker
// goes on serving: the next request, which the multiplexor may already
// have handed to it, is answered normally.
func TestServeHeapLimitRecovers(t *testing.T) {
	cb := &filter.Callbacks{
		Tick: func(c *filter.Context, band int) error {
			if band == 0 {
				return nil
			}
			var local [][]byte
			for c.Err() == nil { // allocates until stopped, keeps nothing
				if len(local) >= allocCeiling {
					return errNotStopped
				}
				local = append(local, make([]byte, 1<<20))
				time.Sleep(time.Millisecond)
			}
			_ = local
			return c.Err()
		},
	}
	s := start(t, cb, Options{MaxHeap: 64 << 20, Grace: time.Second})
	if got := s.ask("tick 1"); got != "error: filter used more than 64 MiB of memory\n" {
		t.Errorf("allocating request: %q", got)
	}
	if got := s.ask("tick 0"); got != "tock 0\n" {
		t.Errorf("request after the heap limit: %q, want the worker still serving", got)
	}
	if !strings.Contains(s.log.String(), "the memory is back") {
		t.Errorf("no log line about the recovery: %q", s.log.String())
	}
	if status, err := s.close(); err != nil || status != 0 {
		t.Errorf("Serve returned %d %v, want 0 at EOF", status, err)
	}
}

// A line the server writes after a reply names the request's own message.
func TestQIDPrefix(t *testing.T) {
	for line, want := range map[string]string{
		"scan 4ABC123 /var/spool/MIMEDefang/mdefang-x\n":                       "4ABC123: ",
		"relayok 192.0.2.1 host 25 127.0.0.1 25 Q1\n":                          "Q1: ",
		"recipok <a@b> <c@d> 192.0.2.1 h <a@b> helo /dir Q%202 esmtp mx a@b\n": "Q 2: ",
		"scan NOQUEUE /dir\n": "",
		"tick 1\n":            "",
		"\n":                  "",
	} {
		if got := qidPrefix(line); got != want {
			t.Errorf("qidPrefix(%q) = %q, want %q", line, got, want)
		}
	}
}
