package server

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/mdgo/md/proto"
	"github.com/mdgo/md/worker/filter"
	"github.com/mdgo/md/worker/filter/clamd/clamdtest"
	"github.com/mdgo/md/worker/message"
)

// TestServeCalls: each clamd call of a filter becomes one call line on the
// descriptor $MD_CALLS_FD names, classed hit, clean or error.
func TestServeCalls(t *testing.T) {
	clamd := clamdtest.Start(t, "Fake.Virus.UNOFFICIAL")
	r, w := socketpair(t)
	t.Setenv(proto.CallsFDEnv, strconv.Itoa(w))
	calls := CallsFromEnv(t.Logf)
	if calls == nil {
		t.Fatal("CallsFromEnv: nil for a datagram socket")
	}
	if fl, err := fcntl(w, syscall.F_GETFD); err != nil || fl&syscall.FD_CLOEXEC == 0 {
		t.Errorf("descriptor flags %#x, %v: not close-on-exec", fl, err)
	}

	scans := 0
	cb := &filter.Callbacks{Begin: func(c *filter.Context, _ *message.Part) error {
		scans++
		sock := clamd.Sock
		if scans == 3 { // clamd down
			sock = filepath.Join(t.TempDir(), "none.sock")
		}
		c.MessageContainsVirusClamd(sock)
		return nil
	}}
	s := start(t, cb, Options{Calls: calls})
	for _, m := range []struct{ subject, body string }{
		{"virus", clamdtest.Marker},
		{"clean", "hello"},
		{"clamd down", "hello"},
	} {
		dir := workingDir(t)
		msg := "Subject: " + m.subject + "\n\n" + m.body + "\n"
		if err := os.WriteFile(filepath.Join(dir, "INPUTMSG"), []byte(msg), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "HEADERS"), []byte("Subject: "+m.subject+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := s.ask("scan QID9 " + dir); got != "ok\n" {
			t.Fatalf("scan %q: %q (log %s)", m.subject, got, s.log)
		}
	}
	s.close()
	var lines []string
	buf := make([]byte, 4096)
	for {
		n, err := syscall.Read(r, buf)
		if err != nil {
			break
		}
		lines = append(lines, string(buf[:n]))
	}
	want := []string{proto.CallHit, proto.CallClean, proto.CallError}
	if len(lines) != len(want) {
		t.Fatalf("call lines %q, want %d", lines, len(want))
	}
	for i, line := range lines {
		c, err := proto.ParseCall([]byte(line))
		if err != nil || c.Integration != "clamd" || c.Result != want[i] {
			t.Errorf("line %d: %q (%+v, %v), want clamd %s", i, line, c, err, want[i])
		}
	}
	if calls.Dropped() != 0 {
		t.Errorf("%d lines dropped", calls.Dropped())
	}
}

// TestCallsWriterNeverWaits: with the socket full, a line is dropped and
// counted instead of blocking the worker.
func TestCallsWriterNeverWaits(t *testing.T) {
	_, w := socketpair(t)
	t.Setenv(proto.CallsFDEnv, strconv.Itoa(w))
	calls := CallsFromEnv(t.Logf)
	line := proto.AppendCall(nil, proto.Call{Integration: "spamd", Result: proto.CallClean, Seconds: 0.1})
	for i := 0; i < 100000; i++ { // more than the socket queues
		calls.Write(line)
	}
	if calls.Dropped() == 0 {
		t.Fatal("no line dropped after writing more than a pipe holds")
	}
}

func TestCallsFromEnvRefuses(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	for _, v := range []string{"", "x", "1", "2", "987654", strconv.Itoa(int(pw.Fd()))} {
		t.Setenv(proto.CallsFDEnv, v)
		var logged []string
		if cw := CallsFromEnv(func(f string, a ...any) { logged = append(logged, f) }); cw != nil {
			t.Errorf("%s=%q: a writer", proto.CallsFDEnv, v)
		}
		if (v != "") != (len(logged) == 1) {
			t.Errorf("%s=%q: logged %q", proto.CallsFDEnv, v, logged)
		}
	}
}

func fcntl(fd, cmd int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), uintptr(cmd), 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// socketpair returns the two ends of a Unix datagram socket pair, the
// reading end non-blocking; both are closed when the test ends.
func socketpair(t *testing.T) (r, w int) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fds[0]); syscall.Close(fds[1]) })
	if err := syscall.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	return fds[0], fds[1]
}
