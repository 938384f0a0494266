package filter

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mdgo/md/proto"
	"github.com/mdgo/md/worker/message"
)

// FuzzHandle: whatever request line arrives, Handle answers exactly one
// line, without a control byte unless a filter's own handler wrote it, and
// never panics, with every callback
// defined; and the answer is one the milter can read: a check (relayok,
// helook, senderok, recipok) gets a check reply proto parses, a map a
// SOCKETMAP reply, ping PONG, or else an "error:" line.
func FuzzHandle(f *testing.F) {
	for _, s := range []string{"ping", "tick %0A", "map a%0Ab c", "relayok 1 2 3 4 5 6", "x%0Ay", "\x00", " ", "scan Q nonexistent",
		"helook a b c", "senderok a b c d nonexistent q E", "recipok a b c d e f nonexistent q m h a x", "echo %0D%0A"} {
		f.Add(s)
	}
	cfg := DefaultConfig()
	cfg.SpoolDir = f.TempDir()
	ans := func(c *Context) (Answer, error) { return Answer{Verdict: Verdict(c.Helo), Msg: c.Sender + "\n"}, nil }
	w := NewWorker(&Callbacks{
		Relay:     func(c *Context, r RelayRequest) (Answer, error) { return ans(c) },
		Helo:      func(c *Context, r HeloRequest) (Answer, error) { return ans(c) },
		Sender:    func(c *Context, r SenderRequest) (Answer, error) { return ans(c) },
		Recipient: func(c *Context, r RecipientRequest) (Answer, error) { return ans(c) },
		Map:       func(c *Context, n, k string) (string, string, error) { return k, n + "\n", nil },
		Tick:      func(c *Context, n int) error { return nil },
		Filter:    func(c *Context, p *message.Part, a, b, t string) error { return nil },
		Handlers: map[string]func(*Context, []string) (string, error){
			"echo": func(c *Context, a []string) (string, error) { return strings.Join(a, "\n"), nil },
		},
		UnknownCmd: func(c *Context, cmd string, a []string) ([]string, error) { return append([]string{cmd}, a...), nil },
	}, cfg, WorkerOptions{Log: discard{}})
	f.Fuzz(func(t *testing.T, line string) {
		if strings.ContainsAny(line, "\n") {
			return // the server splits on LF before Handle sees a line
		}
		if strings.Contains(line, "/") || strings.Contains(line, "%2") {
			return // no directories: a scan creates tmp/ in its directory
		}
		r := w.Handle(context.Background(), line+"\n")
		if !strings.HasSuffix(r, "\n") || strings.Count(r, "\n") != 1 {
			t.Fatalf("%q: reply %q is not one line", line, r)
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			return
		}
		cmd := strings.ToLower(proto.Decode(fields[0]))
		// A filter's own handle_<cmd> answers what it likes, as in
		// mimedefang.pl; everything else is encoded.
		if _, own := w.cb.Handlers[cmd]; !own {
			if i := strings.IndexFunc(strings.TrimSuffix(r, "\n"), func(c rune) bool { return c < ' ' || c == 0x7f }); i >= 0 {
				t.Fatalf("%q: reply %q has a control byte at %d", line, r, i)
			}
		}
		if strings.HasPrefix(r, "error:") {
			return
		}
		var err error
		switch cmd {
		case "relayok", "helook", "senderok", "recipok":
			_, err = proto.ParseCheckReply(r)
		case "map":
			_, err = proto.ParseMapReply(strings.TrimSuffix(r, "\n"))
		case "ping":
			if r != "PONG\n" {
				err = errors.New("not PONG")
			}
		}
		if err != nil {
			t.Fatalf("%q: reply %q cannot be read back: %v", line, r, err)
		}
	})
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }
