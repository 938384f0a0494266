package chaos

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// The kinds of message the load generator sends, and what the policy
// (testdata/chaos.lua) does with each.
const (
	kindClean   = "clean"   // delivered as sent, plus the scan's headers
	kindLarge   = "large"   // a clean message of 100 KB to 1 MB
	kindAttach  = "attach"  // delivered without its .exe part
	kindReject  = "reject"  // rejected by policy (5xx)
	kindVirus   = "virus"   // EICAR: rejected by policy (5xx)
	kindSpam    = "spam"    // GTUBE: delivered tagged X-Chaos-Spam
	kindCorpus  = "corpus"  // broken MIME from the generator of TestBrokenMIME
	kindTorture = "torture" // one of the torture messages
)

// policyRejects reports whether the policy rejects messages of kind.
func policyRejects(kind string) bool { return kind == kindReject || kind == kindVirus }

// expectsReject reports whether m must be rejected (5xx), and with what
// reply.
func (m *message) expectsReject() bool {
	return policyRejects(m.kind) || m.wantReply != ""
}

// The policy's rejections (testdata/chaos.lua, and md-worker's own for a
// message too complicated to filter), each a 554 5.7.1 after the data.
const (
	replyPolicy  = "554 5.7.1 Rejected by the chaos policy"
	replyVirus   = "554 5.7.1 Virus found: "
	replyTooMany = "554 5.7.1 Message contained too many MIME parts"
	replyTooDeep = "554 5.7.1 Message contained MIME parts nested too deeply"
)

// rightReject reports whether m's 5xx is the one it must get, after the
// message's data (a 5xx at an earlier stage is not the filter's). A
// corpus message may be bounced as a virus or as too complicated.
func (m *message) rightReject() bool {
	if m.state != "rejected" || m.stage != harness.StageMessage {
		return false
	}
	switch {
	case m.wantReply != "":
		return strings.HasPrefix(m.reply, m.wantReply)
	case m.kind == kindReject:
		return strings.HasPrefix(m.reply, replyPolicy)
	case m.kind == kindVirus:
		return strings.HasPrefix(m.reply, replyVirus)
	case m.kind == kindCorpus:
		for _, r := range []string{replyVirus, replyTooMany, replyTooDeep} {
			if strings.HasPrefix(m.reply, r) {
				return true
			}
		}
	}
	return false
}

// filterTempfails are the policy's own tempfail texts, one a scanner;
// any other 4xx comes from md-milterd or Postfix (a worker, md-multiplexor
// or md-milterd that failed, or the spool).
var filterTempfails = map[string]string{
	"clamd":  "Virus scanner unavailable",
	"spamd":  "spamd unavailable",
	"rspamd": "rspamd unavailable",
	"DNS":    "DNS blocklist unavailable",
}

// isFilterTempfail reports whether reply is one of the policy's tempfails.
func isFilterTempfail(reply string) bool {
	for _, t := range filterTempfails {
		if strings.Contains(reply, t) {
			return true
		}
	}
	return false
}

// exeMarker is in the .exe part of every attach message.
const exeMarker = "CHAOS-EXE-PAYLOAD"

// mixedKind is the kind of the i-th message of a phase with the usual mix.
func mixedKind(i int) string {
	switch i % 10 {
	case 4:
		return kindLarge
	case 5, 6:
		return kindAttach
	case 7:
		return kindReject
	case 8:
		return kindVirus
	case 9:
		return kindSpam
	}
	return kindClean
}

// message is one message of the campaign and what became of it.
type message struct {
	seq   int
	phase string
	kind  string
	note  string // what a corpus or torture message is
	data  []byte
	// wantReply: the message must be rejected with a reply holding it;
	// mayHold: it may stay tempfailed (a torture message beyond the
	// campaign's short time limits), but never be delivered unscanned.
	wantReply  string
	mayHold    bool
	exeDropped bool // a torture message whose .exe part (exeMarker) must be dropped

	// what the client saw, updated by the senders
	attempts, tempfails int
	state               string   // "", "accepted", "rejected", "held"
	reply               string   // the last reply (or network error)
	stage               string   // the SMTP stage of the last reply
	tempReplies         []string // every 4xx (or network error) it got

	// what the mailbox holds
	deliveries int
	unscanned  []string // why a delivered copy does not show the policy's work
}

// rcpt is the recipient of every message.
var rcpt = "inbox@" + harness.Domain

// render builds the message: X-Chaos-Seq and X-Chaos-Kind first, so that
// even a broken message keeps them in its header.
func render(seq int, kind string, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "X-Chaos-Seq: %d\r\nX-Chaos-Kind: %s\r\n", seq, kind)
	b.Write(body)
	return b.Bytes()
}

// build makes message seq of kind (not corpus or torture), its size and
// content drawn from a generator seeded with seq.
func build(seq int, kind string) []byte {
	r := rand.New(rand.NewSource(int64(seq)))
	head := fmt.Sprintf("From: chaos-%d@client.%s\r\nTo: %s\r\nDate: %s\r\nMessage-ID: <chaos-%d@client.%s>\r\n",
		seq, harness.Domain, rcpt, time.Now().Format(time.RFC1123Z), seq, harness.Domain)
	subject := fmt.Sprintf("chaos %d %s", seq, kind)
	switch kind {
	case kindClean, kindLarge, kindSpam, kindReject:
		size := 500 + r.Intn(8000)
		if kind == kindLarge {
			size = 100<<10 + r.Intn(900<<10)
		}
		text := words(r, size)
		if kind == kindSpam {
			text = harness.GTUBE() + "\r\n" + text
		}
		if kind == kindReject {
			subject += " CHAOS-POLICY-REJECT"
		}
		return render(seq, kind, []byte(head+"Subject: "+subject+"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"+text))
	case kindAttach, kindVirus:
		var b strings.Builder
		fmt.Fprintf(&b, "%sSubject: %s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"chaos-%d\"\r\n\r\n", head, subject, seq)
		fmt.Fprintf(&b, "--chaos-%d\r\nContent-Type: text/plain\r\n\r\n%s\r\n", seq, words(r, 300+r.Intn(2000)))
		pdf := make([]byte, 1000+r.Intn(20000))
		r.Read(pdf)
		fmt.Fprintf(&b, "--chaos-%d\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n", seq, wrap(base64.StdEncoding.EncodeToString(pdf)))
		if kind == kindAttach {
			fmt.Fprintf(&b, "--chaos-%d\r\nContent-Type: application/octet-stream; name=\"payload.exe\"\r\nContent-Disposition: attachment; filename=\"payload.exe\"\r\n\r\n%s %d\r\n", seq, exeMarker, seq)
		} else {
			fmt.Fprintf(&b, "--chaos-%d\r\nContent-Type: application/octet-stream; name=\"eicar.com\"\r\nContent-Disposition: attachment; filename=\"eicar.com\"\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n", seq, base64.StdEncoding.EncodeToString(harness.EICAR()))
		}
		fmt.Fprintf(&b, "--chaos-%d--\r\n", seq)
		return render(seq, kind, []byte(b.String()))
	}
	panic("build: kind " + kind)
}

var vocabulary = strings.Fields("mail filter message queue relay scanner worker spool header body part attachment " +
	"policy sender recipient domain ledger delivery tempfail retry postfix milter multiplexor lua chaos")

// words returns about n bytes of text in lines of at most 76 characters,
// some starting with a dot (which SMTP must stuff).
func words(r *rand.Rand, n int) string {
	var b, line strings.Builder
	for b.Len() < n {
		w := vocabulary[r.Intn(len(vocabulary))]
		if line.Len() == 0 && r.Intn(40) == 0 {
			w = "." + w
		}
		if line.Len()+len(w)+1 > 76 {
			b.WriteString(line.String() + "\r\n")
			line.Reset()
		}
		if line.Len() > 0 {
			line.WriteByte(' ')
		}
		line.WriteString(w)
	}
	b.WriteString(line.String() + "\r\n")
	return b.String()
}

func wrap(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s)
	return b.String()
}

// ledger holds every message of the campaign by number.
type ledger struct {
	mu   sync.Mutex
	msgs map[int]*message
	next int
	// delivered copies whose number is unknown (must be none)
	strays []string
}

func newLedger() *ledger { return &ledger{msgs: map[int]*message{}, next: 1} }

// nextSeq is the number the next message will get.
func (l *ledger) nextSeq() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

// add registers a new message of phase and returns it; body makes its
// text from its number.
func (l *ledger) add(phase, kind, note string, body func(seq int) []byte) *message {
	l.mu.Lock()
	seq := l.next
	l.next++
	m := &message{seq: seq, phase: phase, kind: kind, note: note}
	l.msgs[seq] = m
	l.mu.Unlock()
	m.data = body(seq)
	return m
}

// send makes one attempt at m and records what the client saw.
func (l *ledger) send(addr string, m *message) {
	res, err := harness.TrySendMail(addr, harness.Envelope{From: fmt.Sprintf("chaos-%d@client.%s", m.seq, harness.Domain), To: []string{rcpt}}, m.data)
	l.mu.Lock()
	defer l.mu.Unlock()
	m.attempts++
	switch {
	case err != nil:
		// The client does not know the outcome; a sending MTA tries again.
		m.tempfails++
		m.state, m.reply, m.stage = "held", "network error: "+err.Error(), ""
		m.tempReplies = append(m.tempReplies, m.reply)
	case res.Accepted():
		m.state, m.reply, m.stage = "accepted", res.Reply.String(), res.Stage
	case res.Reply.Code >= 500:
		m.state, m.reply, m.stage = "rejected", res.Reply.String(), res.Stage
	default:
		m.tempfails++
		m.state, m.reply, m.stage = "held", res.Stage+": "+res.Reply.String(), res.Stage
		m.tempReplies = append(m.tempReplies, m.reply)
	}
}

// tempfailed returns the messages of phase that got a 4xx matching match.
func (l *ledger) tempfailed(phase string, match func(reply string) bool) []*message {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*message
	for _, m := range l.msgs {
		if m.phase != phase {
			continue
		}
		for _, r := range m.tempReplies {
			if match(r) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// held returns the messages of phase that are still with the client.
func (l *ledger) held(phase string) []*message {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*message
	for _, m := range l.msgs {
		if m.phase == phase && m.state == "held" {
			out = append(out, m)
		}
	}
	return out
}

// awaiting counts the accepted messages not delivered yet.
func (l *ledger) awaiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if m.state == "accepted" && m.deliveries == 0 {
			n++
		}
	}
	return n
}

var (
	seqHeader     = regexp.MustCompile(`(?m)^X-Chaos-Seq: (\d+)\r?$`)
	scannedHeader = regexp.MustCompile(`(?m)^X-Chaos-Scanned: (.*?)\r?$`)
	// every check answered: no virus, a spamd score, an rspamd action that
	// is not its failure ("soft reject"), the relay not listed
	verdictsHeader = regexp.MustCompile(`(?m)^X-Chaos-Verdicts: clamd=ok spamd=-?\d+\.\d rspamd=(no action|add header|rewrite subject|greylist|reject) dnsbl=NXDOMAIN\r?$`)
	spamHeader     = regexp.MustCompile(`(?m)^X-Chaos-Spam: yes\r?$`)
)

// collect reads every delivered message in the Maildir, records it in the
// ledger with what it shows of the scan, and removes it.
func (l *ledger) collect(maildir string) error {
	files, _ := filepath.Glob(filepath.Join(maildir, "new", "*"))
	cur, _ := filepath.Glob(filepath.Join(maildir, "cur", "*"))
	for _, f := range append(files, cur...) {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		head := raw
		if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
			head = raw[:i+1]
		}
		if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 && i < len(head) {
			head = raw[:i+2]
		}
		l.record(f, raw, head)
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	return nil
}

func (l *ledger) record(file string, raw, head []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sm := seqHeader.FindSubmatch(head)
	if sm == nil {
		l.strays = append(l.strays, fmt.Sprintf("%s: no X-Chaos-Seq in %q", filepath.Base(file), clip(head, 300)))
		return
	}
	seq, _ := strconv.Atoi(string(sm[1]))
	m := l.msgs[seq]
	if m == nil {
		l.strays = append(l.strays, fmt.Sprintf("%s: X-Chaos-Seq %d was never sent", filepath.Base(file), seq))
		return
	}
	m.deliveries++
	var why []string
	scanned := scannedHeader.FindAllSubmatch(head, -1)
	if len(scanned) != 1 || string(bytes.TrimSpace(scanned[0][1])) != strconv.Itoa(seq) {
		why = append(why, fmt.Sprintf("X-Chaos-Scanned %q, want one with %d", scanned, seq))
	}
	if !verdictsHeader.Match(head) {
		why = append(why, fmt.Sprintf("X-Chaos-Verdicts not every check's answer: %q", regexp.MustCompile(`(?m)^X-Chaos-Verdicts:.*$`).FindAll(head, -1)))
	}
	if (m.kind == kindAttach || m.exeDropped) && bytes.Contains(raw, []byte(exeMarker)) {
		why = append(why, "the .exe part was not removed")
	}
	if m.kind == kindSpam && !spamHeader.Match(head) {
		why = append(why, "spam without X-Chaos-Spam")
	}
	if m.expectsReject() {
		why = append(why, "delivered although the policy rejects it")
	}
	m.unscanned = append(m.unscanned, why...)
}

func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// sender sends the messages a phase makes, conc at a time and at most
// rate a second: a steady flow, as from other MTAs, which a fault does not
// speed up (a tempfail comes back at once, and the next message must not
// follow it at once).
type sender struct {
	l    *ledger
	addr string
	rate int
	sent atomic.Int64
}

// run takes messages from next until it returns nil, conc at a time, and
// returns when all are sent.
func (s *sender) run(conc int, next func() *message) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	pace := time.NewTicker(time.Second / time.Duration(s.rate))
	defer pace.Stop()
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				<-pace.C
				mu.Lock()
				m := next()
				mu.Unlock()
				if m == nil {
					return
				}
				s.l.send(s.addr, m)
				s.sent.Add(1)
			}
		}()
	}
	wg.Wait()
}
