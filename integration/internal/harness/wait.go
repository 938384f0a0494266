package harness

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// SlowdownEnv names the environment variable that scales every deadline of
// the tests: MD_TEST_SLOWDOWN=3 gives each wait three times as long, for a
// machine that is loaded, emulated or running under -race. Values below 1
// and unparsable values count as 1. Deadlines only bound waits for a
// condition; a test that passes never waits for one.
const SlowdownEnv = "MD_TEST_SLOWDOWN"

var (
	slowdownOnce sync.Once
	slowdown     float64 = 1
)

// Slowdown returns the factor MD_TEST_SLOWDOWN sets (1 when unset).
func Slowdown() float64 {
	slowdownOnce.Do(func() {
		if v, err := strconv.ParseFloat(os.Getenv(SlowdownEnv), 64); err == nil && v > 1 {
			slowdown = v
		}
	})
	return slowdown
}

// Scale returns d multiplied by Slowdown: the deadline to use for a wait
// that takes d on an idle machine, with room to spare.
func Scale(d time.Duration) time.Duration {
	return time.Duration(float64(d) * Slowdown())
}

// WaitFor polls cond every 20 ms until it holds, and fails the test with
// "timed out after D waiting for WHAT" if it does not within Scale(d).
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if err := Await(d, cond); err != nil {
		t.Fatalf("%v waiting for %s", err, what)
	}
}

// Await polls cond every 20 ms until it holds, and returns an error saying
// how long it waited if it does not within Scale(d). It is WaitFor for code
// that must not stop the test, such as a cleanup or another goroutine.
func Await(d time.Duration, cond func() bool) error {
	d = Scale(d)
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// CommandTimeout bounds one exchange on a multiplexor's control socket.
const CommandTimeout = 60 * time.Second

// Exchange sends line (a command and its newline, or any bytes a test wants
// to send) on a multiplexor control socket, ours or the original, which
// answer one command per connection, and returns the whole reply.
func Exchange(socket, line string) (string, error) {
	c, err := net.DialTimeout("unix", socket, Scale(10*time.Second))
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(Scale(CommandTimeout)))
	if _, err := io.WriteString(c, line); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}
