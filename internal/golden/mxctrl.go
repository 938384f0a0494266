package golden

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// ReadMxCtrl returns the captured md-mx-ctrl output md-mx-ctrl/name.
func ReadMxCtrl(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(tb, "md-mx-ctrl"), name))
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

var barStatusLine = regexp.MustCompile(`^ *\d+/\d+ [B.]+ +(\d+)/\d+ [Q.]+ (\d+)\n$`)

// BarStatusBusyReply is the status reply behind barstatus.busy.txt, which
// the capture does not hold: barstatus.busy.txt was taken a moment after
// rawstatus.busy.txt, and under load the message count and the queued
// requests can move in between (3 then 4 queued in the repository's
// capture). So the reply is rawstatus.busy.txt's with those two numbers as
// barstatus printed them; the worker states, the queue size and the rest
// stay rawstatus.busy.txt's, and a formatter must turn the whole reply into
// the captured line byte for byte.
func BarStatusBusyReply(tb testing.TB) string {
	tb.Helper()
	bar := ReadMxCtrl(tb, "barstatus.busy.txt")
	m := barStatusLine.FindStringSubmatch(bar)
	if m == nil {
		tb.Fatalf("barstatus.busy.txt is not a barstatus line with a queue: %q", bar)
	}
	queued, msgs := m[1], m[2]
	raw := ReadMxCtrl(tb, "rawstatus.busy.txt")
	f := strings.Fields(raw)
	if len(f) != 6 || !strings.HasSuffix(raw, "\n") {
		tb.Fatalf("rawstatus.busy.txt is not a status reply: %q", raw)
	}
	// states msgs activations queue_size queued uptime
	f[1], f[4] = msgs, queued
	return strings.Join(f, " ") + "\n"
}

// The fields of the multiplexor's replies that count whole seconds: the
// uptime that ends a status reply (states and five numbers) and a load
// reply (29 numbers), and the ago= of each worker.
var (
	statusUptime = regexp.MustCompile(`(?m)^([A-Z]+(?: \d+){4}) \d+$`)
	loadUptime   = regexp.MustCompile(`(?m)^((?:\S+ ){28})\d+$`)
	workerAgo    = regexp.MustCompile(`(?m)^(\d+ [A-Z] .*ago=)\d+`)
)

// MaskSeconds replaces the uptimes and ago= values of an md-mx-ctrl output
// with "N": two outputs taken a moment apart may differ only there.
func MaskSeconds(s string) string {
	s = statusUptime.ReplaceAllString(s, "${1} N")
	s = loadUptime.ReplaceAllString(s, "${1}N")
	return workerAgo.ReplaceAllString(s, "${1}N")
}
