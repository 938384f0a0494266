package milter

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// bufPair returns a bufConn accepted through Listener and the peer's end.
func bufPair(t *testing.T) (*bufConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	c, err := Listener(ln).Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*bufConn), peer
}

// pending reads what the peer can read within a short time.
func pending(t *testing.T, peer net.Conn) []byte {
	t.Helper()
	peer.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	buf := make([]byte, 1024)
	n, err := peer.Read(buf)
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal(err)
	}
	return buf[:n]
}

func TestBufConnHoldsAReplyHeaderUntilItsData(t *testing.T) {
	c, peer := bufPair(t)
	// An add-header reply as go-milter writes it: length and code, then data.
	data := []byte("X-Scanned-By\x00md\x00")
	head := []byte{0, 0, 0, byte(len(data) + 1), 'h'}
	if n, err := c.Write(head); n != 5 || err != nil {
		t.Fatalf("Write(head) = %d, %v", n, err)
	}
	if got := pending(t, peer); len(got) != 0 {
		t.Fatalf("the header went out alone: %q", got)
	}
	if n, err := c.Write(data); n != len(data) || err != nil {
		t.Fatalf("Write(data) = %d, %v; want %d, nil", n, err, len(data))
	}
	if got, want := pending(t, peer), append(head, data...); !bytes.Equal(got, want) {
		t.Errorf("peer read %q in one read, want %q", got, want)
	}
	// A packet of code only (continue) goes out at once.
	cont := []byte{0, 0, 0, 1, 'c'}
	c.Write(cont)
	if got := pending(t, peer); !bytes.Equal(got, cont) {
		t.Errorf("continue: peer read %q, want %q", got, cont)
	}
}

func TestBufConnKeepsTheStreamWhenDataDoesNotMatch(t *testing.T) {
	c, peer := bufPair(t)
	head := []byte{0, 0, 0, 9, 'h'}
	c.Write(head)
	c.Write([]byte("abc"))
	c.Write([]byte("defgh"))
	var got []byte
	for len(got) < 13 {
		b := pending(t, peer)
		if len(b) == 0 {
			break
		}
		got = append(got, b...)
	}
	if want := "\x00\x00\x00\x09habcdefgh"; string(got) != want {
		t.Errorf("peer read %q, want %q", got, want)
	}
}

func TestBufConnReadsThroughABuffer(t *testing.T) {
	c, peer := bufPair(t)
	// Macros and a command back to back, as the MTA sends them.
	stream := []byte("\x00\x00\x00\x05DMj\x00x\x00\x00\x00\x03Hhi")
	peer.Write(stream)
	got := make([]byte, len(stream))
	for i := 0; i < len(got); {
		n, err := c.Read(got[i:min(i+4, len(got))])
		if err != nil {
			t.Fatal(err)
		}
		i += n
	}
	if !bytes.Equal(got, stream) {
		t.Errorf("read %q, want %q", got, stream)
	}
	if c.r.Buffered() != 0 {
		t.Errorf("%d bytes left in the buffer", c.r.Buffered())
	}
	// The read deadline still applies to reads through the buffer.
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := c.Read(make([]byte, 4)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read past the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	c.SetReadDeadline(time.Time{})
	peer.Close()
	if _, err := c.Read(make([]byte, 4)); err != io.EOF {
		t.Errorf("read after the peer closed: %v, want EOF", err)
	}
}

// quickAck reads TCP_QUICKACK of a TCP connection: 1 while the kernel
// acknowledges at once, 0 once it has gone back to delaying ACKs.
func quickAck(t *testing.T, c net.Conn) int {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	raw.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, unix.TCP_QUICKACK) })
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

// TestBufConnQuickAck: on TCP every read leaves the socket acknowledging at
// once, so an MTA that writes without TCP_NODELAY is not held by Nagle's
// algorithm against a delayed ACK. The same exchange on the bare
// connection shows the kernel back in delayed-ACK mode.
func TestBufConnQuickAck(t *testing.T) {
	exchange := func(wrap bool) int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		peer, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		peer.(*net.TCPConn).SetNoDelay(false) // as Postfix's milter client
		var c net.Conn
		if wrap {
			c, err = Listener(ln).Accept()
		} else {
			c, err = ln.Accept()
		}
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		buf := make([]byte, 16)
		// Request, reply, request: the reply right after the request
		// puts Linux into its interactive (delayed-ACK) mode.
		for i := 0; i < 3; i++ {
			peer.Write([]byte("ping"))
			if _, err := io.ReadFull(c, buf[:4]); err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("pong"))
			io.ReadFull(peer, buf[:4])
		}
		peer.Write([]byte("last"))
		if _, err := io.ReadFull(c, buf[:4]); err != nil {
			t.Fatal(err)
		}
		if bc, ok := c.(*bufConn); ok {
			c = bc.Conn
		}
		return quickAck(t, c)
	}
	if got := exchange(true); got != 1 {
		t.Errorf("TCP_QUICKACK after a read through Listener = %d, want 1", got)
	}
	if got := exchange(false); got != 0 {
		t.Logf("control: the bare connection has TCP_QUICKACK %d (expected 0: delayed ACKs)", got)
	}
}
