package message_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/mdgo/md/worker/message"
)

// The scan pipeline of mimedefang.pl's do_scan, reduced to what package
// message does: parse, walk the leaves, rebuild without the .exe, add the
// warning, collapse, write NEWBODY.
func Example() {
	inputmsg := "From: a@example.org\nSubject: hi\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=\"b\"\n\n" +
		"--b\nContent-Type: text/plain\n\nHello.\n" +
		"--b\nContent-Type: application/octet-stream; name=\"setup.exe\"\nContent-Transfer-Encoding: base64\n\nTVo=\n" +
		"--b--\n"
	m, err := message.Parse([]byte(inputmsg), message.Limits{MaxParts: 50})
	if err != nil {
		fmt.Println(err)
		return
	}
	rebuilt := m.Top().ShallowCopy()
	var keep []*message.Part
	for _, p := range m.Top().Parts() {
		fmt.Printf("%s %q\n", p.Type(), p.FileName())
		if !strings.HasSuffix(strings.ToLower(p.FileName()), ".exe") {
			keep = append(keep, p)
		}
	}
	rebuilt.SetParts(keep)
	warning := message.NewPart("text/plain", "-suggest", []byte("An attachment was removed.\n"), "warning1.txt", "inline")
	top := message.Collapse(message.AddParts(rebuilt, []message.Added{{Part: warning, Offset: -1}}))

	rw, err := m.WriteBody(os.Stdout, top)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("M", rw.ContentType, rw.BecameMultipart)
	// Output:
	// text/plain ""
	// application/octet-stream "setup.exe"
	// --b
	// Content-Type: text/plain
	//
	// Hello.
	// --b
	// Content-Type: text/plain; name="warning1.txt"
	// Content-Disposition: inline; filename="warning1.txt"
	// Content-Transfer-Encoding: 7bit
	//
	// An attachment was removed.
	//
	// --b--
	// M multipart/mixed; boundary="b" false
}

// A single-part message is wrapped as MIME-tools' make_multipart does, so
// the body is a leaf of a multipart/mixed top entity.
func ExampleMessage_WasMultipart() {
	m, _ := message.Parse([]byte("Subject: x\nContent-Type: text/html\n\n<p>hi</p>\n"), message.Limits{})
	body := m.Top().Parts()[0]
	fmt.Println(m.WasMultipart(), m.Top().Type(), body.Type(), body.Header("Content-Type"))
	// Output: false multipart/mixed text/html text/html
}

func ExamplePart_FileName() {
	m, _ := message.Parse([]byte("Content-Type: application/octet-stream;\n"+
		" name=\"=?UTF-8?B?w6l0w6kuZXhl?=\"\n\nx\n"), message.Limits{})
	fmt.Println(m.Top().Parts()[0].FileName())
	// Output: été.exe
}
