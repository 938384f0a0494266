package mxctrl

import (
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/proto"
)

// FuzzFormat feeds arbitrary replies to every formatter. Replies come from
// another process, so no reply may panic, and each output must keep the
// shape the original gives it.
func FuzzFormat(f *testing.F) {
	for _, s := range []string{
		"IIIISSSS 46 4 64 0 5\n",
		"46 46 46 46 2.956522 2.956522 2.956522 2.956522 35.543478 35.543478 35.543478 35.543478 4 4 4 4 0 0 0 0 0 4 4 0 46 4 64 0 5\n",
		"46 2.956522 35.543478 0 0.000000 0.000000 0 0.000000 0.000000 0 0.000000 0.000000 0 4 4 0 46 4 64 0 5 60 0 0 0 0\n",
		"error: Unknown command\n",
		"a%20b%00c",
		"B 1e 2 -nan 0x1p3 inf",
	} {
		f.Add(s)
	}
	at := Stamp{Time: time.Unix(0, 0).UTC(), Hostname: "h"}
	f.Fuzz(func(t *testing.T, reply string) {
		for _, kind := range []Kind{Raw, Decoded, Status, BarStatus, JSONStatus, Load, Load1, JSONLoad1, HLoad} {
			r := Format(Plan{Kind: kind, Labels: scanLabels}, reply, at)
			if r.Errout != "" && !strings.HasPrefix(r.Errout, "ERROR ") {
				t.Fatalf("kind %d: error stream %q", kind, r.Errout)
			}
			if (r.Errout != "") != r.Failed && kind != Load1 && kind != JSONLoad1 {
				t.Fatalf("kind %d: failed=%v with error %q", kind, r.Failed, r.Errout)
			}
			switch kind {
			case Raw, Decoded:
				if strings.IndexByte(r.Stdout, 0) >= 0 || r.Stdout != "" && !strings.HasSuffix(r.Stdout, "\n") {
					t.Fatalf("kind %d: %q", kind, r.Stdout)
				}
			case Load, HLoad:
				if strings.Count(r.Stdout, "\n") != 5 {
					t.Fatalf("kind %d: %d lines", kind, strings.Count(r.Stdout, "\n"))
				}
			case Load1:
				_, n := cscan(proto.CString(reply), load1Verbs)
				if r.Failed != (n != 26) {
					t.Fatalf("load1: failed=%v with %d fields", r.Failed, n)
				}
			}
		}
	})
}
