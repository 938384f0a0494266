package mxctrl

import (
	"fmt"
	"strings"
	"time"

	"github.com/mdgo/md/proto"
)

// Result is what one command prints and how it ends. Formatters return a
// Result instead of writing, so that they are pure functions of the reply.
type Result struct {
	// Stdout goes to standard output.
	Stdout string
	// Errout goes to the error stream: standard error, or standard output
	// under -i.
	Errout string
	// Failed makes the exit status 1 (ignored under -i, which exits 0).
	Failed bool
}

// Stamp is the time and host that jsonstatus and jsonload1 report.
type Stamp struct {
	Time     time.Time
	Hostname string
}

// asctime is the layout of C asctime without its newline,
// e.g. "Wed Jun  3 21:49:08 1993".
const asctime = "Mon Jan _2 15:04:05 2006"

// FormatRaw prints a reply as the original's doCmd does: the reply up to its
// first NUL byte, percent-decoded (proto.Decode) when decode is set and cut
// again at the first NUL the decoding produced, followed by a newline if it
// is not empty and does not end with one. An empty reply prints nothing.
func FormatRaw(reply string, decode bool) Result {
	s := proto.CString(reply)
	if decode {
		s = proto.CString(proto.Decode(s))
	}
	if s != "" && s[len(s)-1] != '\n' {
		s += "\n"
	}
	return Result{Stdout: s}
}

// statusWords checks a status reply as the original does and returns its
// state characters: the bytes before the first space. A reply that does not
// start with I, K, S or B is an error, printed as "ERROR <reply>".
func statusWords(reply string) (states, rest string, bad *Result) {
	s := proto.CString(reply)
	if s == "" || strings.IndexByte("IKSB", s[0]) < 0 {
		return "", "", &Result{Errout: "ERROR " + s, Failed: true}
	}
	n := strings.IndexByte(s, ' ')
	if n < 0 {
		n = len(s)
	}
	return s[:n], s[n:], nil
}

// stateName is the word status prints for a state character.
func stateName(c byte) string {
	switch c {
	case 'I':
		return "idle"
	case 'K':
		return "killed"
	case 'S':
		return "stopped"
	case 'B':
		return "busy"
	}
	return "unknown state '" + string([]byte{c}) + "'"
}

// FormatStatus prints a status reply as "Max workers: N" and one
// "Worker i: idle|killed|stopped|busy" line per state character (§9.3.1).
// Every byte before the first space counts as a worker, a newline included.
func FormatStatus(reply string) Result {
	states, _, bad := statusWords(reply)
	if bad != nil {
		return *bad
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Max workers: %d\n", len(states))
	for i := 0; i < len(states); i++ {
		fmt.Fprintf(&b, "Worker %d: %s\n", i, stateName(states[i]))
	}
	return Result{Stdout: b.String()}
}

// Bar widths of barstatus: up to barLen workers and qbarLen queue slots are
// drawn one character each; more are scaled to these widths.
const (
	barLen  = 25
	qbarLen = 20
)

// bar draws n cells, full ones first, in the original's single-precision
// float arithmetic when the bar is scaled down to width cells.
func bar(b *strings.Builder, full, n, width int, mark byte) {
	if n <= width {
		for i := 0; i < n; i++ {
			if i < full {
				b.WriteByte(mark)
			} else {
				b.WriteByte('.')
			}
		}
		return
	}
	frac := float32(float32(full) / float32(n))
	limit := float32(frac * float32(width))
	for i := 0; i < width; i++ {
		if float32(i) < limit {
			b.WriteByte(mark)
		} else {
			b.WriteByte('.')
		}
	}
}

// FormatBarStatus prints a status reply as "busy/total" and a bar of B and
// '.', then, when there is a request queue, "queued/size" and a bar of Q and
// '.', and finally the message count (§9.3.2).
func FormatBarStatus(reply string) Result {
	states, rest, bad := statusWords(reply)
	if bad != nil {
		return *bad
	}
	nbusy := strings.Count(states, "B")
	ntotal := len(states)
	if ntotal == 0 {
		return Result{Stdout: "Max 0 workers ??\n"}
	}
	v, _ := cscan(rest, "dddd")
	nmsgs, maxqueue, nqueued := int(v[0].I), int(v[2].I), int(v[3].I)

	var b strings.Builder
	fmt.Fprintf(&b, "%3d/%d ", nbusy, ntotal)
	bar(&b, nbusy, ntotal, barLen, 'B')
	if maxqueue != 0 {
		fmt.Fprintf(&b, "  %3d/%d ", nqueued, maxqueue)
		bar(&b, nqueued, maxqueue, qbarLen, 'Q')
	}
	fmt.Fprintf(&b, " %d\n", nmsgs)
	return Result{Stdout: b.String()}
}

// FormatJSONStatus prints a status reply as one JSON object without a
// trailing newline (§9.3.3):
//
//	{"timestamp": "Tue Nov 25 02:28:00 2026","hostname": "mx1","Worker0": "idle",...}
//
// md-mx-ctrl 3.3 does not have this command (it forwards "jsonstatus" to the
// multiplexor); the format is that of later MIMEDefang releases.
func FormatJSONStatus(reply string, at Stamp) Result {
	states, _, bad := statusWords(reply)
	if bad != nil {
		return *bad
	}
	var b strings.Builder
	fmt.Fprintf(&b, `{"timestamp": "%s","hostname": "%s",`, at.Time.Format(asctime), at.Hostname)
	for i := 0; i < len(states); i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"Worker%d": "%s"`, i, stateName(states[i]))
	}
	b.WriteByte('}')
	return Result{Stdout: b.String()}
}

// loadRow is one line of a load table.
func loadRow(b *strings.Builder, label string, count int32, rate, ms, busy float64) {
	fmt.Fprintf(b, "%6s %15d %s %s %s\n", label, count, cfloat(15, 2, rate), cfloat(15, 1, ms), cfloat(15, 2, busy))
}

func loadHeader(b *strings.Builder, l Labels) {
	fmt.Fprintf(b, "%6s %17s %15s %15s %s\n", "Load", l.Count, l.Count+"/Sec", "Avg ms/"+l.Unit, "  Avg Busy Workers")
}

// FormatLoad prints a load reply (§8.3.3) as a table of the last 10 s, 1, 5
// and 10 min (§9.3.4): count, count per second, average ms, average busy
// workers. Only the first 12 fields are read; fields that do not parse
// print as 0, as they happen to in the original.
func FormatLoad(reply string, l Labels) Result {
	v, _ := cscan(proto.CString(reply), "ddddffffffff")
	var b strings.Builder
	loadHeader(&b, l)
	windows := []struct {
		label string
		secs  float64
	}{{"10 Sec", 10}, {"1 Min", 60}, {"5 Min", 5 * 60}, {"10 Min", 10 * 60}}
	for k, w := range windows {
		n := v[k].I
		loadRow(&b, w.label, n, float64(n)/w.secs, v[8+k].F, v[4+k].F)
	}
	return Result{Stdout: b.String()}
}

// FormatHLoad prints an hload reply (§8.3.5) as a table of the last 1, 4,
// 12 and 24 hours (§9.3.7). The rate is the count over the seconds the
// samples span, or 0 when they span none.
func FormatHLoad(reply string, l Labels) Result {
	v, _ := cscan(proto.CString(reply), "ddddffffffffdddd")
	var b strings.Builder
	loadHeader(&b, l)
	for k, label := range []string{" 1h", " 4h", "12h", "24h"} {
		n, secs := v[k].I, v[12+k].I
		rate := 0.0
		if secs != 0 {
			rate = float64(n) / float64(secs)
		}
		loadRow(&b, label, n, rate, v[8+k].F, v[4+k].F)
	}
	return Result{Stdout: b.String()}
}

// load1Verbs is the sscanf format of a load1 reply: 26 fields (§8.3.4).
const load1Verbs = "dffdffdffdffdddddddddddddd"

// parseLoad1 reads a load1 reply, or returns the Result the original prints
// when the reply does not have 26 fields: "Could not interpret response: "
// and the reply, on standard output, with exit status 1.
func parseLoad1(reply string) ([]scanValue, *Result) {
	s := proto.CString(reply)
	v, n := cscan(s, load1Verbs)
	if n != len(load1Verbs) {
		return nil, &Result{Stdout: "Could not interpret response: " + s, Failed: true}
	}
	return v, nil
}

// FormatLoad1 prints a load1 reply as per-command statistics over its window
// and a snapshot of the pool (§9.3.5). A window of 0 seconds prints the rates
// as C does a division by zero: inf, or -nan when the count is 0 too.
func FormatLoad1(reply string) Result {
	v, bad := parseLoad1(reply)
	if bad != nil {
		return *bad
	}
	back := v[21].I
	var b strings.Builder
	fmt.Fprintf(&b, "Statistics for last %d seconds:\n", back)
	fmt.Fprintf(&b, "%10s %15s %15s %15s %15s\n", "Cmd", "Num", "Num/s", "AvgWorkers", "AvgMS")
	for k, name := range []string{"Scan", "Relayok", "Senderok", "Recipok"} {
		n := v[3*k].I
		fmt.Fprintf(&b, "%10s %15d %s %s %s\n", name, n,
			cfloat(15, 1, float64(n)/float64(back)), cfloat(15, 1, v[3*k+1].F), cfloat(15, 1, v[3*k+2].F))
	}
	fmt.Fprintf(&b, "\nCurrent Snapshot:\nWorkers: busy=%d idle=%d stopped=%d killed=%d\n", v[12].I, v[13].I, v[14].I, v[15].I)
	fmt.Fprintf(&b, "Cmds:   scan=%d relayok=%d senderok=%d recipok=%d\n", v[22].I, v[23].I, v[24].I, v[25].I)
	fmt.Fprintf(&b, "Queue:  size=%d queued=%d\n", v[18].I, v[19].I)
	return Result{Stdout: b.String()}
}

// FormatJSONLoad1 prints a load1 reply as one JSON line (§9.3.6). Here scan,
// relayok, senderok and recipok are the counts over the window, not the
// busy-by-command counts. Like jsonstatus, this is not in md-mx-ctrl 3.3.
func FormatJSONLoad1(reply string, at Stamp) Result {
	v, bad := parseLoad1(reply)
	if bad != nil {
		return *bad
	}
	s := fmt.Sprintf(`{"timestamp": "%s","hostname": "%s",`+
		`"busyworkers":%d, "idleworkers":%d, "stoppedworkers":%d, "killedworkers":%d,`+
		`"scan":%d, "relayok":%d, "senderok":%d, "recipok":%d,`+
		`"queue_size":%d, "queued_requests":%d}`+"\n",
		at.Time.Format(asctime), at.Hostname,
		v[12].I, v[13].I, v[14].I, v[15].I,
		v[0].I, v[3].I, v[6].I, v[9].I,
		v[18].I, v[19].I)
	return Result{Stdout: s}
}

// Format prints reply as plan p says (the Stamp is used by the JSON kinds).
func Format(p Plan, reply string, at Stamp) Result {
	switch p.Kind {
	case Raw:
		return FormatRaw(reply, false)
	case Status:
		return FormatStatus(reply)
	case BarStatus:
		return FormatBarStatus(reply)
	case JSONStatus:
		return FormatJSONStatus(reply, at)
	case Load:
		return FormatLoad(reply, p.Labels)
	case Load1:
		return FormatLoad1(reply)
	case JSONLoad1:
		return FormatJSONLoad1(reply, at)
	case HLoad:
		return FormatHLoad(reply, p.Labels)
	}
	return FormatRaw(reply, true)
}
