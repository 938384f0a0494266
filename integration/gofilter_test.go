package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
	"github.com/mdgo/md/worker/workdir"
)

// The example filter compiled in Go, worker/examples/gofilter, is not one
// of the binaries `make build` puts in MD_BIN_DIR: these tests build it
// from the repository with the go tool that runs them.

// goFilterTimeout bounds building the example and one run of it.
const goFilterTimeout = 2 * time.Minute

const goFilterExeMessage = `From: alice@example.org
To: bob@example.com
Subject: the invoice
Message-ID: <exe@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain

Please find the invoice attached.
--b1
Content-Type: application/octet-stream; name="invoice.exe"
Content-Disposition: attachment; filename="invoice.exe"
Content-Transfer-Encoding: base64

TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAA=
--b1
Content-Type: application/pdf; name="invoice.pdf"
Content-Disposition: attachment; filename="invoice.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--b1--
`

const goFilterMarkedMessage = `From: alice@example.org
To: bob@example.com
Subject: buy now [REJECT-ME]
Message-ID: <marked@example.org>

hello
`

// goToolPath returns the go command: the one in PATH, else the one of the
// toolchain that built the test.
func goToolPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no go command in PATH nor at %s", p)
	}
	return p
}

// buildGoFilter builds worker/examples/gofilter into the test's temporary
// directory and returns the binary's path.
func buildGoFilter(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gofilter")
	ctx, cancel := context.WithTimeout(context.Background(), harness.Scale(goFilterTimeout))
	defer cancel()
	build := exec.CommandContext(ctx, goToolPath(t), "build", "-o", bin, ".")
	build.Dir = filepath.Join(filepath.Dir(harness.ModuleRoot(t)), "worker", "examples", "gofilter")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build in %s: %v\n%s", build.Dir, err, out)
	}
	return bin
}

// goFilterCommand is the example run with args, killed if it runs longer
// than goFilterTimeout.
func goFilterCommand(t *testing.T, bin string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), harness.Scale(goFilterTimeout))
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// TestGoFilterServerMode builds the example and runs it as the multiplexor
// would, `gofilter -f IGNORED -server`, on two working directories, and
// checks their RESULTS.
func TestGoFilterServerMode(t *testing.T) {
	bin := buildGoFilter(t)

	base := t.TempDir()
	dirs := map[string]string{}
	for name, msg := range map[string]string{"exe": goFilterExeMessage, "marked": goFilterMarkedMessage} {
		dir := filepath.Join(base, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := workdir.Build(dir, []byte(msg), "m-"+name, "Q"+name); err != nil {
			t.Fatal(err)
		}
		dirs[name] = dir
	}

	cmd := goFilterCommand(t, bin, "-f", "/dev/null", "-server")
	cmd.Stdin = strings.NewReader("ping\nscan Qexe " + dirs["exe"] + "\nscan Qmarked " + dirs["marked"] + "\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("gofilter -server: %v\nstderr:\n%s", err, stderr.String())
	}
	if got, want := stdout.String(), "PONG\nok\nok\n"; got != want {
		t.Fatalf("replies = %q, want %q\nstderr:\n%s", got, want, stderr.String())
	}

	results := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dirs[name], "RESULTS"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	exe := results("exe")
	for _, want := range []string{"HX-Filtered-By gofilter%20example\n", "\nF\n"} {
		if !strings.Contains(exe, want) {
			t.Errorf("RESULTS of the .exe message lacks %q:\n%s", want, exe)
		}
	}
	lines := strings.Split(exe, "\n")
	hasC := false
	for _, l := range lines {
		if l == "C" {
			hasC = true
		}
		if strings.HasPrefix(l, "B") || strings.HasPrefix(l, "T") || l == "D" {
			t.Errorf("the .exe message got the verdict %q:\n%s", l, exe)
		}
	}
	if !hasC {
		t.Errorf("RESULTS of the .exe message does not replace the body (no C line):\n%s", exe)
	}
	body, err := os.ReadFile(filepath.Join(dirs["exe"], "NEWBODY"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(body, []byte("TVqQ")) || !bytes.Contains(body, []byte("JVBERi0xLjQK")) {
		t.Errorf("NEWBODY still holds the .exe or lost the .pdf:\n%s", body)
	}
	if !bytes.Contains(body, []byte("An attachment named invoice.exe was removed")) {
		t.Errorf("NEWBODY has no warning:\n%s", body)
	}

	marked := results("marked")
	if !strings.HasPrefix(marked, "B554 5.7.1 Message%20rejected%20by%20site%20policy\n") {
		t.Errorf("RESULTS of the marked message does not start with the bounce:\n%s", marked)
	}
	if strings.Contains(marked, "X-Filtered-By") {
		t.Errorf("the rejected message got the header:\n%s", marked)
	}
}

// TestGoFilterUsage: any other argv is refused with exit status 1.
func TestGoFilterUsage(t *testing.T) {
	bin := buildGoFilter(t)
	err := goFilterCommand(t, bin, "-test").Run()
	if e, ok := err.(*exec.ExitError); !ok || e.ExitCode() != 1 {
		t.Errorf("gofilter -test: %v, want exit status 1", err)
	}
}
