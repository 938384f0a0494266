package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdgo/md/worker/workdir"
)

const exeMessage = `From: alice@example.org
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

const markedMessage = `From: alice@example.org
To: bob@example.com
Subject: buy now [REJECT-ME]
Message-ID: <marked@example.org>

hello
`

// TestServerMode builds the example and runs it as the multiplexor would,
// `gofilter -f IGNORED -server`, on two working directories, and checks
// their RESULTS.
func TestServerMode(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "gofilter")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	base := t.TempDir()
	dirs := map[string]string{}
	for name, msg := range map[string]string{"exe": exeMessage, "marked": markedMessage} {
		dir := filepath.Join(base, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := workdir.Build(dir, []byte(msg), "m-"+name, "Q"+name); err != nil {
			t.Fatal(err)
		}
		dirs[name] = dir
	}

	cmd := exec.Command(bin, "-f", "/dev/null", "-server")
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
	if !hasLine(lines, "C") {
		t.Errorf("RESULTS of the .exe message does not replace the body (no C line):\n%s", exe)
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "B") || strings.HasPrefix(l, "T") || l == "D" {
			t.Errorf("the .exe message got the verdict %q:\n%s", l, exe)
		}
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

func hasLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

// TestUsage: any other argv is refused with exit status 1.
func TestUsage(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "gofilter")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	err := exec.Command(bin, "-test").Run()
	if e, ok := err.(*exec.ExitError); !ok || e.ExitCode() != 1 {
		t.Errorf("gofilter -test: %v, want exit status 1", err)
	}
}
