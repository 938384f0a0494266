package integration

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// TestPostfixProductStack runs the product as an administrator would
// install it: Postfix → md-milterd → md-multiplexor → md-worker with the
// shipped deploy/filters/suggested-minimum.lua. Clean mail is delivered
// with its body untouched, an .exe attachment is removed with a warning and
// the rest of the message kept, and a reread with a broken filter is
// refused while mail keeps flowing through the old one.
func TestPostfixProductStack(t *testing.T) {
	filter := filepath.Join(harness.ModuleRoot(t), "..", "deploy", "filters", "suggested-minimum.lua")
	stack := harness.StartStack(t, harness.StackOptions{
		Multiplexor: harness.MDBinary(t, "md-multiplexor"),
		Milter:      harness.MDBinary(t, "md-milterd"),
		Worker:      harness.MDBinary(t, "md-worker"),
		Filter:      filter,
	})
	from := "tester@" + harness.Domain
	to := "alice@" + harness.Domain

	sendClean := func(t *testing.T, subject string) {
		t.Helper()
		msg := &harness.Message{From: from, To: to, Subject: subject,
			Body: "Hello from the product test.\nA second line, with 8-bit: caf\xc3\xa9.\n"}
		res := harness.Send(t, stack.Postfix.Addr, msg)
		if !res.Accepted() {
			t.Fatalf("clean message not accepted: %s reply %q", res.Stage, res.Reply)
		}
		got := stack.Postfix.WaitForMessage(t, msg.MessageID)
		if want := msg.Body; string(got.Body) != want {
			t.Errorf("clean message body changed:\n--- sent\n%q\n--- delivered\n%q", want, got.Body)
		}
		if v := got.Header.Get("X-Scanned-By"); v == "" {
			t.Errorf("clean message has no X-Scanned-By; message:\n%s", got.Raw)
		}
	}

	t.Run("clean message is delivered intact", func(t *testing.T) {
		sendClean(t, "product clean")
	})

	t.Run("exe attachment is dropped with a warning", func(t *testing.T) {
		var exe typicalCase
		for _, c := range typicalCases {
			if c.name == "exe" {
				exe = c
			}
		}
		msg := &harness.Message{From: from, To: to, Subject: "product exe", Headers: exe.headers, Body: exe.body}
		res := harness.Send(t, stack.Postfix.Addr, msg)
		if !res.Accepted() {
			t.Fatalf("exe message not accepted: %s reply %q", res.Stage, res.Reply)
		}
		got := stack.Postfix.WaitForMessage(t, msg.MessageID)
		body := string(got.Body)
		for _, gone := range []string{"invoice.exe\"", "TVqQACBoYXJtbGVzcyBmYWtl"} {
			if strings.Contains(body, gone) {
				t.Errorf("delivered message still has %q:\n%s", gone, got.Raw)
			}
		}
		for _, kept := range []string{
			"See attached.",
			"filename=\"notes.txt\"",
			"cXVhcnRlcmx5IG51bWJlcnM6IDEgMiAzCg==", // notes.txt, byte for byte
			"An attachment named invoice.exe was removed from this document as it",
			"constituted a security hazard.",
		} {
			if !strings.Contains(body, kept) {
				t.Errorf("delivered message lacks %q:\n%s", kept, got.Raw)
			}
		}
	})

	// Issue #10's reproducers through the whole stack: an attachment
	// whose header runs into the next boundary (an empty text/plain for
	// MIME-tools, screen.scr for mail clients) and a part with two
	// Content-Disposition fields (safe.txt for MIME-tools, evil.exe for a
	// client that takes the last) are both dropped with the warning, and
	// what is delivered has well-formed part headers.
	t.Run("attachments behind broken headers are dropped", func(t *testing.T) {
		const b = "md-broken-boundary"
		msg := &harness.Message{From: from, To: to, Subject: "product broken mime",
			Headers: []string{"MIME-Version: 1.0", `Content-Type: multipart/mixed; boundary="` + b + `"`},
			Body: "--" + b + "\nContent-Type: text/plain\n\nhello\n" +
				"--" + b + "\nContent-Type: application/octet-stream; name=\"screen.scr\"\nContent-Transfer-Encoding: base64\n" +
				"Content-Disposition: attachment; filename=\"screen.scr\"\nTVqQAAMAAAAEAAAA\n" +
				"--" + b + "\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"safe.txt\"\n" +
				"Content-Disposition: attachment; filename=\"evil.exe\"\nContent-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA\n" +
				"--" + b + "\nContent-Type: text/plain\n\nbye\n--" + b + "--\n"}
		res := harness.Send(t, stack.Postfix.Addr, msg)
		if !res.Accepted() {
			t.Fatalf("message not accepted: %s reply %q", res.Stage, res.Reply)
		}
		got := stack.Postfix.WaitForMessage(t, msg.MessageID)
		body := string(got.Body)
		for _, gone := range []string{"screen.scr\"", "evil.exe\"", "TVqQAAMAAAAEAAAA"} {
			if strings.Contains(body, gone) {
				t.Errorf("delivered message still has %q:\n%s", gone, got.Raw)
			}
		}
		for _, kept := range []string{"hello", "bye", "An attachment named screen.scr was removed", "An attachment named safe.txt was removed"} {
			if !strings.Contains(body, kept) {
				t.Errorf("delivered message lacks %q:\n%s", kept, got.Raw)
			}
		}
	})

	t.Run("broken filter is refused by reread", func(t *testing.T) {
		good, err := os.ReadFile(stack.Multiplexor.Filter)
		if err != nil {
			t.Fatal(err)
		}
		broken := append(bytes.Clone(good), []byte("\nfunction filter_end(entity\n")...)
		if err := os.WriteFile(stack.Multiplexor.Filter, broken, 0o644); err != nil {
			t.Fatal(err)
		}
		reply := control(t, stack.Multiplexor.Socket, "reread")
		if !strings.HasPrefix(reply, "error: Filter not reread, workers keep the old one: ") ||
			!strings.Contains(reply, "suggested-minimum.lua") {
			t.Fatalf("reread of a broken filter answered %q, want the refusal naming the filter", reply)
		}
		sendClean(t, "product after refused reread")

		if err := os.WriteFile(stack.Multiplexor.Filter, good, 0o644); err != nil {
			t.Fatal(err)
		}
		if reply := control(t, stack.Multiplexor.Socket, "reread"); reply != "Forced reread of filter rules\n" {
			t.Fatalf("reread of the mended filter answered %q", reply)
		}
		sendClean(t, "product after reread")
	})
}

// control sends one command to a multiplexor's control socket and returns
// the whole reply.
func control(t *testing.T, socket, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout("unix", socket, 5*time.Second)
	if err != nil {
		t.Fatalf("control socket: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		t.Fatalf("control socket: %v", err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("control socket: reading the reply to %q: %v", cmd, err)
	}
	return string(b)
}

// TestPostfixProductStackClamd is the shipped filter with its virus scan
// turned on as an administrator turns it on (Features["Virus:CLAMD"] and
// ClamdSock appended to the filter), behind Postfix, with a real clamd:
// a clean message is delivered, an EICAR attachment is discarded (the
// original's policy: accepted at SMTP, never delivered), and with clamd
// stopped mail is tempfailed, never passed unscanned.
func TestPostfixProductStackClamd(t *testing.T) {
	dir := harness.NewTestDir(t)
	clamd := harness.StartClamd(t, harness.ClamdOptions{Dir: dir})
	turnOn := fmt.Sprintf("\n-- Added by the test: the virus scan through clamd.\nFeatures[\"Virus:CLAMD\"] = true\nClamdSock = %q\n", clamd.Socket)
	stack := startShippedStack(t, dir, "clamd", turnOn)
	from := "tester@" + harness.Domain
	to := "alice@" + harness.Domain
	attachment := func(subject string, content []byte) *harness.Message {
		return &harness.Message{From: from, To: to, Subject: subject,
			Headers: []string{"MIME-Version: 1.0", `Content-Type: multipart/mixed; boundary="b"`},
			Body: "--b\nContent-Type: text/plain\n\nSee the attachment.\n--b\n" +
				"Content-Type: application/octet-stream; name=\"a.bin\"\nContent-Disposition: attachment; filename=\"a.bin\"\n" +
				"Content-Transfer-Encoding: base64\n\n" + base64.StdEncoding.EncodeToString(content) + "\n--b--\n"}
	}

	clean := attachment("clamd clean", []byte("nothing to see here\n"))
	if res := harness.Send(t, stack.Postfix.Addr, clean); !res.Accepted() {
		t.Fatalf("clean message: %s reply %q", res.Stage, res.Reply)
	}
	stack.Postfix.WaitForMessage(t, clean.MessageID)

	virus := attachment("clamd eicar", harness.EICAR())
	if res := harness.Send(t, stack.Postfix.Addr, virus); !res.Accepted() {
		t.Fatalf("EICAR message: %s reply %q, want it accepted and discarded", res.Stage, res.Reply)
	}
	// Discarded: a message sent after it is delivered, it never is.
	after := attachment("clamd after eicar", []byte("still clean\n"))
	if res := harness.Send(t, stack.Postfix.Addr, after); !res.Accepted() {
		t.Fatalf("message after EICAR: %s reply %q", res.Stage, res.Reply)
	}
	stack.Postfix.WaitForMessage(t, after.MessageID)
	for _, m := range stack.Postfix.Messages(t) {
		if strings.Contains(string(m.Raw), virus.MessageID) {
			t.Errorf("the EICAR message was delivered:\n%s", m.Raw)
		}
	}
	if !strings.Contains(stack.Multiplexor.Log(), "Discarding because of virus "+harness.EICARVirusName) {
		t.Errorf("no log line says the virus was discarded; multiplexor log:\n%s", stack.Multiplexor.Log())
	}

	clamd.Terminate(harness.StopTimeout)
	down := attachment("clamd down", []byte("cannot be scanned now\n"))
	res := harness.Send(t, stack.Postfix.Addr, down)
	if res.Stage != harness.StageMessage || !strings.HasPrefix(res.Reply.String(), "451 4.") {
		t.Errorf("with clamd stopped: %s reply %q, want a 451 4.x.x at end of DATA", res.Stage, res.Reply)
	}
}

// TestPostfixProductStackSpamd is the shipped filter with SpamAssassin
// turned on as an administrator turns it on (Features["SpamAssassin"] and
// md_spamc_init appended to the filter), behind Postfix, with a real spamd:
// GTUBE is delivered tagged (X-Spam-Score with its stars, the report added
// as a part), a clean message gets no X-Spam-Score, and with spamd stopped
// mail still flows, unscored (the original's spam check fails open).
func TestPostfixProductStackSpamd(t *testing.T) {
	dir := harness.NewTestDir(t)
	spamd := harness.StartSpamd(t, harness.SpamdOptions{Dir: dir})
	turnOn := fmt.Sprintf("\n-- Added by the test: SpamAssassin through spamd.\nFeatures[\"SpamAssassin\"] = true\nmd_spamc_init(%q, %d)\n", spamd.Host, spamd.Port)
	stack := startShippedStack(t, dir, "spamd", turnOn)
	from := "tester@" + harness.Domain
	to := "alice@" + harness.Domain
	send := func(subject, body string) *harness.Delivered {
		t.Helper()
		msg := &harness.Message{From: from, To: to, Subject: subject, Body: body}
		if res := harness.Send(t, stack.Postfix.Addr, msg); !res.Accepted() {
			t.Fatalf("%s: %s reply %q", subject, res.Stage, res.Reply)
		}
		return stack.Postfix.WaitForMessage(t, msg.MessageID)
	}

	spam := send("spamd gtube", "This is spam.\n"+harness.GTUBE()+"\n")
	if v := spam.Header.Get("X-Spam-Score"); !strings.Contains(v, "(****************************************)") || !strings.Contains(v, "GTUBE") {
		t.Errorf("GTUBE: X-Spam-Score %q, want 40 stars and the GTUBE rule; message:\n%s", v, spam.Raw)
	}
	if !strings.Contains(string(spam.Raw), "SpamAssassinReport.txt") {
		t.Errorf("GTUBE: no SpamAssassinReport.txt part; message:\n%s", spam.Raw)
	}

	ham := send("spamd clean", "Lunch on Thursday?\n")
	if v := ham.Header.Get("X-Spam-Score"); v != "" {
		t.Errorf("clean message: X-Spam-Score %q, want none", v)
	}

	spamd.Terminate(harness.StopTimeout)
	unscored := send("spamd down", "This is spam.\n"+harness.GTUBE()+"\n")
	if v := unscored.Header.Get("X-Spam-Score"); v != "" {
		t.Errorf("with spamd stopped: X-Spam-Score %q, want none (not scored)", v)
	}
	if !strings.Contains(stack.Multiplexor.Log(), "the message is not checked for spam") {
		t.Errorf("with spamd stopped: no log line says the message was not checked; multiplexor log:\n%s", stack.Multiplexor.Log())
	}
}

// startShippedStack starts the Go stack behind Postfix with the shipped
// filter followed by lines, as an administrator turns its integrations on
// (the copy is dir/suggested-minimum-NAME.lua).
func startShippedStack(t *testing.T, dir, name, lines string) *harness.Stack {
	t.Helper()
	shipped, err := os.ReadFile(filepath.Join(harness.ModuleRoot(t), "..", "deploy", "filters", "suggested-minimum.lua"))
	if err != nil {
		t.Fatal(err)
	}
	filter := filepath.Join(dir, "suggested-minimum-"+name+".lua")
	if err := os.WriteFile(filter, append(shipped, lines...), 0o644); err != nil {
		t.Fatal(err)
	}
	return harness.StartStack(t, harness.StackOptions{
		Multiplexor: harness.MDBinary(t, "md-multiplexor"),
		Milter:      harness.MDBinary(t, "md-milterd"),
		Worker:      harness.MDBinary(t, "md-worker"),
		Filter:      filter,
	})
}
