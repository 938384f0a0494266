package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// TestDaemonsRefuseRoot: started as root without a user to switch to (or
// with -U root), md-multiplexor and md-milterd refuse to run, as the
// originals do, and say why.
func TestDaemonsRefuseRoot(t *testing.T) {
	harness.RequireRoot(t)
	dir := t.TempDir()
	for _, c := range []struct {
		bin  string
		args []string
	}{
		{"md-multiplexor", []string{"-D", "-z", dir, "-s", filepath.Join(dir, "mx.sock"), "-f", "/bin/true"}},
		{"md-multiplexor", []string{"-D", "-U", "root", "-z", dir, "-s", filepath.Join(dir, "mx.sock"), "-f", "/bin/true"}},
		{"md-milterd", []string{"-D", "-p", "inet:0@127.0.0.1", "-m", filepath.Join(dir, "mx.sock"), "-z", dir}},
		{"md-milterd", []string{"-D", "-U", "root", "-p", "inet:0@127.0.0.1", "-m", filepath.Join(dir, "mx.sock"), "-z", dir}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), harness.Scale(30*time.Second))
		out, err := exec.CommandContext(ctx, harness.MDBinary(t, c.bin), c.args...).CombinedOutput()
		cancel()
		var ee *exec.ExitError
		if !errorsAs(err, &ee) || ee.ExitCode() == 0 || !strings.Contains(string(out), "must not run "+c.bin+" as root") {
			t.Errorf("%s %v as root: %v\n%s", c.bin, c.args, err, out)
		}
	}
}

// TestPrivilegedSocketRefusesOtherUsers: md-multiplexor's control socket
// (-s), which takes every command, cannot be opened by another local user
// (nobody), while root's tools use it; the unprivileged socket (-a)
// is open to them but refuses privileged commands.
func TestPrivilegedSocketRefusesOtherUsers(t *testing.T) {
	harness.RequireRoot(t)
	dir := harness.NewTestDir(t)
	filter := filepath.Join(dir, "pass.lua")
	if err := os.WriteFile(filter, []byte("function filter_begin(e) end\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The unprivileged socket in a directory anyone can reach, as /tmp.
	pub := filepath.Join(dir, "pub")
	if err := os.Mkdir(pub, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(pub, 0o1777); err != nil {
		t.Fatal(err)
	}
	unpriv := filepath.Join(pub, "unpriv.sock")
	mx := harness.StartMultiplexor(t, harness.MultiplexorOptions{
		Path: harness.MDBinary(t, "md-multiplexor"), Dir: dir, Filter: filter,
		Worker: harness.MDBinary(t, "md-worker"), Args: []string{"-a", unpriv},
	})
	ctl := harness.MDBinary(t, "md-mx-ctrl")
	nobody := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	run := func(cred *syscall.SysProcAttr, sock, cmd string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), harness.Scale(30*time.Second))
		defer cancel()
		c := exec.CommandContext(ctx, ctl, "-s", sock, cmd)
		c.SysProcAttr = cred
		out, err := c.CombinedOutput()
		return string(out), err
	}
	if out, err := run(nil, mx.Socket, "status"); err != nil || !strings.HasPrefix(out, "Max workers") && !strings.Contains(out, "Worker") {
		t.Errorf("root's md-mx-ctrl status: %v\n%s", err, out)
	}
	if out, err := run(nobody, mx.Socket, "status"); err == nil || !strings.Contains(strings.ToLower(out), "permission denied") {
		t.Errorf("nobody opened the privileged socket: %v\n%s", err, out)
	}
	// The unprivileged socket answers nobody, but not a privileged
	// command.
	if out, err := run(nobody, unpriv, "status"); err != nil {
		t.Errorf("nobody on the unprivileged socket: %v\n%s", err, out)
	}
	if out, _ := run(nobody, unpriv, "reread"); strings.Contains(out, "Forced reread") || !strings.Contains(strings.ToLower(out), "error") {
		t.Errorf("the unprivileged socket took reread:\n%s", out)
	} else {
		t.Logf("reread on the unprivileged socket: %s", strings.TrimSpace(out))
	}
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}
