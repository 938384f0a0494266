// Command milterload is the load generator of bench/milterd.sh: it drives a
// milter (md-milterd or the original mimedefang) directly through its milter
// socket with go-milter's MTA-side client, with no MTA in the path.
//
// Each message is one milter session, as Postfix opens one per SMTP
// connection: negotiate, connect, HELO, MAIL, one RCPT, DATA, the header
// fields, end of headers, the body in chunks, end of message, close. The
// negotiation offers what Postfix 3.x offers: protocol version 6, every
// modification action, every protocol flag go-milter can handle. The macros
// are Postfix's defaults for each stage, with a unique {i} per message.
//
// A message counts as a success only if every stage continues and the end
// of message ends in accept (or continue, which an MTA treats the same way).
// Latency is measured from dialling to the end-of-message reply.
//
// Usage:
//
//	milterload -addr tcp:127.0.0.1:7890 -c 8 -d 10s -size 5000
//
// It prints one line:
//
//	mps=<f> p50_ms=<f> p99_ms=<f> n=<n> errors=<n>
//
// where mps counts successful messages per second and n counts all attempts.
// With -v the first few errors go to stderr. It exits 1 if any message failed.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdgo/md/internal/loadstat"

	milter "github.com/d--j/go-milter"
)

func main() {
	addr := flag.String("addr", "tcp:127.0.0.1:7890", "milter address: tcp:HOST:PORT or unix:/path")
	conc := flag.Int("c", 1, "concurrent sessions")
	dur := flag.Duration("d", 10*time.Second, "how long to send messages")
	size := flag.Int("size", 5000, "approximate message size in bytes (headers and body)")
	verbose := flag.Bool("v", false, "print the first errors to stderr")
	flag.Parse()

	network, address, ok := strings.Cut(*addr, ":")
	if !ok || (network != "tcp" && network != "unix") || *conc < 1 || *size < 1 {
		fmt.Fprintln(os.Stderr, "milterload: need -addr tcp:HOST:PORT or unix:/path, -c >= 1, -size >= 1")
		os.Exit(2)
	}
	client := milter.NewClient(network, address,
		milter.WithMaximumVersion(6),
		milter.WithActions(milter.AllClientSupportedActionMasks),
		milter.WithReadTimeout(60*time.Second),
		milter.WithWriteTimeout(60*time.Second),
		// Postfix's default milter_*_macros.
		milter.WithoutDefaultMacros(),
		milter.WithMacroRequest(milter.StageConnect, []milter.MacroName{milter.MacroMTAFQDN, milter.MacroDaemonName, "{daemon_addr}", "v", "_"}),
		milter.WithMacroRequest(milter.StageHelo, []milter.MacroName{milter.MacroTlsVersion, milter.MacroCipher, milter.MacroCipherBits, milter.MacroCertSubject, milter.MacroCertIssuer}),
		milter.WithMacroRequest(milter.StageMail, []milter.MacroName{milter.MacroQueueId, milter.MacroAuthType, milter.MacroAuthAuthen, milter.MacroAuthAuthor, milter.MacroMailMailer, milter.MacroMailHost, milter.MacroMailAddr}),
		milter.WithMacroRequest(milter.StageRcpt, []milter.MacroName{milter.MacroRcptMailer, milter.MacroRcptHost, milter.MacroRcptAddr}),
		milter.WithMacroRequest(milter.StageEOM, []milter.MacroName{milter.MacroQueueId}),
	)
	headers, body := message(*size)

	var (
		seq     atomic.Uint64
		errs    atomic.Int64
		printed atomic.Int64
		mu      sync.Mutex
		lats    []time.Duration
		wg      sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(*dur)
	for range *conc {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(deadline) {
				t0 := time.Now()
				err := one(client, seq.Add(1), headers, body)
				if err != nil {
					errs.Add(1)
					if *verbose && printed.Add(1) <= 5 {
						fmt.Fprintln(os.Stderr, "milterload:", err)
					}
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	slices.Sort(lats)
	ms := func(p float64) float64 { return loadstat.Millis(loadstat.Percentile(lats, p)) }
	n := int64(len(lats)) + errs.Load()
	fmt.Printf("mps=%.1f p50_ms=%.3f p99_ms=%.3f n=%d errors=%d\n",
		float64(len(lats))/elapsed.Seconds(), ms(50), ms(99), n, errs.Load())
	if errs.Load() > 0 {
		os.Exit(1)
	}
}

type field struct{ key, value string }

// message returns header fields and a body (CRLF lines) that add up to about
// size bytes: a plain-text mail of 76-character lines.
func message(size int) ([]field, []byte) {
	headers := []field{
		{"Received", "from client.example.org (client.example.org [192.0.2.10])\r\n\tby mx.example.com (Postfix) with ESMTP id 4Xbench"},
		{"From", "Sender <sender@example.org>"},
		{"To", "Recipient <rcpt@example.com>"},
		{"Subject", "milterload benchmark message"},
		{"Date", "Wed, 25 Nov 2026 04:00:00 +0000"},
		{"Message-ID", "<bench@example.org>"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=us-ascii"},
	}
	hlen := 0
	for _, h := range headers {
		hlen += len(h.key) + 2 + len(h.value) + 2
	}
	line := strings.Repeat("abcdefghijklmnopqrstuvwxyz0123456789 ", 3)[:76] + "\r\n"
	var b bytes.Buffer
	for b.Len()+hlen+2 < size {
		b.WriteString(line)
	}
	return headers, b.Bytes()
}

// one sends one message in a new session and checks that it is accepted.
func one(client *milter.Client, id uint64, headers []field, body []byte) error {
	qid := "B" + strconv.FormatUint(id, 16)
	macros := milter.NewMacroBag()
	macros.Set(milter.MacroMTAFQDN, "mx.example.com")
	macros.Set(milter.MacroDaemonName, "smtpd")
	macros.Set("{daemon_addr}", "127.0.0.1")
	macros.Set("v", "Postfix 3.7")
	macros.Set("_", "client.example.org [192.0.2.10]")
	macros.Set(milter.MacroQueueId, qid)
	macros.Set(milter.MacroMailMailer, "smtp")
	macros.Set(milter.MacroMailAddr, "sender@example.org")
	macros.Set(milter.MacroRcptMailer, "smtp")
	macros.Set(milter.MacroRcptAddr, "rcpt@example.com")

	s, err := client.Session(macros)
	if err != nil {
		return err
	}
	defer s.Close()
	step := func(stage string, act *milter.Action, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", stage, err)
		}
		if act.Type != milter.ActionContinue {
			return fmt.Errorf("%s: %s instead of continue", stage, describe(act))
		}
		return nil
	}
	act, err := s.Conn("client.example.org", milter.FamilyInet, 41000+uint16(id%20000), "192.0.2.10")
	if err := step("connect", act, err); err != nil {
		return err
	}
	act, err = s.Helo("client.example.org")
	if err := step("helo", act, err); err != nil {
		return err
	}
	act, err = s.Mail("<sender@example.org>", "")
	if err := step("mail", act, err); err != nil {
		return err
	}
	act, err = s.Rcpt("<rcpt@example.com>", "")
	if err := step("rcpt", act, err); err != nil {
		return err
	}
	act, err = s.DataStart()
	if err := step("data", act, err); err != nil {
		return err
	}
	for _, h := range headers {
		act, err = s.HeaderField(h.key, h.value, nil)
		if err := step("header", act, err); err != nil {
			return err
		}
	}
	act, err = s.HeaderEnd()
	if err := step("eoh", act, err); err != nil {
		return err
	}
	_, act, err = s.BodyReadFrom(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("body/eom: %w", err)
	}
	if act.Type != milter.ActionAccept && act.Type != milter.ActionContinue {
		return fmt.Errorf("eom: %s instead of accept", describe(act))
	}
	return nil
}

func describe(act *milter.Action) string {
	names := map[milter.ActionType]string{
		milter.ActionAccept: "accept", milter.ActionContinue: "continue", milter.ActionDiscard: "discard",
		milter.ActionReject: "reject", milter.ActionTempFail: "tempfail", milter.ActionSkip: "skip",
		milter.ActionRejectWithCode: "reply",
	}
	name, ok := names[act.Type]
	if !ok {
		name = fmt.Sprintf("action %d", act.Type)
	}
	if act.SMTPCode != 0 {
		return fmt.Sprintf("%s (%s)", name, act.SMTPReply)
	}
	return name
}
