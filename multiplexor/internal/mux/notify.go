package mux

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"time"
)

// The notification socket (-O, §10.2): up to five listeners receive one-line
// events about the pool, filtered by the letters they subscribe to.
const (
	maxNotifyListeners = 5
	notifyPendingMax   = 256
	notifyWriteTimeout = 10 * time.Second
)

type notifier struct {
	l   net.Listener
	log *Logger

	mu      sync.Mutex
	clients map[*notifyClient]struct{}
}

type notifyClient struct {
	conn    net.Conn
	mu      sync.Mutex
	subs    string // subscribed letters; "*" = all
	pending []byte
	wake    chan struct{}
	closed  bool
}

func newNotifier(spec string, umask int, log *Logger) (*notifier, error) {
	l, err := listenSpec(spec, umask)
	if err != nil {
		return nil, err
	}
	n := &notifier{l: l, log: log, clients: map[*notifyClient]struct{}{}}
	go n.accept()
	return n, nil
}

func (n *notifier) accept() {
	for {
		conn, err := n.l.Accept()
		if err != nil {
			return
		}
		n.mu.Lock()
		if len(n.clients) >= maxNotifyListeners {
			n.mu.Unlock()
			conn.SetWriteDeadline(time.Now().Add(notifyWriteTimeout))
			conn.Write([]byte("*ERR No free listening slots\n"))
			conn.Close()
			continue
		}
		c := &notifyClient{conn: conn, wake: make(chan struct{}, 1)}
		n.clients[c] = struct{}{}
		n.mu.Unlock()
		c.queue("*OK\n")
		go n.write(c)
		go n.read(c)
	}
}

// read takes subscription lines "?<letters>"; other lines are ignored.
func (n *notifier) read(c *notifyClient) {
	r := bufio.NewReaderSize(c.conn, 257)
	for {
		line, err := r.ReadString('\n')
		if strings.HasPrefix(line, "?") {
			subs := strings.TrimRight(line[1:], "\r\n")
			c.mu.Lock()
			c.subs = subs
			c.mu.Unlock()
		}
		if err != nil {
			n.drop(c)
			return
		}
	}
}

func (n *notifier) write(c *notifyClient) {
	for range c.wake {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return
		}
		buf := c.pending
		c.pending = nil
		c.mu.Unlock()
		if len(buf) == 0 {
			continue
		}
		c.conn.SetWriteDeadline(time.Now().Add(notifyWriteTimeout))
		if _, err := c.conn.Write(buf); err != nil {
			n.drop(c)
			return
		}
	}
}

func (n *notifier) drop(c *notifyClient) {
	n.mu.Lock()
	delete(n.clients, c)
	n.mu.Unlock()
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.wake)
		c.conn.Close()
	}
	c.mu.Unlock()
}

// queue appends msg to the client's pending bytes; when it does not fit, the
// pending bytes are replaced by msg, as the original does.
func (c *notifyClient) queue(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if len(c.pending)+len(msg) > notifyPendingMax {
		c.pending = append(c.pending[:0], msg...)
	} else {
		c.pending = append(c.pending, msg...)
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *notifyClient) wants(letter byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.IndexByte(c.subs, '*') >= 0 || strings.IndexByte(c.subs, letter) >= 0
}

// send delivers msg to every listener subscribed to its first letter; a
// message not starting with A-Z goes to all. It never blocks.
func (n *notifier) send(msg string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for c := range n.clients {
		if msg[0] < 'A' || msg[0] > 'Z' || c.wants(msg[0]) {
			c.queue(msg)
		}
	}
}

func (n *notifier) close() {
	n.l.Close()
	if ul, ok := n.l.(*net.UnixListener); ok {
		_ = ul
	}
	n.mu.Lock()
	cs := make([]*notifyClient, 0, len(n.clients))
	for c := range n.clients {
		cs = append(cs, c)
	}
	n.mu.Unlock()
	for _, c := range cs {
		n.drop(c)
	}
}
