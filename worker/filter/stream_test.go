package filter

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdgo/md/worker/message"
)

const streamCommands = "S<a@example.com>\nHclient.example\nI192.0.2.1\nEhelo.example\n" +
	"R<b@example.com> ? ? ?\nR<c@example.org> ? ? ?\nR<d@Example.COM> ? ? ?\nR<e@example.com> ? ? ?\n" +
	"=if_name mx.example.net\nQQID1\nF\n"

const streamInput = "Subject: hi\nFrom: a@example.com\n\nbody\n"

func TestStreamByDomain(t *testing.T) {
	var ret bool
	var domain string
	filterCalled := false
	w, sm, _ := coreWorker(t, func(cfg *Config) *Callbacks {
		cfg.ValidateIPHeader = "X-MIMEDefang-Relay-1234"
		return &Callbacks{
			Begin: func(c *Context, _ *message.Part) error {
				ret = c.StreamByDomain()
				domain = c.Domain
				if !c.TerminateAndDiscard() {
					t.Error("TerminateAndDiscard not set")
				}
				return nil
			},
			Filter: func(*Context, *message.Part, string, string, string) error { filterCalled = true; return nil },
		}
	})
	dir := writeCase(t, streamCommands, streamInput)
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatalf("reply %q", r)
	}
	if !ret || domain != "example.com" || filterCalled {
		t.Errorf("StreamByDomain = %v, Domain %q, filter called %v", ret, domain, filterCalled)
	}
	if got := readFile(t, filepath.Join(dir, "RESULTS")); got != "D\nF\n" {
		t.Errorf("RESULTS %q", got)
	}
	mails := sm.mails(t)
	want := []string{
		"-f<a@example.com> -odd -Ac -oi -- <b@example.com> <e@example.com>",
		"-f<a@example.com> -odd -Ac -oi -- <c@example.org>",
		"-f<a@example.com> -odd -Ac -oi -- <d@Example.COM>",
	}
	if len(mails) != len(want) {
		t.Fatalf("%d mails, want %d", len(mails), len(want))
	}
	for i, m := range mails {
		if got := strings.Join(m.Args, " "); got != want[i] {
			t.Errorf("mail %d args %q, want %q", i, got, want[i])
		}
		// IP-validation header, Received:, then INPUTMSG.
		wantBody := "X-MIMEDefang-Relay-1234: 192.0.2.1\n" +
			"Received: from helo.example (client.example [192.0.2.1])\n" +
			"\tby mx.example.net (envelope-sender <a@example.com>) (MIMEDefang) with ESMTP id QID1; <DATE>\n" +
			streamInput
		if got := dateRE.ReplaceAllString(m.Body, "<DATE>"); got != wantBody {
			t.Errorf("mail %d body:\n%s\nwant:\n%s", i, got, wantBody)
		}
	}
}

func TestStreamByRecipient(t *testing.T) {
	var ret bool
	w, sm, _ := coreWorker(t, func(*Config) *Callbacks {
		return &Callbacks{Begin: func(c *Context, _ *message.Part) error {
			ret = c.StreamByRecipient()
			return nil
		}}
	})
	dir := writeCase(t, streamCommands, streamInput)
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatalf("reply %q", r)
	}
	if got := readFile(t, filepath.Join(dir, "RESULTS")); !ret || got != "D\nF\n" {
		t.Errorf("StreamByRecipient = %v, RESULTS %q", ret, got)
	}
	mails := sm.mails(t)
	if len(mails) != 4 {
		t.Fatalf("%d mails", len(mails))
	}
	for i, r := range []string{"<b@example.com>", "<c@example.org>", "<d@Example.COM>", "<e@example.com>"} {
		if got, want := strings.Join(mails[i].Args, " "), "-f<a@example.com> -odd -Ac -oi -- "+r; got != want {
			t.Errorf("args %q, want %q", got, want)
		}
		// Without a validation header; one recipient each, but the
		// Received: header describes the original's four.
		if !strings.HasPrefix(mails[i].Body, "Received: from helo.example (client.example [192.0.2.1])\n\tby mx.example.net") {
			t.Errorf("body %q", mails[i].Body)
		}
	}
}

func TestStreamSingleAndFailure(t *testing.T) {
	t.Run("single domain", func(t *testing.T) {
		var byDom, byRcpt bool
		var domain string
		w, sm, _ := coreWorker(t, func(*Config) *Callbacks {
			return &Callbacks{Begin: func(c *Context, _ *message.Part) error {
				byDom, byRcpt, domain = c.StreamByDomain(), c.StreamByRecipient(), c.Domain
				return nil
			}}
		})
		dir := writeCase(t, "S<a@example.com>\nR<b@x.example> ? ? ?\nR<c@x.example> ? ? ?\nQQ\nF\n", streamInput)
		if r := scan(t, w, dir); r != "ok\n" {
			t.Fatalf("reply %q", r)
		}
		if byDom || !byRcpt || domain != "x.example" {
			t.Errorf("StreamByDomain %v StreamByRecipient %v Domain %q", byDom, byRcpt, domain)
		}
		if len(sm.mails(t)) != 2 {
			t.Errorf("%d mails", len(sm.mails(t)))
		}
	})
	t.Run("failure bounces", func(t *testing.T) {
		var ret bool
		w, sm, log := coreWorker(t, func(*Config) *Callbacks {
			return &Callbacks{Begin: func(c *Context, _ *message.Part) error {
				ret = c.StreamByDomain()
				if c.TerminateAndDiscard() {
					t.Error("TerminateAndDiscard set after a failure")
				}
				return nil
			}}
		})
		sm.fail(t, 75)
		dir := writeCase(t, streamCommands, streamInput)
		if r := scan(t, w, dir); r != "ok\n" {
			t.Fatalf("reply %q", r)
		}
		if got := readFile(t, filepath.Join(dir, "RESULTS")); !ret || got != "B554 5.7.1 Unable%20to%20stream%20message\nF\n" {
			t.Errorf("StreamByDomain %v RESULTS %q", ret, got)
		}
		for _, l := range []string{
			"QID1: sendmail non-zero exit status in resend_message: 19200\n",
			"QID1: stream_by_domain: COULD NOT RESEND MESSAGE - PLEASE INVESTIGATE\n",
		} {
			if !strings.Contains(log.String(), l) {
				t.Errorf("log lacks %q", l)
			}
		}
		if len(sm.mails(t)) != 1 {
			t.Errorf("%d sendmail runs, want 1", len(sm.mails(t)))
		}
	})
}

func TestResendMessage(t *testing.T) {
	w, sm, log := coreWorker(t, func(*Config) *Callbacks {
		return &Callbacks{Begin: func(c *Context, _ *message.Part) error {
			if !c.ResendMessage("<x@example.net>", "<y@example.net>") {
				t.Error("ResendMessage = false")
			}
			if !c.ResendMessageOneRecipient("<z@example.net>", "-odq") {
				t.Error("ResendMessageOneRecipient = false")
			}
			if !c.ResendMessageSpecifyingMode("-odx", []string{"<w@example.net>"}) {
				t.Error("ResendMessageSpecifyingMode = false")
			}
			c.Sender = ""
			c.ResendMessage("<v@example.net>")
			return nil
		}}
	})
	dir := writeCase(t, "S<a@example.com>\nH[192.0.2.1]\nI192.0.2.1\nEhelo.example\nR<b@example.com> ? ? ?\n=auth_authen bob\nQQID1\nF\n", streamInput)
	if r := scan(t, w, dir); r != "ok\n" {
		t.Fatalf("reply %q", r)
	}
	want := []string{
		"-f<a@example.com> -odd -Ac -oi -- <x@example.net> <y@example.net>",
		"-f<a@example.com> -odq -Ac -oi -- <z@example.net>",
		"-f<a@example.com> -odd -Ac -oi -- <w@example.net>",
		"-f<> -odd -Ac -oi -- <v@example.net>",
	}
	mails := sm.mails(t)
	if len(mails) != len(want) {
		t.Fatalf("%d mails", len(mails))
	}
	for i := range want {
		if got := strings.Join(mails[i].Args, " "); got != want[i] {
			t.Errorf("args %q, want %q", got, want[i])
		}
	}
	wantBody := "Received: from helo.example ([192.0.2.1])\n" +
		"\tby mx.example.net (envelope-sender <a@example.com>) (MIMEDefang) with ESMTPA id QID1\n" +
		"\tfor <b@example.com>; <DATE>\n" + streamInput
	if got := dateRE.ReplaceAllString(mails[0].Body, "<DATE>"); got != wantBody {
		t.Errorf("body:\n%s\nwant:\n%s", got, wantBody)
	}
	// Outside message context.
	c := w.NewContext(context.Background())
	if c.ResendMessage("<x@example.net>") || c.StreamByDomain() || c.StreamByRecipient() || c.ResendMessageOneRecipient("<x@example.net>", "") {
		t.Error("resend accepted outside message context")
	}
	for _, l := range []string{"resend_message called outside of message context", "stream_by_domain called outside of message context",
		"stream_by_recipient called outside of message context", "resend_message_specifying_mode called outside of message context"} {
		if !strings.Contains(log.String(), l) {
			t.Errorf("log lacks %q", l)
		}
	}
}
