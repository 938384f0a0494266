package filter

import (
	"context"
	"strings"
	"testing"

	"github.com/mdgo/md/worker/message"
)

// FuzzHandle: whatever request line arrives, Handle answers exactly one
// line and never panics, with every callback defined.
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
	})
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }
