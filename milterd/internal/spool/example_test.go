package spool_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/mdgo/md/milterd/internal/spool"
)

// One message, callback by callback, as the milter glue drives it.
func Example() {
	spoolDir, _ := os.MkdirTemp("", "spool-example")
	defer os.RemoveAll(spoolDir)
	opts := spool.Options{SpoolDir: spoolDir}

	// MAIL FROM: the directory, HEADERS and the first COMMANDS batch.
	w, err := spool.Create(opts, spool.MailFrom{
		ID:         "iwGTg00", // spool.NewID() in production
		Sender:     "<tester@example.org>",
		Macros:     map[string]string{"_": "localhost [127.0.0.1]", "j": "mx.example.org"},
		ClientPort: 44342,
		Hostname:   "localhost",
		ClientIP:   "127.0.0.1",
		Helo:       "client.example.org",
	})
	if err != nil {
		fmt.Println(err) // the glue tempfails MAIL FROM
		return
	}
	// RCPT TO (after a positive recipok, if -t).
	_ = w.AddRecipient(spool.Recipient{Addr: "<rcpt@example.org>", Mailer: "local", Host: "mx.example.org", RcptAddr: "rcpt@example.org"})
	// Headers, end of headers, body chunks; macro i becomes known.
	_ = w.Header("Subject", "Hello, world")
	_ = w.Header("Message-Id", "<1@example.org>")
	w.SetQueueID("854E4B8211")
	_ = w.EndOfHeaders()
	_ = w.Body([]byte("Hi.\r\n"))
	// End of message: Q, ? and F, files closed; then the scan request.
	if err := w.Finish(); err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range []string{spool.CommandsFile, spool.HeadersFile, spool.InputMsgFile} {
		b, _ := os.ReadFile(filepath.Join(w.Path(), f))
		fmt.Printf("== %s\n%s", f, b)
	}
	d, _ := w.Cleanup()
	fmt.Println("==", filepath.Base(w.Path()), d)
	// Output:
	// == COMMANDS
	// iiwGTg00
	// S<tester@example.org>
	// =_ localhost%20[127.0.0.1]
	// =j mx.example.org
	// =client_port 44342
	// Hlocalhost
	// I127.0.0.1
	// Eclient.example.org
	// R<rcpt@example.org> local mx.example.org rcpt@example.org
	// UHello,%20world
	// X<1@example.org>
	// Q854E4B8211
	// F
	// == HEADERS
	// Subject: Hello, world
	// Message-Id: <1@example.org>
	// == INPUTMSG
	// Subject: Hello, world
	// Message-Id: <1@example.org>
	//
	// Hi.
	// == mdefang-iwGTg00 removed
}

func ExampleFormatID() {
	fmt.Println(spool.FormatID(1795546516, 0)) // 2026-11-24 18:55:16 UTC, first ID of the process
	// Output: iwGTg00
}
