package testserve

import (
	"io"
	"net"
	"path/filepath"
	"testing"
)

func TestServeAnswersEachConnection(t *testing.T) {
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	Serve(t, ln, func(c net.Conn) { io.WriteString(c, "hello\n") })
	for i := 0; i < 3; i++ {
		c, err := net.Dial("unix", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(c) // the handler's return closes the connection
		c.Close()
		if err != nil || string(b) != "hello\n" {
			t.Fatalf("connection %d: %q, %v", i, b, err)
		}
	}
}
