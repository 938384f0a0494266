package harness

import (
	"bufio"
	"net"
	"strings"
	"testing"
)

// fakeSMTP serves one SMTP session on 127.0.0.1: it answers each command
// with replies[command verb] (default "250 2.0.0 Ok") and the end of data
// with eom, and sends the received message text on got.
func fakeSMTP(t *testing.T, replies map[string]string, eom string) (addr string, got <-chan string) {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ch := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		say := func(s string) { c.Write([]byte(strings.ReplaceAll(s, "\n", "\r\n") + "\r\n")) }
		say("220 fake ESMTP")
		var data strings.Builder
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			verb := strings.ToUpper(strings.Fields(line + " x")[0])
			if rep, ok := replies[verb]; ok {
				say(rep)
				continue
			}
			switch verb {
			case "EHLO":
				say("250-fake\n250 8BITMIME")
			case "DATA":
				say("354 go ahead")
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if l == ".\r\n" {
						break
					}
					data.WriteString(l)
				}
				ch <- data.String()
				say(eom)
			case "QUIT":
				say("221 2.0.0 Bye")
				return
			default:
				say("250 2.0.0 Ok")
			}
		}
	}()
	return l.Addr().String(), ch
}

func TestSendMailAccepted(t *testing.T) {
	addr, got := fakeSMTP(t, nil, "250 2.0.0 Ok: queued as ABC123")
	res := SendMail(t, addr, Envelope{From: "a@x", To: []string{"b@x"}}, []byte("Subject: s\n\n.leading dot\nlast"))
	if !res.Accepted() || res.QueueID != "ABC123" {
		t.Fatalf("got %s %q queue ID %q, want accepted as ABC123", res.Stage, res.Reply, res.QueueID)
	}
	if want := "Subject: s\r\n\r\n..leading dot\r\nlast\r\n"; <-got != want {
		t.Errorf("server did not receive the dot-stuffed CRLF message %q", want)
	}
}

func TestSendMailRefusals(t *testing.T) {
	tests := []struct {
		name      string
		replies   map[string]string
		eom       string
		wantStage string
		wantReply string
	}{
		{"end of data", nil, "554 5.7.1 Message rejected by test policy: forbidden subject marker",
			StageMessage, "554 5.7.1 Message rejected by test policy: forbidden subject marker"},
		{"recipient", map[string]string{"RCPT": "550 5.1.1 unknown"}, "250 Ok",
			StageRcpt, "550 5.1.1 unknown"},
		{"multi-line", map[string]string{"MAIL": "451-4.7.1 first\n451 4.7.1 second"}, "250 Ok",
			StageMail, "451-4.7.1 first\n451 4.7.1 second"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := fakeSMTP(t, tc.replies, tc.eom)
			m := &Message{From: "a@x", To: "b@x", Subject: "s", Body: "b\n"}
			res := Send(t, addr, m)
			if res.Stage != tc.wantStage || res.Reply.String() != tc.wantReply {
				t.Errorf("got %s %q, want %s %q", res.Stage, res.Reply, tc.wantStage, tc.wantReply)
			}
			if res.Accepted() {
				t.Errorf("Accepted() = true for a refusal")
			}
			if !strings.Contains(res.Transcript, "<** "+strings.Split(tc.wantReply, "\n")[0]) {
				t.Errorf("transcript does not mark the refusal:\n%s", res.Transcript)
			}
		})
	}
}

func TestMessageBytes(t *testing.T) {
	m := &Message{From: "a@x", To: "b@x", Subject: "hi", Headers: []string{"X-Case: one"}, Body: "line1\nline2\n"}
	b := string(m.Bytes())
	if m.MessageID == "" || !strings.Contains(b, "Message-Id: "+m.MessageID+"\r\n") {
		t.Errorf("no generated Message-Id in\n%s", b)
	}
	if !strings.Contains(b, "X-Case: one\r\n\r\nline1\r\nline2\r\n") {
		t.Errorf("header/body layout wrong:\n%q", b)
	}
	other := &Message{}
	other.Bytes()
	if other.MessageID == m.MessageID {
		t.Errorf("two messages got the same Message-Id %s", m.MessageID)
	}
}
