// Command e2eload is the load generator of bench/e2e.sh: an SMTP client that
// sends messages to an MTA (Postfix, with or without a milter) at a fixed
// concurrency for a fixed time and times each one.
//
// Each message is one SMTP connection, as smtp-source sends by default:
// connect, 220 greeting, EHLO, MAIL FROM, RCPT TO, DATA, the message, the
// final dot, its reply, QUIT. Latency is measured from dialling to the reply
// after the final dot, which is when the client knows the message's fate;
// QUIT and close are not timed.
//
// The messages are multipart/mixed: a short text/plain part and a base64
// attachment that brings the whole to about -size bytes. Every second
// message's attachment is named invoice.exe (a "dangerous" extension a
// typical policy drops), the others report.pdf. With -reject-every N, every
// Nth message has the -marker string in its Subject, which a typical policy
// rejects with a 5xx: such a reply is counted as "rejected", not an error,
// and so is a 250 to it (an MTA without that policy accepts it).
//
// Usage:
//
//	e2eload -addr 127.0.0.1:2525 -c 8 -d 10s -size 5000
//
// It prints one line:
//
//	mps=<f> p50_ms=<f> p99_ms=<f> n=<n> ok=<n> rejected=<n> tempfail=<n> errors=<n>
//
// where mps counts messages that got their expected final reply per second,
// the latencies are theirs, tempfail counts 4xx replies at any stage and
// errors everything else unexpected (5xx to an unmarked message, I/O
// errors). With -v the first few failures go to stderr. It exits 1 if any
// message failed.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdgo/md/internal/loadstat"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:25", "SMTP server HOST:PORT")
	conc := flag.Int("c", 1, "concurrent connections")
	dur := flag.Duration("d", 10*time.Second, "how long to send messages")
	size := flag.Int("size", 5000, "approximate message size in bytes")
	rejectEvery := flag.Int("reject-every", 0, "put -marker in the Subject of every Nth message (0: never)")
	marker := flag.String("marker", "MDLAB-REJECT", "subject marker of messages the policy rejects")
	rcpt := flag.String("rcpt", "user@bench.example", "recipient")
	verbose := flag.Bool("v", false, "print the first failures to stderr")
	flag.Parse()
	if *conc < 1 || *size < 1 || *rejectEvery < 0 {
		fmt.Fprintln(os.Stderr, "e2eload: need -c >= 1, -size >= 1, -reject-every >= 0")
		os.Exit(2)
	}

	var (
		seq                           atomic.Uint64
		ok, rejected, tempfail, fails atomic.Int64
		printed                       atomic.Int64
		mu                            sync.Mutex
		lats                          []time.Duration
		wg                            sync.WaitGroup
	)
	msgs := [2][]byte{build(*size, "invoice.exe", ""), build(*size, "report.pdf", "")}
	marked := [2][]byte{build(*size, "invoice.exe", *marker), build(*size, "report.pdf", *marker)}
	start := time.Now()
	deadline := start.Add(*dur)
	for range *conc {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(deadline) {
				id := seq.Add(1)
				isMarked := *rejectEvery > 0 && id%uint64(*rejectEvery) == 0
				m := msgs[id%2]
				if isMarked {
					m = marked[id%2]
				}
				t0 := time.Now()
				code, err := send(*addr, *rcpt, m)
				lat := time.Since(t0)
				switch {
				case err == nil && code/100 == 2:
					if isMarked {
						rejected.Add(1)
					} else {
						ok.Add(1)
					}
					mine = append(mine, lat)
					continue
				case err == nil && code/100 == 5 && isMarked:
					rejected.Add(1)
					mine = append(mine, lat)
					continue
				case code/100 == 4:
					tempfail.Add(1)
				default:
					fails.Add(1)
				}
				if *verbose && printed.Add(1) <= 5 {
					fmt.Fprintf(os.Stderr, "e2eload: message %d: code %d: %v\n", id, code, err)
				}
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
	n := int64(len(lats)) + tempfail.Load() + fails.Load()
	fmt.Printf("mps=%.1f p50_ms=%.3f p99_ms=%.3f n=%d ok=%d rejected=%d tempfail=%d errors=%d\n",
		float64(len(lats))/elapsed.Seconds(), ms(50), ms(99), n, ok.Load(), rejected.Load(), tempfail.Load(), fails.Load())
	if tempfail.Load()+fails.Load() > 0 {
		os.Exit(1)
	}
}

// build returns a message of about size bytes, CRLF lines, dot-stuffing not
// needed (no line starts with a dot), ending in CRLF.
func build(size int, attachment, marker string) []byte {
	subject := "e2e benchmark message"
	if marker != "" {
		subject += " " + marker
	}
	var b bytes.Buffer
	w := func(s string) { b.WriteString(s); b.WriteString("\r\n") }
	w("From: Sender <sender@example.org>")
	w("To: Recipient <user@bench.example>")
	w("Subject: " + subject)
	w("Date: Wed, 25 Nov 2026 04:00:00 +0000")
	w("Message-ID: <e2e-bench@example.org>")
	w("MIME-Version: 1.0")
	w(`Content-Type: multipart/mixed; boundary="=-bench-boundary"`)
	w("")
	w("This is a multi-part message in MIME format.")
	w("")
	w("--=-bench-boundary")
	w("Content-Type: text/plain; charset=us-ascii")
	w("")
	line := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 2)[:76]
	for range 12 {
		w(line)
	}
	w("")
	w("--=-bench-boundary")
	w(`Content-Type: application/octet-stream; name="` + attachment + `"`)
	w(`Content-Disposition: attachment; filename="` + attachment + `"`)
	w("Content-Transfer-Encoding: base64")
	w("")
	rest := size - b.Len() - len("--=-bench-boundary--\r\n")
	raw := make([]byte, 57)
	for i := range raw {
		raw[i] = byte(i * 37)
	}
	enc := base64.StdEncoding.EncodeToString(raw) // 76 characters
	for rest > 0 {
		w(enc)
		rest -= len(enc) + 2
	}
	w("--=-bench-boundary--")
	return b.Bytes()
}

// send delivers one message in one connection and returns the reply code to
// the final dot, or the code of the first reply that ended the transaction
// early, with an error.
func send(addr, rcpt string, msg []byte) (int, error) {
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(120 * time.Second))
	r := bufio.NewReader(c)
	bw := bufio.NewWriterSize(c, 64<<10)
	step := func(cmd string, want int) (int, error) {
		if cmd != "" {
			bw.WriteString(cmd)
			bw.WriteString("\r\n")
			if err := bw.Flush(); err != nil {
				return 0, err
			}
		}
		code, text, err := reply(r)
		if err != nil {
			return code, err
		}
		if code/100 != want/100 {
			return code, fmt.Errorf("%q: %d %s", cmd, code, text)
		}
		return code, nil
	}
	for _, s := range []struct {
		cmd  string
		want int
	}{{"", 220}, {"EHLO client.example.org", 250}, {"MAIL FROM:<sender@example.org>", 250}, {"RCPT TO:<" + rcpt + ">", 250}, {"DATA", 354}} {
		if code, err := step(s.cmd, s.want); err != nil {
			return code, err
		}
	}
	bw.Write(msg)
	code, err := step(".", 250)
	if err != nil && code/100 == 5 {
		err = nil // the caller decides whether a 5xx was expected
	}
	if err == nil {
		bw.WriteString("QUIT\r\n")
		_ = bw.Flush()
		_, _, _ = reply(r)
	}
	return code, err
}

// reply reads one (possibly multi-line) SMTP reply.
func reply(r *bufio.Reader) (int, string, error) {
	var text []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return 0, "", err
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 3 {
			return 0, "", errors.New("short reply line " + strconv.Quote(line))
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil {
			return 0, "", errors.New("bad reply line " + strconv.Quote(line))
		}
		text = append(text, line[min(4, len(line)):])
		if len(line) == 3 || line[3] == ' ' {
			return code, strings.Join(text, " / "), nil
		}
	}
}
